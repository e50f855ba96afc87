"""The hub's TOML config: every key, its default and its check (see packaging/retail-hub.toml)."""

import datetime as dt
import os
import socket
import ssl
import tomllib
import urllib.parse
import zoneinfo
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Literal

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
from runtime.tls import client_context, server_context
from runtime.validation import describe

Positive = Annotated[float, Meta(gt=0)]


class BrokerConfig(Struct, frozen=True, forbid_unknown_fields=True):
    embedded: bool = True
    listen: str = "127.0.0.1:1883"
    users_file: str = "mqtt-users"
    url: str = "mqtt://127.0.0.1:1883"
    username: str = "hub"
    password_file: str | None = None
    client_id: str = "retail-hub"
    # Embedded broker: also serve mqtts:// on tls_listen with this certificate and key; with
    # tls_client_ca_file, client certificates are checked (and demanded when required).
    tls_listen: str = ""
    tls_cert_file: str | None = None
    tls_key_file: str | None = None
    tls_client_ca_file: str | None = None
    tls_require_client_cert: bool = False
    # External broker at an mqtts:// url: the CA that signed its certificate (the system's CAs
    # when unset), and the hub's client certificate and key when the broker asks for one.
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None


class ApiConfig(Struct, frozen=True, forbid_unknown_fields=True):
    listen: str = "127.0.0.1:8800"
    # Actions (retry, resubmit) need `Authorization: Bearer <this file's token>`; without it they
    # are refused. Read views need no token.
    admin_token_file: str | None = None


class HealthConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """When /healthz answers 503."""

    broker_down_s: Annotated[float, Meta(ge=0)] = 30.0
    erp_circuit_open: bool = True


class IngestConfig(Struct, frozen=True, forbid_unknown_fields=True):
    max_held_events: Annotated[int, Meta(ge=1)] = 20000
    # A store can invent streams and gaps: bound what it, and all stores, can make the hub hold.
    max_held_events_per_store: Annotated[int, Meta(ge=1)] = 20000
    max_held_events_total: Annotated[int, Meta(ge=1)] = 100000
    max_new_streams_per_day: Annotated[int, Meta(ge=1)] = 4
    replay_min_interval_s: Positive = 2.0
    # Ask a store for a replay only once a gap has stood this long; unset: at once for a hub
    # alone, 1 s with several workers (cluster.shared_group), where the batch before the gap is
    # usually being applied by another worker that very moment.
    replay_grace_s: Annotated[float, Meta(ge=0, le=60)] | None = None
    max_pending_batches: Annotated[int, Meta(ge=1)] = 256
    # The hub sends itself a probe this often; when nothing at all (probe or store message) has
    # reached it for deaf_after_s, its session is deaf: it reconnects (runtime.hearing).
    probe_interval_s: Positive = 5.0
    deaf_after_s: Positive = 30.0


HHMM = Annotated[str, Meta(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
# "HH:MM", or "" for never (msgspec cannot tell a constrained str from a Literal str in a union).
HHMMOrNever = Annotated[str, Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9])?$")]


class PostingsConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """How applied store events become ERP postings (see docs/postings.md)."""

    sales: Literal["per_transaction", "daily_summary"] = "per_transaction"
    returns: Literal["per_transaction", "daily_summary"] = "per_transaction"
    inventory_adjustments: Literal["per_transaction", "none"] = "per_transaction"
    summary_cutoff: HHMM = "04:00"
    timezone: str = "UTC"
    sweep_interval_s: Positive = 30.0
    closed_through: dt.date | None = None
    rounding: dict[str, Decimal] = msgspec.field(default_factory=dict)


class MappingConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """Hub names to ERP names. An empty table passes names through unless the ERP supplies one."""

    stores: dict[str, str] = msgspec.field(default_factory=dict)
    skus: dict[str, str] = msgspec.field(default_factory=dict)
    tenders: dict[str, str] = msgspec.field(default_factory=dict)


class ErpConfig(Struct, frozen=True, forbid_unknown_fields=True):
    connector: Literal["none", "http-json", "tryton"] = "none"
    url: str = ""
    token_file: str | None = None
    database: str = ""
    username: str = ""
    password_file: str | None = None
    rate_limit_per_s: Positive = 5.0
    max_in_flight: Annotated[int, Meta(ge=1, le=256)] = 4
    timeout_s: Positive = 10.0
    retry_initial_s: Positive = 1.0
    retry_max_s: Positive = 300.0
    breaker_failures: Annotated[int, Meta(ge=1)] = 5
    breaker_open_s: Positive = 30.0
    # How long a relay's claim of a posting lasts: past it, a posting still `posting` (its
    # worker died mid-send) is due again for any worker. Longer than a posting's calls take.
    claim_lease_s: Positive = 300.0
    maintenance_windows: list[str] = msgspec.field(default_factory=list)
    timezone: str = "UTC"
    mapping: MappingConfig = MappingConfig()


class ReconcileConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """The scheduled reconciliation of yesterday's business days."""

    at: HHMMOrNever = "06:00"
    timezone: str = "UTC"


# A location's id is a store id (every store is a location, declared or not) or the name of a
# warehouse or distribution centre declared under [locations].
LocationId = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
ChannelName = Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
Units = Annotated[int, Meta(ge=0, le=1_000_000_000)]


class LocationConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """A stock-holding location (docs/availability.md). A store's stock comes from its agent's
    events; a warehouse's or distribution centre's from `POST /v1/locations/{id}/adjustments`.
    Stores need not be declared: an id no entry declares is a store's."""

    kind: Literal["store", "warehouse", "dc"]


class AvailabilityConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """Available to sell: the default safety stock and the reservations' clock."""

    default_safety_stock: Units = 0
    # A reservation that names no `expires_in_s` is held this long.
    reservation_ttl_s: Annotated[int, Meta(ge=1, le=604800)] = 900
    # How often held reservations past their expiry are marked expired, stores that went
    # stale (or came back) are written to the change feed, and the feed is compacted.
    sweep_interval_s: Positive = 5.0
    # The change feed keeps every change this long; older, only each SKU and location's latest.
    feed_keep_days: Positive = 7.0


class ChannelConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """A sales channel (web shop, marketplace): which locations sell into it, and how."""

    locations: Annotated[list[LocationId], Meta(min_length=1)]
    buffer: Units = 0
    stale_after_s: Positive = 300.0
    allocation: Literal["most_available", "in_order"] = "most_available"
    # The channel's own token: it may reserve, release and fulfil for this channel only.
    token_file: str | None = None
    # Optional push of the change feed (hub.availability.webhooks): every page is POSTed here,
    # with `Authorization: Bearer <webhook_token_file's token>` when that is set.
    webhook_url: str = ""
    webhook_token_file: str | None = None


class CatalogConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """Items and prices down to the stores (see docs/catalog.md)."""

    # A price change that cuts a price by more than this (percent of the price it replaces) is
    # refused unless the change set says "force": true.
    max_price_drop_percent: Annotated[int, Meta(ge=0, le=100)] = 90
    # Publish every accepted change (items, store groups, price books, prices) to every store.
    auto_publish: bool = False
    # The content of this many versions back is kept: a store that far behind gets a delta,
    # one further behind a snapshot; a rollback can go back this far.
    keep_versions: Annotated[int, Meta(ge=1, le=10000)] = 20
    # Bytes per catalog message on MQTT (protocol.chunking bounds it to 1 KiB - 1 MiB).
    chunk_bytes: Annotated[int, Meta(ge=1024, le=1024 * 1024)] = 256 * 1024
    # A version handed over for a store that the store has not said it applied after this long
    # is sent again (it may have been lost on the way).
    ack_timeout_s: Annotated[float, Meta(ge=1, le=86400)] = 120.0
    # When to read products and list prices from the ERP into `erp_book` ("HH:MM" daily in
    # `timezone`); "" never (`retail-hub catalog sync-from-erp` still can). Needs
    # `[erp] connector = "tryton"`.
    erp_sync: Annotated[str, Meta(pattern=r"^(([01][0-9]|2[0-3]):[0-5][0-9])?$")] = ""
    # The price book the ERP's list prices go to; made when missing (for every store, below
    # every other book) in `erp_currency`, "" for the ERP company's currency.
    erp_book: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "erp"
    erp_currency: Annotated[str, Meta(pattern=r"^([A-Z]{3})?$")] = ""
    timezone: str = "UTC"


class StorageConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """Where the hub keeps its state (docs/scale-out.md): `hub.sqlite` in data_dir, or a
    PostgreSQL database."""

    backend: Literal["sqlite", "postgresql"] = "sqlite"
    # postgresql://user@host:port/database (libpq's URL); its password goes in password_file.
    url: str = ""
    password_file: str | None = None
    # PostgreSQL: connections for reads (API, dashboard, relay); the writer has one more.
    pool_size: Annotated[int, Meta(ge=1, le=64)] = 4


class ClusterConfig(Struct, frozen=True, forbid_unknown_fields=True):
    """This hub among several on one PostgreSQL database (docs/scale-out.md)."""

    # How this worker is named to the others and on the dashboard; "" means host name and pid.
    worker_id: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.:@-]{0,100}$")] = ""
    # Several workers share the stores' events through the external broker's shared
    # subscription `$share/<shared_group>/<prefix>/stores/+/events`; "" means this hub is alone.
    # Needs storage.backend = "postgresql" and broker.embedded = false.
    shared_group: Annotated[str, Meta(pattern=r"^[A-Za-z0-9_.-]{0,64}$")] = ""
    # How often this worker writes its row of the workers table (the dashboard's Workers).
    heartbeat_s: Annotated[float, Meta(gt=0, le=60)] = 2.0
    # A worker not heard from for this long is shown as gone (its row goes after a day).
    gone_after_s: Annotated[float, Meta(gt=0, le=3600)] = 15.0
    # How often a worker that does not lead tries to take the lead, and the leader checks that
    # it still holds it (hub.cluster.leadership).
    leader_check_s: Annotated[float, Meta(gt=0, le=60)] = 1.0


class HubConfig(Struct, frozen=True, forbid_unknown_fields=True):
    data_dir: DataDir
    topic_prefix: str = DEFAULT_PREFIX
    log_level: str = "INFO"
    broker: BrokerConfig = BrokerConfig()
    api: ApiConfig = ApiConfig()
    ingest: IngestConfig = IngestConfig()
    postings: PostingsConfig = PostingsConfig()
    erp: ErpConfig = ErpConfig()
    reconcile: ReconcileConfig = ReconcileConfig()
    health: HealthConfig = HealthConfig()
    locations: dict[LocationId, LocationConfig] = msgspec.field(default_factory=dict)
    availability: AvailabilityConfig = AvailabilityConfig()
    channels: dict[ChannelName, ChannelConfig] = msgspec.field(default_factory=dict)
    catalog: CatalogConfig = CatalogConfig()
    storage: StorageConfig = StorageConfig()
    cluster: ClusterConfig = ClusterConfig()
    source: str = ""

    @property
    def db_path(self) -> Path:
        """The SQLite backend's database file."""
        return Path(self.data_dir) / "hub.sqlite"

    @property
    def worker_id(self) -> str:
        return self.cluster.worker_id or f"{socket.gethostname()}-{os.getpid()}"

    def storage_password(self) -> str | None:
        """The PostgreSQL password (from `storage.password_file`), None without one."""
        file = self.storage.password_file
        return read_secret(file, path=self.source, key="storage.password_file") if file else None

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

    @property
    def broker_tls_listen(self) -> tuple[str, int] | None:
        if not self.broker.tls_listen:
            return None
        return parse_listen(self.broker.tls_listen, path=self.source, key="broker.tls_listen")

    def broker_server_tls(self) -> ssl.SSLContext | None:
        """The embedded broker's TLS listener context, None when it serves no TLS."""
        b = self.broker
        if self.broker_tls_listen is None:
            return None
        if not b.tls_cert_file or not b.tls_key_file:
            missing = "tls_cert_file" if not b.tls_cert_file else "tls_key_file"
            raise ConfigError(self.source, f"broker.{missing}", "required with broker.tls_listen")
        return server_context(cert_file=b.tls_cert_file, key_file=b.tls_key_file,
                              client_ca_file=b.tls_client_ca_file,
                              require_client_cert=b.tls_require_client_cert,
                              path=self.source, section="broker")

    def broker_client_tls(self) -> ssl.SSLContext | None:
        """The hub's TLS context towards an external mqtts:// broker, None for mqtt://."""
        b = self.broker
        if b.embedded or not broker_address(b.url, path=self.source, key="broker.url").tls:
            return None
        return client_context(ca_file=b.ca_file, cert_file=b.cert_file, key_file=b.key_file,
                              path=self.source, section="broker")

    def hub_password(self) -> str:
        return read_secret(str(self.hub_password_path), path=self.source, key="broker.password_file")

    def admin_token(self) -> str | None:
        file = self.api.admin_token_file
        return read_secret(file, path=self.source, key="api.admin_token_file") if file else None

    def erp_secret(self, key: Literal["token_file", "password_file"]) -> str | None:
        file = getattr(self.erp, key)
        return read_secret(file, path=self.source, key=f"erp.{key}") if file else None

    def location_kind(self, location: str) -> str:
        """"store", "warehouse" or "dc": as declared under [locations]; an undeclared id is a
        store's (every store is a location; only the others are declared)."""
        declared = self.locations.get(location)
        return declared.kind if declared is not None else "store"

    def known_locations(self) -> set[str]:
        """Every location the config names: declared under [locations] or sold from by a
        channel."""
        return set(self.locations).union(*(ch.locations for ch in self.channels.values()))

    def webhook_token(self, channel: str) -> str | None:
        """The token the hub sends with the channel's feed pushes, None without a file."""
        file = self.channels[channel].webhook_token_file
        return read_secret(file, path=self.source,
                           key=f"channels.{channel}.webhook_token_file") if file else None

    def channel_tokens(self) -> dict[str, str]:
        """Each channel's token (from its `token_file`), by channel; channels without one are
        left out."""
        return {name: read_secret(ch.token_file, path=self.source,
                                  key=f"channels.{name}.token_file")
                for name, ch in self.channels.items() if ch.token_file}


def load_config(path: Path | str) -> HubConfig:
    try:
        cfg = load(path, HubConfig)
    except ConfigError as exc:
        _name_the_entry(path, exc)
        raise
    src = str(path)
    broker = cfg.broker
    files = {key: resolve(src, getattr(broker, key))
             for key in ("password_file", "tls_cert_file", "tls_key_file", "tls_client_ca_file",
                         "ca_file", "cert_file", "key_file") if getattr(broker, key)}
    broker = msgspec.structs.replace(broker, users_file=resolve(src, broker.users_file), **files)
    api = cfg.api
    if api.admin_token_file:
        api = msgspec.structs.replace(api, admin_token_file=resolve(src, api.admin_token_file))
    cfg = msgspec.structs.replace(cfg, source=src, data_dir=data_dir(cfg.data_dir, path=src),
                                  broker=broker, api=api)
    cfg.api_listen  # noqa: B018 - validates api.listen
    if cfg.broker.embedded:
        cfg.broker_listen  # noqa: B018
        cfg.broker_server_tls()
    else:
        cfg.broker_client_tls()
    if not cfg.broker.embedded and cfg.broker.password_file is None:
        raise ConfigError(src, "broker.password_file", "required when broker.embedded = false")
    erp = cfg.erp
    cfg = msgspec.structs.replace(cfg, erp=msgspec.structs.replace(
        erp,
        token_file=resolve(src, erp.token_file) if erp.token_file else None,
        password_file=resolve(src, erp.password_file) if erp.password_file else None,
    ))
    if cfg.storage.password_file:
        cfg = msgspec.structs.replace(cfg, storage=msgspec.structs.replace(
            cfg.storage, password_file=resolve(src, cfg.storage.password_file)))
    cfg = msgspec.structs.replace(cfg, channels={
        name: msgspec.structs.replace(
            ch, token_file=resolve(src, ch.token_file) if ch.token_file else None,
            webhook_token_file=resolve(src, ch.webhook_token_file)
            if ch.webhook_token_file else None)
        for name, ch in cfg.channels.items()})
    _check_erp(src, cfg)
    _check_storage(src, cfg.storage)
    _check_cluster(src, cfg)
    _check_channels(src, cfg)
    _check_catalog(src, cfg)
    _check_files(src, cfg)
    if cfg.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(src, "log_level", "expected DEBUG, INFO, WARNING or ERROR")
    return cfg


def _check_files(src: str, cfg: HubConfig) -> None:
    """Read every secret and the users file now, so `check-config` finds what `run` would."""
    from hub.broker.credentials import read_users
    from hub.errors import CredentialsError

    admin = cfg.admin_token()
    for key in ("token_file", "password_file"):
        cfg.erp_secret(key)
    cfg.storage_password()
    for name in cfg.channels:
        cfg.webhook_token(name)
    owners: dict[str, str] = {}
    for name, token in cfg.channel_tokens().items():
        key = f"channels.{name}.token_file"
        if token == admin:
            raise ConfigError(src, key, "the same token as api.admin_token_file: give the "
                                        "channel its own")
        if token in owners:
            raise ConfigError(src, key, f"the same token as channel {owners[token]!r}: a token "
                                        "must tell which channel calls")
        owners[token] = name
    if not cfg.broker.embedded or cfg.hub_password_path.exists():
        cfg.hub_password()  # with the embedded broker it is generated at the first start
    if cfg.broker.embedded:
        try:
            read_users(cfg.broker.users_file)
        except CredentialsError as exc:
            raise ConfigError(src, "broker.users_file", str(exc)) from exc


def _name_the_entry(path: Path | str, exc: ConfigError) -> None:
    """msgspec names an entry of [channels] or [locations] `channels[...]`: find which, and
    raise the error again naming it (`channels.web.buffer`)."""
    section = (exc.key or "").partition("[...]")[0]
    kind = {"channels": ChannelConfig, "locations": LocationConfig}.get(section)
    if kind is None or not (exc.key or "").startswith(f"{section}[...]"):
        return
    entries = tomllib.loads(Path(path).read_text(encoding="utf-8")).get(section, {})
    for name, value in entries.items():
        try:
            msgspec.convert(value, kind)
        except msgspec.ValidationError as inner:
            message, field = describe(inner)
            key = f"{section}.{name}" + ("" if field == "$" else f".{field}")
            raise ConfigError(path, key, message) from exc


def _check_cluster(src: str, cfg: HubConfig) -> None:
    """Workers that share the stores' events must share one database and one broker."""
    _check_heartbeats(src, cfg.cluster)
    if not cfg.cluster.shared_group:
        return
    if cfg.storage.backend != "postgresql":
        raise ConfigError(src, "cluster.shared_group", "several workers need one database they "
                          "all reach: set storage.backend = \"postgresql\" (docs/scale-out.md)")
    if cfg.broker.embedded:
        raise ConfigError(src, "cluster.shared_group", "several workers need one external "
                          "broker with shared subscriptions: set broker.embedded = false and "
                          "broker.url (docs/scale-out.md)")


def _check_storage(src: str, storage: StorageConfig) -> None:
    """A PostgreSQL backend needs a postgresql:// URL naming the host and the database, and no
    password in it (secrets are files: storage.password_file)."""
    if storage.backend != "postgresql":
        return
    example = "postgresql://user@host:5432/database"
    if not storage.url:
        raise ConfigError(src, "storage.url", f"required for backend \"postgresql\": {example}")
    url = urllib.parse.urlsplit(storage.url)
    if url.scheme not in ("postgresql", "postgres") or not url.path.strip("/"):
        raise ConfigError(src, "storage.url", f"expected {example}, got {storage.url!r}")
    try:
        url.port  # noqa: B018 - validates the port
    except ValueError as exc:
        raise ConfigError(src, "storage.url", f"bad port in {storage.url!r}") from exc
    if url.password is not None:
        raise ConfigError(src, "storage.url", "holds a password: put it in a file named by "
                                              "storage.password_file instead")


def _check_channels(src: str, cfg: HubConfig) -> None:
    """Each location is listed once per channel. An id [locations] does not declare is a
    store's: a store the hub never heard from is stale (it adds nothing to the channel), and
    the channel's answers say so."""
    for name, channel in cfg.channels.items():
        seen: set[str] = set()
        url = channel.webhook_url
        if url and not url.startswith(("http://", "https://")):
            raise ConfigError(src, f"channels.{name}.webhook_url", "expected http(s)://host/path")
        if channel.webhook_token_file and not url:
            raise ConfigError(src, f"channels.{name}.webhook_token_file",
                              f"a token for pushes, but channels.{name}.webhook_url is not set")
        for i, location in enumerate(channel.locations):
            key = f"channels.{name}.locations[{i}]"
            if location in seen:
                raise ConfigError(src, key, f"location {location!r} is listed twice")
            seen.add(location)


def _check_erp(src: str, cfg: HubConfig) -> None:
    from runtime.windows import WindowError, parse_windows

    for key, zone in (("postings.timezone", cfg.postings.timezone), ("erp.timezone", cfg.erp.timezone),
                      ("reconcile.timezone", cfg.reconcile.timezone),
                      ("catalog.timezone", cfg.catalog.timezone)):
        try:
            zoneinfo.ZoneInfo(zone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(src, key, f"unknown time zone {zone!r}") from exc
    for currency, step in cfg.postings.rounding.items():
        if len(currency) != 3 or not currency.isupper() or step <= 0:
            raise ConfigError(src, f"postings.rounding.{currency}",
                              "expected an ISO currency code and a positive amount like \"0.05\"")
    try:
        parse_windows(cfg.erp.maintenance_windows)
    except WindowError as exc:
        raise ConfigError(src, "erp.maintenance_windows", str(exc)) from exc
    erp = cfg.erp
    if erp.claim_lease_s <= erp.timeout_s:
        raise ConfigError(src, "erp.claim_lease_s", f"must be longer than erp.timeout_s "
                          f"({erp.timeout_s:g} s): a call must end before its claim does")
    if erp.connector in ("http-json", "tryton") and not erp.url.startswith(("http://", "https://")):
        raise ConfigError(src, "erp.url", f"required for connector {erp.connector!r}: http(s)://host:port")
    if erp.connector == "tryton":
        for key in ("database", "username", "password_file"):
            if not getattr(erp, key):
                raise ConfigError(src, f"erp.{key}", "required for connector 'tryton'")


def _check_heartbeats(src: str, cluster: ClusterConfig) -> None:
    if cluster.gone_after_s <= 2 * cluster.heartbeat_s:
        raise ConfigError(src, "cluster.gone_after_s", "must be more than twice "
                          f"cluster.heartbeat_s ({cluster.heartbeat_s:g}), or live workers "
                          "would show as gone")


def _check_catalog(src: str, cfg: HubConfig) -> None:
    if cfg.catalog.erp_sync and cfg.erp.connector != "tryton":
        raise ConfigError(src, "catalog.erp_sync", "the catalog sync reads products from Tryton: "
                          f"it needs [erp] connector = \"tryton\" (not {cfg.erp.connector!r}), "
                          "or leave it \"\"")
