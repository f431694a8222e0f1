"""The listener's protocol: the first request head of a connection is read here.

A ``GET /connect`` that is a plain WebSocket upgrade (``bellwire.gateway.request_head``) goes
straight to the gateway, which answers the upgrade and gives the socket to its own protocol:
nothing of aiohttp is made for it (its request handler, parser, task and request objects were
a fifth of a connect's CPU). A signed REST request that ``bellwire.http1`` takes goes to
the server's own REST connection (``bellwire.rest_connection``). Anything else becomes
aiohttp's connection as if it had been from the accept, with the bytes read so far: the
console, the probes, CORS preflights, and every refusal the HTTP server gives (a malformed
head, a /connect that is not an upgrade) behave as before.

The front keeps the connection's place under the server's rules until then: the head deadline
from the accept (a TLS handshake included), the upgrade deadline of a /connect, and the cap on
unauthenticated connections, which it is counted against as an HTTP connection is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from bellwire import connections, http1
from bellwire.connections import ConnectionGuard, GuardedServer
from bellwire.gateway import request_head
from bellwire.gateway.request_head import Parsed
from bellwire.gateway.takeover import Takeover
from bellwire.rest_connection import RestConnection, RestConnections

log = logging.getLogger("bellwire.front")

# Bytes a client may send after its /connect head before the gateway has taken the socket
# (its first frames): past this, reading pauses until the gateway takes over.
_TAIL_PAUSE = 65_536

OnConnect = Callable[["Front", Parsed], Coroutine[Any, Any, None]]


class FrontServer:
    """The protocol factory of the listener, and the connections whose head is not in yet."""

    def __init__(
        self,
        http: GuardedServer,
        guard: ConnectionGuard,
        on_connect: OnConnect | None,
        rest: RestConnections | None = None,
    ) -> None:
        self.http = http
        self.guard = guard
        self.on_connect = on_connect  # None: no gateway
        self.rest = rest  # None: every REST connection is aiohttp's
        self.connections: set[Front] = set()
        self.tasks: set[asyncio.Task[None]] = set()

    def __call__(self) -> Front:
        return Front(self)

    def close_idle(self) -> None:
        """The server stops: connections still sending their first head are dropped."""
        for front in list(self.connections):
            if front.parsed is None:
                front.drop()

    async def wait_connects(self, within: float) -> None:
        """Let the /connects whose head was read reach the gateway (the drain refuses them)."""
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=within)


class Front(asyncio.Protocol):
    __slots__ = (
        "_began",
        "_buffer",
        "_lost",
        "_paused",
        "_server",
        "_timer",
        "is_authenticated",
        "parsed",
        "transport",
    )

    def __init__(self, server: FrontServer) -> None:
        self._server = server
        # The accept, before a TLS handshake: the head's deadline counts from here.
        self._began = server.guard.loop.time()
        self._buffer = b""
        self._timer: asyncio.TimerHandle | None = None
        self._lost = False
        self._paused = False
        self.transport: asyncio.Transport | None = None
        self.parsed: Parsed | None = None
        self.is_authenticated = False

    # --- asyncio ---------------------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        guard = self._server.guard
        self._timer = guard.loop.call_at(self._began + guard.limits.head_timeout, self._overdue)
        self._server.connections.add(self)
        guard.admit(self)

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer + data if self._buffer else data
        if self.parsed is not None:  # frames sent before the gateway took the socket
            self._buffer = buffer
            if len(buffer) > _TAIL_PAUSE and not self._paused and self.transport is not None:
                self._paused = True
                self.transport.pause_reading()
            return
        transport = self.transport
        assert transport is not None
        # A REST request is known by its first bytes: it pays for nothing of the /connect path.
        if self._server.on_connect is None or not request_head.could_be_connect(buffer):
            rest = self._server.rest
            if rest is None:
                self._to_http(buffer)
                return
            head = http1.parse_head(buffer, max_body=rest.max_body)
            if head is None:
                self._buffer = buffer
            elif isinstance(head, http1.HandOff) or not rest.takes(head):
                self._to_http(buffer)
            else:
                self._to_rest(rest, buffer)
            return
        remote, secure = _peer(transport)
        result = request_head.parse(buffer, remote=remote, secure=secure)
        if result is None:
            self._buffer = buffer
            return
        if result is http1.HAND_OFF:
            self._to_http(buffer)
            return
        assert isinstance(result, Parsed)
        self._disarm()
        guard = self._server.guard
        if guard.loop.time() > self._began + guard.limits.upgrade_timeout:
            log.debug("dropped a /connect from %s: not upgraded in time", remote)
            self.drop()
            return
        self.parsed = result
        self._buffer = buffer[result.size :]
        task = guard.loop.create_task(self._connect(result))
        self._server.tasks.add(task)
        task.add_done_callback(self._server.tasks.discard)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._lost = True
        self._disarm()
        self._leave()

    # --- the handovers ---------------------------------------------------------------------------

    def _to_http(self, buffer: bytes) -> None:
        """aiohttp's connection from here, as if it had been from the accept."""
        self._disarm()
        self._leave()
        transport = self.transport
        assert transport is not None
        handler = self._server.http.handler(began=self._began)
        transport.set_protocol(handler)
        handler.connection_made(transport)
        handler.data_received(buffer)
        self.transport = None

    def _to_rest(self, rest: RestConnections, buffer: bytes) -> None:
        """A signed REST request: the server's own REST connection from here."""
        self._disarm()
        self._leave()
        transport = self.transport
        assert transport is not None
        self.transport = None
        remote, secure = _peer(transport)
        RestConnection(rest, transport, remote=remote, secure=secure, began=self._began).start(
            buffer
        )

    async def _connect(self, parsed: Parsed) -> None:
        connections.enter(self)  # the signature check marks the connection authenticated
        assert self._server.on_connect is not None
        try:
            await self._server.on_connect(self, parsed)
        except Exception:
            log.exception("a /connect from %s failed", parsed.head.remote)
            self.drop()

    def take(self) -> Takeover | None:
        """The gateway takes the socket (None if the peer left meanwhile)."""
        transport = self.transport
        if self._lost or transport is None or transport.is_closing():
            return None
        guard = self._server.guard
        pending = guard if self in guard.admission else None
        self._leave()
        self.transport = None
        tail, self._buffer = self._buffer, b""
        if self._paused:
            self._paused = False
            transport.resume_reading()
        return Takeover(transport, tail, pending)

    # --- the server's rules ----------------------------------------------------------------------

    def authenticate(self) -> None:
        if not self.is_authenticated:
            self.is_authenticated = True
            self._server.guard.admission.authenticated(self)

    def drop(self) -> None:
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    def _leave(self) -> None:
        self._server.guard.forget(self)
        self._server.connections.discard(self)

    def _overdue(self) -> None:
        self._timer = None
        log.debug(
            "dropped a connection: no complete request head within %s s",
            self._server.guard.limits.head_timeout,
        )
        self.drop()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


def _peer(transport: asyncio.Transport) -> tuple[str | None, bool]:
    """The peer's address (as aiohttp's ``request.remote`` gives it) and whether TLS is on."""
    peer = transport.get_extra_info("peername")
    remote = str(peer[0]) if isinstance(peer, (list, tuple)) and peer else None
    return remote, transport.get_extra_info("sslcontext") is not None
