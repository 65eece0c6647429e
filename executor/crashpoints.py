"""Deliberate crash points for the crash trials (tests/chaos, bench/chaos.py).

They are armed only from the validated setting ``testing.crash_at = "<point>[@N][,…]"`` (refused when
``exchange.mode = "live"``), by the daemon's start-up, which logs a warning naming them. Armed, the
daemon sends itself SIGKILL the N-th time (default the first) it passes that point, exactly as a power
cut would: no cleanup, no flush. Disarmed (the default) a crash point costs one dict lookup. The
adapters carry no crash points: their entry steps reach :func:`at_entry_step` only through the
observer the daemon's wiring hands them while armed.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from executor.ports.exchange import EntryStep


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
    FILLS_INSERTED = "fills_inserted"
    """A closing position's fills are inserted in its booking transaction, which has not committed yet."""
    FILL_BOOKED = "fill_booked"
    """A closed position was booked; sibling orders and the breaker have not been looked at."""
    BREAKER_TRIPPED = "breaker_tripped"
    """The trip is committed; entries are not cancelled and positions not flattened yet."""


_OF_ENTRY_STEP = {
    EntryStep.ENTRY_ANSWERED: CrashPoint.ENTRY_ANSWERED,
    EntryStep.STOP_ANSWERED: CrashPoint.STOP_ANSWERED,
}


@dataclass(frozen=True, slots=True)
class CrashSpec:
    point: CrashPoint
    nth: int = 1
    """Crash on the nth pass through the point."""

    def __str__(self) -> str:
        return self.point.value if self.nth == 1 else f"{self.point.value}@{self.nth}"


def parse_crash_at(text: str) -> tuple[CrashSpec, ...]:
    """``"entry_answered@2,fill_booked"`` → specs; a ValueError names the bad item and the choices."""
    specs = []
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, at, count = item.partition("@")
        if name not in CrashPoint.__members__.values():
            choices = ", ".join(point.value for point in CrashPoint)
            raise ValueError(f"unknown crash point {name!r}; use POINT[@N] with POINT one of {choices}")
        if at and not (count.isascii() and count.isdigit() and int(count) >= 1):
            raise ValueError(f"in {item!r}, N of POINT@N must be a whole number ≥ 1 (the pass that crashes)")
        specs.append(CrashSpec(CrashPoint(name), int(count) if at else 1))
    return tuple(specs)


_ARMED: dict[CrashPoint, int] = {}


def arm(specs: Iterable[CrashSpec]) -> None:
    """Arm exactly these points (the daemon's start-up does this from validated settings)."""
    _ARMED.clear()
    _ARMED.update({spec.point: spec.nth for spec in specs})


def crash_point(point: CrashPoint) -> None:
    if point not in _ARMED:
        return
    _ARMED[point] -= 1
    if _ARMED[point] <= 0:
        print(f"crash point {point.value} reached: SIGKILL", file=sys.stderr, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)


def at_entry_step(step: EntryStep) -> None:
    """The observer the wiring gives an adapter while crash points are armed."""
    crash_point(_OF_ENTRY_STEP[step])
