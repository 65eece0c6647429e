"""The daily-loss breaker verdict: limits, basis and fail-closed behaviour (seed 000 and seed 003)."""

from __future__ import annotations

from decimal import Decimal

import pytest

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


def test_the_verdicts_reason_shows_money_with_2_decimals_and_a_gain_as_a_gain() -> None:
    config = DailyLoss(limit_amount=D(300), limit_pct=None, basis=LossBasis.REALIZED)

    def reason(realized: str) -> str:
        return evaluate_daily_loss(
            config, start_of_day_equity=D(10_000), equity=None, realized_today=D(realized)
        ).reason

    assert reason("-310.0") == "daily loss 310.00 (realized) reached the limit 300.00"
    assert reason("-12.345") == "daily loss 12.35 (realized) under the limit 300.00"
    assert reason("3.456") == "daily loss none: a gain of 3.46 (realized), under the limit 300.00"


def test_unknown_numbers_trip_the_breaker_rather_than_pass() -> None:
    assert evaluate_daily_loss(DailyLoss(), start_of_day_equity=None, equity=D(1), realized_today=None).trips
    assert evaluate_daily_loss(DailyLoss(), start_of_day_equity=D(1), equity=None, realized_today=None).trips


def test_disabled_breaker_never_trips() -> None:
    config = DailyLoss(enabled=False)
    assert not evaluate_daily_loss(
        config, start_of_day_equity=D(1000), equity=D(1), realized_today=None
    ).trips


@pytest.mark.parametrize(
    ("basis", "equity", "realized", "loss_at_resume", "trips"),
    [
        # Tripped at a loss of 300 (limit 300), resumed there: the same loss, or a little more, does not trip.
        (LossBasis.EQUITY, D(9_700), None, D(300), False),
        (LossBasis.EQUITY, D(9_500), None, D(300), False),
        # A new loss of the full limit since the resume does.
        (LossBasis.EQUITY, D(9_400), None, D(300), True),
        # Gains after the resume move the baseline's distance, not the baseline.
        (LossBasis.EQUITY, D(9_900), None, D(300), False),
        (LossBasis.REALIZED, D(10_000), D(-300), D(300), False),
        (LossBasis.REALIZED, D(10_000), D(-599), D(300), False),
        (LossBasis.REALIZED, D(10_000), D(-600), D(300), True),
        # Without a resume the day's loss counts from the start of the day.
        (LossBasis.EQUITY, D(9_700), None, None, True),
    ],
)
def test_after_a_resume_the_limit_is_measured_from_the_loss_at_the_resume(
    basis: LossBasis, equity: Decimal, realized: Decimal | None, loss_at_resume: Decimal | None, trips: bool
) -> None:
    config = DailyLoss(basis=basis)
    verdict = evaluate_daily_loss(
        config,
        start_of_day_equity=D(10_000),
        equity=equity,
        realized_today=realized,
        loss_at_resume=loss_at_resume,
    )
    assert verdict.trips is trips, verdict.reason
    assert verdict.limit == D(300)
    if loss_at_resume is not None:
        assert "since the resume" in verdict.reason


def test_a_resume_does_not_make_unknown_numbers_pass() -> None:
    verdict = evaluate_daily_loss(
        DailyLoss(), start_of_day_equity=D(10_000), equity=None, realized_today=None, loss_at_resume=D(300)
    )
    assert verdict.trips and verdict.loss is None
