"""amqtt's connect path and retained messages, made safe for stores that do not trust each other.

amqtt 0.12.1 (pinned) has three defects this subclass of its Broker mends:
- It deletes (clean session) or reuses (persistent) the session of a client id *before* it checks
  the password, and lets any user connect with any client id: one login with a store's
  credentials and the hub's client id left the hub connected but deaf. Here the login and
  `hub.broker.plugins.client_id_allowed` are checked first; a refusal touches no session.
- On a takeover (the same client id connecting while its old connection is open) it stopped the
  old connection's handler, whose late clean-up then marked the *new* connection's session as
  disconnected, so messages for it were queued, never sent. Here the old connection is ended,
  and its clean-up (and its will) finished, before the new one uses the session.
- On connect it sent every retained message matching *any* client's subscription, without the
  ACL: a store received every store's state. Here a retained message goes only to a session
  subscribed to a matching filter and allowed by the ACL to receive its topic.
"""

import asyncio
import logging
from typing import Any

from amqtt.adapters import ReaderAdapter, WriterAdapter
from amqtt.broker import Broker
from amqtt.contexts import Action, ListenerConfig
from amqtt.errors import AMQTTError, MQTTError, NoDataError
from amqtt.mqtt.connack import IDENTIFIER_REJECTED, NOT_AUTHORIZED, ConnackPacket
from amqtt.mqtt.protocol.broker_handler import BrokerProtocolHandler
from amqtt.session import Session
from amqtt.utils import gen_client_id

from hub.broker.plugins import client_id_allowed

log = logging.getLogger(__name__)
_TAKEOVER_WAIT_S = 10.0
_NOT_AUTHORIZED: int = NOT_AUTHORIZED
_IDENTIFIER_REJECTED: int = IDENTIFIER_REJECTED


class _Refused(Exception):
    """A CONNECT was answered with a refusal: end the connection quietly (it is logged once)."""


class StoreBroker(Broker):  # type: ignore[misc]
    def __init__(self, config: dict[str, Any], *, hub_user: str, hub_client_id: str) -> None:
        self._hub_user, self._hub_client_id = hub_user, hub_client_id
        self._admitted: set[int] = set()  # id() of sessions whose login passed
        self._ended: dict[int, asyncio.Event] = {}  # id() of a connection's handler -> its end
        self._warned: set[tuple[str, str]] = set()
        super().__init__(config)

    async def _client_connected(self, listener_name: str, reader: ReaderAdapter,
                                writer: WriterAdapter) -> None:
        try:
            await super()._client_connected(listener_name, reader, writer)
        except _Refused:
            self._servers[listener_name].release_connection()

    async def _initialize_client_session(self, reader: ReaderAdapter, writer: WriterAdapter,
                                         remote_address: str, remote_port: int,
                                         ) -> tuple[BrokerProtocolHandler, Session]:
        # amqtt's own, but with the login checked before any session is looked at.
        try:
            handler, session = await BrokerProtocolHandler.init_from_connect(
                reader, writer, self.plugins_manager)
        except MQTTError:
            await writer.close()
            raise
        except NoDataError as exc:
            raise AMQTTError(exc) from exc
        refusal = await self._refusal(session)
        if refusal is not None:
            await ConnackPacket.build(0, refusal).to_stream(writer)
            await writer.close()
            raise _Refused
        await self._end_previous_connection(session.client_id)
        if session.clean_session:
            await self._delete_session(session.client_id)
            session.parent = 0
        elif session.client_id in self._sessions:
            # A persistent session: the new connection brings its own will and keep-alive.
            existing, _ = self._sessions[session.client_id]
            for field in ("will_flag", "will_message", "will_topic", "will_qos", "will_retain",
                          "keep_alive", "username", "password", "remote_address", "remote_port",
                          "ssl_object"):
                setattr(existing, field, getattr(session, field))
            session = existing
            session.parent = 1
        else:
            session.parent = 0
        delay = self.config.get("timeout-disconnect-delay", 0)
        if session.keep_alive > 0 and isinstance(delay, int):
            session.keep_alive += delay
        self._admitted.add(id(session))
        return handler, session

    async def _refusal(self, session: Session) -> int | None:
        """The CONNACK refusal code for this login, or None to let it in."""
        if not await super()._authenticate(session, None):
            return _NOT_AUTHORIZED
        user, client_id = session.username or "", session.client_id or ""
        if not client_id_allowed(user, client_id, hub_user=self._hub_user,
                                 hub_client_id=self._hub_client_id):
            if (user, client_id) not in self._warned and len(self._warned) < 10_000:
                self._warned.add((user, client_id))
                log.warning("broker refused %r from %s: client id %r is not one of its own "
                            "(%r or %r)", user, session.remote_address, client_id, user,
                            f"edge-{user}")
            return _IDENTIFIER_REJECTED
        if not client_id:  # the hub user with no client id: amqtt's random one
            session.client_id = gen_client_id()
        return None

    async def _authenticate(self, session: Session, listener: ListenerConfig | None) -> bool:
        """Already checked in _refusal: amqtt asks again, later."""
        if id(session) in self._admitted:
            self._admitted.discard(id(session))
            return True
        return False

    async def _end_previous_connection(self, client_id: str) -> None:
        entry = self._sessions.get(client_id)
        if entry is None or not entry[0].transitions.is_connected():
            return
        old_handler = entry[1]
        log.info("client %r connected again: closing its previous connection", client_id)
        ended = self._ended.get(id(old_handler))
        await old_handler.handle_connection_closed()
        if ended is not None:
            try:
                await asyncio.wait_for(ended.wait(), _TAKEOVER_WAIT_S)
            except TimeoutError:
                log.warning("the previous connection of client %r did not end within %g s",
                            client_id, _TAKEOVER_WAIT_S)

    async def _handle_client_session(self, reader: ReaderAdapter, writer: WriterAdapter,
                                     session: Session, handler: BrokerProtocolHandler,
                                     *args: Any) -> None:
        ended = self._ended[id(handler)] = asyncio.Event()
        try:
            await super()._handle_client_session(reader, writer, session, handler, *args)
        finally:
            self._admitted.discard(id(session))
            ended.set()
            del self._ended[id(handler)]

    async def _publish_retained_messages_for_subscription(self, subscription: tuple[str, int],
                                                          session: Session) -> None:
        topic_filter = subscription[0]
        granted = [qos for s, qos in self._subscriptions.get(topic_filter, [])
                   if s.client_id == session.client_id]
        handler = self._get_handler(session)
        if not granted or handler is None:
            return
        sends = []
        for topic, retained in list(self._retained_messages.items()):
            if (self._matches(topic, topic_filter)
                    and await self._topic_filtering(session, topic, Action.RECEIVE)):
                qos = min(granted[0], retained.qos if retained.qos is not None else granted[0])
                sends.append(asyncio.ensure_future(
                    handler.mqtt_publish(retained.topic, retained.data, qos, retain=True)))
        if sends:
            await asyncio.wait(sends)
