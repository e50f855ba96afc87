"""The embedded MQTT broker (amqtt, in the hub's process) with per-user passwords and topic ACLs.

amqtt's anonymous mode deletes persistent sessions on disconnect, so every client logs in.
Each store's username is its store id; it may publish only its own events and state and read
only its own ack and control topics (hub.broker_plugins, which re-reads the users file when
`retail-hub stores` changes it). Known amqtt defects (in-flight messages dropped when a
subscriber's connection drops; a fixed 5 s PUBACK wait) are why delivery rests on the hub's
own acks, never on the broker.
"""

import logging
import ssl
from collections.abc import Iterator
from typing import Any

from amqtt.broker import Broker

from hub.config import HubConfig
from hub.credentials import new_password, read_users, set_password, write_secret

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
            "hub.broker_plugins.StoreAuth": {"users_file": config.broker.users_file},
            "hub.broker_plugins.StoreAcl": {"topic_prefix": config.topic_prefix,
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


class _TlsBroker(Broker):  # type: ignore[misc]
    """amqtt builds its own TLS context, which never demands a client certificate; this one
    uses the hub's (runtime.tls.server_context) for every TLS listener."""

    def __init__(self, config: dict[str, Any], context: ssl.SSLContext | None) -> None:
        self._tls_context = context
        super().__init__(config)
        self._subscriptions = _Subscriptions()

    def _create_ssl_context(self, listener: Any) -> ssl.SSLContext:
        assert self._tls_context is not None
        return self._tls_context


class EmbeddedBroker:
    """Start and stop amqtt inside the running event loop."""

    def __init__(self, config: HubConfig) -> None:
        self.config = config
        self._broker: Broker | None = None

    async def start(self) -> None:
        ensure_hub_user(self.config)
        self._broker = _TlsBroker(broker_config(self.config), self.config.broker_server_tls())
        await self._broker.start()
        log.info("embedded MQTT broker listening on %s", self.config.broker.listen)
        if self.config.broker.tls_listen:
            log.info("embedded MQTT broker serving mqtts on %s", self.config.broker.tls_listen)

    async def stop(self) -> None:
        if self._broker is not None:
            await self._broker.shutdown()
            self._broker = None
