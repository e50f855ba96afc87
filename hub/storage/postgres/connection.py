"""psycopg connections that look to the repositories like SQLite's: the same SQL, the same rows.

- `dialect(sql)`: the repositories' SQL as PostgreSQL takes it: `?` becomes `%s` (a literal `%`
  becomes `%%`), and `json_each(?)`, SQLite's way to pass a list as one JSON argument, becomes
  `json_array_elements_text(%s::json)` (both name their column `value`). The repositories never
  put `?` inside a string literal.
- Rows come back readable by name and position (`NamedRow`), and every value looks as SQLite
  gives it: an instant (`timestamptz`) as the text runtime.clock.stamp writes, an amount
  (`NUMERIC`) as its exact decimal text, a day (`date`) as `YYYY-MM-DD`, a payload (`bytea`) as
  bytes. Domain code therefore never asks which backend it runs on.
- `PgConnection` is the writer's connection (rows.Connection); it reconnects, with a backoff,
  when the server went away. `PgReader` is the read side (rows.NamedReads) over a pool.
"""

import datetime as dt
import functools
import logging
import re
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any, ClassVar

import msgspec
import psycopg
from psycopg.adapt import AdaptersMap, Buffer, Loader
from psycopg.pq import TransactionStatus
from psycopg.types.string import TextLoader
from psycopg_pool import AsyncConnectionPool

from hub.storage.rows import Row
from runtime.clock import stamp

log = logging.getLogger(__name__)

# Every session: instants printed in UTC and ISO form (what _StampLoader parses).
_SESSION = "-c TimeZone=UTC -c DateStyle=ISO"
_RETRY_MAX_S = 5.0


class Target(msgspec.Struct, frozen=True):
    """Where the hub's PostgreSQL database is, and how to present ourselves to it."""

    url: str
    password: str | None = None
    pool_size: int = 4
    application_name: str = "retail-hub"

    def describe(self) -> str:
        """The URL for a message (it never holds the password: the config refuses that)."""
        return self.url


class NamedRow(tuple[Any, ...]):
    """A row readable by position and by column name, like sqlite3.Row (rows.Row)."""

    __slots__ = ()
    _names: ClassVar[tuple[str, ...]] = ()
    _index: ClassVar[dict[str, int]] = {}

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self._names)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[NamedRow]:
    return type("NamedRow", (NamedRow,), {"__slots__": (), "_names": names,
                                          "_index": {n: i for i, n in enumerate(names)}})


def named_rows(cursor: "psycopg.Cursor[Any] | psycopg.AsyncCursor[Any]") -> Callable[
        [Sequence[Any]], NamedRow]:
    """psycopg's row factory for NamedRow (one class per column list, cached)."""
    names = tuple(c.name for c in cursor.description or ())
    return _row_class(names)


_JSON_EACH = re.compile(r"\bjson_each\(\?\)")


@functools.lru_cache(maxsize=4096)
def dialect(sql: str) -> str:
    """The repositories' SQL (SQLite's placeholders) as psycopg sends it to PostgreSQL."""
    sql = _JSON_EACH.sub("json_array_elements_text(?::json)", sql.replace("%", "%%"))
    return sql.replace("?", "%s")


class _StampLoader(Loader):
    """timestamptz -> the text runtime.clock.stamp writes (`2024-05-01T09:30:00.000000+00:00`)."""

    def load(self, data: Buffer) -> str:
        return stamp(dt.datetime.fromisoformat(bytes(data).decode()))


def _adapters() -> AdaptersMap:
    adapters = AdaptersMap(psycopg.adapters)
    adapters.register_loader("timestamptz", _StampLoader)
    adapters.register_loader("numeric", TextLoader)  # exact decimal text, as SQLite keeps it
    adapters.register_loader("date", TextLoader)
    return adapters


ADAPTERS = _adapters()


def connect(target: Target, *, read_only: bool = False) -> "psycopg.Connection[NamedRow]":
    """A connection in autocommit mode: transactions are the caller's explicit BEGIN/COMMIT."""
    options = _SESSION + (" -c default_transaction_read_only=on" if read_only else "")
    conn: psycopg.Connection[NamedRow] = psycopg.connect(
        target.url, password=target.password, autocommit=True, row_factory=named_rows,
        context=ADAPTERS, options=options, application_name=target.application_name,
        connect_timeout=10)
    return conn


class PgConnection:
    """The writer's PostgreSQL connection as the repositories use it (rows.Connection).

    When the server went away (restart, failover), the next `ensure()` connects again; attempts
    back off up to 5 s, and one WARNING is logged per outage, one INFO when it is back."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._conn: psycopg.Connection[NamedRow] | None = None
        self._retry_at = 0.0
        self._delay = 0.0
        self._last_error: psycopg.Error | None = None

    def ensure(self) -> None:
        """Connected, or raise psycopg.OperationalError (at once while backing off)."""
        if self._conn is not None and not self._conn.closed:
            return
        if self._last_error is not None and time.monotonic() < self._retry_at:
            raise self._last_error
        try:
            self._conn = connect(self.target)
        except psycopg.Error as exc:
            if self._last_error is None:
                log.warning("hub database %s unreachable: %s", self.target.describe(), exc)
            self._last_error = exc
            self._delay = min(_RETRY_MAX_S, max(0.1, self._delay * 2))
            self._retry_at = time.monotonic() + self._delay
            raise
        if self._last_error is not None:
            log.info("hub database %s reachable again", self.target.describe())
        self._last_error, self._delay = None, 0.0

    @property
    def raw(self) -> "psycopg.Connection[NamedRow]":
        if self._conn is None:
            self.ensure()
        assert self._conn is not None
        return self._conn

    @property
    def status(self) -> TransactionStatus:
        return self._conn.info.transaction_status if self._conn else TransactionStatus.UNKNOWN

    def command(self, sql: str) -> None:
        """A statement of our own (BEGIN, SAVEPOINT, DDL), sent as it is."""
        self.raw.execute(sql)

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> "psycopg.Cursor[NamedRow]":
        return self.raw.execute(dialect(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]],
                    /) -> "psycopg.Cursor[NamedRow]":
        cur = self.raw.cursor()
        cur.executemany(dialect(sql), parameters)
        return cur

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PgReader:
    """The read repositories' connection: a pool of read-only connections (rows.NamedReads).
    Each statement runs on its own (autocommit), so it sees what had committed when it began."""

    def __init__(self, target: Target, size: int | None = None) -> None:
        self.target = target
        size = size or target.pool_size
        self.pool: AsyncConnectionPool[psycopg.AsyncConnection[NamedRow]] = AsyncConnectionPool(
            target.url, min_size=1, max_size=size, open=False, name="hub-reads",
            check=AsyncConnectionPool.check_connection,
            kwargs={"password": target.password, "autocommit": True, "row_factory": named_rows,
                    "context": ADAPTERS, "connect_timeout": 10,
                    "options": _SESSION + " -c default_transaction_read_only=on",
                    "application_name": target.application_name})

    async def open(self, timeout: float = 10.0) -> None:
        await self.pool.open(wait=True, timeout=timeout)

    async def close(self) -> None:
        await self.pool.close()

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        async with self.pool.connection() as conn:
            cur = await conn.execute(dialect(sql), args)
            return list(await cur.fetchall())

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        async with self.pool.connection() as conn:
            cur = await conn.execute(dialect(sql), args)
            return await cur.fetchone()
