"""The body of `GET /healthz`: the hub's version, its broker session, ingest counters, the ERP relay,
and the one reason it is degraded (503) when it is (docs/api.md)."""

import datetime as dt
from typing import Any

from hub import __version__
from hub.config import HealthConfig
from hub.ingest.receiver import Ingest
from hub.postings.relay import Relay
from runtime.circuit import CircuitState
from runtime.clock import Clock


class Health:
    """Call it for (status code, body): 200 "ok", or 503 "degraded" with a `reason` when the
    hub is not yet connected to the broker, has been disconnected for longer than
    `health.broker_down_s`, hears nothing on its session, or (with `health.erp_circuit_open`)
    the ERP circuit is open."""

    def __init__(self, policy: HealthConfig, ingest: Ingest, relay: Relay | None, clock: Clock,
                 *, embedded_broker: bool) -> None:
        self.policy = policy
        self.ingest = ingest
        self.relay = relay
        self.clock = clock
        self.embedded_broker = embedded_broker

    async def __call__(self) -> tuple[int, dict[str, Any]]:
        ingest, relay = self.ingest, self.relay
        body: dict[str, Any] = {
            "status": "ok",
            "version": __version__,
            "broker": {"embedded": self.embedded_broker, "connected": ingest.connected,
                       "deaf_since": _iso(ingest.hearing.deaf_since),
                       "deaf_reconnects": ingest.hearing.reconnects},
            "counters": dict(ingest.counters),
            "erp": relay.status() if relay else {"connector": "none"},
        }
        reason = self.degraded()
        if reason is not None:
            body["status"] = "degraded"
            body["reason"] = reason
            return 503, body
        return 200, body

    def degraded(self) -> str | None:
        """Why the hub is degraded, in words for the operator; None while it is healthy."""
        policy, ingest, relay = self.policy, self.ingest, self.relay
        if not ingest.connected:
            if ingest.disconnected_at is None:
                return "hub is starting: not yet connected to the MQTT broker"
            down = (self.clock.now() - ingest.disconnected_at).total_seconds()
            if down > policy.broker_down_s:
                return (f"hub has not been connected to the MQTT broker for {down:.0f} s "
                        f"(health.broker_down_s = {policy.broker_down_s:g})")
        if ingest.hearing.deaf_since is not None:
            return (f"hub has heard nothing from the MQTT broker since "
                    f"{ingest.hearing.deaf_since.isoformat()} ({ingest.hearing.reason}); "
                    "reconnecting")
        if policy.erp_circuit_open and relay is not None \
                and relay.breaker.state == CircuitState.OPEN:
            return (f"ERP circuit open after {relay.breaker.consecutive} failed calls in a "
                    "row; postings wait and are retried")
        return None


def _iso(at: dt.datetime | None) -> str | None:
    return at.isoformat() if at else None
