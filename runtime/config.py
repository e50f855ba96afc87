"""Load TOML config files into frozen msgspec Structs; every error names the file and the key."""

import os
import re
import urllib.parse
from pathlib import Path
from typing import TypeVar

import msgspec

from runtime import secrets
from runtime.validation import describe

T = TypeVar("T")
_LISTEN = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


class ConfigError(Exception):
    """A config file that cannot be used. `key` is a dotted path, or None for the whole file."""

    def __init__(self, path: Path | str, key: str | None, message: str) -> None:
        where = f"{path}: {key}" if key else str(path)
        super().__init__(f"{where}: {message}")
        self.path = str(path)
        self.key = key
        self.message = message


def load(path: Path | str, type_: type[T]) -> T:
    """Decode `path` as TOML into `type_`."""
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(path, None, f"cannot read config file ({exc.strerror})") from exc
    try:
        return msgspec.toml.decode(data, type=type_)
    except msgspec.ValidationError as exc:
        message, field = describe(exc)
        raise ConfigError(path, field, message) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(path, None, f"not valid TOML: {exc}") from exc


def parse_listen(value: str, *, path: Path | str, key: str) -> tuple[str, int]:
    """Split "host:port" (port 0 means any free port)."""
    m = _LISTEN.match(value)
    if not m or int(m.group("port")) > 65535:
        raise ConfigError(path, key, f"expected \"host:port\", got {value!r}")
    return m.group("host").strip("[]"), int(m.group("port"))


class BrokerAddress(msgspec.Struct, frozen=True):
    host: str
    port: int
    tls: bool


def broker_address(url: str, *, path: str, key: str) -> BrokerAddress:
    """Parse `mqtt://host:port` or `mqtts://host:port`."""
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
        raise ConfigError(path, key, f"expected mqtt://host:port or mqtts://host:port, got {url!r}")
    try:
        port = parsed.port or (8883 if parsed.scheme == "mqtts" else 1883)
    except ValueError as exc:
        raise ConfigError(path, key, f"bad port in {url!r}") from exc
    return BrokerAddress(parsed.hostname, port, parsed.scheme == "mqtts")


def read_secret(file: str, *, path: Path | str, key: str) -> str:
    """Read a secret from the file a config key names; the secret itself is never logged."""
    try:
        secret = Path(file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(path, key, f"cannot read {file} ({exc.strerror})") from exc
    if not secret:
        raise ConfigError(path, key, f"{file} is empty")
    return secrets.remember(secret)


def resolve(base: Path | str, value: str) -> str:
    """A path from a config file: relative paths are relative to the file's folder."""
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else Path(base).parent / p)


def render(config: msgspec.Struct) -> str:
    """The effective config as TOML (for `check-config`): unset optional keys are left out."""
    data = msgspec.to_builtins(config)
    data.pop("source", None)

    def prune(value: object) -> object:
        if isinstance(value, dict):
            return {k: prune(v) for k, v in value.items() if v is not None}
        return value

    return msgspec.toml.encode(prune(data)).decode()
