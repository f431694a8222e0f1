"""How long a request waits for the store: ``store_timeout_seconds``, then StoreTimeout.

A database that stops answering without closing its connections (a hung host, a frozen VM: the
kernel still acknowledges what is sent, so no TCP timeout fires) would otherwise hold every REST
request and every connect's snapshot for as long as it stays so. Each wait notes when it began;
one timer, a few times per timeout, cancels the waits past it, and the waiter answers
:class:`StoreTimeout` (a 503, a 1013 close). The cancelled unit of work is dropped by its engine
if no writer had begun it (``units.py``, ``live``).

A timer per wait (``asyncio.timeout``: scheduled in the loop's heap, then cancelled) cost about
ten times this bookkeeping and measurably fewer sends per second (docs/performance.md, "Changes
measured").
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import Any, TypeVar

from bellwire.store.base import StoreTimeout

T = TypeVar("T")


class _Waiting:
    __slots__ = ("done", "expired", "started", "task")

    def __init__(self, started: float, task: asyncio.Task[Any]) -> None:
        self.started = started
        self.task = task
        self.done = False
        self.expired = False


class Deadlines:
    """The waits of one event loop; ``timeout`` 0 waits as long as it takes."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._every = min(1.0, timeout / 4)
        self._waiting: deque[_Waiting] = deque()  # in the order they began
        self._timer: asyncio.TimerHandle | None = None

    async def wait(self, awaitable: Awaitable[T]) -> T:
        """``await awaitable``, or :class:`StoreTimeout` once it took ``timeout`` seconds."""
        if self.timeout <= 0:
            return await awaitable
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        waiting = _Waiting(loop.time(), task)
        self._waiting.append(waiting)
        if self._timer is None:
            self._timer = loop.call_later(self._every, self._check)
        try:
            return await awaitable
        except asyncio.CancelledError:
            if not waiting.expired:
                raise
            task.uncancel()
            raise StoreTimeout(f"no answer from the store within {self.timeout:g} s") from None
        finally:
            waiting.done = True

    def _check(self) -> None:
        self._timer = None
        loop = asyncio.get_running_loop()
        due = loop.time() - self.timeout
        waiting = self._waiting
        while waiting and waiting[0].done:
            waiting.popleft()
        for w in waiting:
            if w.started > due:
                break
            if not w.done and not w.expired:
                w.expired = True
                w.task.cancel()
        if waiting:
            self._timer = loop.call_later(self._every, self._check)
