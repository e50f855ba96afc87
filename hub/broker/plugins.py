"""The embedded broker's own authentication and ACL plugins (amqtt's plugin interface).

- StoreAuth checks passwords against the users file and re-reads it when it changes, so
  `retail-hub stores add|rotate|remove` takes effect without restarting the hub. The argon2
  check runs off the event loop (it takes tens of milliseconds: a thousand stores reconnecting
  at once must not freeze the broker), and a password once verified against the current hash is
  remembered, so a store's reconnects are cheap.
- StoreAuth also limits failed logins per username and per address (hub.broker.login_limits), and an
  unknown username costs the same argon2 check as a wrong password (against a dummy hash), so
  store ids cannot be told from the time a refusal takes.
- StoreAcl is the `%u` pattern of Mosquitto's ACL: a store publishes only its own events, state
  and catalog acks and reads only its own ack, control and catalog and the hub's state; the hub
  user may use every topic under the prefix. Usernames that could reach into other topics (`/`, `+`, `#`) are
  refused at login.
- client_id_allowed is the client-id rule the broker (hub.broker.sessions) enforces before it
  touches any session: a store uses its own client ids only, the hub's is the hub's alone.
"""

import asyncio
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from amqtt.contexts import Action
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from hub.broker.credentials import dummy_hash, read_users
from hub.broker.login_limits import LoginLimiter
from hub.errors import CredentialsError
from protocol.topics import Topics

log = logging.getLogger(__name__)
_hasher = PasswordHasher()


def _verify(digest: str, password: str) -> bool:
    try:
        return _hasher.verify(digest, password)
    except (VerificationError, InvalidHashError):
        return False


class StoreAuth(BaseAuthPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        users_file: str = ""

    def __init__(self, context: Any) -> None:
        super().__init__(context)
        self._path = Path(self.config.users_file)
        self._seen: tuple[int, int, int] | None = None
        self._users: dict[str, str] = {}
        self._verified: dict[str, bytes] = {}  # username -> digest of (hash, password) that passed
        self._dummy = dummy_hash()
        self.limits = LoginLimiter()
        self._reload()

    def _reload(self) -> None:
        try:
            st = self._path.stat()
            # `retail-hub stores` replaces the file (a new inode), so even a rewrite within the
            # file system's mtime resolution is noticed.
            seen = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            seen = (0, 0, 0)
        if seen == self._seen:
            return
        try:
            users = read_users(self._path)
        except CredentialsError as exc:
            log.error("keeping the previous broker users: %s", exc)
            return
        if self._seen is not None:
            log.info("broker users file changed: %d users", len(users))
        self._seen, self._users, self._verified = seen, users, {}

    async def authenticate(self, *, session: Any) -> bool:
        self._reload()
        username, password = session.username or "", session.password or ""
        user, address = f"user {username!r}", f"address {session.remote_address}"
        if self.limits.throttled(user, address):
            return False
        digest = self._users.get(username) if not any(c in username for c in "/+#") else None
        key = hashlib.sha256(f"{digest}\0{password}".encode()).digest()
        if digest is not None and self._verified.get(username) == key:
            self.limits.succeeded(user)
            return True
        # An unknown username costs the same check as a wrong password: no store ids by timing.
        ok = await asyncio.to_thread(_verify, digest or self._dummy, password)
        if not ok or digest is None:
            self.limits.failed(user, address,
                               reason="unknown user" if digest is None else "wrong password")
            return False
        self.limits.succeeded(user)
        self._verified[username] = key
        return True


class StoreAcl(BaseTopicPlugin):  # type: ignore[misc]
    @dataclass
    class Config:
        topic_prefix: str = ""
        hub_user: str = "hub"

    async def topic_filtering(self, *, session: Any = None, topic: str | None = None,
                              action: Any = None) -> bool:
        user = session.username if session is not None else None
        if not user or not topic:
            return False
        return allowed(Topics(self.config.topic_prefix), self.config.hub_user, user, topic, action)


def allowed(topics: Topics, hub_user: str, user: str, topic: str, action: Action) -> bool:
    if user == hub_user:
        return topic.startswith(topics.prefix + "/")
    if action == Action.PUBLISH:
        return topic in (topics.events(user), topics.state(user), topics.catalog_ack(user))
    return topic in (topics.ack(user), topics.control(user), topics.catalog(user),
                     topics.hub_state())


def client_id_allowed(user: str, client_id: str, *, hub_user: str, hub_client_id: str) -> bool:
    """May `user` connect as `client_id`? The hub user may use any; its configured client id is
    its alone. A store may use its store id or `edge-` + its store id (the agent's default);
    a store id that itself starts with `edge-` only the latter, so no two stores share one."""
    if user == hub_user:
        return True
    if client_id == hub_client_id:
        return False
    return client_id == f"edge-{user}" or (client_id == user and not user.startswith("edge-"))
