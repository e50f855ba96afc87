"""Errors of the edge agent.

    AgentError
    ├── InvalidRequest     a till's body that cannot be captured (HTTP 422); names the field
    ├── Conflict           the same natural key with different content (HTTP 409)
    └── OutboxError        the outbox could not commit (HTTP 503)
        └── OutboxFull     ... because the disk is full (HTTP 507)
"""


class AgentError(Exception):
    """Root of every error the edge agent raises on purpose."""


class InvalidRequest(AgentError):
    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field


class Conflict(AgentError):
    def __init__(self, natural_key: str, seq: int, event_id: str) -> None:
        super().__init__(f"{natural_key} was already captured with different content")
        self.natural_key = natural_key
        self.seq = seq
        self.event_id = event_id


class OutboxError(AgentError):
    """The outbox did not commit; nothing was captured."""


class OutboxFull(OutboxError):
    """The outbox's disk is full; nothing was captured, nothing accepted was harmed."""
