"""A session's outbox: the encoded frames waiting for its next socket write (pure, no I/O).

The hub encodes an event's frame once and appends the same bytes to the outbox of every
recipient session (:func:`fan_out`); a flush later takes each dirty outbox's frames as one
``bytes`` (:meth:`Outbox.take`), which the session writes in one system call. A burst of events
thus costs one write per session, not one per event and session: the system call, not the
Python work, is what a delivery costs.

Each outbox is bounded: the frames it holds plus what its socket still held after the last
write (``backlog``, as the flush saw it) may not exceed the session's limit. ``backlog`` is an
estimate that only shrinks at the next flush, so an outbox that looks full is a *candidate*
that the caller checks against its socket before closing the session (1013).

A :class:`~bellwire.gateway.hub.Session` is an outbox (a subclass): one object per session,
and the fan-out touches no other object per delivery.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TypeVar

__all__ = ["Outbox", "fan_out", "flush_delay"]


class Outbox:
    __slots__ = ("backlog", "buffer", "buffered", "closed")

    def __init__(self) -> None:
        self.buffer: list[bytes] = []  # frames in the order they were queued
        self.buffered = 0  # their bytes
        self.backlog = 0  # bytes the socket still held after the last write
        self.closed = False  # a closed outbox takes no more frames

    def put(self, frame: bytes) -> bool:
        """Queue one frame; True when the outbox was empty (it needs a flush)."""
        if self.closed:
            return False
        first = not self.buffer
        self.buffer.append(frame)
        self.buffered += len(frame)
        return first

    def over(self, limit: int) -> bool:
        """Whether the frames and the socket's last known backlog exceed ``limit``."""
        return self.buffered + self.backlog > limit

    def take(self) -> bytes:
        """All queued frames as one write, in order; the outbox is empty afterwards."""
        buffer = self.buffer
        data = buffer[0] if len(buffer) == 1 else b"".join(buffer)
        self.buffer = []
        self.buffered = 0
        return data

    def clear(self) -> None:
        self.buffer = []
        self.buffered = 0


BoxT = TypeVar("BoxT", bound=Outbox)


def fan_out(
    outboxes: Iterable[BoxT], frame: bytes, limit: int, dirty: list[BoxT], behind: list[BoxT]
) -> int:
    """Append ``frame`` to every open outbox of ``outboxes``; those that were empty join
    ``dirty`` (to be flushed), those now over ``limit`` join ``behind``. Returns how many
    outboxes took the frame. The loop of :meth:`Outbox.put` and :meth:`Outbox.over`, inlined:
    it runs once per delivery."""
    size = len(frame)
    count = 0
    for box in outboxes:
        if box.closed:
            continue
        buffer = box.buffer
        if not buffer:
            dirty.append(box)
        buffer.append(frame)
        box.buffered += size
        if box.buffered + box.backlog > limit:
            behind.append(box)
        count += 1
    return count


# A hub that wrote less than this many intervals ago is busy: a new burst waits the interval.
QUIET_INTERVALS = 10


def flush_delay(interval: float, now: float, last_flush: float) -> float:
    """How long the first frame of a burst waits before the dirty sessions are written: the
    whole ``interval`` when the hub is busy (it wrote less than ``QUIET_INTERVALS`` intervals
    ago: the frames of the next commits will share each session's write), nothing when it was
    quiet (no company is coming, so the frame leaves at the next loop iteration).

    Busy is judged over several intervals, not one: writing thousands of sessions takes
    longer than an interval, and a loop turn of REST requests after it as well, so under full
    load one interval without a flush does not mean the load stopped."""
    return interval if now - last_flush < QUIET_INTERVALS * interval else 0.0
