"""Turn msgspec validation errors into (message, field path) that a person can act on."""

import re

import msgspec

_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_FIELD = re.compile(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`")


def describe(exc: msgspec.ValidationError | msgspec.DecodeError) -> tuple[str, str]:
    """Return (message, field) where field is a path like `lines[0].qty` (`$` for the root)."""
    text = str(exc)
    m = _AT.match(text)
    message, path = (m.group("msg"), m.group("path") or "") if m else (text, "")
    named = _FIELD.search(message)
    if named:
        path = f"{path}.{named.group('name')}"
    path = path.lstrip(".")
    return message, path or "$"
