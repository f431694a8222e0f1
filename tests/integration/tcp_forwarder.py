"""A TCP forwarder on loopback with a switch that cuts it, for what a vanished peer looks like
from a node (PostgreSQL, Redis): every open connection is aborted and new ones are closed at
once; restoring it is the peer coming back. Stalling it is a peer whose network drops packets:
nothing is refused, nothing arrives. It runs on the test's event loop."""

from __future__ import annotations

import asyncio
import contextlib


class Forwarder:
    """127.0.0.1:<port> -> the PostgreSQL server, with a switch that cuts it."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.cut = False
        self.port = 0
        self._pairs: set[tuple[asyncio.StreamWriter, asyncio.StreamWriter]] = set()
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self.sever()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def sever(self) -> None:
        """The database goes away: abort what is open, refuse what comes."""
        self.cut = True
        for a, b in list(self._pairs):
            a.transport.abort()
            b.transport.abort()

    def stall(self) -> None:
        """The database's network drops packets: connections stay open, nothing gets through
        either way (held here until ``restore``)."""
        self._flowing.clear()

    def restore(self) -> None:
        self.cut = False
        self._flowing.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.cut:
            writer.transport.abort()
            return
        await self._flowing.wait()
        try:
            up_reader, up_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        pair = (writer, up_writer)
        self._pairs.add(pair)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    await self._flowing.wait()
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        try:
            await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        finally:
            self._pairs.discard(pair)
