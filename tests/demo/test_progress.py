"""The demo's progress line: captured, applied and backlog agree even when an agent is slow."""

from demo.progress import Counters


def hub_row(store: str, events: int, online: bool = True) -> dict:
    return {"store_id": store, "online": online, "events": events}


def health(last_seq: int, backlog: int) -> dict:
    return {"outbox": {"last_seq": last_seq, "backlog": backlog}}


def test_an_agent_that_does_not_answer_keeps_its_figures_and_never_shows_less_than_applied():
    counters = Counters(["S001", "S002"])
    first = counters.progress([hub_row("S001", 90), hub_row("S002", 95)],
                              {"S001": health(100, 10), "S002": health(100, 5)})
    assert (first.captured, first.applied, first.backlog, first.answered) == (200, 185, 15, 2)
    assert not first.delivered
    # S002's /healthz timed out; the hub has since applied 120 of its events.
    second = counters.progress([hub_row("S001", 100), hub_row("S002", 120)],
                               {"S001": health(100, 0), "S002": None})
    assert second.applied == 220
    assert second.captured == 220  # S002 captured at least the 120 the hub applied, not 0
    assert second.answered == 1 and not second.delivered
    third = counters.progress([hub_row("S001", 100), hub_row("S002", 130)],
                              {"S001": health(100, 0), "S002": health(130, 0)})
    assert (third.captured, third.applied, third.backlog) == (230, 230, 0) and third.delivered


def test_online_counts_only_the_demos_stores():
    counters = Counters(["S001"])
    p = counters.progress([hub_row("S001", 3), hub_row("S009", 7, online=True),
                           hub_row("S002", 0, online=False)], {"S001": health(3, 0)})
    assert (p.online, p.stores, p.applied, p.captured) == (1, 1, 3, 3)
