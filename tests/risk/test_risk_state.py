"""The carried state of RISK_SPEC section 3 as a fold, its breaker transitions and its persistence."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from executor.domain.enums import BreakerStatus
from executor.risk import (
    CarriedState,
    TradingMode,
    anchor_resume,
    derive_state,
    fold_trades,
    on_day_rollover,
    on_trade_closed,
    resume,
    roll_to,
    set_mode,
    trip,
)
from tests.support.risk import NOW, account, profile, trade

D = Decimal


def test_two_losses_arm_the_loss_streak_cap_and_a_win_clears_it() -> None:
    prof = profile()
    state = fold_trades(CarriedState.initial(), [trade(-1, 30), trade(-1, 20)], prof)
    assert state.leverage_caps(prof) == {"loss_streak": 5}
    assert on_trade_closed(state, trade(1, 10), prof).leverage_caps(prof) == {}


def test_a_loss_over_20pct_of_equity_before_caps_the_next_three_trades() -> None:
    prof = profile()
    state = on_trade_closed(CarriedState.initial(), trade(-201, 60, equity_before=1000), prof)
    assert state.big_loss_remaining == 3
    assert on_trade_closed(CarriedState.initial(), trade(-200, 60), prof).big_loss_remaining == 0
    for left in (2, 1, 0):
        state = on_trade_closed(state, trade(1, 30), prof)
        assert state.big_loss_remaining == left


def test_three_losses_start_recovery_for_three_trades_and_a_fourth_loss_rearms_it() -> None:
    prof = profile()
    state = fold_trades(CarriedState.initial(), [trade(-1, 50 - i) for i in range(3)], prof)
    assert state.in_recovery(prof) and state.recovery_remaining == 3
    state = on_trade_closed(state, trade(-1, 40), prof)
    assert state.recovery_remaining == 3
    state = fold_trades(state, [trade(1, 30), trade(-1, 20), trade(1, 10)], prof)
    assert not state.in_recovery(prof)


def test_three_consecutive_wins_clear_the_big_loss_and_recovery_counters() -> None:
    prof = profile(big_loss={"trades": 10}, recovery={"trades": 10})
    losses = [trade(-300, 100 - i, equity_before=1000) for i in range(3)]
    state = fold_trades(CarriedState.initial(), losses, prof)
    assert state.big_loss_remaining == 10 and state.recovery_remaining == 10
    state = fold_trades(state, [trade(1, 50 - i) for i in range(3)], prof)
    assert state.win_scaled(prof)
    assert (state.big_loss_remaining, state.recovery_remaining) == (0, 0)


def test_disabled_rules_never_arm() -> None:
    prof = profile(loss_streak={"enabled": False}, big_loss={"enabled": False}, recovery={"enabled": False})
    state = fold_trades(CarriedState.initial(), [trade(-500, 50 - i) for i in range(4)], prof)
    assert state.leverage_caps(prof) == {} and not state.in_recovery(prof)


def test_a_flat_trade_breaks_neither_streak_but_consumes_a_capped_trade() -> None:
    prof = profile()
    state = fold_trades(CarriedState.initial(), [trade(-300, 50), trade(-1, 40)], prof)
    flat = on_trade_closed(state, trade(0, 30), prof)
    assert flat.loss_streak == 2 and flat.big_loss_remaining == state.big_loss_remaining - 1


def test_state_round_trips_through_json_exactly() -> None:
    prof = profile()
    state = fold_trades(CarriedState.initial(), [trade(-300, 50), trade("12.345", 40)], prof)
    state = set_mode(trip(roll_to(state, NOW, prof), NOW, "daily loss 30 reached 30"), TradingMode.REDUCING)
    restored = CarriedState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert restored == state
    assert CarriedState.from_dict(CarriedState.initial().to_dict()) == CarriedState.initial()


def test_breaker_trip_keeps_the_first_reason_and_resets_at_the_next_trading_day() -> None:
    prof = profile()
    state = trip(roll_to(CarriedState.initial(), NOW, prof), NOW, "first")
    state = trip(state, NOW + timedelta(hours=1), "second")
    assert (state.breaker, state.trip_reason) == (BreakerStatus.TRIPPED, "first")
    assert roll_to(state, NOW.replace(hour=23, minute=59), prof).breaker is BreakerStatus.TRIPPED
    assert roll_to(state, NOW + timedelta(days=1), prof).breaker is BreakerStatus.ACTIVE


def test_trading_day_boundary_follows_the_configured_timezone() -> None:
    prof = profile(daily_loss={"timezone": "Asia/Seoul"})
    tripped_at = datetime(2026, 6, 2, 10, 0, tzinfo=UTC)  # 19:00 in Seoul
    state = trip(roll_to(CarriedState.initial(), tripped_at, prof), tripped_at, "limit")
    assert roll_to(state, datetime(2026, 6, 2, 14, 59, tzinfo=UTC), prof).breaker is BreakerStatus.TRIPPED
    assert roll_to(state, datetime(2026, 6, 2, 15, 0, tzinfo=UTC), prof).breaker is BreakerStatus.ACTIVE


def test_day_rollover_never_goes_backwards_and_a_restart_does_not_reset() -> None:
    state = trip(on_day_rollover(CarriedState.initial(), date(2026, 6, 2)), NOW, "limit")
    assert on_day_rollover(state, date(2026, 6, 1)) == state
    assert CarriedState.from_dict(state.to_dict()).breaker is BreakerStatus.TRIPPED


def test_manual_resume_is_recorded() -> None:
    state = resume(trip(CarriedState.initial(), NOW, "limit"), NOW + timedelta(minutes=5), "operator: ok")
    assert state.breaker is BreakerStatus.ACTIVE
    assert (state.resumed_at, state.resume_note) == (NOW + timedelta(minutes=5), "operator: ok")


def test_a_resume_is_anchored_once_at_the_days_loss_and_the_next_day_forgets_it() -> None:
    prof = profile()
    tripped = trip(roll_to(CarriedState.initial(), NOW, prof), NOW, "limit")
    resumed = resume(tripped, NOW + timedelta(minutes=5), "operator: ok")
    assert (resumed.resume_pending, resumed.loss_at_resume) == (True, None)
    assert anchor_resume(resumed, None) == resumed  # an unknown loss leaves it pending
    anchored = anchor_resume(resumed, D("312.5"))
    assert (anchored.resume_pending, anchored.loss_at_resume) == (False, D("312.5"))
    assert anchor_resume(anchored, D(900)) == anchored  # anchored once, never moved by later losses
    assert CarriedState.from_dict(json.loads(json.dumps(anchored.to_dict()))) == anchored
    same_day = roll_to(anchored, NOW.replace(hour=23, minute=59), prof)
    assert same_day.loss_at_resume == D("312.5")
    next_day = roll_to(anchored, NOW + timedelta(days=1), prof)
    assert (next_day.resume_pending, next_day.loss_at_resume) == (False, None)
    assert roll_to(resumed, NOW + timedelta(days=1), prof).resume_pending is False
    assert anchor_resume(trip(anchored, NOW, "again"), D(1)).loss_at_resume == D("312.5")


def test_state_saved_before_resumes_had_a_baseline_still_loads() -> None:
    data = CarriedState.initial().to_dict()
    del data["resume_pending"], data["loss_at_resume"]
    assert CarriedState.from_dict(data) == CarriedState.initial()


def test_derive_state_trips_on_the_day_loss_and_on_the_reported_breaker() -> None:
    prof = profile()
    assert derive_state(account(970, start_of_day_equity=D(1000)), prof, NOW).breaker is BreakerStatus.TRIPPED
    assert derive_state(account(971, start_of_day_equity=D(1000)), prof, NOW).breaker is BreakerStatus.ACTIVE
    reported = account(breaker=BreakerStatus.TRIPPED)
    assert derive_state(reported, prof, NOW).trip_reason == "tripped as reported by the account snapshot"


def test_derive_state_on_realized_basis_sums_todays_closed_trades_only() -> None:
    prof = profile("fixed-risk", daily_loss={"basis": "realized"})
    yesterday = trade(-250, minutes_ago=60 * 20)
    today = (trade(-200, 120), trade(-100, 60))
    assert derive_state(account(history=(yesterday, *today[:1])), prof, NOW).breaker is BreakerStatus.ACTIVE
    assert derive_state(account(history=(yesterday, *today)), prof, NOW).breaker is BreakerStatus.TRIPPED
