"""A channel's events as its members receive them, for the console's live tail.

The tail listens on the bus like the hub does and keeps, per watched channel, a bounded queue
per watcher. It never blocks the bus: a watcher that does not keep up loses the oldest events
and is told how many (``dropped``). Pure apart from the ``wake`` callback each watcher gives.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from bellwire.domain.delivery import BusEvent, ChannelEvent

QUEUE = 200  # events kept per watcher between two reads


@dataclass(eq=False, slots=True)
class Watcher:
    channel_arn: str
    wake: Callable[[], None]
    queue: deque[str] = field(default_factory=lambda: deque(maxlen=QUEUE))
    dropped: int = 0
    closed: bool = False

    def take(self) -> list[str]:
        items = list(self.queue)
        self.queue.clear()
        return items


def tail_line(event: ChannelEvent) -> str:
    """One line for the event stream: the frame text members get, and who gets it when it is
    not every member (a targeted message reaches its sender and target only)."""
    return json.dumps(
        {
            "seq": event.seq,
            "only": sorted(event.only) if event.only is not None else None,
            "frame": event.event.encode(),
        },
        separators=(",", ":"),
    )


class Tail:
    def __init__(self) -> None:
        self._watchers: dict[str, set[Watcher]] = {}
        self.closed = False

    def watch(self, channel_arn: str, wake: Callable[[], None]) -> Watcher:
        watcher = Watcher(channel_arn, wake)
        if self.closed:
            watcher.closed = True
        else:
            self._watchers.setdefault(channel_arn, set()).add(watcher)
        return watcher

    def forget(self, watcher: Watcher) -> None:
        watchers = self._watchers.get(watcher.channel_arn)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._watchers[watcher.channel_arn]

    def on_event(self, event: BusEvent) -> None:
        if not isinstance(event, ChannelEvent):
            return
        watchers = self._watchers.get(event.channel_arn)
        if not watchers:
            return
        line = tail_line(event)
        for watcher in watchers:
            if len(watcher.queue) == watcher.queue.maxlen:
                watcher.dropped += 1
            watcher.queue.append(line)
            watcher.wake()

    def close(self) -> None:
        """The server is stopping: every stream ends."""
        self.closed = True
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.closed = True
                watcher.wake()
        self._watchers.clear()

    def __len__(self) -> int:
        return sum(len(w) for w in self._watchers.values())
