"""The exchange clock: an offset from server-time readings, never from one that waited in a throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from executor.execution.clock import MAX_ROUND_TRIP, ExchangeClock
from executor.ports.exchange import ServerTime

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
QUICK = timedelta(milliseconds=2)


def test_a_quick_reading_sets_the_offset() -> None:
    clock = ExchangeClock()
    assert clock.sync(ServerTime(T0 + timedelta(seconds=5), QUICK), T0 + QUICK)
    assert clock.offset == timedelta(seconds=5) - QUICK / 2


def test_the_first_reading_is_taken_however_slow_so_the_daemon_starts_on_the_venues_clock() -> None:
    clock = ExchangeClock()
    assert clock.sync(ServerTime(T0 + timedelta(hours=1), timedelta(seconds=4)), T0 + timedelta(seconds=4))
    assert clock.offset == timedelta(hours=1) - timedelta(seconds=2)


def test_a_reading_that_waited_in_a_throttle_is_discarded_and_the_last_offset_stays() -> None:
    """20 s in ccxt's queue, then a prompt answer: placed at the middle of that trip, it would put the
    daemon's clock 10 s ahead and expire every signal valid for less on arrival."""
    clock = ExchangeClock()
    clock.sync(ServerTime(T0, timedelta(0)), T0)
    later = T0 + timedelta(minutes=1)
    assert not clock.sync(ServerTime(later + timedelta(seconds=10), timedelta(seconds=20)), later)
    assert clock.offset == timedelta(0)
    assert clock.sync(ServerTime(later + timedelta(seconds=3), MAX_ROUND_TRIP), later)
    assert clock.offset == timedelta(seconds=3) + MAX_ROUND_TRIP / 2
