"""How full the outbox's disk is: the one check that /healthz and the status page both use.

With `outbox.max_size_mb` set, the room left under that cap counts as the disk's free space
(capture refuses past it, 507, however empty the filesystem is). Below `health.min_free_mb` of
it the disk is "nearly full": /healthz answers 503 and the status page says "Disk almost full".
The page also warns when, at the last 15 minutes' rate, the space holds under a day of sales.
"""

import os
import shutil
from pathlib import Path
from typing import Any

import msgspec

MB = 1024 * 1024
HOURS_WARNED = 24  # the status page warns when the space holds fewer hours of sales than this


class Disk(msgspec.Struct, frozen=True):
    free_bytes: int  # the filesystem's free space, or the room under outbox.max_size_mb if less
    total_bytes: int
    outbox_bytes: int  # the outbox database and its WAL
    bytes_per_event: int  # 0 before the first event
    hours_left: float | None  # None while nothing is being captured
    min_free_bytes: int
    capped_by: int | None  # outbox.max_size_mb when that cap, not the filesystem, leaves less

    @property
    def nearly_full(self) -> bool:
        return self.free_bytes < self.min_free_bytes

    @property
    def running_out(self) -> bool:
        """Nearly full, or under a day of sales left at the current rate."""
        return self.nearly_full or (self.hours_left is not None and self.hours_left < HOURS_WARNED)

    def reason(self) -> str | None:
        """Why /healthz is degraded by the disk, None when it is not."""
        if not self.nearly_full:
            return None
        where = (f" under outbox.max_size_mb = {self.capped_by}" if self.capped_by is not None
                 else "")
        return (f"disk nearly full: {self.free_bytes // MB} MB free{where}, below "
                f"health.min_free_mb = {self.min_free_bytes // MB}")

    def report(self, full: bool) -> dict[str, Any]:
        """The `disk` object of /v1/status; `full`: capture is refusing sales right now."""
        return {"free_bytes": self.free_bytes, "total_bytes": self.total_bytes,
                "outbox_bytes": self.outbox_bytes, "bytes_per_event": self.bytes_per_event,
                "hours_left": self.hours_left, "nearly_full": self.nearly_full or full}


def check(outbox_path: Path, max_size_mb: int, min_free_mb: int, last_seq: int,
          pruned_through: int, per_hour: int) -> Disk:
    """Measure the disk under `outbox_path` now. `last_seq` and `pruned_through` say how many
    events the outbox holds; `per_hour`: everything captured, at the last 15 minutes' rate."""
    usage = shutil.disk_usage(outbox_path.parent)
    size = sum(os.path.getsize(p) for p in (outbox_path, outbox_path.with_name(
        outbox_path.name + "-wal")) if p.exists())
    free, capped_by = usage.free, None
    cap = max_size_mb * MB
    if cap and cap - size < free:
        free, capped_by = max(0, cap - size), max_size_mb
    per_event = size // max(1, last_seq - pruned_through) if last_seq else 0
    hours_left = round(free / (per_event * per_hour), 1) if per_event and per_hour else None
    return Disk(free, usage.total, size, per_event, hours_left, min_free_mb * MB, capped_by)
