"""HTTP connections: deadlines, the cap on unauthenticated connections, quiet logs under attack.

aiohttp's low-level server closes idle keep-alive connections, but sets no deadline for a
request head and logs every malformed request with a traceback at ERROR. Here, per connection:

- the **head deadline** (``http_head_timeout_seconds``), from the TCP accept (a TLS handshake
  included) or from the first byte of a later request on a keep-alive connection, to the head
  being complete: a connection that sends nothing or half a head is dropped;
- the **upgrade deadline** of a /connect (``connect_upgrade_timeout_seconds``), from the same
  start; it is checked when the head is complete, since authentication and the upgrade then
  follow without waiting on the client;
- the **cap on unauthenticated connections** (:mod:`bellwire.admission`): a connection counts
  until a request on it passes SigV4 (``ConnectionAuthenticator``), and over the cap the oldest
  is dropped;
- **one line per malformed request** at INFO, answered with a modeled 400, and rate-limited
  lines for resource errors such as running out of file descriptors on accept.

Only aiohttp's public surface is used: ``web.Server`` as the protocol factory, the
``RequestHandler`` protocol methods and its ``handle_error`` hook, and ``BaseRequest.protocol``.
Dropped connections are aborted (RST) rather than closed: the descriptor is free at once, and a
TLS close would otherwise wait for a close_notify the peer may never send.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import errno
import logging
import resource
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.streams import StreamReader
from aiohttp.web_protocol import RequestHandler, RequestPayloadError

from bellwire import ids
from bellwire.admission import Admission
from bellwire.aws import codec
from bellwire.aws.errors import BadRequest
from bellwire.iam.authenticate import Authenticator
from bellwire.iam.principal import Principal
from bellwire.log_throttle import Throttle

log = logging.getLogger("bellwire.connections")

# errno values meaning "the host ran out of something", not "this client misbehaved".
RESOURCE_ERRNOS = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})
LOG_INTERVAL = 10.0  # seconds: one resource-error line per kind per interval
CLIENT_MISTAKE_BURST = 20  # malformed-request lines per interval before they are only counted


@dataclass(frozen=True, slots=True)
class Limits:
    head_timeout: float
    body_timeout: float
    keepalive_timeout: float
    upgrade_timeout: float
    max_unauthenticated: int


def raise_file_limit() -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE to its hard limit where the system allows;
    returns (the limit now in force, the one before)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # Linux refuses an infinite NOFILE; macOS has a max
        target = 1 << 20
    if soft != resource.RLIM_INFINITY and soft < target:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    now = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return now, soft


class Authenticatable(Protocol):
    def authenticate(self) -> None: ...


_current: contextvars.ContextVar[Authenticatable | None] = contextvars.ContextVar(
    "bellwire_connection", default=None
)


def enter(connection: Authenticatable) -> None:
    """The current task handles a request of ``connection`` (an authentication marks it)."""
    _current.set(connection)


class Droppable(Hashable, Protocol):
    """A connection on the unauthenticated list: an HTTP connection, or a /connect socket
    that was upgraded only to be refused with a close code."""

    def drop(self) -> None: ...


class ConnectionAuthenticator(Authenticator):
    """The server's authenticator: a request that passes also marks its connection as
    authenticated, so the cap never drops it. Every authentication (REST, IAM/STS, admin,
    /connect) goes through ``check`` within the request's task, whose connection
    :meth:`ConnectionGuard.begin` noted."""

    def check(self, *args: Any, **kwargs: Any) -> Principal:
        principal = super().check(*args, **kwargs)
        connection = _current.get()
        if connection is not None:
            connection.authenticate()
        return principal


def mark_authenticated() -> None:
    """The current request authenticated by other means than a signature (a console sign-in
    cookie): its connection no longer counts against the unauthenticated cap."""
    connection = _current.get()
    if connection is not None:
        connection.authenticate()


class ConnectionGuard:
    """The deadlines, the cap and the throttled logs shared by every connection of a server."""

    def __init__(self, limits: Limits, loop: asyncio.AbstractEventLoop) -> None:
        self.limits = limits
        self.loop = loop
        self.admission: Admission[Droppable] = Admission(limits.max_unauthenticated)
        self.dropped_for_cap = 0
        self.file_limit = 0
        self._throttle = Throttle(LOG_INTERVAL)
        self._mistakes = Throttle(LOG_INTERVAL, CLIENT_MISTAKE_BURST)
        self._flushes: dict[str, asyncio.TimerHandle] = {}
        self._previous_handler: Any = None

    # --- the cap ---------------------------------------------------------------------------------

    def admit(self, connection: Droppable) -> None:
        for oldest in self.admission.admit(connection):
            self.dropped_for_cap += 1
            oldest.drop()
            self._resource_line(
                "cap",
                "%d connections are not authenticated (max_unauthenticated_connections): "
                "dropped the oldest",
                self.admission.cap,
            )

    def forget(self, connection: Droppable) -> None:
        self.admission.forget(connection)

    # --- requests --------------------------------------------------------------------------------

    def begin(self, request: web.BaseRequest) -> GuardedHandler | None:
        """A request head is complete and about to be handled (called by the dispatcher)."""
        connection = request.protocol
        if not isinstance(connection, GuardedHandler):
            return None
        connection.head_complete(request.content)
        _current.set(connection)
        return connection

    # --- logs ------------------------------------------------------------------------------------

    def client_mistake(self, remote: str | None, what: str) -> None:
        suppressed = self._mistakes.allow("bad-http", self.loop.time())
        if suppressed is None:
            self._flush_later(self._mistakes, "bad-http", "malformed HTTP requests", logging.INFO)
            return
        note = f" ({suppressed} more before this one not logged)" if suppressed else ""
        log.info("malformed HTTP request from %s: %s%s", remote or "?", what, note)

    def _resource_line(self, kind: str, message: str, *args: Any) -> None:
        suppressed = self._throttle.allow(kind, self.loop.time())
        if suppressed is None:
            self._flush_later(self._throttle, kind, message % args, logging.WARNING)
            return
        note = f" ({suppressed} similar lines suppressed)" if suppressed else ""
        log.warning(message + "%s", *args, note)

    def _flush_later(self, throttle: Throttle, kind: str, what: str, level: int) -> None:
        """Report the lines dropped in a window once it ends, even if the storm stopped."""
        if kind in self._flushes:
            return
        end = throttle.window_end(kind) or self.loop.time()

        def flush() -> None:
            del self._flushes[kind]
            count = throttle.flush(kind)
            if count:
                log.log(
                    level,
                    "%d more lines like this not logged in %.0f s: %s",
                    count,
                    LOG_INTERVAL,
                    what,
                )

        self._flushes[kind] = self.loop.call_at(end, flush)

    def install(self) -> None:
        """Route the loop's resource errors (EMFILE on accept, ...) through the rate limit."""
        self._previous_handler = self.loop.get_exception_handler()
        self.loop.set_exception_handler(self._on_loop_error)

    def uninstall(self) -> None:
        if self.loop.get_exception_handler() == self._on_loop_error:
            self.loop.set_exception_handler(self._previous_handler)
        for handle in self._flushes.values():
            handle.cancel()
        self._flushes.clear()

    def _on_loop_error(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if isinstance(exc, OSError) and exc.errno in RESOURCE_ERRNOS:
            # asyncio reports a failing accept() once per pending connection, and retries:
            # thousands of tracebacks a second when the descriptors run out.
            self._resource_line(
                f"loop-{exc.errno}",
                "%s: %s (file limit %d, %d unauthenticated connections)",
                context.get("message", "resource error"),
                exc.strerror or exc,
                self.file_limit,
                len(self.admission),
            )
            return
        if self._previous_handler is not None:
            self._previous_handler(loop, context)
        else:
            loop.default_exception_handler(context)


class GuardedHandler(RequestHandler):
    """aiohttp's HTTP protocol with a head deadline and a place in the unauthenticated list."""

    __slots__ = ("_began", "_body", "_busy", "_guard", "_timer", "is_authenticated")

    def __init__(
        self,
        manager: web.Server,
        *,
        guard: ConnectionGuard,
        began: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(manager, **kwargs)
        self._guard = guard
        # Made at the TCP accept, before a TLS handshake (or handed the accept's time by the
        # front, bellwire.front): the first head's deadline counts from there.
        self._began = guard.loop.time() if began is None else began
        self._timer: asyncio.TimerHandle | None = None
        self._busy = False
        self._body: object = None  # the request whose body the timer waits for
        self.is_authenticated = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self._arm()
        self._guard.admit(self)

    def data_received(self, data: bytes) -> None:
        if data and not self._busy and self._timer is None:
            self._began = self._guard.loop.time()  # the first byte of the next request
            self._arm()
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._disarm()
        self._guard.forget(self)
        super().connection_lost(exc)

    # --- states ----------------------------------------------------------------------------------

    def head_complete(self, body: StreamReader) -> None:
        """The head is in: its deadline ends, the body's begins (until its end arrives)."""
        self._disarm()
        self._busy = True
        if body.is_eof():  # no body, or all of it arrived with the head
            return
        token = self._body = object()
        self._timer = self._guard.loop.call_later(
            self._guard.limits.body_timeout, self._body_overdue
        )
        # aiohttp never ends a body whose framing breaks mid-way (a bad chunk), and its reader
        # waits for ever: the timer ends it.
        body.on_eof(lambda: self._body_complete(token))

    def _body_complete(self, token: object) -> None:
        if token is self._body:
            self._body = None
            self._disarm()

    def request_done(self) -> None:
        self._busy = False

    def authenticate(self) -> None:
        if not self.is_authenticated:
            self.is_authenticated = True
            self._guard.admission.authenticated(self)

    def leave(self) -> ConnectionGuard | None:
        """The connection is taken over (``bellwire.gateway.takeover``): no timer, off the
        cap's list. Returns the guard if it was not authenticated yet, for the new owner to
        take its place on the list."""
        self._disarm()
        pending = self in self._guard.admission
        self._guard.forget(self)
        return self._guard if pending else None

    def upgrade_overdue(self) -> bool:
        """Whether this request, a /connect, took longer than the upgrade deadline so far."""
        return self._guard.loop.time() > self._began + self._guard.limits.upgrade_timeout

    def drop(self) -> None:
        self._disarm()
        if self.transport is not None:
            self.transport.abort()

    def _arm(self) -> None:
        self._disarm()
        deadline = self._began + self._guard.limits.head_timeout
        self._timer = self._guard.loop.call_at(deadline, self._head_overdue)

    def _body_overdue(self) -> None:
        self._timer = None
        log.debug(
            "dropped a connection from %s: request body not complete within %s s",
            self.peername,
            self._guard.limits.body_timeout,
        )
        self.drop()

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _head_overdue(self) -> None:
        self._timer = None
        log.debug(
            "dropped a connection from %s: no complete request head within %s s",
            self.peername,
            self._guard.limits.head_timeout,
        )
        self.drop()

    # --- malformed requests ----------------------------------------------------------------------

    def log_exception(self, *args: Any, **kwargs: Any) -> None:
        # aiohttp reads what is left of a body after the response; a body the client framed or
        # encoded wrongly fails there, and aiohttp would log it as an unhandled exception.
        mistake = _client_mistake(kwargs.get("exc_info"))
        if mistake is not None:
            self._guard.client_mistake(_remote(self.peername), mistake)
            return
        super().log_exception(*args, **kwargs)

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        if not isinstance(exc, HttpProcessingError):
            return super().handle_error(request, status, exc, message)
        # The client's mistake, not ours: one line, and a modeled error it can read.
        reason = _client_mistake(exc) or "malformed request"
        self._guard.client_mistake(request.remote, reason)
        if request.writer.output_size > 0:
            raise ConnectionError("a response was already sent on this connection")
        _, headers, body = codec.serialize_error(
            BadRequest(f"Malformed HTTP request: {reason}"), ids.uuid_string()
        )
        response = web.Response(status=status, headers=headers, body=body)
        response.force_close()
        return response


def _client_mistake(exc: object) -> str | None:
    """One line saying what the client did wrong, if ``exc`` is of its making: a request the
    parser refused, or a body it framed or encoded wrongly (a payload error wraps the cause)."""
    if isinstance(exc, RequestPayloadError):
        cause = exc.__cause__ or exc.__context__
        return _client_mistake(cause) or _first_line(str(exc)) or "malformed request body"
    if isinstance(exc, HttpProcessingError):
        return _first_line(exc.message) or type(exc).__name__
    return None


def _first_line(text: str | None) -> str:
    lines = (text or "").strip().splitlines()
    return lines[0].strip() if lines else ""


def _remote(peername: Any) -> str | None:
    if isinstance(peername, tuple) and peername:
        return str(peername[0])
    return None if peername is None else str(peername)


class GuardedServer(web.Server):
    """``web.Server`` whose connections are :class:`GuardedHandler` s."""

    def __init__(self, handler: Any, *, guard: ConnectionGuard, **kwargs: Any) -> None:
        kwargs.setdefault("keepalive_timeout", guard.limits.keepalive_timeout)
        super().__init__(handler, loop=guard.loop, **kwargs)
        self.guard = guard
        self._handler_kwargs = kwargs

    def __call__(self) -> RequestHandler:
        return self.handler()

    def handler(self, began: float | None = None) -> GuardedHandler:
        return GuardedHandler(
            self, guard=self.guard, began=began, loop=self.guard.loop, **self._handler_kwargs
        )
