"""The demo's progress figures (captured at the stores, applied at the hub, backlog), made to agree.

The figures come from two places read one after the other: the hub's database (applied, online)
and each agent's /healthz (captured = its outbox's last seq, backlog). Read in that order, a
store has captured at least what the hub had applied, so a line never shows more applied than
captured. An agent that does not answer in time keeps its last figures, raised to what the hub
has applied from it, instead of dropping out of the sum.
"""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Progress:
    stores: int
    online: int
    captured: int
    applied: int
    backlog: int
    answered: int  # agents that answered this time

    @property
    def delivered(self) -> bool:
        """Every agent answered, and the hub has applied everything they captured."""
        return (self.answered == self.stores and self.captured > 0
                and self.applied == self.captured and self.backlog == 0)


class Counters:
    """What each store last said it captured and holds, kept between readings."""

    def __init__(self, stores: list[str]) -> None:
        self.captured = dict.fromkeys(stores, 0)
        self.backlog = dict.fromkeys(stores, 0)

    def progress(self, hub_stores: list[dict[str, Any]],
                 healths: dict[str, dict[str, Any] | None]) -> Progress:
        """`hub_stores` as `hub.fleet.stores` gives it, read *before* the agents' `healths`."""
        applied = {row["store_id"]: int(row["events"]) for row in hub_stores
                   if row["store_id"] in self.captured}
        answered = 0
        for store, health in healths.items():
            if health is not None:
                answered += 1
                self.captured[store] = int(health["outbox"]["last_seq"])
                self.backlog[store] = int(health["outbox"]["backlog"])
        return Progress(
            stores=len(self.captured),
            online=sum(1 for row in hub_stores if row["online"] and row["store_id"] in applied),
            captured=sum(max(n, applied.get(store, 0)) for store, n in self.captured.items()),
            applied=sum(applied.values()),
            backlog=sum(self.backlog.values()),
            answered=answered,
        )
