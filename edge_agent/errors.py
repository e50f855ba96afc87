"""Errors of the edge agent.

    AgentError
    ├── InvalidRequest     a till's body or query that cannot be read (HTTP 422); names the field
    ├── Conflict           the same natural key with different content (HTTP 409)
    ├── OutboxError        the outbox could not commit (HTTP 503)
    │   └── OutboxFull     ... because the disk is full (HTTP 507)
    ├── CopyRefused        a catalog version's copy that cannot be applied (asked for again)
    └── CatalogUnavailable the catalog file is not open just now (a full disk) (HTTP 503)
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


class CopyRefused(AgentError):
    """A staged copy of a catalog version that cannot be applied: its digest does not match, it
    is a delta from another version than the store has, or its content does not decode. The
    copy is dropped; `ask_again` says whether the hub is asked for the version again ("resend")
    or told the store cannot apply it ("failed")."""

    def __init__(self, version: int, reason: str, *, ask_again: bool = True) -> None:
        super().__init__(f"catalog version {version}: {reason}")
        self.version = version
        self.reason = reason
        self.ask_again = ask_again


class CatalogUnavailable(AgentError):
    """The store's catalog file is not open (a full disk kept it shut): lookups cannot be
    answered just now; sales are still captured."""
