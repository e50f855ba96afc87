"""Errors raised while handling the wire contract.

    ProtocolError
    ├── TopicError        a topic string that is not one of ours, or a bad store id
    ├── PayloadError      bytes that do not decode into the expected message
    └── InvalidEvent      an event that breaks the shared rules (protocol.rules)
"""


class ProtocolError(Exception):
    """Root of every error this package raises."""


class TopicError(ProtocolError):
    """A topic or store id that does not follow the contract."""

    def __init__(self, topic: str, reason: str) -> None:
        super().__init__(f"{reason}: {topic!r}")
        self.topic = topic
        self.reason = reason


class PayloadError(ProtocolError):
    """A payload that does not decode into the message its topic promises."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class InvalidEvent(ProtocolError):
    """An event that breaks the shared rules (protocol.rules): `field` says where."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(f"{field}: {message}")
        self.message = message
        self.field = field
