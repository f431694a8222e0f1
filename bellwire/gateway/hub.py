"""The fan-out: which local sessions receive a bus event, and how the bytes reach them.

- The hub indexes sessions by user and by channel. The channel index is maintained by the
  event stream itself (``subscribe`` / ``unsubscribe`` / ``close_channel`` of a ChannelEvent),
  so routing an event costs one dict lookup, never a store query.
- An event's frame is encoded once and the same bytes are appended to each recipient's buffer.
  Dirty sessions are flushed once per loop turn with one ``transport.write`` each (coalesced),
  and the fan-out never awaits a socket.
- Each session's outbound bytes (ours plus the transport's) are bounded; a session over the
  bound is closed with 1013 (reconnectable), and no one else notices.
- One sweep per ping interval pings every session and drops those that did not answer the last
  ping within the timeout.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from bellwire.domain.delivery import BusEvent, ChannelEvent, UserEvent
from bellwire.gateway import close_codes
from bellwire.gateway.frames import PING, event_frame

log = logging.getLogger(__name__)

# What a session needs of its socket: write bytes now, close with a code later.
Closer = Callable[[int, str], None]


class Session:
    __slots__ = (
        "buffer",
        "buffered",
        "channels",
        "close_code",
        "close_reason",
        "closed",
        "closer",
        "connected_at",
        "established",
        "expiry",
        "id",
        "pending",
        "ping_sent",
        "transport",
        "user_arn",
    )

    def __init__(self, user_arn: str, session_id: str, transport: Any, closer: Closer) -> None:
        self.user_arn = user_arn
        self.id = session_id
        self.transport = transport
        self.closer = closer
        self.channels: set[str] = set()
        self.buffer: list[bytes] = []
        self.buffered = 0
        self.established = False
        # Membership changes seen while connecting: channel -> (sequence, subscribed?).
        self.pending: dict[str, tuple[int, bool]] = {}
        self.ping_sent = 0.0  # monotonic time of an unanswered ping, 0.0 when answered
        self.connected_at = time.monotonic()
        self.expiry: asyncio.TimerHandle | None = None
        self.closed = False
        self.close_code = 0  # set by whoever closes it first: the hub here, or the peer
        self.close_reason = ""


class Hub:
    def __init__(
        self,
        *,
        buffer_limit: int,
        ping_interval: float,
        ping_timeout: float,
    ) -> None:
        self.buffer_limit = buffer_limit
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.users: dict[str, list[Session]] = {}
        self.channels: dict[str, set[Session]] = {}
        self._connecting: set[Session] = set()
        self._dirty: list[Session] = []
        self._flush_scheduled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sweeper: asyncio.TimerHandle | None = None
        # Sessions over their buffer during a fan-out, closed once it is done: closing one
        # then would change the set being iterated.
        self._behind: list[Session] = []
        # Frames (and their bytes) queued to sessions, for metrics: counted per event, not
        # per delivery.
        self.delivered = 0
        self.delivered_bytes = 0
        self.session_count = 0

    # --- membership of the hub ------------------------------------------------------------------

    def add(self, session: Session) -> None:
        """Register a connecting session: it tracks its user's membership changes from now on."""
        self.users.setdefault(session.user_arn, []).append(session)
        self.session_count += 1
        self._connecting.add(session)
        self._ensure_sweeper()

    def sessions_of(self, user_arn: str) -> list[Session]:
        return self.users.get(user_arn, [])

    def establish(self, session: Session, snapshot: Iterable[tuple[str, int]]) -> None:
        """Subscribe to the channels of a consistent snapshot, corrected by the membership
        changes that arrived while it was being read (newer sequence numbers win)."""
        self._connecting.discard(session)
        state = {channel: (seq, True) for channel, seq in snapshot}
        for channel, (seq, subscribed) in session.pending.items():
            if channel not in state or seq > state[channel][0]:
                state[channel] = (seq, subscribed)
        session.pending = {}
        for channel, (_, subscribed) in state.items():
            if subscribed:
                self._subscribe(session, channel)
        session.established = True

    def remove(self, session: Session) -> None:
        session.closed = True
        self._connecting.discard(session)
        peers = self.users.get(session.user_arn)
        if peers is not None:
            if session in peers:
                peers.remove(session)
                self.session_count -= 1
            if not peers:
                del self.users[session.user_arn]
        for channel in session.channels:
            members = self.channels.get(channel)
            if members is not None:
                members.discard(session)
                if not members:
                    del self.channels[channel]
        session.channels.clear()
        session.buffer.clear()
        if session.expiry is not None:
            session.expiry.cancel()

    def _subscribe(self, session: Session, channel: str) -> None:
        session.channels.add(channel)
        self.channels.setdefault(channel, set()).add(session)

    def _unsubscribe(self, session: Session, channel: str) -> None:
        session.channels.discard(channel)
        members = self.channels.get(channel)
        if members is not None:
            members.discard(session)
            if not members:
                del self.channels[channel]

    # --- events ---------------------------------------------------------------------------------

    def on_event(self, event: BusEvent) -> None:
        if isinstance(event, UserEvent):
            if event.deleted:
                for session in list(self.sessions_of(event.user_arn)):
                    self.close(session, close_codes.FORBIDDEN, "The app instance user was deleted.")
            return
        if isinstance(event, ChannelEvent):
            self._on_channel_event(event)
        # SubChannelEvents are for other consumers of committed changes: no session hears them.

    def _on_channel_event(self, event: ChannelEvent) -> None:
        channel = event.channel_arn
        moved_from = event.moved_from
        for user in event.subscribe:
            for session in self.sessions_of(user):
                if session.established:
                    if moved_from is not None:
                        self._unsubscribe(session, moved_from)
                    self._subscribe(session, channel)
                else:
                    if moved_from is not None:
                        session.pending[moved_from] = (event.seq, False)
                    session.pending[channel] = (event.seq, True)
        members = self.channels.get(channel)
        if members:
            frame = event_frame(event.event)
            if event.only is None:
                count = len(members)
                for session in members:
                    self._enqueue(session, frame)
            else:
                count = 0
                for user in event.only:
                    for session in self.sessions_of(user):
                        if channel in session.channels:
                            self._enqueue(session, frame)
                            count += 1
            self.delivered += count
            self.delivered_bytes += count * len(frame)
            if self._behind:
                self._close_behind()
        for user in event.unsubscribe:
            for session in self.sessions_of(user):
                if session.established:
                    self._unsubscribe(session, channel)
                else:
                    session.pending[channel] = (event.seq, False)
        if event.close_channel:
            for session in self.channels.pop(channel, ()):
                session.channels.discard(channel)
            for session in self._connecting:
                session.pending[channel] = (event.seq, False)

    # --- output ---------------------------------------------------------------------------------

    def send(self, session: Session, frame: bytes) -> None:
        """Queue a frame for one session (SESSION_ESTABLISHED, CHANNEL_DETAILS)."""
        self._enqueue(session, frame)
        self.delivered += 1
        self.delivered_bytes += len(frame)
        if self._behind:
            self._close_behind()

    def _enqueue(self, session: Session, frame: bytes) -> None:
        if session.closed:
            return
        session.buffer.append(frame)
        session.buffered += len(frame)
        if session.buffered > self.buffer_limit:
            self._behind.append(session)
            return
        if len(session.buffer) == 1:
            self._dirty.append(session)
            if not self._flush_scheduled:
                self._flush_scheduled = True
                self._get_loop().call_soon(self._flush)

    def _flush(self) -> None:
        self._flush_scheduled = False
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            if session.closed or not session.buffer:
                continue
            buffer = session.buffer
            data = buffer[0] if len(buffer) == 1 else b"".join(buffer)
            session.buffer = []
            session.buffered = 0
            transport = session.transport
            if transport is None or transport.is_closing():
                continue
            if transport.get_write_buffer_size() + len(data) > self.buffer_limit:
                self._overflow(session)
                continue
            transport.write(data)

    def _close_behind(self) -> None:
        behind, self._behind = self._behind, []
        for session in behind:
            self._overflow(session)

    def _overflow(self, session: Session) -> None:
        self.close(session, close_codes.TRY_AGAIN_LATER, "The session fell behind; reconnect.")

    def close(self, session: Session, code: int, reason: str) -> None:
        """Stop delivering to the session and close its socket with ``code``."""
        if session.closed:
            return
        session.close_code, session.close_reason = code, reason
        self.remove(session)
        session.closer(code, reason)

    def drop(self, session: Session, reason: str) -> None:
        """Drop the connection without a close frame (1006, as the peer will see it)."""
        if not session.closed:
            session.close_code, session.close_reason = close_codes.ABNORMAL, reason
        self.remove(session)
        if session.transport is not None:
            session.transport.abort()

    # --- keepalive ------------------------------------------------------------------------------

    def _get_loop(self) -> asyncio.AbstractEventLoop:
        if self._loop is None:
            self._loop = asyncio.get_running_loop()
        return self._loop

    def _ensure_sweeper(self) -> None:
        if self._sweeper is None:
            self._sweeper = self._get_loop().call_later(self.ping_interval, self._sweep)

    def _sweep(self) -> None:
        self.sweep(time.monotonic())
        self._sweeper = self._get_loop().call_later(self.ping_interval, self._sweep)

    def sweep(self, now: float) -> None:
        """Ping every session whose last ping was answered; drop those silent for too long."""
        for sessions in list(self.users.values()):
            for session in list(sessions):
                transport = session.transport
                if transport is None or transport.is_closing():
                    continue
                if session.ping_sent and now - session.ping_sent > self.ping_timeout:
                    self.drop(session, "The session stopped answering pings.")
                    continue
                if not session.ping_sent:
                    session.ping_sent = now
                    transport.write(PING)

    def pong(self, session: Session) -> None:
        session.ping_sent = 0.0

    def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None

    def all_sessions(self) -> list[Session]:
        return [s for sessions in self.users.values() for s in sessions]

    def outbound(self) -> tuple[int, int]:
        """Bytes waiting for all sessions, and for the most backed-up one (ours + the socket's).
        One pass over the sessions: for scrapes, not for the delivery path."""
        total = biggest = 0
        for sessions in self.users.values():
            for session in sessions:
                waiting = session.buffered
                transport = session.transport
                if transport is not None and not transport.is_closing():
                    waiting += transport.get_write_buffer_size()
                total += waiting
                if waiting > biggest:
                    biggest = waiting
        return total, biggest
