"""A kept-alive REST connection served without aiohttp.

The front (``bellwire.front``) hands a connection here when its first head is a signed REST
request that ``bellwire.http1`` takes; so does this protocol itself for each later request,
until one comes that the parser does not take: then the connection becomes aiohttp's, with the
bytes read so far, for the rest of its life. aiohttp's request handler, parser, task, request
and response machinery cost a third of a durable send's event-loop CPU
(docs/performance.md, "REST requests without aiohttp"); here a request is a parse, one task
and one write.

The server's rules for connections hold as for aiohttp's (``bellwire.connections``): the head
deadline from the request's first byte, the body deadline from the head, the keep-alive
timeout, and the cap on unauthenticated connections until a request passes SigV4. Requests on
one connection are answered one at a time, in order (pipelined ones wait in the buffer);
reading pauses while the buffer is large or the peer does not read its answers.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Final

from aiohttp import web
from aiohttp.http import SERVER_SOFTWARE

from bellwire import connections, http1
from bellwire.api.rest import Request
from bellwire.aws import codec
from bellwire.aws.errors import ServiceFailure
from bellwire.connections import ConnectionGuard, GuardedServer

log = logging.getLogger("bellwire.connections")

# Bytes read ahead of the request being answered before reading pauses.
_READ_AHEAD: Final = 262_144
# Added by encode_response; a response's own would be repeated.
_OWN_HEADERS: Final = frozenset({"content-length", "date", "server", "connection"})

Answer = Callable[[Request], Awaitable[web.Response]]


class _Date:
    """The Date header's value, made once a second."""

    __slots__ = ("_second", "_text")

    def __init__(self) -> None:
        self._second = -1
        self._text = ""

    def now(self) -> str:
        second = int(time.time())
        if second != self._second:
            self._second = second
            self._text = email.utils.formatdate(second, usegmt=True)
        return self._text


class RestConnections:
    """What the REST connections share: the answer, the rules, and the list for shutdown."""

    def __init__(
        self,
        *,
        answer: Answer,
        serves: Callable[[str], bool],
        http: GuardedServer,
        guard: ConnectionGuard,
        max_body: int,
    ) -> None:
        self.answer = answer
        self.serves = serves  # whether a path is the REST API's (not the console, /admin, ...)
        self.http = http
        self.guard = guard
        self.max_body = max_body
        self.connections: set[RestConnection] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.date = _Date()
        self.requests = 0  # answered here
        self.handovers = 0  # connections given to aiohttp after requests answered here

    def takes(self, head: http1.RestHead) -> bool:
        return self.serves(head.raw_path.partition("?")[0])

    def sockets(self) -> list[object]:
        return [c.transport.get_extra_info("socket") for c in self.connections if c.transport]

    def close_idle(self) -> None:
        """The server stops: idle connections close now, busy ones after their answer."""
        for connection in list(self.connections):
            connection.close_when_idle()

    async def wait_busy(self, within: float) -> None:
        if self.tasks:
            await asyncio.wait(list(self.tasks), timeout=within)


class RestConnection(asyncio.Protocol):
    __slots__ = (
        "_began",
        "_body_since",
        "_buffer",
        "_busy",
        "_closing",
        "_head",
        "_idle_since",
        "_idle_timer",
        "_owner",
        "_read_paused",
        "_remote",
        "_secure",
        "_task",
        "_timer",
        "_timer_kind",
        "_write_paused",
        "is_authenticated",
        "transport",
    )

    def __init__(
        self,
        owner: RestConnections,
        transport: asyncio.Transport,
        *,
        remote: str | None,
        secure: bool,
        began: float,
    ) -> None:
        self._owner = owner
        self.transport: asyncio.Transport | None = transport
        self._remote = remote
        self._secure = secure
        self._buffer = b""
        self._head: http1.RestHead | None = None  # parsed, its body still arriving
        self._began: float | None = began  # the first byte of the request being read
        self._body_since = 0.0
        self._busy = False
        self._closing = False
        self._read_paused = False
        self._write_paused = False
        self._task: asyncio.Task[None] | None = None  # the request being answered
        self._timer: asyncio.TimerHandle | None = None  # the head's or the body's deadline
        self._timer_kind = ""
        # Idle between requests since then (None: a request is being read or answered). Its
        # timer is not moved at each request: when it fires it looks, and comes back later if
        # the connection was not idle all along (one timer a keep-alive period, not two timer
        # operations a request).
        self._idle_since: float | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self.is_authenticated = False

    def start(self, buffer: bytes) -> None:
        """Take the transport from the front, with the bytes it read."""
        assert self.transport is not None
        self.transport.set_protocol(self)
        self._owner.connections.add(self)
        self._owner.guard.admit(self)
        self._buffer = buffer
        self._next()

    # --- asyncio ---------------------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._buffer = self._buffer + data if self._buffer else data
        if self._busy or self._write_paused:
            if len(self._buffer) > _READ_AHEAD and not self._read_paused and self.transport:
                self._read_paused = True
                self.transport.pause_reading()
            return
        self._next()

    def eof_received(self) -> bool | None:
        # The peer sends no more: answer what is in, then close (False: asyncio closes now
        # if nothing is being answered).
        if not self._busy:
            return False
        self._closing = True
        return True

    def connection_lost(self, exc: BaseException | None) -> None:
        self._stop_timers()
        self._leave()
        self.transport = None

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        if not self._busy:
            self._next()

    # --- requests --------------------------------------------------------------------------------

    def _next(self) -> None:
        """Answer the next request in the buffer, or wait for it under its deadline."""
        transport = self.transport
        if transport is None or self._busy or self._write_paused:
            return
        if self._closing:
            transport.close()
            return
        buffer = self._buffer
        loop = self._owner.guard.loop
        if not buffer:
            self._began = None
            self._idle_since = loop.time()
            if self._idle_timer is None:
                self._idle_timer = loop.call_later(
                    self._owner.guard.limits.keepalive_timeout, self._idle_check
                )
            return
        self._idle_since = None
        if self._began is None:
            self._began = loop.time()
        # A head whose body is still arriving was parsed already.
        head = self._head or http1.parse_head(buffer, max_body=self._owner.max_body)
        if head is None:
            self._wait("head", self._began + self._owner.guard.limits.head_timeout - loop.time())
            return
        if isinstance(head, http1.HandOff) or not self._owner.takes(head):
            self._to_http()
            return
        end = head.size + head.content_length
        if len(buffer) < end:
            self._head = head
            if self._timer_kind != "body":
                self._body_since = loop.time()
            limit = self._body_since + self._owner.guard.limits.body_timeout - loop.time()
            self._wait("body", limit)
            return
        self._disarm()
        self._head = None
        self._buffer = buffer[end:]
        self._busy = True
        if self._read_paused and len(self._buffer) <= _READ_AHEAD:
            self._read_paused = False
            transport.resume_reading()
        request = Request(
            head.method,
            head.raw_path,
            head.headers,
            head.pairs,
            buffer[head.size : end],
            self._remote,
            self._secure,
        )
        self._owner.requests += 1
        self._task = task = loop.create_task(self._serve(request))
        self._owner.tasks.add(task)

    async def _serve(self, request: Request) -> None:
        # Whose task this is: by the time it ends, _next may have started the next one.
        task = self._task
        try:
            connections.enter(self)  # the signature check marks the connection authenticated
            try:
                response = await self._owner.answer(request)
            except Exception:
                # RestApi answers every failure itself: this is a defect, and the connection's
                # state is unknown.
                log.exception("a REST request from %s failed", self._remote)
                self.drop()
                return
            self._began = None
            transport = self.transport
            if transport is None or transport.is_closing():
                return  # the peer left; what the request wrote is committed all the same
            close = self._closing or response.keep_alive is False
            body = response.body
            assert isinstance(body, bytes)
            date = self._owner.date.now()
            headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _OWN_HEADERS]
            try:
                data = http1.encode_response(
                    response.status,
                    response.reason,
                    headers,
                    body,
                    date=date,
                    server=SERVER_SOFTWARE,
                    close=close,
                )
            except ValueError:
                log.exception("an answer to %s could not be framed", self._remote)
                status, error_headers, body = codec.serialize_error(
                    ServiceFailure("The service has experienced an unexpected failure."),
                    response.headers.get("x-amzn-RequestId", ""),
                )
                data = http1.encode_response(
                    status,
                    "Internal Server Error",
                    list(error_headers.items()),
                    body,
                    date=date,
                    server=SERVER_SOFTWARE,
                    close=close,
                )
            transport.write(data)
            self._busy = False
            if close:
                transport.close()
                return
            self._next()
        finally:
            # Here rather than as a done callback: one loop callback fewer per request.
            self._owner.tasks.discard(task)

    # --- the handover ----------------------------------------------------------------------------

    def _to_http(self) -> None:
        """aiohttp's connection from here on, with the bytes read."""
        self._owner.handovers += 1
        self._stop_timers()
        self._leave()
        transport = self.transport
        assert transport is not None
        self.transport = None
        if self._read_paused:
            self._read_paused = False
            transport.resume_reading()
        handler = self._owner.http.handler(began=self._began)
        transport.set_protocol(handler)
        handler.connection_made(transport)
        buffer, self._buffer = self._buffer, b""
        handler.data_received(buffer)

    # --- the server's rules ----------------------------------------------------------------------

    def authenticate(self) -> None:
        if not self.is_authenticated:
            self.is_authenticated = True
            self._owner.guard.admission.authenticated(self)

    def drop(self) -> None:
        self._stop_timers()
        if self.transport is not None:
            self.transport.abort()

    def close_when_idle(self) -> None:
        self._closing = True
        if not self._busy and self.transport is not None:
            self._stop_timers()
            self.transport.close()

    def _leave(self) -> None:
        self._owner.guard.forget(self)
        self._owner.connections.discard(self)

    def _wait(self, kind: str, seconds: float) -> None:
        if self._timer_kind == kind and self._timer is not None:
            return
        self._disarm()
        self._timer_kind = kind
        self._timer = self._owner.guard.loop.call_later(max(seconds, 0.0), self._overdue)

    def _idle_check(self) -> None:
        self._idle_timer = None
        if self._idle_since is None or self.transport is None:
            return  # a request came; _next arms the timer again once it is answered
        loop = self._owner.guard.loop
        left = self._idle_since + self._owner.guard.limits.keepalive_timeout - loop.time()
        if left > 0:
            self._idle_timer = loop.call_later(left, self._idle_check)
            return
        self.close_when_idle()

    def _overdue(self) -> None:
        self._timer = None
        log.debug(
            "dropped a connection from %s: request %s not complete in time",
            self._remote,
            self._timer_kind,
        )
        self.drop()

    def _disarm(self) -> None:
        self._timer_kind = ""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _stop_timers(self) -> None:
        self._disarm()
        self._idle_since = None
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
