"""Taking an upgraded ``/connect`` connection away from aiohttp.

aiohttp parses the request head (the server's connection deadlines and the cap on
unauthenticated connections live there); once the gateway has answered the upgrade itself, the
connection moves to a protocol of its own and nothing of aiohttp's stays alive for it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from aiohttp.web_protocol import RequestHandler


class Admitter(Protocol):
    """The list of unauthenticated connections (``bellwire.connections.ConnectionGuard``)."""

    def admit(self, connection: Any) -> None: ...

    def forget(self, connection: Any) -> None: ...


@dataclass(frozen=True, slots=True)
class Takeover:
    transport: asyncio.Transport
    tail: bytes  # what arrived after the request head
    # The guard of a connection not authenticated yet: the new owner takes its place on the
    # list (and is dropped for the cap as the HTTP connection would have been).
    pending: Admitter | None


def detach(request: web.BaseRequest) -> Takeover | None:
    """Take a connection away from aiohttp after its request (a WebSocket upgrade) was
    answered by hand: returns the transport and the bytes received after the request head, or
    None if the connection is gone. aiohttp keeps nothing of it afterwards: the handler leaves
    the server's connections, its keep-alive timer is cancelled, and its request loop ends after
    this request without closing the transport (it holds none any more). The caller must make
    the request handler return a response that writes nothing (:class:`Detached`) and move the
    transport to its own protocol with ``set_protocol``.

    This reaches into ``RequestHandler``'s private state (pinned aiohttp version; the
    integration tests cover it): aiohttp has no public way to hand a connection over."""
    handler = request.protocol
    if not isinstance(handler, RequestHandler):
        return None
    transport = handler.transport
    if transport is None or transport.is_closing():
        return None
    # The server's handler (bellwire.connections.GuardedHandler) leaves its deadlines and the
    # list of unauthenticated connections; the guard comes back if it was on that list.
    leave = getattr(handler, "leave", None)
    pending: Admitter | None = leave() if leave is not None else None
    tail = handler._message_tail  # what arrived after the head, kept while upgraded
    handler._message_tail = b""
    if handler._keepalive_handle is not None:
        handler._keepalive_handle.cancel()
        handler._keepalive_handle = None
    handler._keepalive = False
    # The request loop stops after this request, and a close would find no transport.
    handler._force_close = True
    handler._parser = None  # finish_response would otherwise re-parse the (taken) tail
    manager = handler._manager
    if manager is not None:
        manager.connection_lost(handler, None)
    handler._manager = None  # connection_lost becomes a no-op, should it ever be called
    handler._task_handler = None
    handler.transport = None
    if handler._buffer_paused:
        transport.resume_reading()
    return Takeover(transport, bytes(tail), pending)


class Detached(web.StreamResponse):
    """The answer of a request whose connection was :func:`detach` ed: nothing to write."""

    async def prepare(self, request: web.BaseRequest) -> None:
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None
