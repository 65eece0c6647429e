"""The daily-loss breaker verdict: limits, basis and fail-closed behaviour (seed 000 and seed 003)."""

from __future__ import annotations

from decimal import Decimal

from executor.risk import BreakerAction, LossBasis, evaluate_daily_loss
from executor.risk.profile import DailyLoss

D = Decimal


def test_seed003_down_3pct_of_the_days_starting_equity_trips() -> None:
    config = DailyLoss()
    verdict = evaluate_daily_loss(config, start_of_day_equity=D(10_000), equity=D(9_700), realized_today=None)
    assert verdict.trips and verdict.limit == D(300) and verdict.loss == D(300)
    assert verdict.action is BreakerAction.HALT and verdict.flatten


def test_seed000_300_absolute_limit_trips_at_300() -> None:
    config = DailyLoss(limit_amount=D(300), limit_pct=None)
    assert evaluate_daily_loss(config, start_of_day_equity=D(1000), equity=D(700), realized_today=None).trips
    assert not evaluate_daily_loss(
        config, start_of_day_equity=D(1000), equity=D(701), realized_today=None
    ).trips


def test_the_smaller_of_the_absolute_and_percentage_limit_applies() -> None:
    config = DailyLoss(limit_amount=D(300), limit_pct=D("0.03"))
    small = evaluate_daily_loss(config, start_of_day_equity=D(1000), equity=D(970), realized_today=None)
    big = evaluate_daily_loss(config, start_of_day_equity=D(100_000), equity=D(99_700), realized_today=None)
    assert (small.limit, small.trips) == (D(30), True)
    assert (big.limit, big.trips) == (D(300), True)


def test_realized_basis_ignores_unrealized_losses() -> None:
    config = DailyLoss(basis=LossBasis.REALIZED)
    open_loss = evaluate_daily_loss(config, start_of_day_equity=D(1000), equity=D(900), realized_today=D(-10))
    assert not open_loss.trips
    assert evaluate_daily_loss(
        config, start_of_day_equity=D(1000), equity=D(1000), realized_today=D(-30)
    ).trips


def test_unknown_numbers_trip_the_breaker_rather_than_pass() -> None:
    assert evaluate_daily_loss(DailyLoss(), start_of_day_equity=None, equity=D(1), realized_today=None).trips
    assert evaluate_daily_loss(DailyLoss(), start_of_day_equity=D(1), equity=None, realized_today=None).trips


def test_disabled_breaker_never_trips() -> None:
    config = DailyLoss(enabled=False)
    assert not evaluate_daily_loss(
        config, start_of_day_equity=D(1000), equity=D(1), realized_today=None
    ).trips
