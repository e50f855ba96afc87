"""psycopg connections that look to the repositories like SQLite's: the same SQL, the same rows.

- `dialect(sql)`: the repositories' SQL as PostgreSQL takes it: `?` becomes `%s` (a literal `%`
  becomes `%%`), and `json_each(?)`, SQLite's way to pass a list as one JSON argument, becomes
  `json_array_elements_text(%s::json)` (both name their column `value`), and
  `json_group_array(column)`, SQLite's aggregate into a JSON array as text, becomes
  `COALESCE(json_agg(column), '[]')::text` (json_agg gives NULL, not `[]`, over no rows). The
  repositories never put `?` inside a string literal.
- Rows come back readable by name and position (`NamedRow`), and every value looks as SQLite
  gives it: an instant (`timestamptz`) as the text runtime.clock.stamp writes, an amount
  (`NUMERIC`) as its exact decimal text, a day (`date`) as `YYYY-MM-DD`, a payload (`bytea`) as
  bytes. Domain code therefore never asks which backend it runs on.
- `PgConnection` is the writer's connection (rows.Connection); it reconnects, with a backoff,
  when the server went away. `PgReader` is the read side (rows.NamedReads): a few read-only
  connections.
"""

import asyncio
import contextlib
import datetime as dt
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from typing import Any, ClassVar

import msgspec
import psycopg
from psycopg.adapt import AdaptersMap, Buffer, Loader
from psycopg.pq import TransactionStatus
from psycopg.types.string import TextLoader

from hub.errors import DatabaseUnreachable
from hub.storage.rows import Row
from runtime.clock import stamp

log = logging.getLogger(__name__)

# Advisory lock key of the availability change feed's appends: 'RHUBFEED' as a 64-bit integer.
FEED_LOCK = int.from_bytes(b"RHUBFEED", "big")

# Every session: instants printed in UTC and ISO form (what _StampLoader parses).
_SESSION = "-c TimeZone=UTC -c DateStyle=ISO"
# Every connection: the server probes the hub's end (so a session of a worker whose machine froze
# or dropped off the network ends within about 15 s, and with it the locks it held), and the hub
# probes the server's (so a writer waiting on a server that failed over away learns it as fast).
SERVER_PROBE = (" -c tcp_keepalives_idle=5 -c tcp_keepalives_interval=2"
                " -c tcp_keepalives_count=3 -c tcp_user_timeout=10000")
CLIENT_PROBE: dict[str, Any] = {"keepalives": 1, "keepalives_idle": 5, "keepalives_interval": 2,
                                "keepalives_count": 3, "tcp_user_timeout": 10_000}
# A writer's transaction is never idle for long (group commit runs its jobs back to back): one
# idle for a minute belongs to a frozen worker, whose row and advisory locks the others need.
_WRITER = " -c idle_in_transaction_session_timeout=60000"
_RETRY_MAX_S = 5.0


def connection_lost(error: psycopg.Error) -> bool:
    """Whether `error` means the server cannot be talked to (down, restarting, unreachable)
    rather than that one statement failed."""
    state = error.sqlstate
    return isinstance(error, psycopg.OperationalError) and (
        state is None or state.startswith("08") or state in ("57P01", "57P02", "57P03"))


def unreachable(target: "Target", error: BaseException) -> DatabaseUnreachable:
    """The hub's error for a database it cannot reach, naming the URL (never the password)."""
    text = str(error).strip()
    reason = text.splitlines()[0] if text else type(error).__name__
    return DatabaseUnreachable(f"cannot reach the hub database at {target.describe()}: {reason}")


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
_JSON_GROUP_ARRAY = re.compile(r"\bjson_group_array\((\w+)\)")


@functools.lru_cache(maxsize=4096)
def dialect(sql: str) -> str:
    """The repositories' SQL (SQLite's placeholders) as psycopg sends it to PostgreSQL."""
    sql = _JSON_EACH.sub("json_array_elements_text(?::json)", sql.replace("%", "%%"))
    sql = _JSON_GROUP_ARRAY.sub(r"COALESCE(json_agg(\1), '[]')::text", sql)
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


def connect(target: Target, *, read_only: bool = False,
            writer: bool = False) -> "psycopg.Connection[NamedRow]":
    """A connection in autocommit mode: transactions are the caller's explicit BEGIN/COMMIT.
    `writer`: a hub writer's (its idle transactions end after a minute)."""
    options = (_SESSION + SERVER_PROBE
               + (" -c default_transaction_read_only=on" if read_only else "")
               + (_WRITER if writer else ""))
    conn: psycopg.Connection[NamedRow] = psycopg.connect(
        target.url, password=target.password, autocommit=True, row_factory=named_rows,
        context=ADAPTERS, options=options, application_name=target.application_name,
        connect_timeout=10, **CLIENT_PROBE)
    return conn


class PgConnection:
    """The writer's PostgreSQL connection as the repositories use it (rows.Connection).

    When the server went away (restart, failover), the next `ensure()` connects again; attempts
    back off up to 5 s, and one WARNING is logged per outage, one INFO when it is back."""

    def __init__(self, target: Target, *, writer: bool = False) -> None:
        self.target = target
        self.writer = writer  # a hub writer's: see connect()
        self._conn: psycopg.Connection[NamedRow] | None = None
        self._retry_at = 0.0
        self._delay = 0.0
        self._last_error: psycopg.Error | None = None
        # Appends to the availability change feed, run just before COMMIT (`flush_deferred`).
        self.deferred: list[tuple[str, list[Sequence[Any]]]] = []

    def ensure(self) -> None:
        """Connected, or raise psycopg.OperationalError (at once while backing off)."""
        if self._conn is not None and not self._conn.closed:
            return
        if self._last_error is not None and time.monotonic() < self._retry_at:
            raise self._last_error
        try:
            self._conn = connect(self.target, writer=self.writer)
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

    def defer(self, sql: str, parameters: list[Sequence[Any]]) -> None:
        """Run `sql` once per parameter row just before this transaction commits, under
        FEED_LOCK (`flush_deferred`)."""
        if parameters:
            self.deferred.append((sql, parameters))

    def flush_deferred(self) -> None:
        """The deferred appends, under one advisory lock held until COMMIT: several writers
        (hub workers, their two lanes, a command line) then commit feed rows in cursor order,
        so a reader that has seen cursor N never later finds a new row below N. Taken this late,
        the lock is held only for the appends and the commit itself."""
        if not self.deferred:
            return
        deferred, self.deferred = self.deferred, []
        self.raw.execute(f"SELECT pg_advisory_xact_lock({FEED_LOCK})")
        for sql, parameters in deferred:
            self.executemany(sql, parameters)

    def close(self) -> None:
        self.deferred = []
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class PgReader:
    """The read repositories' connections (rows.NamedReads): up to `pool_size` read-only
    connections, each statement on its own (autocommit), so it sees what had committed when it
    began. A connection the server closed while it sat idle (a restart) is replaced, and the
    statement tried once more on the new one: a read is safe to repeat. The idle connections are
    dropped with it, as a server restart has ended them all.

    A pool of our own, not psycopg_pool's: under Python 3.11 its waiting for a free connection
    (asyncio.wait_for) can swallow the cancellation of the task that waits, and a task that
    cannot be cancelled never lets the hub stop."""

    def __init__(self, target: Target, size: int | None = None) -> None:
        self.target = target
        self.size = size or target.pool_size
        # A free slot: a connection, or None for one not made yet (or dropped).
        self._free: asyncio.Queue[psycopg.AsyncConnection[NamedRow] | None] = asyncio.Queue()
        for _ in range(self.size):
            self._free.put_nowait(None)
        self._closed = False

    async def _connect(self) -> "psycopg.AsyncConnection[NamedRow]":
        conn: psycopg.AsyncConnection[NamedRow] = await psycopg.AsyncConnection.connect(
            self.target.url, password=self.target.password, autocommit=True,
            row_factory=named_rows, context=ADAPTERS, connect_timeout=10,
            options=_SESSION + SERVER_PROBE + " -c default_transaction_read_only=on",
            application_name=self.target.application_name, **CLIENT_PROBE)
        return conn

    async def open(self) -> None:
        """Make the first connection now: raises psycopg.OperationalError if it cannot."""
        async with self._lease():
            pass

    async def close(self) -> None:
        self._closed = True
        while not self._free.empty():
            conn = self._free.get_nowait()
            if conn is not None:
                await conn.close()

    @contextlib.asynccontextmanager
    async def _lease(self) -> AsyncIterator["psycopg.AsyncConnection[NamedRow]"]:
        if self._closed:
            raise psycopg.OperationalError("the hub database's reads are closed")
        conn = await self._free.get()
        try:
            if conn is None or conn.closed:
                conn = None
                conn = await self._connect()
            yield conn
        finally:
            if conn is not None and (self._closed or conn.closed
                                     or conn.info.transaction_status != TransactionStatus.IDLE):
                await conn.close()  # cancelled mid-statement, broken, or no longer wanted
                conn = None
            self._free.put_nowait(conn)

    async def _run(self, sql: str, args: Sequence[Any], one: bool) -> Any:
        for attempt in (1, 2):
            try:
                async with self._lease() as conn:
                    cur = await conn.execute(dialect(sql), args)
                    return await (cur.fetchone() if one else cur.fetchall())
            except psycopg.OperationalError as exc:
                if not connection_lost(exc) or self._closed:
                    raise
                if attempt == 2:
                    raise unreachable(self.target, exc) from exc
                log.info("a read connection to %s was lost (%s): reconnecting",
                         self.target.describe(), exc)
                await self._drop_idle()
        raise AssertionError("not reached")

    async def _drop_idle(self) -> None:
        """One connection was found lost: the idle ones, as old, most likely are too (a server
        restart ends every session), so the retry and the next reads connect anew."""
        idle = []
        while not self._free.empty():
            idle.append(self._free.get_nowait())
        for _ in idle:
            self._free.put_nowait(None)
        for conn in idle:
            if conn is not None:
                with contextlib.suppress(psycopg.Error):
                    await conn.close()

    async def fetch_all(self, sql: str, args: Sequence[Any] = ()) -> list[Row]:
        return list(await self._run(sql, args, one=False))

    async def fetch_one(self, sql: str, args: Sequence[Any] = ()) -> Row | None:
        row: Row | None = await self._run(sql, args, one=True)
        return row
