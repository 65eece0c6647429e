"""The simulator's clock: follows real time, and tests can push it forward (never back)."""

from __future__ import annotations

import time


class SimClock:
    """Wall time plus an offset that only grows, so funding boundaries can be reached on demand."""

    def __init__(self, start_ms: int | None = None) -> None:
        self._offset_ns = 0 if start_ms is None else start_ms * 1_000_000 - time.time_ns()

    def now_ns(self) -> int:
        return time.time_ns() + self._offset_ns

    def now_ms(self) -> int:
        return self.now_ns() // 1_000_000

    def advance(self, seconds: float) -> int:
        """Move the clock forward; returns the new time in ms."""
        if seconds < 0:
            raise ValueError("the simulated clock never goes back")
        self._offset_ns += int(seconds * 1_000_000_000)
        return self.now_ms()

    def resume_at(self, now_ms: int) -> None:
        """After a restart: continue from a saved time (kept offset), never earlier than wall time."""
        self._offset_ns = max(self._offset_ns, now_ms * 1_000_000 - time.time_ns())

    @property
    def offset_ms(self) -> int:
        return self._offset_ns // 1_000_000
