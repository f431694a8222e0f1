"""Pure: when to try a failing sink again (exponential, capped, with jitter passed in)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial: float = 0.5
    maximum: float = 60.0
    factor: float = 2.0

    def delay(self, failures: int, jitter: float = 1.0) -> float:
        """Seconds to wait after ``failures`` consecutive failures (0: none). ``jitter`` in
        [0.5, 1.0] spreads nodes retrying the same sink."""
        if failures <= 0:
            return 0.0
        return min(self.maximum, self.initial * self.factor ** (failures - 1)) * jitter


@dataclass(slots=True)
class SinkHealth:
    """One sink's consecutive failures and the moment it may be tried again."""

    failures: int = 0
    retry_at: float = 0.0

    def ready(self, now: float) -> bool:
        return now >= self.retry_at

    def failed(self, now: float, backoff: Backoff, jitter: float = 1.0) -> float:
        self.failures += 1
        wait = backoff.delay(self.failures, jitter)
        self.retry_at = now + wait
        return wait

    def succeeded(self) -> None:
        self.failures = 0
        self.retry_at = 0.0
