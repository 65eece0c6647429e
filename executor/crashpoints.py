"""Deliberate crash points for the crash trials (tests/chaos, bench/chaos.py).

With `EXECUTOR_CRASH_AT=<point>[@N]` in the environment the daemon sends itself SIGKILL the N-th time
(default the first) it passes that point, exactly as a power cut would: no cleanup, no flush. Unset,
a crash point costs one set lookup.
"""

from __future__ import annotations

import os
import signal
from enum import StrEnum

CRASH_ENV = "EXECUTOR_CRASH_AT"


class CrashPoint(StrEnum):
    SIGNAL_STORED = "signal_stored"
    """The inbox committed a signal, before the sender was answered."""
    DECISION_STORED = "decision_stored"
    """The decision and its write-ahead order rows are committed; nothing has been sent."""
    ENTRY_ANSWERED = "entry_answered"
    """The exchange answered the entry; the stop has not been sent (Binance) or not yet read back."""
    STOP_ANSWERED = "stop_answered"
    """The exchange answered the stop; the answer is not yet stored."""
    ENTRY_STORED = "entry_stored"
    """The entry's and stop's answers are stored; the position row is not yet written."""
    FILL_BOOKED = "fill_booked"
    """A closed position was booked; sibling orders and the breaker have not been looked at."""
    BREAKER_TRIPPED = "breaker_tripped"
    """The trip is committed; entries are not cancelled and positions not flattened yet."""


def _armed() -> dict[CrashPoint, int]:
    spec = os.environ.get(CRASH_ENV, "")
    armed: dict[CrashPoint, int] = {}
    for item in filter(None, (part.strip() for part in spec.split(","))):
        name, _, count = item.partition("@")
        armed[CrashPoint(name)] = int(count or 1)
    return armed


_ARMED = _armed()


def crash_point(point: CrashPoint) -> None:
    if point not in _ARMED:
        return
    _ARMED[point] -= 1
    if _ARMED[point] <= 0:
        os.kill(os.getpid(), signal.SIGKILL)
