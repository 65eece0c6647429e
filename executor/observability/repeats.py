"""Repeated warnings and errors are rate-limited, so a flood of one failure cannot flood the log.

A slow-client attack once produced 55,791 identical accept errors (29 MB in 47 s). Each kind of line
(logger, level and event or message template) may appear `burst` times per `window` seconds; the rest
are dropped, and the next line of that kind let through carries how many were (`repeats_suppressed`).
Info and debug lines are never dropped: they are the record of each signal and order.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

SUPPRESSED_FIELD: Final = "repeats_suppressed"
_MAX_KINDS: Final = 1000


@dataclass(slots=True)
class _Window:
    started: float
    seen: int = 0
    dropped: int = 0


class RepeatLimiter(logging.Filter):
    def __init__(
        self, burst: int = 10, window: float = 10.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        super().__init__()
        self._burst = burst
        self._window = window
        self._clock = clock
        self._windows: dict[tuple[str, int, str], _Window] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        now = self._clock()
        key = (record.name, record.levelno, _kind(record))
        window = self._windows.get(key)
        if window is None or now - window.started >= self._window:
            if len(self._windows) >= _MAX_KINDS:
                self._forget_before(now - self._window)
            if window is not None and window.dropped:
                _note(record, window.dropped)
            window = self._windows[key] = _Window(now)
        window.seen += 1
        if window.seen > self._burst:
            window.dropped += 1
            return False
        return True

    def _forget_before(self, moment: float) -> None:
        self._windows = {key: w for key, w in self._windows.items() if w.started >= moment}
        if len(self._windows) >= _MAX_KINDS:
            self._windows.clear()


def _kind(record: logging.LogRecord) -> str:
    message = record.msg
    if isinstance(message, dict):
        return str(message.get("event", ""))[:200]
    return str(message)[:200]


def _note(record: logging.LogRecord, dropped: int) -> None:
    if isinstance(record.msg, dict):
        record.msg[SUPPRESSED_FIELD] = dropped
    else:
        record.msg = f"{record.msg} [{SUPPRESSED_FIELD}={dropped}]"
