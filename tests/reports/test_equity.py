"""The equity curve rebuilt from the store: each day's opening equity, a step per closed trade, the
equity now (which includes what is unrealised) at the end."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from executor.domain.enums import BreakerStatus
from executor.reports.equity import Point, daily, day_start, intraday
from executor.store.models import DailyLossRow

OPEN = datetime(2026, 6, 2, tzinfo=UTC)


def ledger(day: date, start: str, realized: str = "0", fees: str = "0", funding: str = "0") -> DailyLossRow:
    return DailyLossRow(
        account="main", trading_day=day, start_of_day_equity=Decimal(start), realized_pnl=Decimal(realized),
        fees=Decimal(fees), funding=Decimal(funding), breaker=BreakerStatus.ACTIVE, updated_at=OPEN,
    )  # fmt: skip


def test_the_day_steps_at_each_close_and_ends_at_the_equity_now() -> None:
    closes = [(OPEN - timedelta(hours=1), Decimal(99)), (OPEN + timedelta(hours=2), Decimal(5))]
    now = OPEN + timedelta(hours=3)
    curve = intraday(Point(OPEN, Decimal(1000)), closes, now, Decimal("1003.5"))
    assert curve == [
        Point(OPEN, Decimal(1000)),
        Point(OPEN + timedelta(hours=2), Decimal(1005)),
        Point(now, Decimal("1003.5")),
    ]
    assert intraday(Point(OPEN, Decimal(1000)), closes, now, None)[-1] == Point(now, Decimal(1005))


def test_over_days_each_opening_then_now_or_what_the_last_day_booked() -> None:
    days = [ledger(date(2026, 6, 1), "990"), ledger(date(2026, 6, 2), "1000", "12", "2", "-1")]
    now = OPEN + timedelta(hours=5)
    assert daily(days, "UTC", now, Decimal(1020)) == [
        Point(datetime(2026, 6, 1, tzinfo=UTC), Decimal(990)),
        Point(OPEN, Decimal(1000)),
        Point(now, Decimal(1020)),
    ]
    assert daily(days, "UTC", now, None)[-1] == Point(now, Decimal(1009))
    assert daily([], "UTC", now, Decimal(1020)) == []


def test_a_trading_day_starts_at_midnight_in_the_breakers_zone() -> None:
    assert day_start(date(2026, 6, 2), "America/New_York") == datetime(2026, 6, 2, 4, tzinfo=UTC)
