"""The exchange clock: an offset from server-time answers, never from one that waited in a throttle."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from executor.execution.clock import MAX_ROUND_TRIP, ExchangeClock

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_a_quick_answer_sets_the_offset_from_the_middle_of_its_round_trip() -> None:
    clock = ExchangeClock()
    assert clock.sync(T0 + timedelta(seconds=5, milliseconds=100), T0, T0 + timedelta(milliseconds=200))
    assert clock.offset == timedelta(seconds=5)


def test_the_first_answer_is_taken_however_slow_so_the_daemon_starts_on_the_venues_clock() -> None:
    clock = ExchangeClock()
    assert clock.sync(T0 + timedelta(hours=1), T0, T0 + timedelta(seconds=4))
    assert clock.offset == timedelta(hours=1) - timedelta(seconds=2)


def test_an_answer_that_waited_in_a_throttle_is_discarded_and_the_last_offset_stays() -> None:
    """20 s in the rate window's queue, then a prompt answer: placed at the middle, it would put the
    daemon's clock 10 s ahead and expire every signal valid for less on arrival."""
    clock = ExchangeClock()
    clock.sync(T0 + timedelta(milliseconds=5), T0, T0 + timedelta(milliseconds=10))
    sent = T0 + timedelta(minutes=1)
    received = sent + timedelta(seconds=20)
    assert not clock.sync(received, sent, received)
    assert clock.offset == timedelta(0)
    assert clock.sync(received, received - MAX_ROUND_TRIP, received)
    assert clock.offset == MAX_ROUND_TRIP / 2
