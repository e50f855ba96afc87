"""The agent's TOML config: every key, its default and its check (see packaging/edge-agent.toml)."""

import ssl
import zoneinfo
from pathlib import Path
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from protocol.topics import DEFAULT_PREFIX
from runtime.config import (
    ConfigError,
    DataDir,
    broker_address,
    data_dir,
    load,
    parse_listen,
    read_secret,
    resolve,
)
from runtime.tls import client_context

StoreId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Positive = Annotated[float, Meta(gt=0)]


class ApiConfig(Struct, frozen=True, forbid_unknown_fields=True):
    listen: str = "127.0.0.1:8700"
    max_body_bytes: Annotated[int, Meta(ge=1024, le=16 * 1024 * 1024)] = 256 * 1024
    token_file: str | None = None  # when set, tills must send "Authorization: Bearer <token>"
    # A till whose clock is further than this from the agent's does not choose the business day.
    max_clock_skew_s: Annotated[float, Meta(ge=0)] = 900.0


class MqttConfig(Struct, frozen=True, forbid_unknown_fields=True):
    url: str = "mqtt://127.0.0.1:1883"
    username: str | None = None
    password_file: str | None = None
    topic_prefix: str = DEFAULT_PREFIX
    client_id: str | None = None
    keepalive_s: Annotated[int, Meta(ge=5, le=3600)] = 30
    # mqtts:// only: the CA that signed the broker's certificate (the system's CAs when unset),
    # and this store's client certificate and key when the broker asks for one.
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class ForwarderConfig(Struct, frozen=True, forbid_unknown_fields=True):
    batch_max_events: Annotated[int, Meta(ge=1, le=1000)] = 500
    batch_max_bytes: Annotated[int, Meta(ge=4096, le=1024 * 1024)] = 512 * 1024
    max_in_flight_events: Annotated[int, Meta(ge=1)] = 5000
    ack_timeout_s: Positive = 10.0
    reconnect_initial_s: Positive = 0.5
    reconnect_max_s: Positive = 30.0
    state_interval_s: Positive = 10.0
    # This many resends in a row without an ack while the hub says it is online: the session is
    # deaf (taken over, a half-open link): reconnect.
    deaf_after_resends: Annotated[int, Meta(ge=1)] = 3


class OutboxConfig(Struct, frozen=True, forbid_unknown_fields=True):
    retention_hours: Positive = 168.0
    prune_interval_s: Positive = 3600.0
    max_size_mb: Annotated[int, Meta(ge=0)] = 0  # 0: limited only by the disk


class HealthConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """When /healthz answers 503 (for systemd and monitoring) and the status page warns."""

    broker_down_s: Annotated[float, Meta(ge=0)] = 300.0
    min_free_mb: Annotated[int, Meta(ge=0)] = 200


class AgentConfig(Struct, frozen=True, forbid_unknown_fields=True):
    store_id: StoreId
    data_dir: DataDir
    timezone: str | None = None
    log_level: str = "INFO"
    api: ApiConfig = ApiConfig()
    mqtt: MqttConfig = MqttConfig()
    forwarder: ForwarderConfig = ForwarderConfig()
    outbox: OutboxConfig = OutboxConfig()
    health: HealthConfig = HealthConfig()
    # Filled in by load(), not read from the file.
    source: str = ""

    @property
    def outbox_path(self) -> Path:
        return Path(self.data_dir) / "outbox.sqlite"

    @property
    def catalog_path(self) -> Path:
        """The store's items and prices as head office published them (edge_agent.catalog)."""
        return Path(self.data_dir) / "catalog.sqlite"

    @property
    def listen(self) -> tuple[str, int]:
        return parse_listen(self.api.listen, path=self.source, key="api.listen")

    @property
    def zone(self) -> zoneinfo.ZoneInfo | None:
        return zoneinfo.ZoneInfo(self.timezone) if self.timezone else None

    def api_token(self) -> str | None:
        if self.api.token_file is None:
            return None
        return read_secret(self.api.token_file, path=self.source, key="api.token_file")

    def mqtt_password(self) -> str | None:
        if self.mqtt.password_file is None:
            return None
        return read_secret(self.mqtt.password_file, path=self.source, key="mqtt.password_file")

    def mqtt_tls(self) -> ssl.SSLContext | None:
        """The TLS context for an mqtts:// url, None for mqtt://."""
        if not broker_address(self.mqtt.url, path=self.source, key="mqtt.url").tls:
            return None
        m = self.mqtt
        return client_context(ca_file=m.ca_file, cert_file=m.cert_file, key_file=m.key_file,
                              path=self.source, section="mqtt")


def load_config(path: Path | str) -> AgentConfig:
    """Read and check the agent config; relative paths are taken from the file's folder."""
    cfg = load(path, AgentConfig)
    src = str(path)
    cfg = msgspec.structs.replace(cfg, source=src, data_dir=data_dir(cfg.data_dir, path=src))
    mqtt = cfg.mqtt
    files = {key: resolve(src, getattr(mqtt, key))
             for key in ("password_file", "ca_file", "cert_file", "key_file") if getattr(mqtt, key)}
    cfg = msgspec.structs.replace(cfg, mqtt=msgspec.structs.replace(mqtt, **files))
    if cfg.api.token_file is not None:
        api = msgspec.structs.replace(cfg.api, token_file=resolve(src, cfg.api.token_file))
        cfg = msgspec.structs.replace(cfg, api=api)
        cfg.api_token()
    cfg.listen  # noqa: B018 - validates api.listen
    if not broker_address(cfg.mqtt.url, path=src, key="mqtt.url").tls:
        for key in ("ca_file", "cert_file", "key_file"):
            if getattr(cfg.mqtt, key):
                raise ConfigError(src, f"mqtt.{key}", "only used with an mqtts:// url; "
                                  f"mqtt.url is {cfg.mqtt.url!r}, which is not encrypted")
    cfg.mqtt_tls()
    if cfg.timezone is not None:
        try:
            zoneinfo.ZoneInfo(cfg.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(src, "timezone", f"unknown time zone {cfg.timezone!r}") from exc
    if cfg.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(src, "log_level", "expected DEBUG, INFO, WARNING or ERROR")
    if cfg.mqtt.password_file is not None:
        cfg.mqtt_password()
    return cfg
