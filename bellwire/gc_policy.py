"""How the server runs CPython's cyclic garbage collector, and the clock on its pauses.

Nearly all of a server's garbage is freed by reference counting the moment it is dropped; the
collector exists for reference cycles. Its defaults suit short scripts, not a server:

- A young collection every 700 net allocations of tracked objects. One REST request makes a few
  hundred, so the collector ran every two or three requests, each time walking whatever was in
  flight.
- A full collection walks every tracked object, about 90,000 of them right after startup
  (botocore's service models, the IAM index, the caches). Those live as long as the process, so
  walking them never frees anything, yet they made each full collection a 50-100 ms stop of
  every session on the node.

``settle`` runs once the server is up: it moves what startup built into the permanent
generation (``gc.freeze``) and collects the young generation every ``YOUNG_THRESHOLD``
allocations. ``PauseClock`` times each collection for ``bellwire_gc_pause_seconds``.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

# Big enough that a young collection runs every few dozen requests, small enough that one
# stays near a millisecond (it walks at most this many objects).
YOUNG_THRESHOLD: Final = 10_000

GcCallback = Callable[[str, Mapping[str, Any]], None]


def settle() -> None:
    """Freeze what startup built and collect the young generation less often."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


class PauseClock:
    """A ``gc.callbacks`` entry reporting ``(generation, seconds)`` for each collection.

    The collector holds the GIL from its "start" call to its "stop" call, so one pending start
    is all there is to remember, whichever thread collects. ``observe`` runs inside the
    collector, in whatever code allocated last: it must not take a lock that code may hold.
    """

    def __init__(
        self,
        observe: Callable[[int, float], None],
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._observe = observe
        self._clock = clock
        self._started = 0.0

    def __call__(self, phase: str, info: Mapping[str, Any]) -> None:
        if phase == "start":
            self._started = self._clock()
        else:
            self._observe(int(info["generation"]), self._clock() - self._started)


def install(clock: GcCallback) -> Callable[[], None]:
    """Register ``clock`` with the collector; returns what removes it again."""
    gc.callbacks.append(clock)

    def remove() -> None:
        if clock in gc.callbacks:
            gc.callbacks.remove(clock)

    return remove
