"""The outbox's check at start: a damaged file, row or WAL is found before the agent relies on it.

A healthy outbox costs one `PRAGMA quick_check` and one decode of every unacknowledged row.
A damaged one is rebuilt, never deleted and never a crash loop:
- what can still be read is copied, in seq order, into a new outbox with a new stream (the hub
  starts that stream at seq 1 and drops, by event_id, what it already has: nothing is applied
  twice and the till's idempotency keys keep working);
- rows that cannot be decoded go to the new outbox's `quarantined_rows` table, with the reason;
- the damaged files are moved, untouched, to `data_dir/quarantine/outbox-<time>/`;
- the agent logs an error and its status page and /v1/status say what was found.
The rebuild is written beside the outbox and renamed over it only when complete, so a crash
during the repair leaves either the old damaged outbox (repaired again at the next start) or the
new one.
A disk with no room is not damage: SQLite cannot even create its `-shm` file there, so opening
fails with an I/O error. When a write beside the outbox fails too, the check raises OutboxFull
and leaves the intact outbox alone (the agent starts read-only and waits for room).
"""

import datetime as dt
import errno
import logging
import os
import shutil
import sqlite3
import struct
from collections.abc import Callable
from pathlib import Path

from msgspec import Struct

from edge_agent.errors import OutboxError, OutboxFull
from protocol import codec
from protocol.errors import ProtocolError
from runtime.sqlite_writer import connect

log = logging.getLogger(__name__)

WAL_MAGIC = (0x377F0682, 0x377F0683)
WAL_VERSION = 3007000
_COLUMNS = ("natural_key", "event_id", "kind", "digest", "occurred_at", "business_day",
            "captured_at", "body", "register_id", "gross", "gross_e4", "currency")
_REQUIRED = _COLUMNS[:8]  # NOT NULL since schema 1
_MAX_MISSES = 10_000  # consecutive unreadable seqs after which the salvage stops looking
_ROOM_NEEDED = 64 * 1024  # SQLite's -shm file (32 KiB) and a first WAL frame, with a margin
# What SQLite says of a file that is not (or no longer) a database: damage, whatever the disk.
_DAMAGE_CODES = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


class Report(Struct, frozen=True):
    """What the check at start found (and did)."""

    checked_at: str
    problems: list[str]
    kept: int = 0  # events copied into the rebuilt outbox
    quarantined: int = 0  # rows set aside as undecodable
    moved_to: str | None = None  # where the damaged files went
    old_stream: str | None = None
    new_stream: str | None = None

    @property
    def repaired(self) -> bool:
        return bool(self.problems)


def wal_problem(wal: Path) -> str | None:
    """A non-empty WAL whose header SQLite would reject (and so silently drop every frame of)."""
    try:
        with wal.open("rb") as f:
            header = f.read(32)
    except FileNotFoundError:
        return None
    if not header:
        return None
    if len(header) < 32:
        return f"WAL {wal.name} is truncated inside its header ({len(header)} bytes)"
    magic, version = struct.unpack(">II", header[:8])
    if magic not in WAL_MAGIC or version != WAL_VERSION:
        return f"WAL {wal.name} has no valid header (garbage or overwritten)"
    endian = "<" if magic == WAL_MAGIC[0] else ">"
    s0 = s1 = 0
    for (x0, x1) in struct.iter_unpack(endian + "II", header[:24]):
        s0 = (s0 + x0 + s1) & 0xFFFFFFFF
        s1 = (s1 + x1 + s0) & 0xFFFFFFFF
    if (s0, s1) != struct.unpack(">II", header[24:32]):
        return f"WAL {wal.name} header checksum does not match (garbage or overwritten)"
    return None


def _quick_check(conn: sqlite3.Connection) -> list[str]:
    rows = conn.execute("PRAGMA quick_check(20)").fetchall()
    found = [str(r["quick_check"]) for r in rows]
    return [] if found == ["ok"] else [f"quick_check: {m}" for m in found]


def _bad_unacked_rows(conn: sqlite3.Connection) -> list[str]:
    """Unacknowledged rows whose body is not an event (the ones the hub still needs)."""
    acked = conn.execute("SELECT acked_through FROM outbox_state").fetchone()["acked_through"]
    bad = []
    for row in conn.execute("SELECT seq, body FROM events WHERE seq > ? ORDER BY seq", (acked,)):
        try:
            codec.decode_event(bytes(row["body"]))
        except (ProtocolError, TypeError) as exc:
            bad.append(f"row seq {row['seq']}: {exc}")
    return bad


def no_room(folder: Path) -> OSError | None:
    """Why nothing can be written in `folder` now (a full disk or quota), or None when a write
    of what SQLite needs to open a file there succeeds. The probe file is removed at once."""
    probe = folder / ".room-probe"
    try:
        with probe.open("wb") as f:
            f.write(b"\0" * _ROOM_NEEDED)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        return exc if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None
    finally:
        probe.unlink(missing_ok=True)
    return None


def full_disk(path: Path, exc: sqlite3.Error) -> OutboxFull | None:
    """OutboxFull when `exc` (from opening `path`) comes from a disk with no room, not damage."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in _DAMAGE_CODES:
        return None
    reason = no_room(path.parent)
    if code == sqlite3.SQLITE_FULL or reason is not None:
        return OutboxFull(f"the store controller's disk is full: outbox {path} cannot be opened "
                          f"for writing ({reason or exc})")
    return None


def inspect(path: Path) -> list[str]:
    """Problems with the outbox at `path` (empty when healthy). Changes nothing. Raises
    OutboxFull when the disk has no room to open the file (that says nothing of the file)."""
    wal = wal_problem(Path(f"{path}-wal"))
    if wal:
        return [wal]  # opening the file now would make SQLite reset the WAL: judge no further
    problems = []
    try:
        conn = sqlite3.connect(path)
        conn.row_factory = sqlite3.Row  # this connection is the check's own
        try:
            problems += _quick_check(conn)
            if not problems:
                problems += _bad_unacked_rows(conn)
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        full = full_disk(path, exc)
        if full is not None:
            raise full from exc
        problems.append(f"outbox unreadable: {exc}")
    return problems


def check_and_repair(path: Path, create: Callable[[sqlite3.Connection], None],
                     now: dt.datetime) -> Report:
    """Check the outbox at `path`; rebuild it with `create` (the schema setup) when damaged."""
    rebuild = path.with_name(path.name + ".rebuild")
    if rebuild.exists():
        if path.exists():
            rebuild.unlink()  # a repair that did not finish: do it again from the original
        else:
            os.replace(rebuild, path)  # a repair that finished all but the rename
    if not path.exists():
        return Report(now.isoformat(), [])
    # The WAL header is judged before anything opens the file: SQLite resets a bad WAL on open.
    problems = inspect(path)
    if not problems:
        return Report(now.isoformat(), [])
    for p in problems:
        log.error("outbox %s is damaged: %s", path, p)
    quarantine = path.parent / "quarantine" / f"outbox-{now.strftime('%Y%m%dT%H%M%S.%fZ')}"
    try:
        return _repair(path, rebuild, quarantine, create, problems, now)
    except (OSError, sqlite3.Error) as exc:
        # Most likely no room for the copy: leave the original as it was, and no half-made files.
        # Once the originals have moved into the quarantine, keep everything: the next start
        # finishes the rename of the complete rebuild.
        if path.exists():
            rebuild.unlink(missing_ok=True)
            shutil.rmtree(quarantine, ignore_errors=True)
        raise OutboxError(f"outbox {path} is damaged and could not be rebuilt now ({exc}); "
                          "it is untouched: free some disk space, then restart") from exc


def _repair(path: Path, rebuild: Path, quarantine: Path,
            create: Callable[[sqlite3.Connection], None], problems: list[str],
            now: dt.datetime) -> Report:
    quarantine.mkdir(parents=True)
    # Copies for salvage: the originals stay untouched until the rebuild is complete.
    names = [path.name, f"{path.name}-wal", f"{path.name}-shm"]
    for name in names:
        if (path.parent / name).exists():
            shutil.copy2(path.parent / name, quarantine / f"salvage-{name}")
    old_stream, good, bad = _salvage(quarantine / f"salvage-{path.name}")
    for name in names:
        (quarantine / f"salvage-{name}").unlink(missing_ok=True)
    conn = connect(rebuild)
    try:
        create(conn)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            f"INSERT OR IGNORE INTO events ({', '.join(_COLUMNS)})"
            f" VALUES ({', '.join('?' * len(_COLUMNS))})", good)
        conn.executemany(
            "INSERT INTO quarantined_rows (old_stream, old_seq, natural_key, reason, body, found_at)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(old_stream, seq, key, reason, body, now.isoformat()) for seq, key, reason, body in bad])
        conn.execute(
            "INSERT INTO integrity_repairs (repaired_at, problems, kept, quarantined, moved_to,"
            " old_stream) VALUES (?, ?, ?, ?, ?, ?)",
            (now.isoformat(), "\n".join(problems), len(good), len(bad), str(quarantine), old_stream))
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.row_factory = sqlite3.Row  # the rebuild's own connection, closed below
        new_stream = conn.execute("SELECT stream FROM outbox_state").fetchone()["stream"]
    finally:
        conn.close()
    for name in names:
        if (path.parent / name).exists():
            os.replace(path.parent / name, quarantine / name)
    for suffix in ("-wal", "-shm"):
        Path(f"{rebuild}{suffix}").unlink(missing_ok=True)
    os.replace(rebuild, path)
    fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    log.error("outbox rebuilt: %d events kept (new stream %s), %d damaged rows quarantined; "
              "the damaged files are in %s", len(good), new_stream, len(bad), quarantine)
    return Report(now.isoformat(), problems, len(good), len(bad), str(quarantine), old_stream,
                  new_stream)


def _salvage(path: Path) -> tuple[str | None, list[tuple[object, ...]], list[tuple[int, str, str, bytes]]]:
    """(old stream, good rows in seq order, bad rows) from whatever of `path` can be read."""
    found: dict[int, sqlite3.Row] = {}
    try:
        conn = sqlite3.connect(path)
        conn.row_factory = sqlite3.Row  # the salvage's own connection to a copy
        # Tolerate a schema that points past the end of a truncated file (only this copy).
        conn.execute("PRAGMA writable_schema = ON")
    except sqlite3.DatabaseError:
        return None, [], []
    try:
        try:
            stream = conn.execute("SELECT stream FROM outbox_state").fetchone()["stream"]
        except (sqlite3.DatabaseError, TypeError):
            stream = None
        try:
            have = {r["name"] for r in conn.execute("PRAGMA table_info(events)")}
        except sqlite3.DatabaseError:
            return stream, [], []
        select = ("SELECT seq, " + ", ".join(c if c in have else f"NULL AS {c}" for c in _COLUMNS)
                  + " FROM events")
        try:
            for row in conn.execute(select + " ORDER BY seq"):
                found[int(row["seq"])] = row
            return (stream, *_sort(found))
        except sqlite3.DatabaseError:
            pass
        # Past a damaged page: look up each seq on its own, until the known end or long misses.
        try:
            end = int(conn.execute(
                "SELECT seq FROM sqlite_sequence WHERE name = 'events'").fetchone()["seq"])
        except (sqlite3.DatabaseError, TypeError):
            end = None
        seq, misses = max(found, default=0), 0
        while (end is None or seq < end) and misses < _MAX_MISSES:
            seq += 1
            try:
                row = conn.execute(select + " WHERE seq = ?", (seq,)).fetchone()
            except sqlite3.DatabaseError:
                row = None
            if row is None:
                misses += 1
                continue
            misses = 0
            found[seq] = row
        return (stream, *_sort(found))
    finally:
        conn.close()


def _sort(found: dict[int, sqlite3.Row]) -> tuple[list[tuple[object, ...]],
                                                  list[tuple[int, str, str, bytes]]]:
    """Good rows (_COLUMNS, without seq) in seq order, once per natural key; undecodable rows
    apart."""
    good: list[tuple[object, ...]] = []
    bad: list[tuple[int, str, str, bytes]] = []
    keys: set[object] = set()
    for seq in sorted(found):
        row = found[seq]
        body, key = row["body"], row["natural_key"]
        try:
            if any(row[c] is None for c in _REQUIRED):
                raise TypeError("a required column is empty")
            codec.decode_event(bytes(body))
        except (ProtocolError, TypeError, ValueError) as exc:
            bad.append((seq, str(key), str(exc), bytes(body or b"")))
            continue
        if key not in keys:
            keys.add(key)
            good.append(tuple(row[c] for c in _COLUMNS))
    return good, bad
