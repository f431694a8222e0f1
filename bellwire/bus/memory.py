"""The in-process bus of the embedded mode: a synchronous hand-off on the event loop.

Listeners run inline and must not block (the gateway only appends to buffers), so publishing
after a commit costs microseconds and keeps each channel's events in sequence order. Nothing is
ever lost, so its status never changes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from bellwire.bus.base import Listener, SessionsProvider, StatusListener
from bellwire.bus.wire import BusMessage, ClusterSessions, SessionsAsk, merge

log = logging.getLogger(__name__)


class MemoryBus:
    remote = False
    connected = True

    def __init__(self) -> None:
        self._listeners: list[Listener] = []
        self._sessions: SessionsProvider | None = None

    async def start(self) -> None:
        return None

    def publish(self, messages: Sequence[BusMessage]) -> None:
        deliver(self._listeners, messages)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def on_status(self, listener: StatusListener) -> None:
        return None

    async def close(self) -> None:
        self._listeners.clear()

    def answer_sessions(self, provider: SessionsProvider) -> None:
        self._sessions = provider

    async def store_answered(self, answered: bool) -> None:
        return None

    async def store_answers_elsewhere(self) -> bool:
        return False  # no other node

    async def ask_sessions(
        self, user_arn: str | None, start: int, limit: int, timeout: float
    ) -> ClusterSessions:
        # One node: it answers itself.
        if self._sessions is None:
            return merge([], {})
        return merge([self._sessions(SessionsAsk("local", "", "", user_arn, start, limit))], {})


def deliver(listeners: list[Listener], messages: Sequence[BusMessage]) -> None:
    """Every message to every listener, in order; one failing listener does not starve the
    others."""
    for message in messages:
        for listener in listeners:
            try:
                listener(message)
            except Exception:
                log.exception("bus listener failed on %r", message)
