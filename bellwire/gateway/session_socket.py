"""The one owner of an upgraded ``/connect`` socket: a thin asyncio protocol around the pure
codec (:mod:`bellwire.gateway.client_frames` in, :mod:`bellwire.gateway.frames` out).

It parses the client's frames, answers pings, runs the close handshake and is the only writer
of frames: the hub hands it the coalesced bytes of a loop turn through :meth:`write`, which
looks like a transport to the hub (``write``, ``is_closing``, ``get_write_buffer_size``,
``abort``), and nothing is written after a close frame (RFC 6455 §5.5.1). No task and no
coroutine lives for an open session: the socket calls its owner back when it ends.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, Protocol

from bellwire.gateway import close_codes
from bellwire.gateway.client_frames import (
    CLOSE,
    NO_STATUS,
    PING,
    PONG,
    ClientFrames,
    ProtocolError,
    close_frame,
    parse_close,
    pong_frame,
)

if TYPE_CHECKING:
    from bellwire.gateway.hub import Hub, Session

LOST = (close_codes.ABNORMAL, "The connection was lost.", "client")
_EMPTY_CLOSE = b"\x88\x00"


class Owner(Protocol):
    """What a socket needs of the gateway."""

    hub: Hub

    def socket_lost(self, sock: SessionSocket) -> None: ...


class Forgetter(Protocol):
    def forget(self, connection: Any) -> None: ...


class SessionSocket(asyncio.Protocol):
    __slots__ = (
        "_close_timeout",
        "_frames",
        "_head",
        "_timer",
        "closing",
        "ended",
        "guard",
        "lost",
        "owner",
        "session",
        "transport",
    )

    def __init__(
        self,
        transport: asyncio.Transport,
        owner: Owner,
        *,
        max_message: int,
        close_timeout: float,
        head: bytes = b"",
    ) -> None:
        self.transport = transport
        # The 101 answer, held until the first frame so that both leave in one write (a
        # connect's SESSION_ESTABLISHED, or a refusal's close frame).
        self._head = head
        self.owner = owner
        self._frames: ClientFrames | None = ClientFrames(max_message)
        self._close_timeout = close_timeout
        self._timer: asyncio.TimerHandle | None = None
        # The established session this socket carries (None while connecting, and once over).
        self.session: Session | None = None
        # The admission list of unauthenticated connections, while this one is on it.
        self.guard: Forgetter | None = None
        self.closing = False  # a close frame was sent: nothing more may be written
        self.lost = False
        # How the connection ended as far as the socket tells: (code, reason, initiator).
        self.ended: tuple[int, str, str] | None = None

    # --- what the hub sees: a transport ---------------------------------------------------------

    def write(self, data: bytes) -> None:
        if not self.closing:
            self._put(data)

    def _put(self, data: bytes) -> None:
        if self._head:
            data, self._head = self._head + data, b""
        self.transport.write(data)

    def is_closing(self) -> bool:
        return self.closing or self.transport.is_closing()

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size()

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return self.transport.get_extra_info(name, default)

    def abort(self) -> None:
        self.transport.abort()

    def drop(self) -> None:
        """Dropped for the cap on unauthenticated connections."""
        self.transport.abort()

    def close(self, code: int, reason: str) -> None:
        """Start the close handshake: the close frame now, the TCP close when the client
        answers; a peer that never answers (or never reads) is dropped after the timeout."""
        if self.closing or self.lost:
            return
        self.closing = True
        if self.ended is None:
            self.ended = (code, reason, "server")
        self._put(close_frame(code, close_codes.reason(reason)))
        self._timer = asyncio.get_running_loop().call_later(
            self._close_timeout, self.transport.abort
        )

    # --- asyncio.Protocol -----------------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        frames = self._frames
        if frames is None:  # failed: the rest is not parsed
            return
        try:
            for opcode, payload in frames.feed(data):
                if opcode == PONG:
                    if self.session is not None:
                        self.session.ping_sent = 0.0
                elif opcode == PING:
                    if not self.closing:
                        self._put(pong_frame(payload))
                elif opcode == CLOSE:
                    self._close_received(payload)
                    return
                # Data messages are ignored: clients send nothing in this protocol.
        except ProtocolError as err:
            self._frames = None
            self._fail(err.code, err.reason)
            # A failed connection is closed without waiting for the client's reply (§7.1.7):
            # what follows the bad frame cannot be trusted to be framed at all.
            self.transport.close()

    def _close_received(self, payload: bytes) -> None:
        code, reason = parse_close(payload)
        self._frames = None
        if not self.closing:
            self.closing = True
            self.ended = (code, reason, "client")
            self._put(_EMPTY_CLOSE if code == NO_STATUS else close_frame(code))
        # The server closes the TCP connection once the handshake is done (§7.1.1).
        self.transport.close()

    def _fail(self, code: int, reason: str) -> None:
        session = self.session
        if session is not None and not session.closed:
            self.owner.hub.close(session, code, reason)  # the hub records who closed it
        self.close(code, reason)

    def eof_received(self) -> bool | None:
        return None  # the transport closes itself

    def connection_lost(self, exc: BaseException | None) -> None:
        self.lost = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.guard is not None:
            self.guard.forget(self)
            self.guard = None
        self.owner.socket_lost(self)
