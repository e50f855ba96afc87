"""The hub's TOML config: every key, its default and its check (see packaging/retail-hub.toml)."""

from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from protocol.topics import DEFAULT_PREFIX
from runtime.config import ConfigError, load, parse_listen, read_secret, resolve

Positive = Annotated[float, Meta(gt=0)]


class BrokerConfig(Struct, frozen=True, forbid_unknown_fields=True):
    embedded: bool = True
    listen: str = "127.0.0.1:1883"
    users_file: str = "mqtt-users"
    url: str = "mqtt://127.0.0.1:1883"
    username: str = "hub"
    password_file: str | None = None
    client_id: str = "retail-hub"


class ApiConfig(Struct, frozen=True, forbid_unknown_fields=True):
    listen: str = "127.0.0.1:8800"


class IngestConfig(Struct, frozen=True, forbid_unknown_fields=True):
    max_held_events: Annotated[int, Meta(ge=0)] = 20000
    replay_min_interval_s: Positive = 2.0
    max_pending_batches: Annotated[int, Meta(ge=1)] = 256


class HubConfig(Struct, frozen=True, forbid_unknown_fields=True):
    data_dir: str
    topic_prefix: str = DEFAULT_PREFIX
    log_level: str = "INFO"
    broker: BrokerConfig = BrokerConfig()
    api: ApiConfig = ApiConfig()
    ingest: IngestConfig = IngestConfig()
    source: str = ""

    @property
    def db_path(self) -> Path:
        return Path(self.data_dir) / "hub.sqlite"

    @property
    def api_listen(self) -> tuple[str, int]:
        return parse_listen(self.api.listen, path=self.source, key="api.listen")

    @property
    def broker_listen(self) -> tuple[str, int]:
        return parse_listen(self.broker.listen, path=self.source, key="broker.listen")

    @property
    def hub_password_path(self) -> Path:
        """Where the hub's own broker password lives (generated for the embedded broker)."""
        if self.broker.password_file:
            return Path(self.broker.password_file)
        return Path(self.data_dir) / "hub-mqtt-password"

    def hub_password(self) -> str:
        return read_secret(str(self.hub_password_path), path=self.source, key="broker.password_file")


def load_config(path: Path | str) -> HubConfig:
    cfg = load(path, HubConfig)
    src = str(path)
    broker = cfg.broker
    broker = msgspec.structs.replace(
        broker,
        users_file=resolve(src, broker.users_file),
        password_file=resolve(src, broker.password_file) if broker.password_file else None,
    )
    cfg = msgspec.structs.replace(cfg, source=src, data_dir=resolve(src, cfg.data_dir), broker=broker)
    cfg.api_listen  # noqa: B018 - validates api.listen
    if cfg.broker.embedded:
        cfg.broker_listen  # noqa: B018
    elif not cfg.broker.url.startswith(("mqtt://", "mqtts://")):
        raise ConfigError(src, "broker.url", "expected mqtt://host:port or mqtts://host:port")
    if not cfg.broker.embedded and cfg.broker.password_file is None:
        raise ConfigError(src, "broker.password_file", "required when broker.embedded = false")
    if cfg.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(src, "log_level", "expected DEBUG, INFO, WARNING or ERROR")
    return cfg
