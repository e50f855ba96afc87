"""A TCP proxy between an MQTT client and its broker that can make the client deaf, or damage
one message on the way.

While `deaf` is set, PUBLISH packets from the broker to the client are dropped; everything else
(CONNACK, SUBACK, PUBACK, PINGRESP) still passes. The client stays connected, its keepalive
works, its own publishes are acknowledged, but nothing published reaches it: the state a session
taken over on amqtt or a half-open link leaves a client in.

With `corrupt` set to some bytes, the next PUBLISH to the client that holds them gets one bit of
them flipped, and `corrupt` is cleared: what a faulty link or disk would do to a message.
"""

import asyncio
import contextlib

from runtime.net import free_port

PUBLISH = 3


async def _packet(reader: asyncio.StreamReader) -> bytes:
    """One whole MQTT packet (fixed header, remaining length, body)."""
    head = await reader.readexactly(1)
    length, shift, raw = 0, 0, b""
    while True:
        byte = await reader.readexactly(1)
        raw += byte
        length |= (byte[0] & 0x7F) << shift
        shift += 7
        if not byte[0] & 0x80:
            break
    return head + raw + await reader.readexactly(length)


class DeafProxy:
    """Listens on 127.0.0.1:`port` and forwards to `target_port`; `deaf = True` drops what
    the broker publishes to the client."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.deaf = False
        self.dropped = 0
        self.corrupt: bytes | None = None
        self.corrupted = 0
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _client(self, c_reader: asyncio.StreamReader, c_writer: asyncio.StreamWriter) -> None:
        try:
            b_reader, b_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            c_writer.close()
            return
        up = asyncio.create_task(self._pipe(c_reader, b_writer, filtered=False))
        down = asyncio.create_task(self._pipe(b_reader, c_writer, filtered=True))
        self._tasks |= {up, down}
        await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
        for task in (up, down):
            task.cancel()
        for writer in (c_writer, b_writer):
            writer.close()
        self._tasks -= {up, down}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    filtered: bool) -> None:
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                packet = await _packet(reader)
                if filtered and self.deaf and packet[0] >> 4 == PUBLISH:
                    self.dropped += 1
                    continue
                mark = self.corrupt
                if filtered and mark and packet[0] >> 4 == PUBLISH and mark in packet:
                    packet = packet.replace(mark, mark[:-1] + bytes([mark[-1] ^ 1]), 1)
                    self.corrupt = None
                    self.corrupted += 1
                writer.write(packet)
                await writer.drain()
