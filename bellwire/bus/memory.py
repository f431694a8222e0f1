"""The in-process bus of the embedded mode: a synchronous hand-off on the event loop.

Listeners run inline and must not block (the gateway only appends to buffers), so publishing
after a commit costs microseconds and keeps each channel's events in sequence order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bellwire.bus.base import Listener
from bellwire.domain.delivery import BusEvent

log = logging.getLogger(__name__)


class MemoryBus:
    def __init__(self) -> None:
        self._listeners: list[Listener] = []

    def publish(self, events: Sequence[BusEvent]) -> None:
        for event in events:
            for listener in self._listeners:
                try:
                    listener(event)
                except Exception:  # one broken listener must not starve the others
                    log.exception("bus listener failed on %r", event)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    async def close(self) -> None:
        self._listeners.clear()
