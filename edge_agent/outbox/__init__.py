"""The store's outbox: every captured event, fsync'd, in gapless seq order, until the hub acks it.

One SQLite file (WAL, synchronous=FULL). Writes go through one writer thread with group commit
(runtime.sqlite_writer); reads (forwarder, status) use a separate read-only connection.
`seq` is an AUTOINCREMENT key: assigned in commit order, never reused, and a rolled-back
insert gives its number back, so the numbering has no gaps.

One room per concern; `Outbox` is all of them together:
- schema.py: the tables and their migrations, and the setup every opening runs;
- file.py: opening (after edge_agent.integrity's check), full disks, the writer and reader,
  the damage report;
- captures.py: the capture API's writes and lookups;
- delivery.py: the forwarder's batches, acks, receipts and restreams, and pruning;
- reading.py: the status page's and operator commands' reads;
- rows.py: rows read by column name.
"""

from edge_agent.outbox.captures import Captured, Captures, TxnState
from edge_agent.outbox.delivery import Delivery, Row
from edge_agent.outbox.file import Damage
from edge_agent.outbox.reading import COUNT_CAP, Entry, Reading, Stats
from edge_agent.outbox.schema import SCHEMA_VERSION, setup

__all__ = ["COUNT_CAP", "SCHEMA_VERSION", "Captured", "Damage", "Entry", "Outbox", "Row",
           "Stats", "TxnState", "setup"]


class Outbox(Captures, Delivery, Reading):
    """The outbox file and everything stored in it: the one owner of `outbox.sqlite`.

    - the file (file.OutboxFile): `open`, `open_readonly`, `reopen` (after a full disk),
      `close`, `reader`, `damage`, and the attributes `path`, `store_id`, `stream`,
      `acked_through`, `pruned_through`, `check` (what the check at this start found) and
      `writable`;
    - the tills' captures (captures.Captures): `capture`, `transaction`;
    - the forwarder's delivery (delivery.Delivery): `next_batch`, `mark_acked`, `restream`,
      `record_receipts`, `prune`;
    - the reads for the status page, /v1/status and the operator's commands
      (reading.Reading): `last_seq`, `stats`, `count_unsent`, `recent`, `find`,
      `day_by_register`, `entries`, `entry`.

    All writes go through one writer thread; reads use one read-only connection."""
