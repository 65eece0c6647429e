"""`FundingInfo.may_settle_between`: whether a span can hold a funding settlement, on the schedule's grid
(the next funding time plus or minus whole intervals), widened by SETTLEMENT_MARGIN each side."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from executor.domain.market import SETTLEMENT_MARGIN, FundingInfo

NEXT = datetime(2026, 11, 29, 16, tzinfo=UTC)
EIGHT_HOURS = FundingInfo(Decimal("0.0001"), NEXT, timedelta(hours=8))


def test_a_span_between_two_settlements_holds_none() -> None:
    assert not EIGHT_HOURS.may_settle_between(NEXT + timedelta(hours=1), NEXT + timedelta(hours=7))
    assert not EIGHT_HOURS.may_settle_between(NEXT - timedelta(hours=7), NEXT - timedelta(hours=1))


def test_a_span_over_a_past_or_future_settlement_holds_one() -> None:
    assert EIGHT_HOURS.may_settle_between(NEXT - timedelta(hours=9), NEXT - timedelta(hours=7))  # 08:00
    later = NEXT + timedelta(days=3)
    assert EIGHT_HOURS.may_settle_between(later + timedelta(hours=7), later + timedelta(hours=9))


def test_a_settlement_just_outside_the_span_counts_within_the_margin() -> None:
    near = SETTLEMENT_MARGIN - timedelta(seconds=1)
    assert EIGHT_HOURS.may_settle_between(NEXT + near, NEXT + timedelta(hours=1))
    assert EIGHT_HOURS.may_settle_between(NEXT - timedelta(hours=1), NEXT - near)
    assert not EIGHT_HOURS.may_settle_between(NEXT + SETTLEMENT_MARGIN * 2, NEXT + timedelta(hours=1))


def test_an_unknown_schedule_may_always_settle() -> None:
    assert FundingInfo(Decimal(0), None, timedelta(hours=8)).may_settle_between(NEXT, NEXT)
    assert FundingInfo(Decimal(0), NEXT, None).may_settle_between(NEXT + timedelta(hours=1), NEXT)


@given(
    start=st.integers(min_value=-30 * 24 * 60, max_value=30 * 24 * 60),
    length=st.integers(min_value=0, max_value=24 * 60),
    hours=st.sampled_from([1, 4, 8]),
)
def test_the_answer_is_whether_a_grid_instant_lies_in_the_widened_span(
    start: int, length: int, hours: int
) -> None:
    """Minutes from NEXT; brute force over every settlement instant of the grid within 31 days."""
    schedule = FundingInfo(Decimal("0.0001"), NEXT, timedelta(hours=hours))
    begin, end = NEXT + timedelta(minutes=start), NEXT + timedelta(minutes=start + length)
    grid = (NEXT + k * timedelta(hours=hours) for k in range(-32 * 24 // hours, 32 * 24 // hours))
    expected = any(begin - SETTLEMENT_MARGIN <= s <= end + SETTLEMENT_MARGIN for s in grid)
    assert schedule.may_settle_between(begin, end) is expected
