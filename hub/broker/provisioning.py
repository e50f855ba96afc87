"""Store credentials for the embedded broker: `retail-hub stores add|rotate|remove`.

A store's MQTT username is its store id; its argon2 hash goes into `broker.users_file`, which
the running embedded broker re-reads at the next login (hub.broker.plugins). Events the store
has queued are never touched: they live in the store's outbox and are sent once it reconnects
with the new password.
"""

import logging
import re
from typing import Any

from hub.broker.credentials import new_password, read_users, set_password, write_secret, write_users
from hub.config import HubConfig
from hub.errors import CredentialsError, DatabaseUnreachable
from hub.ledger import fleet
from hub.storage import factory
from protocol.errors import TopicError
from protocol.topics import check_store_id

# A store id names the store's topics, its broker user and its client ids (`S042`,
# `edge-S042`), and operators use it in file names: letters, digits and `_ . -`, starting with
# a letter or digit (so never `.`, `..` or an option-like `-x`), at most 64.
_NEW_STORE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
STORE_ID_RULE = ("a store id is 1-64 of A-Z a-z 0-9 _ . -, starts with a letter or digit, "
                 "and does not start with `edge-`")

log = logging.getLogger(__name__)


def _check(config: HubConfig, store_id: str) -> None:
    try:
        check_store_id(store_id)
    except TopicError as exc:
        raise CredentialsError(config.broker.users_file, f"{store_id!r}: {STORE_ID_RULE}") from exc
    if not _NEW_STORE_ID.match(store_id) or store_id.startswith("edge-"):
        # `edge-S042` is store S042's client id (hub.broker.plugins.client_id_allowed).
        raise CredentialsError(config.broker.users_file, f"{store_id!r}: {STORE_ID_RULE}")
    if store_id in (config.broker.username, config.broker.client_id):
        raise CredentialsError(config.broker.users_file,
                               f"{store_id!r} is the hub's own identity (broker.username or "
                               "broker.client_id)")


def store_ids(config: HubConfig) -> list[str]:
    """The stores the users file knows (not the hub's own identity, not other names)."""
    ids = []
    for name in read_users(config.broker.users_file):
        try:
            check_store_id(name)
        except TopicError:
            continue
        if name != config.broker.username:
            ids.append(name)
    return sorted(ids)


def record(config: HubConfig) -> None:
    """Show provisioned stores that never connected in the hub database (if there is one yet;
    the hub also does this at start)."""
    if not config.broker.embedded:
        return
    try:
        if not factory.exists(config):
            return
    except DatabaseUnreachable as exc:
        log.warning("%s: the hub records the stores when it starts", exc)
        return
    factory.transact(config, lambda tx: fleet.provisioned(tx, store_ids(config)))


def add(config: HubConfig, store_id: str, password_file: str | None, *, rotate: bool) -> dict[str, Any]:
    """Create (or, with rotate, replace) a store's password; returns what to give the store."""
    _check(config, store_id)
    exists = store_id in read_users(config.broker.users_file)
    if exists and not rotate:
        raise CredentialsError(config.broker.users_file,
                               f"store {store_id} already exists (use `stores rotate`)")
    if rotate and not exists:
        raise CredentialsError(config.broker.users_file, f"no store {store_id} to rotate")
    password = new_password()
    set_password(config.broker.users_file, store_id, password)
    record(config)
    result: dict[str, Any] = {"store_id": store_id, "users_file": config.broker.users_file,
                              "agent_config": agent_config(config, store_id)}
    if password_file:
        write_secret(password_file, password)
        result["password_file"] = password_file
    else:
        result["password"] = password
    return result


def remove(config: HubConfig, store_id: str) -> None:
    users = read_users(config.broker.users_file)
    if store_id not in users or store_id == config.broker.username:
        raise CredentialsError(config.broker.users_file, f"no store {store_id} to remove")
    del users[store_id]
    write_users(config.broker.users_file, users)
    record(config)


def agent_config(config: HubConfig, store_id: str) -> str:
    """The agent config a new store needs (the broker host must be one the store can reach)."""
    tls = False
    if config.broker.embedded:
        listen = config.broker_tls_listen or config.broker_listen
        tls = config.broker_tls_listen is not None
        host, port = listen
        host = "HUB-HOST" if host in ("0.0.0.0", "::", "") else host
        url = f"{'mqtts' if tls else 'mqtt'}://{host}:{port}"
    else:
        url = config.broker.url
        tls = url.startswith("mqtts://")
    text = (
        f'store_id = "{store_id}"\ndata_dir = "/var/lib/edge-agent"\n\n[mqtt]\n'
        f'url = "{url}"\nusername = "{store_id}"\n'
        'password_file = "/etc/edge-agent/mqtt-password"\n'
        f'topic_prefix = "{config.topic_prefix}"\n'
    )
    if tls:
        text += ('# The CA that signed the broker\'s certificate (omit to use the system\'s CAs):\n'
                 'ca_file = "/etc/edge-agent/ca.pem"\n')
        mark = "" if config.broker.embedded and config.broker.tls_require_client_cert else "# "
        text += ('# This store\'s client certificate, when the broker demands one:\n'
                 f'{mark}cert_file = "/etc/edge-agent/client.pem"\n'
                 f'{mark}key_file = "/etc/edge-agent/client.key"\n')
    return text
