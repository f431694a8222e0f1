"""The one wall clock of the server, injectable so that tests move time instead of waiting.

Everything that compares stored timestamps with "now" (the operations' ``Call.now``, retention,
expiration, export lag and leases) reads :class:`Clock`. A test (or a user of the pytest plugin)
moves it forward by days with :meth:`Clock.advance` and triggers a sweep: nothing sleeps for
days. A server restarted with its system clock moved forward reads that clock as usual.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

DAY = 86400.0


class Clock:
    """``time.time`` plus an offset that only tests change (thread-safe: the pytest plugin's
    server runs on its own thread)."""

    __slots__ = ("_lock", "_offset", "_source")

    def __init__(self, source: Callable[[], float] = time.time, offset: float = 0.0) -> None:
        self._source = source
        self._offset = offset
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._source() + self._offset

    def advance(self, seconds: float = 0.0, *, days: float = 0.0) -> float:
        """Move the clock forward (never back: stored times must not end up in the future)."""
        step = seconds + days * DAY
        if step < 0:
            raise ValueError("the clock only moves forward")
        with self._lock:
            self._offset += step
        return self.now()

    @property
    def offset(self) -> float:
        return self._offset
