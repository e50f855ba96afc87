"""The example alert rules (packaging/prometheus/alerts.yml) name only metrics, labels and label
values that a running agent and hub really print on /metrics, so the rules cannot drift."""

import re
from pathlib import Path

import pytest
import yaml

from tests.conftest import wait_for
from tests.integration.helpers import hub_and_agents

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "packaging" / "prometheus" / "alerts.yml"
# A name of ours, with optional label matchers: hub_postings{state="dead"}.
SELECTOR = re.compile(r"\b((?:edge|hub)_[a-z0-9_]+)(?:\{([^}]*)\})?")
MATCHER = re.compile(r'(\w+)\s*=\s*"([^"]*)"')
SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ")


def printed(text: str) -> dict[str, set[tuple[str, str]]]:
    """Metric name -> the (label, value) pairs its samples carry, from Prometheus text."""
    out: dict[str, set[tuple[str, str]]] = {}
    for line in text.splitlines():
        m = SAMPLE.match(line)
        if m:
            out.setdefault(m.group(1), set()).update(MATCHER.findall(m.group(2) or ""))
    return out


def rules() -> list[dict]:
    doc = yaml.safe_load(RULES.read_text())
    found = [rule for group in doc["groups"] for rule in group["rules"]]
    assert found
    for rule in found:
        assert {"alert", "expr", "labels", "annotations"} <= rule.keys(), rule
        assert rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
    return found


async def test_every_metric_in_the_alert_rules_is_printed_by_the_services(tmp_path: Path, http,
                                                                         procs, erp):
    hub, [agent] = await hub_and_agents(
        tmp_path, http, procs, ["S001"],
        extra=f'[erp]\nconnector = "http-json"\nurl = "{erp.url}"\n')

    async def store_heard() -> bool:  # per-store samples appear once the store has reported
        return any(s["last_seen"] for s in (await hub.get(http, "/v1/stores"))["stores"])

    await wait_for(store_heard, 30, "the hub to hear from S001")
    metrics: dict[str, set[tuple[str, str]]] = {}
    for url in (agent.url, hub.url):
        async with http.get(url + "/metrics") as r:
            assert r.status == 200
            metrics.update(printed(await r.text()))
    used = 0
    for rule in rules():
        for name, matchers in SELECTOR.findall(rule["expr"]):
            used += 1
            assert name in metrics, f"{rule['alert']}: {name} is not printed on /metrics"
            for pair in MATCHER.findall(matchers):
                assert pair in metrics[name], f"{rule['alert']}: {name} has no sample {pair}"
    assert used >= len(rules())
