"""The embedded MQTT broker (amqtt, in the hub's process) with per-user passwords and topic ACLs.

amqtt's anonymous mode deletes persistent sessions on disconnect, so every client logs in.
Each store's username is its store id; it may publish only its own events and state and read
only its own ack and control topics (hub.broker.plugins, which re-reads the users file when
`retail-hub stores` changes it), and use only its own client ids (hub.broker.sessions). Known amqtt defects (in-flight messages dropped when a
subscriber's connection drops; a fixed 5 s PUBACK wait) are why delivery rests on the hub's
own acks, never on the broker. amqtt's shutdown can wait on its connected clients (a reader
task's cancellation lost in Python 3.11's wait_for): `stop()` closes their connections first,
so the hub stops in bounded time whatever the stores do.
"""

import asyncio
import logging
import socket
import ssl
from collections.abc import Iterator
from typing import Any

from amqtt.errors import BrokerError

from hub.broker.credentials import new_password, read_users, set_password, write_secret
from hub.broker.sessions import StoreBroker
from hub.config import HubConfig
from runtime.service import CannotListen

log = logging.getLogger(__name__)


def ensure_hub_user(config: HubConfig) -> None:
    """Give the hub its own broker identity in the users file, made once and kept."""
    secret_path = config.hub_password_path
    users = read_users(config.broker.users_file)
    if secret_path.exists() and config.broker.username in users:
        return
    password = new_password()
    write_secret(secret_path, password)
    set_password(config.broker.users_file, config.broker.username, password)
    log.info("created the hub's broker identity %r", config.broker.username)


def broker_config(config: HubConfig) -> dict[str, Any]:
    host, port = config.broker_listen
    listeners: dict[str, Any] = {"default": {"type": "tcp", "bind": f"{host}:{port}"}}
    if config.broker_tls_listen is not None:
        tls_host, tls_port = config.broker_tls_listen
        # The files are checked here; the context itself comes from _TlsBroker below.
        listeners["tls"] = {"type": "tcp", "bind": f"{tls_host}:{tls_port}", "ssl": True,
                            "certfile": config.broker.tls_cert_file,
                            "keyfile": config.broker.tls_key_file}
    return {
        "listeners": listeners,
        "plugins": {
            "hub.broker.plugins.StoreAuth": {"users_file": config.broker.users_file},
            "hub.broker.plugins.StoreAcl": {"topic_prefix": config.topic_prefix,
                                            "hub_user": config.broker.username},
        },
    }


class _Subscriptions(dict[str, Any]):
    """amqtt 0.12.1 loops over its subscriptions with an await inside the loop (a broadcast, the
    retained messages for a new session): a client subscribing meanwhile raised "dictionary
    changed size during iteration" and that broadcast was dropped (seen as a traceback when the
    demo's stores connect). Every loop here runs over a copy."""

    def __iter__(self) -> Iterator[str]:
        return iter(list(super().__iter__()))

    def items(self) -> list[tuple[str, Any]]:  # type: ignore[override]
        return list(super().items())


class _TlsBroker(StoreBroker):
    """amqtt builds its own TLS context, which never demands a client certificate; this one
    uses the hub's (runtime.tls.server_context) for every TLS listener. It also keeps every
    client connection, so that a stop can close them (`abort_connections`)."""

    def __init__(self, config: HubConfig) -> None:
        self._tls_context = config.broker_server_tls()
        self._connections: set[asyncio.StreamWriter] = set()
        super().__init__(broker_config(config), hub_user=config.broker.username,
                         hub_client_id=config.broker.client_id)
        self._subscriptions = _Subscriptions()

    async def stream_connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                               listener_name: str) -> None:
        self._connections.add(writer)
        try:
            await super().stream_connected(reader, writer, listener_name)
        finally:
            self._connections.discard(writer)

    def abort_connections(self) -> int:
        """Drop every client connection at once; returns how many there were."""
        connections = list(self._connections)
        for writer in connections:
            writer.transport.abort()
        return len(connections)

    def _create_ssl_context(self, listener: Any) -> ssl.SSLContext:
        assert self._tls_context is not None
        return self._tls_context


class EmbeddedBroker:
    """Start and stop amqtt inside the running event loop."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self._broker: StoreBroker | None = None

    def _listeners(self) -> list[tuple[str, tuple[str, int]]]:
        found = [("broker.listen", self.config.broker_listen)]
        if self.config.broker_tls_listen is not None:
            found.append(("broker.tls_listen", self.config.broker_tls_listen))
        return found

    def _check_addresses(self) -> None:
        """Bind each address once ourselves, as asyncio will: amqtt's own failure is four stacked
        tracebacks and a broker that cannot be shut down; ours is one line naming the key."""
        for key, (host, port) in self._listeners():
            try:
                infos = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM,
                                           flags=socket.AI_PASSIVE)
                for family, kind, proto, _name, address in infos:
                    with socket.socket(family, kind, proto) as probe:
                        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                        probe.bind(address)
            except OSError as exc:
                raise CannotListen(f"{host}:{port}", key, self.config.source, exc) from exc

    async def start(self) -> None:
        ensure_hub_user(self.config)
        self._check_addresses()
        broker = _TlsBroker(self.config)
        try:
            await broker.start()
        except BrokerError as exc:  # taken between our check and amqtt's bind
            if isinstance(exc.__cause__, OSError):
                raise CannotListen(self.config.broker.listen, "broker.listen or broker.tls_listen",
                                   self.config.source, exc.__cause__) from exc
            raise
        self._broker = broker  # only a started broker is ever shut down
        log.info("embedded MQTT broker listening on %s", self.config.broker.listen)
        if self.config.broker.tls_listen:
            log.info("embedded MQTT broker serving mqtts on %s", self.config.broker.tls_listen)

    async def stop(self, timeout: float = 3.0) -> None:
        """Close every client connection, then shut amqtt down; give up after `timeout`."""
        broker, self._broker = self._broker, None
        if broker is None:
            return
        broker.abort_connections()
        shutdown = asyncio.ensure_future(broker.shutdown())
        done, _ = await asyncio.wait({shutdown}, timeout=timeout)
        if not done:
            log.error("embedded MQTT broker did not shut down within %g s; leaving it", timeout)
            shutdown.cancel()
        elif shutdown.exception() is not None:
            log.error("embedded MQTT broker shutdown failed: %s", shutdown.exception())
