"""A one-line progress display on stderr, drawn only on a terminal (silent in pipes and logs)."""

from __future__ import annotations

import sys
import time
from typing import TextIO


class Progress:
    def __init__(
        self,
        label: str,
        *,
        total_bytes: int | None = None,
        stream: TextIO | None = None,
        enabled: bool | None = None,
    ) -> None:
        self._stream = stream or sys.stderr
        self.enabled = self._stream.isatty() if enabled is None else enabled
        self._label = label
        self._total = total_bytes
        self._start = time.monotonic()
        self._last_draw = 0.0
        self.records = 0
        self.new = 0
        self.bytes = 0
        self.note = ""

    def update(self, *, records: int = 0, new: int = 0, nbytes: int = 0, note: str = "") -> None:
        self.records += records
        self.new += new
        self.bytes += nbytes
        if note:
            self.note = note
        now = time.monotonic()
        if self.enabled and now - self._last_draw >= 0.1:
            self._last_draw = now
            self._draw(now)

    def _draw(self, now: float) -> None:
        rate = self.records / max(now - self._start, 1e-6)
        text = f"{self._label}: {self.records:,} records ({self.new:,} new) {rate:,.0f}/s"
        if self._total:
            fraction = min(self.bytes / self._total, 1.0)
            filled = int(fraction * 20)
            text = (
                f"{self._label}: [{'#' * filled}{'.' * (20 - filled)}] {fraction:4.0%} "
                + (text.split(": ", 1)[1])
            )
        if self.note:
            text += f"  {self.note}"
        self._stream.write("\r" + text[:150].ljust(150) + "\r")
        self._stream.flush()

    def close(self) -> None:
        if self.enabled:
            self._draw(time.monotonic())
            self._stream.write("\n")
            self._stream.flush()
