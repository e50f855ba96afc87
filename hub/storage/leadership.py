"""Which worker leads the cluster's once-only work (hub.cluster.leadership), as the storage port
gives it: `Database.leadership()` is a `Leadership`.

- `hold()` takes the lead when no worker has it, and says whether this worker has it now;
  a leader's `hold()` checks that it still has it. It raises hub.errors.DatabaseUnreachable when
  the database cannot be asked (this worker then does not lead).
- `release()` gives the lead up (the hub stops, or stops trying).

Both block: the hub calls them in a thread of their own. On SQLite (here) the hub is alone on its
file (the lock file in data_dir sees to that), so it always leads. On PostgreSQL
(hub.storage.postgres.leadership) the lead is a session-level advisory lock, held by a
connection of its own for as long as that connection lives.
"""


class Leadership:
    """The lead on SQLite: always this worker's."""

    def hold(self) -> bool:
        return True

    def release(self) -> None:
        pass
