"""The outbox file itself: opening it after the check at start, read-only on a full disk and
writable again later, its one writer thread and one read-only connection, and what the check
repaired.

The other rooms of this package (captures, delivery, reading) are subclasses of OutboxFile;
edge_agent.outbox.Outbox is all of them together.
"""

import asyncio
import logging
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import aiosqlite
from msgspec import Struct

from edge_agent import integrity
from edge_agent.errors import OutboxError, OutboxFull
from edge_agent.outbox.rows import fetch_one
from edge_agent.outbox.schema import setup
from runtime.clock import SYSTEM, Clock
from runtime.sqlite_writer import SQLiteWriter, open_reader

T = TypeVar("T")

log = logging.getLogger(__name__)


class Damage(Struct, frozen=True):
    """The outbox's last rebuild after damage was found at start."""

    repaired_at: str
    problems: list[str]
    kept: int
    quarantined: int
    moved_to: str
    quarantined_total: int


async def _open_without_shm(path: Path) -> aiosqlite.Connection:
    """A reader for a disk with no room for SQLite's `-shm` file: in EXCLUSIVE locking mode SQLite
    keeps the WAL index in memory, so committed events in the WAL are read too. It holds the
    file's lock: close it before anything else opens the outbox."""
    conn = await aiosqlite.connect(path)
    await conn.execute("PRAGMA locking_mode=EXCLUSIVE")
    await conn.execute("PRAGMA query_only=ON")
    return conn


def _is_full(exc: sqlite3.Error) -> bool:
    return getattr(exc, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL or "full" in str(exc)


class OutboxFile:
    """The one owner of `outbox.sqlite`: opening and closing it, its writer thread (`_write`,
    group commit, fsync'd before the caller hears back), its read-only connection (`reader`),
    the stream and ack mark held in memory, and `damage()`, the check's last rebuild."""

    def __init__(self, path: Path | str, store_id: str, max_bytes: int | None = None,
                 clock: Clock = SYSTEM) -> None:
        self.path = Path(path)
        self._clock = clock
        self.store_id = store_id
        self.stream = ""
        self.acked_through = 0
        self.pruned_through = 0  # events up to here were pruned (they were acked long ago)
        self._setup = setup(store_id, max_bytes, clock)
        self._writer = SQLiteWriter(self.path, self._setup, name="outbox-writer")
        self._reader: aiosqlite.Connection | None = None
        self.check: integrity.Report | None = None  # what the check at this start found
        self._ack_unrecorded = False  # the disk was full when the hub's last ack came
        self.writable = True  # False while a full disk kept the outbox from opening for writing
        self._reopening = asyncio.Lock()

    def _now(self) -> str:
        return self._clock.now().isoformat()

    async def open(self) -> None:
        """Check the outbox (edge_agent.integrity) and open it for capture.

        On a disk with no room even to open it (SQLite's `-shm` file), an existing outbox opens
        for reading only (`writable` is False): status and forwarding work, every write raises
        OutboxFull, and `reopen()` makes it writable once there is room. Nothing is repaired or
        set aside for a full disk."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            await self._open_writable()
        except OutboxFull as exc:
            if not self.path.exists():
                raise
            log.error("%s; it opens read-only: captures are refused (507) until there is room",
                      exc)
            self._reader = await _open_without_shm(self.path)
            self.writable = False
            await self._read_state()

    async def reopen(self) -> bool:
        """Make a read-only outbox (a full disk at open) writable, if there is room now."""
        async with self._reopening:
            if self.writable:
                return True
            if integrity.no_room(self.path.parent) is not None:
                return False
            snapshot, self._reader = self.reader, None
            await snapshot.close()
            try:
                await self._open_writable()
            except OutboxFull as exc:
                log.warning("%s; still read-only", exc)
                self._reader = await _open_without_shm(self.path)
                await self._read_state()
                return False
            self.writable = True
            log.warning("outbox %s is writable again: captures resume", self.path)
            return True

    async def _open_writable(self) -> None:
        self.check = await asyncio.to_thread(integrity.check_and_repair, self.path,
                                               self._setup, self._clock.now())
        try:
            await self._writer.start()
            self._reader = await open_reader(self.path)
        except sqlite3.Error as exc:
            await self.close()
            self._writer = SQLiteWriter(self.path, self._setup, name="outbox-writer")
            full = integrity.full_disk(self.path, exc)
            if full is not None:
                raise full from exc
            raise
        await self._read_state()
        log.info("outbox %s open: stream %s, acked through %d", self.path, self.stream, self.acked_through)

    async def _read_state(self) -> None:
        row = await fetch_one(self.reader, "SELECT stream, acked_through FROM outbox_state")
        assert row is not None
        self.stream = row["stream"]
        # An ack kept only in memory (a full disk) stays.
        self.acked_through = max(self.acked_through, row["acked_through"])
        await self._read_pruned()

    async def open_readonly(self) -> None:
        """Open only for reading (operator commands): never creates or changes the file."""
        if not self.path.exists():
            raise OutboxError(f"no outbox at {self.path}")
        self._reader = await open_reader(self.path)
        row = await fetch_one(self._reader, "SELECT stream, acked_through FROM outbox_state")
        assert row is not None
        self.stream, self.acked_through = row["stream"], row["acked_through"]

    async def damage(self) -> Damage | None:
        """The last rebuild by the check at start, if there ever was one (status page)."""
        row = await fetch_one(
            self.reader,
            "SELECT repaired_at, problems, kept, quarantined, moved_to FROM integrity_repairs"
            " ORDER BY id DESC LIMIT 1")
        if row is None:
            return None
        total = await fetch_one(self.reader, "SELECT COUNT(*) AS n FROM quarantined_rows")
        return Damage(row["repaired_at"], row["problems"].splitlines(), row["kept"],
                      row["quarantined"], row["moved_to"], int(total["n"]) if total else 0)

    async def _read_pruned(self) -> None:
        row = await fetch_one(self.reader, "SELECT MIN(seq) AS first FROM events")
        first = row["first"] if row and row["first"] is not None else None
        self.pruned_through = (first - 1) if first else self.acked_through

    def _state(self, seq: int) -> str:
        return "delivered" if seq <= self.acked_through else "captured"

    async def close(self) -> None:
        if self._reader is not None:
            await self._reader.close()
            self._reader = None
        if self._writer.started:
            await self._writer.close()

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise OutboxError("outbox is not open")
        return self._reader

    async def _write(self, job: Callable[[sqlite3.Connection], T], isolate: bool = True) -> T:
        """Run a write job; a full disk is OutboxFull, so callers can carry on without it."""
        if not self.writable:
            raise OutboxFull("the store controller's disk is full")
        try:
            return await self._writer.run(job, isolate=isolate)
        except sqlite3.Error as exc:
            if _is_full(exc):
                raise OutboxFull("the store controller's disk is full") from exc
            raise
