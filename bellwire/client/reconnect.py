"""Sans-I/O reconnect policy of the messaging-session client.

Mirrors amazon-chime-sdk-js (``canReconnect``, ``FullJitterBackoff`` and
``DefaultReconnectController`` as used by ``DefaultMessagingSession``, spec §3.3):

* full-jitter delay ``rand() * min(cap, base * 2**n) + fixed``, n = 0, 1, 2, ... since the
  last reset, with no retry count;
* the counter and the window are reset on a fresh :meth:`ReconnectController.start` and on
  every successful ``open`` (:meth:`ReconnectController.reset`);
* the window is anchored at the first connection attempt after the last reset: the initial
  attempt for a fresh start, otherwise the first *retry* (so after an ``open`` the first retry
  is always granted), and retrying stops once ``now - anchor >= window`` at close time.

Deliberate differences from the JS SDK:

* :meth:`ReconnectController.stop` latches until the next :meth:`~ReconnectController.start`,
  so it also ends a pending backoff (JS ignores ``stop()`` while its timer runs, issue #2372)
  and it outlives a ``reset()`` from a socket that opens after the user stopped.  The close
  that follows a user stop never reconnects whatever its code: a close handshake that times
  out reports 1006, which would otherwise be retried.
* The last retry of a window never starts after the deadline: a delay that would overshoot is
  clamped to the remaining time, so the window is used in full and the final failure is known
  at ``deadline + connect time`` (JS can start a retry up to ``cap + fixed`` past it).  If even
  the fixed wait no longer fits, retrying stops instead, since the fixed wait is a floor.
* Every way of giving up is reported as a :class:`Stop` (reason and close code), because the
  JS SDK loses some of them (#2372, #2928).
* Codes of 5000 and above are not retried (JS only tests ``code > 4000``); RFC 6455 forbids
  them on the wire, so only a buggy caller could pass one.

Time is monotonic seconds and randomness a callable returning a float in [0, 1), both passed
in, so the policy is deterministic under test.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = [
    "ENDPOINT_LOOKUP_FAILED",
    "ReconnectController",
    "ReconnectPolicy",
    "Stop",
    "StopReason",
    "can_reconnect",
]

# Synthetic close code the JS SDK fabricates when GetMessagingSessionEndpoint fails (§3.2);
# the Python client uses the same one so both clients retry a failed lookup identically.
ENDPOINT_LOOKUP_FAILED = 4999

_RETRYABLE_1XXX = frozenset({1001, 1006, 1011, 1012, 1013, 1014})
# 4002 client initiated, 4003 forbidden/kicked, 4401 unauthorized: a retry would fail again.
_FINAL_4XXX = frozenset({4002, 4003, 4401})


def can_reconnect(code: int) -> bool:
    """Whether a close with ``code`` (as received from the server) may be retried.

    1005 ("no status received") is final, as in the JS SDK: a server that closes without a
    code gave no reason to retry, and when the client closed the socket itself the stop latch
    already decides.  4000 is final because the JS SDK tests ``code > 4000``.

    Pass the server's code (with websockets: ``rcvd.code``, or 1006 when no close frame came),
    not the code the client itself sent.
    """
    if code in _RETRYABLE_1XXX:
        return True
    return 4000 < code < 5000 and code not in _FINAL_4XXX


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """Reconnect settings in seconds; defaults are the JS SDK's (§3.1)."""

    base: float = 1.0  # reconnectShortBackoffMs
    cap: float = 5.0  # reconnectLongBackoffMs
    fixed: float = 0.0  # reconnectFixedWaitMs
    window: float = 10.0  # reconnectTimeoutMs

    def __post_init__(self) -> None:
        # JS silently clamps negatives to 0; a typo here would otherwise mean a retry storm.
        for name in ("base", "cap", "fixed", "window"):
            value = getattr(self, name)
            if not math.isfinite(value):
                raise ValueError(f"{name} must be finite, got {value!r}")
        if self.base <= 0:
            raise ValueError(f"base must be positive, got {self.base!r}")
        if self.cap < self.base:
            raise ValueError(f"cap ({self.cap!r}) must be >= base ({self.base!r})")
        if self.fixed < 0:
            raise ValueError(f"fixed must be >= 0, got {self.fixed!r}")
        if self.window <= 0:
            raise ValueError(f"window must be positive, got {self.window!r}")


class StopReason(enum.Enum):
    NOT_RECONNECTABLE = "not reconnectable"
    WINDOW_EXHAUSTED = "reconnect window exhausted"
    STOPPED_BY_USER = "stopped by user"


@dataclass(frozen=True, slots=True)
class Stop:
    """Why the session ended for good, with the last close code seen (None if none)."""

    reason: StopReason
    code: int | None


@dataclass(slots=True)
class ReconnectController:
    """Reconnect state of one messaging session; the I/O shell drives it.

    Shell protocol: ``start(now)`` before the first connect; ``reset()`` when a socket opens;
    ``next_delay(code, now, rand)`` after every close or failed attempt (sleep that long, then
    reconnect, or give up and report :attr:`stopped` on None); ``stop()`` when the user stops.
    """

    policy: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    _attempts: int = field(default=0, init=False)
    _anchor: float | None = field(default=None, init=False)
    _stopped: Stop | None = field(default=None, init=False)
    _last_code: int | None = field(default=None, init=False)

    @property
    def attempts(self) -> int:
        """Retries scheduled since the last reset: the number of the retry just scheduled."""
        return self._attempts

    @property
    def stopped(self) -> Stop | None:
        return self._stopped

    def start(self, now: float) -> None:
        """A fresh start: clears everything, including a stop, and opens the window at ``now``."""
        self.reset()
        self._stopped = None
        self._last_code = None
        self._anchor = now

    def reset(self) -> None:
        """A socket opened: the next failure starts a new window and backoff from n = 0."""
        self._attempts = 0
        self._anchor = None

    def stop(self) -> Stop:
        """The user stopped the session; returns the final outcome to report.

        A stop that comes after the session already ended keeps that earlier outcome, so the
        failure that really ended the session is the one reported.
        """
        if self._stopped is None:
            self._stopped = Stop(StopReason.STOPPED_BY_USER, self._last_code)
        return self._stopped

    def next_delay(self, code: int, now: float, rand: Callable[[], float]) -> float | None:
        """Seconds to wait before the next attempt, or None to give up (see :attr:`stopped`)."""
        self._last_code = code
        if self._stopped is not None:
            if self._stopped.reason is StopReason.STOPPED_BY_USER:
                # Report the close that the user's stop caused.
                self._stopped = Stop(StopReason.STOPPED_BY_USER, code)
            return None
        if not can_reconnect(code):
            self._stopped = Stop(StopReason.NOT_RECONNECTABLE, code)
            return None

        r = rand()
        if not 0.0 <= r < 1.0:
            raise ValueError(f"rand() must return a float in [0, 1), got {r!r}")
        p = self.policy
        # Doubling with a cap is exactly base * 2**n but cannot overflow for large n.
        ceiling = p.base
        for _ in range(self._attempts):
            ceiling = min(p.cap, ceiling * 2)
            if ceiling == p.cap:
                break
        delay = r * ceiling + p.fixed

        if self._anchor is None:
            # First retry after an open: the window opens when this retry starts.
            self._anchor = now + delay
        else:
            elapsed = now - self._anchor
            # Same test as the JS SDK, then the clamp that keeps the retry inside the window.
            if elapsed >= p.window or p.window - elapsed < p.fixed:
                self._stopped = Stop(StopReason.WINDOW_EXHAUSTED, code)
                return None
            delay = min(delay, p.window - elapsed)

        self._attempts += 1
        return delay
