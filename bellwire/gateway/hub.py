"""The fan-out: which local sessions receive a bus event, and how the bytes reach them.

- The hub indexes sessions by user and by channel. The channel index is maintained by the
  event stream itself (``subscribe`` / ``unsubscribe`` / ``close_channel`` of a ChannelEvent),
  so routing an event costs one dict lookup, never a store query.
- An event's frame is encoded once and the same bytes are appended to each recipient's outbox
  (:mod:`bellwire.gateway.outbox`). A burst that starts while the hub is busy (it flushed
  within the last ten ``flush_interval``s) waits one interval for company; one after a quiet
  spell is flushed at the next loop iteration. Each dirty session gets one ``transport.write`` (coalesced), and the fan-out
  never awaits a socket. A session closed with anything but 1013
  gets its queued frames before its close frame.
- Each session's outbound bytes (ours plus the transport's) are bounded; a session over the
  bound is closed with 1013 (reconnectable), and no one else notices.
- One sweep per ping interval pings every session and drops those that did not answer the last
  ping within the timeout.
- Live events are applied in each channel's sequence order, not in arrival order: several nodes
  publish at once, so an event may overtake an earlier one on the bus. An event ahead of the
  next expected number waits (the reorder window); a gap that does not fill in time closes the
  sessions that could have missed it with 4410 (reconnect and catch up), never silently.
  An elastic channel's sub-channel is ordered by its own numbers (``ChannelEvent.sub_seq``).
- A connecting session's snapshot and the live stream meet by sequence number: events the node
  applied after the snapshot was read are replayed to the new session from a short log, and
  events the snapshot already holds are not delivered again.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from bellwire.domain.delivery import BusEvent, ChannelEvent, CloseSessions, UserEvent
from bellwire.gateway import close_codes
from bellwire.gateway.frames import PING, event_frame
from bellwire.gateway.outbox import Outbox, fan_out, flush_delay

log = logging.getLogger(__name__)

# What a session needs of its socket: write bytes now, close with a code later.
Closer = Callable[[int, str], None]

# Channel events kept while sessions connect, to replay what a snapshot misses; a session
# whose missing events fell out of it is closed with 4410 instead.
CONNECT_LOG = 4096
# The number a member's move gives, for a session still connecting, to the sub-channel it
# left: newer than any snapshot of it.
MOVED = 1 << 62
DROP = 1006  # a CloseSessions code that drops the connection without a close frame
SUB_CHANNEL = "/subchannel/"  # in the route key of an elastic channel's sub-channel
GAP_REASON = "Events of a channel were lost between nodes; reconnect to catch up."


class Session(Outbox):
    """A session as the hub sees it: its outbox (the frames of its next write), its channels
    and how to close it."""

    __slots__ = (
        "channels",
        "close_code",
        "close_reason",
        "closer",
        "connected_at",
        "established",
        "expiry",
        "id",
        "lease",
        "pending",
        "ping_sent",
        "transport",
        "user_arn",
    )

    def __init__(self, user_arn: str, session_id: str, transport: Any, closer: Closer) -> None:
        super().__init__()
        self.user_arn = user_arn
        self.id = session_id
        self.transport = transport
        self.closer = closer
        self.channels: set[str] = set()
        self.established = False
        # Membership changes seen while connecting: channel -> (sequence, subscribed?).
        self.pending: dict[str, tuple[int, bool]] = {}
        self.ping_sent = 0.0  # monotonic time of an unanswered ping, 0.0 when answered
        self.connected_at = time.monotonic()
        self.expiry: asyncio.TimerHandle | None = None
        self.close_code = 0  # set by whoever closes it first: the hub here, or the peer
        self.close_reason = ""
        self.lease = ""  # its lease in the cluster's session registry (with a Redis bus)


class Hub:
    def __init__(
        self,
        *,
        buffer_limit: int,
        ping_interval: float,
        ping_timeout: float,
        reorder_window: float | None = None,
        flush_interval: float = 0.0,
    ) -> None:
        """``flush_interval``: how long a burst's first frame waits for others while the hub is
        busy (``outbox.flush_delay``; 0: never); after a quiet spell it leaves at the next loop
        iteration. Waiting under load lets the frames of several commits share a
        system call, which is what a delivery costs.

        ``reorder_window``: with a bus between nodes, how long an event ahead of its channel's
        next number waits before the gap closes sessions. None (one node, the in-process bus):
        events cannot be lost or overtaken, so a skipped number is one a change took without
        an event, and the event applies at once."""
        self.buffer_limit = buffer_limit
        self.flush_interval = flush_interval
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self.reorder_window = reorder_window or 0.0
        self.strict = reorder_window is not None
        self.users: dict[str, list[Session]] = {}
        self.channels: dict[str, set[Session]] = {}
        # The last sequence number applied, per channel with local subscribers.
        self.seqs: dict[str, int] = {}
        # Events ahead of their channel's next number, waiting for the ones before them.
        self._held: dict[str, dict[int, ChannelEvent]] = {}
        self._held_timers: dict[str, asyncio.TimerHandle] = {}
        # Sessions whose snapshot is ahead of the channel: they join once it reaches their seq.
        self._deferred: dict[str, list[tuple[int, Session]]] = {}
        # Moved members' sessions that leave a sub-channel once it reaches their move's number.
        self._leaving: dict[str, list[tuple[int, Session]]] = {}
        # Channel events applied while some session was connecting (see establish).
        self._log: deque[ChannelEvent] = deque(maxlen=CONNECT_LOG)
        self.gaps = 0  # channel gaps that closed sessions, for metrics
        self._connecting: set[Session] = set()
        self._dirty: list[Session] = []
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
        self.writes = 0  # socket writes of frames: deliveries / writes is the coalescing
        self._flush_timer: asyncio.Handle | None = None
        self._last_flush = -math.inf  # when the hub last wrote the dirty sessions (monotonic)

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
        changes that arrived while it was being read (newer sequence numbers win), and meet
        the live stream at each channel's sequence number."""
        self._connecting.discard(session)
        state = {channel: (seq, True) for channel, seq in snapshot}
        for channel, (seq, subscribed) in session.pending.items():
            if channel not in state or seq > state[channel][0]:
                state[channel] = (seq, subscribed)
        session.pending = {}
        session.established = True
        logged: dict[str, list[ChannelEvent]] | None = None
        for channel, (seq, subscribed) in state.items():
            if not subscribed:
                continue
            last = self.seqs.get(channel)
            if last is not None and last < seq:
                # The node has not yet applied everything the snapshot holds: join when it has.
                self._deferred.setdefault(channel, []).append((seq, session))
                continue
            self._subscribe(session, channel)
            if last is None:
                self.seqs[channel] = seq
            if last is None or last > seq:
                if logged is None:
                    logged = self._logged()
                if not self._catch_up(session, channel, seq, last, logged.get(channel, [])):
                    self.close(session, close_codes.EVENTS_MISSED, GAP_REASON)
                    break
        if not self._connecting:
            self._log.clear()

    def _logged(self) -> dict[str, list[ChannelEvent]]:
        by_channel: dict[str, list[ChannelEvent]] = {}
        for event in self._log:
            by_channel.setdefault(event.channel_arn, []).append(event)
        return by_channel

    def _catch_up(
        self,
        session: Session,
        channel: str,
        seq: int,
        last: int | None,
        logged: list[ChannelEvent],
    ) -> bool:
        """Give a new session the events of ``channel`` after its snapshot (``seq``) that the
        node applied while it connected; False when some of them are no longer in the log."""
        newer = sorted((e for e in logged if e.position > seq), key=lambda e: e.position)
        if last is None:
            # Nobody here followed the channel: what was applied was applied without order.
            # Replay what follows the snapshot without a hole; the rest waits for its turn.
            expected = seq
            for event in newer:
                if event.position != expected + 1 and self.strict:
                    self._hold(event)
                    continue
                self._replay(session, event)
                expected = event.position
            self.seqs[channel] = expected
            if channel in self._held:
                self._drain(channel)
            return True
        wanted = [e for e in newer if e.position <= last]
        if self.strict:
            if len({e.position for e in wanted}) != last - seq:
                return False
        elif len(self._log) == CONNECT_LOG:
            return False  # in process numbers may be skipped: a full log is the only doubt
        for event in wanted:
            self._replay(session, event)
        return True

    def _replay(self, session: Session, event: ChannelEvent) -> None:
        """One logged event, for one session that missed it."""
        channel = event.channel_arn
        if session.user_arn in event.subscribe:
            self._subscribe(session, channel)
        if channel in session.channels and (event.only is None or session.user_arn in event.only):
            self.send(session, event_frame(event.event))
        if session.user_arn in event.unsubscribe or event.close_channel:
            self._unsubscribe(session, channel)

    def remove(self, session: Session) -> None:
        session.closed = True
        if session in self._connecting:
            self._connecting.discard(session)
            if not self._connecting:
                self._log.clear()
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
                    self.seqs.pop(channel, None)
        session.channels.clear()
        session.clear()
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
                self.seqs.pop(channel, None)

    # --- events ---------------------------------------------------------------------------------

    def on_event(self, event: BusEvent) -> None:
        if isinstance(event, ChannelEvent):
            self._on_channel_event(event)
        elif isinstance(event, UserEvent):
            if event.deleted:
                for session in list(self.sessions_of(event.user_arn)):
                    self.close(session, close_codes.FORBIDDEN, "The app instance user was deleted.")
        elif isinstance(event, CloseSessions):
            for session in list(self.sessions_of(event.user_arn)):
                if event.session_id is not None and session.id != event.session_id:
                    continue
                if event.code == DROP:
                    self.drop(session, event.reason)
                else:
                    self.close(session, event.code, event.reason)

    def _on_channel_event(self, event: ChannelEvent) -> None:
        channel = event.channel_arn
        if event.sub_seq is None and SUB_CHANNEL in channel:
            # A sub-channel's event without its own number (an older node's, or of a
            # sub-channel its commit deleted): the channel's numbers, which the sub-channels
            # share, skip on each of them, so it is applied as it comes.
            self._apply(event, ordered=False)
            return
        position = event.position
        last = self.seqs.get(channel)
        if last is not None and position != last + 1:
            if position <= last:
                return  # an event the node's sessions already have (their snapshot holds it)
            if self.strict:
                self._hold(event)
                return
        self._apply(event)
        if channel in self._held:
            self._drain(channel)

    def _apply(self, event: ChannelEvent, ordered: bool = True) -> None:
        channel = event.channel_arn
        position = event.position
        moved_from = event.moved_from
        if self._connecting:
            self._log.append(event)
        for user in event.subscribe:
            for session in self.sessions_of(user):
                if session.established:
                    if moved_from is not None:
                        self._leave(session, moved_from, event.moved_from_seq)
                    if self._leaving and channel in self._leaving:
                        self._stay(session, channel)  # moved back before it had left
                    self._subscribe(session, channel)
                else:
                    if moved_from is not None:
                        # The move takes no number of the sub-channel left (its followers
                        # would see a gap): whatever a snapshot says of it, the move is newer.
                        session.pending[moved_from] = (MOVED, False)
                    session.pending[channel] = (position, True)
        members = self.channels.get(channel)
        if members:
            if ordered:
                self.seqs[channel] = position
            frame = event_frame(event.event)  # once per event, for every recipient
            dirty = self._dirty
            if event.only is None:
                count = fan_out(members, frame, self.buffer_limit, dirty, self._behind)
            else:
                targets = [
                    session
                    for user in event.only
                    for session in self.sessions_of(user)
                    if channel in session.channels
                ]
                count = fan_out(targets, frame, self.buffer_limit, dirty, self._behind)
            self.delivered += count
            self.delivered_bytes += count * len(frame)
            if dirty:
                self._schedule_flush()
            if self._behind:
                self._close_behind()
        for user in event.unsubscribe:
            for session in self.sessions_of(user):
                if session.established:
                    self._unsubscribe(session, channel)
                else:
                    session.pending[channel] = (position, False)
        if event.close_channel:
            for session in self.channels.pop(channel, ()):
                session.channels.discard(channel)
            self.seqs.pop(channel, None)
            for session in self._connecting:
                session.pending[channel] = (position, False)
        if self._deferred and channel in self._deferred:
            self._join_deferred(channel, position)
        if self._leaving and channel in self._leaving:
            self._release(channel)

    def _leave(self, session: Session, channel: str, until: int | None) -> None:
        """A moved member's session leaves the sub-channel it was moved from, once the node
        has applied that sub-channel's events up to the move (``until``): the sub-channels are
        ordered each on its own, so an earlier event of the one left may still be on its way."""
        last = self.seqs.get(channel)
        if until is None or last is None or last >= until or channel not in session.channels:
            self._unsubscribe(session, channel)
            return
        self._leaving.setdefault(channel, []).append((until, session))

    def _stay(self, session: Session, channel: str) -> None:
        waiting = [(u, s) for u, s in self._leaving[channel] if s is not session]
        if waiting:
            self._leaving[channel] = waiting
        else:
            del self._leaving[channel]

    def _release(self, channel: str) -> None:
        """The sessions waiting to leave ``channel`` whose move the node has now reached."""
        last = self.seqs.get(channel)
        waiting: list[tuple[int, Session]] = []
        for until, session in self._leaving.pop(channel):
            if session.closed:
                continue
            if last is not None and last < until:
                waiting.append((until, session))
            else:
                self._unsubscribe(session, channel)
        if waiting:
            self._leaving[channel] = waiting

    def _join_deferred(self, channel: str, seq: int) -> None:
        """Sessions whose snapshot holds everything up to ``seq`` join the channel now."""
        later: list[tuple[int, Session]] = []
        for wanted, session in self._deferred.pop(channel):
            if session.closed:
                continue
            if wanted > seq:
                later.append((wanted, session))
                continue
            self._subscribe(session, channel)
            self.seqs[channel] = seq
        if later:
            self._deferred[channel] = later

    def _hold(self, event: ChannelEvent) -> None:
        channel = event.channel_arn
        self._held.setdefault(channel, {})[event.position] = event
        if channel not in self._held_timers:
            self._held_timers[channel] = self._get_loop().call_later(
                self.reorder_window, self._gap, channel
            )

    def _drain(self, channel: str) -> None:
        """Apply the held events that are now next in line."""
        held = self._held[channel]
        while True:
            last = self.seqs.get(channel)
            if last is None:
                # The channel has no local subscriber any more: nothing to order for.
                break
            event = held.pop(last + 1, None)
            if event is None:
                break
            self._apply(event)
        for seq in [s for s in held if s <= self.seqs.get(channel, 0)]:
            del held[seq]
        if self.seqs.get(channel) is None and held:
            # Nobody follows the channel here: apply the rest in order (they may subscribe).
            for seq in sorted(held):
                self._apply(held.pop(seq))
        if not held:
            del self._held[channel]
            timer = self._held_timers.pop(channel, None)
            if timer is not None:
                timer.cancel()

    def applied(self) -> dict[str, int]:
        """The last sequence number applied per channel followed here (a copy, for the
        position check of ``positions.py``)."""
        return dict(self.seqs)

    def _gap(self, channel: str) -> None:
        """A missing event did not arrive within the reorder window: every session that could
        have received it is closed with 4410, to reconnect and read from the store."""
        self._held_timers.pop(channel, None)
        self.resync_channel(channel, f"an event did not arrive within {self.reorder_window:.1f}s")

    def resync_channel(self, channel: str, why: str) -> None:
        """The node missed some of ``channel``'s events (a gap that did not fill, or a tail the
        store holds and the bus never brought): its sessions that could have received them are
        closed with 4410 and the channel's order state starts over."""
        timer = self._held_timers.pop(channel, None)
        if timer is not None:
            timer.cancel()
        held = self._held.pop(channel, {})
        affected = set(self.channels.get(channel, ()))
        affected.update(session for _, session in self._deferred.pop(channel, []))
        self._leaving.pop(channel, None)  # they follow it still: closed with the others
        for event in held.values():
            for user in (*event.subscribe, *event.unsubscribe, *(event.only or ())):
                affected.update(self.sessions_of(user))
        self.seqs.pop(channel, None)
        self.gaps += 1
        log.warning(
            "channel %s: %s; closing %d session(s) with %d",
            channel,
            why,
            len(affected),
            close_codes.EVENTS_MISSED,
        )
        for session in affected:
            self.close(session, close_codes.EVENTS_MISSED, GAP_REASON)

    def resync_all(self, reason: str) -> None:
        """The node may have missed anything (its bus connection was lost): every session,
        connecting or not, is closed with 4410 and the order state starts over."""
        for session in [*self.all_sessions(), *self._connecting]:
            self.close(session, close_codes.EVENTS_MISSED, reason)
        for timer in self._held_timers.values():
            timer.cancel()
        self._held_timers.clear()
        self._held.clear()
        self._deferred.clear()
        self._leaving.clear()
        self.seqs.clear()
        self._log.clear()

    # --- output ---------------------------------------------------------------------------------

    def send(self, session: Session, frame: bytes) -> None:
        """Queue a frame for one session (SESSION_ESTABLISHED, CHANNEL_DETAILS)."""
        self._enqueue(session, frame)
        self.delivered += 1
        self.delivered_bytes += len(frame)
        if self._behind:
            self._close_behind()

    def _enqueue(self, session: Session, frame: bytes) -> None:
        if session.put(frame):
            self._dirty.append(session)
            self._schedule_flush()
        if session.over(self.buffer_limit):
            self._behind.append(session)

    def _schedule_flush(self) -> None:
        if self._flush_timer is None:
            loop = self._get_loop()
            delay = (
                flush_delay(self.flush_interval, time.monotonic(), self._last_flush)
                if self.flush_interval > 0
                else 0.0
            )
            if delay > 0:
                self._flush_timer = loop.call_later(delay, self.flush)
            else:
                self._flush_timer = loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write each dirty session's frames in one write."""
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        dirty, self._dirty = self._dirty, []
        for session in dirty:
            if session.closed or not session.buffer:
                continue
            self._write(session)
        # The interval counts from the end: writing thousands of sessions takes milliseconds,
        # and counted from the start the next flush would come at once, with fewer frames.
        self._last_flush = time.monotonic()

    def _write(self, session: Session) -> None:
        data = session.take()
        transport = session.transport
        if transport is None or transport.is_closing():
            return
        backlog = transport.get_write_buffer_size()
        if backlog + len(data) > self.buffer_limit:
            self._overflow(session)
            return
        transport.write(data)
        self.writes += 1
        # What the socket held counts against the session's bound until the next write looks
        # again (as of before this write: reading it again after would cost a call per write,
        # and a session that looks over the bound is checked against its socket anyway).
        session.backlog = backlog

    def _close_behind(self) -> None:
        behind, self._behind = self._behind, []
        for session in behind:
            if session.closed:
                continue
            # ``backlog`` was the socket's as of the last write: it may have drained since.
            transport = session.transport
            if transport is not None and not transport.is_closing():
                session.backlog = transport.get_write_buffer_size()
            if session.over(self.buffer_limit):
                self._overflow(session)

    def _overflow(self, session: Session) -> None:
        self.close(session, close_codes.TRY_AGAIN_LATER, "The session fell behind; reconnect.")

    def close(self, session: Session, code: int, reason: str) -> None:
        """Stop delivering to the session and close its socket with ``code``."""
        if session.closed:
            return
        if session.buffer and code != close_codes.TRY_AGAIN_LATER:
            # What was queued before the close goes out before the close frame; a session
            # closed for falling behind gets nothing more.
            self._write(session)
            if session.closed:  # the write found it over its bound: closed with 1013
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
        """Ping every established session whose last ping was answered; drop those silent for
        too long."""
        for sessions in list(self.users.values()):
            for session in list(sessions):
                transport = session.transport
                if transport is None or transport.is_closing():
                    continue
                if not session.established:
                    # Still reading its snapshot: its socket does not carry the session yet, so
                    # a pong now would reach no session and the next sweep would drop a client
                    # that answered. This stage ends when the snapshot's read does.
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
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None
        for timer in self._held_timers.values():
            timer.cancel()
        self._held_timers.clear()

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
