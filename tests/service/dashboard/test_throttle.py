"""The login throttle on its own: five failures a minute per address, then a wait until the oldest leaves
the window; a success forgets the address; at most `max_clients` addresses are remembered."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from executor.service.dashboard.throttle import LoginThrottle

T0 = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_the_sixth_try_within_the_minute_waits_until_the_oldest_failure_is_a_minute_old() -> None:
    throttle = LoginThrottle()
    for second in range(5):
        assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=second)) is None
        throttle.failed("10.0.0.1", T0 + timedelta(seconds=second))
    assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=10)) == 50
    assert throttle.retry_after("10.0.0.2", T0 + timedelta(seconds=10)) is None  # per address
    assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=59.5)) == 1
    assert throttle.retry_after("10.0.0.1", T0 + timedelta(seconds=60)) is None


def test_a_success_forgets_the_failures_of_its_address() -> None:
    throttle = LoginThrottle()
    for _ in range(4):
        throttle.failed("10.0.0.1", T0)
    throttle.succeeded("10.0.0.1")
    throttle.failed("10.0.0.1", T0)
    assert throttle.retry_after("10.0.0.1", T0) is None and len(throttle) == 1


def test_memory_is_bounded_forgetting_the_address_whose_last_failure_is_oldest() -> None:
    throttle = LoginThrottle(max_clients=3)
    for index in range(5):
        throttle.failed("10.0.0.9", T0)
        throttle.failed(f"10.1.0.{index}", T0 + timedelta(seconds=index))
    assert len(throttle) == 3
    assert throttle.retry_after("10.0.0.9", T0 + timedelta(seconds=5)) == 55  # kept: failing throughout
    throttle.failed("10.2.0.0", T0 + timedelta(seconds=6))
    assert len(throttle) == 3
