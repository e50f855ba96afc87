"""Load TOML config files into frozen msgspec Structs; every error names the file and the key."""

import json
import math
import os
import re
import stat
import urllib.parse
from decimal import Decimal
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec

from runtime import secrets
from runtime.errors import PlumbingError
from runtime.validation import describe

T = TypeVar("T")
# A folder path that must be given (an empty one would quietly mean the config file's folder).
DataDir = Annotated[str, msgspec.Meta(min_length=1)]
_LISTEN = re.compile(r"^(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(?P<port>\d{1,5})$")


class ConfigError(PlumbingError):
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
        config = msgspec.toml.decode(data, type=type_)
    except msgspec.ValidationError as exc:
        message, field = describe(exc)
        raise ConfigError(path, field, message) from exc
    except msgspec.DecodeError as exc:
        raise ConfigError(path, None, f"not valid TOML: {exc}") from exc
    _check_finite(config, path, "")
    return config


def _check_finite(value: object, path: Path | str, key: str) -> None:
    """TOML has inf and nan, and no duration or amount in a config means either."""
    if isinstance(value, float | Decimal) and not math.isfinite(value):
        raise ConfigError(path, key, f"expected a finite number, got {value}")
    if isinstance(value, msgspec.Struct):
        for field in msgspec.structs.fields(value):
            _check_finite(getattr(value, field.name), path, f"{key}.{field.name}".lstrip("."))
    elif isinstance(value, dict):
        for name, item in value.items():
            _check_finite(item, path, f"{key}.{name}")
    elif isinstance(value, list):
        for number, item in enumerate(value):
            _check_finite(item, path, f"{key}[{number}]")


def data_dir(value: str, *, path: Path | str) -> str:
    """`data_dir` resolved against the config file's folder; it must be a folder if it exists."""
    folder = resolve(path, value)
    if os.path.exists(folder) and not os.path.isdir(folder):
        raise ConfigError(path, "data_dir", f"{folder} exists and is not a folder")
    return folder


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
        mode = os.stat(file).st_mode
        secret = Path(file).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(path, key, f"cannot read {file} ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(path, key, f"{file} is not UTF-8 text") from exc
    if mode & stat.S_IROTH:
        # Like ssh with a private key: a secret every user of the machine can read is no secret.
        raise ConfigError(path, key, f"{file} is readable by every user (mode "
                          f"{stat.S_IMODE(mode):04o}); `chmod o-rwx {file}`")
    if not secret:
        raise ConfigError(path, key, f"{file} is empty")
    return secrets.remember(secret)


def resolve(base: Path | str, value: str) -> str:
    """A path from a config file: relative paths are relative to the file's folder."""
    p = Path(os.path.expanduser(value))
    return str(p if p.is_absolute() else Path(base).parent / p)


def render(config: msgspec.Struct, *, as_json: bool = False) -> str:
    """The effective config as TOML, or JSON (for `check-config [--json]`): unset optional keys
    are left out."""
    data = msgspec.to_builtins(config)
    data.pop("source", None)

    def prune(value: object) -> object:
        if isinstance(value, dict):
            return {k: prune(v) for k, v in value.items() if v is not None}
        return value

    if as_json:
        return json.dumps(prune(data), indent=2, default=str) + "\n"
    return msgspec.toml.encode(prune(data)).decode()
