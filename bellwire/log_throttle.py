"""Rate limits for log lines that an attacker or a broken host can repeat at will (pure).

Each kind of line may pass ``burst`` times per ``interval`` seconds; the lines over that are
counted instead of written, and the count travels with the next line let through (or is
reported by :meth:`Throttle.flush` when the storm ends first).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True)
class _Window:
    start: float
    passed: int = 0
    suppressed: int = 0


class Throttle:
    def __init__(self, interval: float, burst: int = 1) -> None:
        if interval <= 0 or burst < 1:
            raise ValueError("interval must be positive and burst at least 1")
        self.interval = interval
        self.burst = burst
        self._windows: dict[str, _Window] = {}

    def allow(self, kind: str, now: float) -> int | None:
        """None: drop this line. Otherwise write it, with the returned number of lines of its
        kind dropped since the last one written (0: none)."""
        window = self._windows.get(kind)
        if window is None or now - window.start >= self.interval:
            suppressed = window.suppressed if window is not None else 0
            self._windows[kind] = _Window(start=now, passed=1)
            return suppressed
        if window.passed < self.burst:
            window.passed += 1
            return 0
        window.suppressed += 1
        return None

    def flush(self, kind: str) -> int:
        """The lines of ``kind`` dropped and not yet reported; they count as reported now."""
        window = self._windows.get(kind)
        if window is None:
            return 0
        suppressed, window.suppressed = window.suppressed, 0
        return suppressed

    def window_end(self, kind: str) -> float | None:
        window = self._windows.get(kind)
        return None if window is None else window.start + self.interval
