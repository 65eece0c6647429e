"""One table test per rule of RISK_SPEC section 2 and 3, each pinning the reason code or the cap."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from executor.domain.enums import BreakerStatus, Setup, Side
from executor.domain.reasons import ReasonCode
from executor.risk import CarriedState, RiskProfile, TradingMode, derive_state, set_mode, trip
from executor.risk.sizers import vol_target_exposure
from executor.risk.sizing import reward_risk
from tests.support.risk import NOW, account, market, position, run, signal, step, trade
from tests.support.risk import profile as base_profile

D = Decimal


def profile(name: str = "handbook", **overrides: Any) -> RiskProfile:
    """The worked figures here are the seeds' and the spec's arithmetic, which count no slippage
    allowance; the allowance has its own tests in test_risk_price.py."""
    return base_profile(name, entry_slippage_pct=0, **overrides)


# --- 1. gates -------------------------------------------------------------------------------


def test_breaker_reported_tripped_halts() -> None:
    decision = run(acct=account(breaker=BreakerStatus.TRIPPED))
    assert decision.reason is ReasonCode.HALTED
    assert not decision.accepted and decision.qty is None
    assert [s.step for s in decision.steps] == ["gates"]


def test_breaker_tripped_yesterday_is_reset_by_the_day_rollover() -> None:
    prof = profile()
    yesterday = NOW - timedelta(days=1)
    state = trip(derive_state(account(), prof, yesterday), yesterday, "daily loss")
    assert run(prof=prof, state=state).accepted


def test_daily_loss_at_the_limit_halts_even_before_the_daemon_booked_the_trip() -> None:
    acct = account(970, start_of_day_equity=D(1000))
    decision = run(acct=acct, state=CarriedState.initial())
    assert decision.reason is ReasonCode.HALTED
    assert step(decision, "daily_loss").before["limit"] == D(30)


def test_daily_loss_just_under_the_limit_trades() -> None:
    assert run(acct=account("970.01", start_of_day_equity=D(1000))).accepted


def test_daily_loss_action_reduce_caps_leverage_at_1x_instead_of_halting() -> None:
    prof = profile("fixed-risk", daily_loss={"action": "reduce"})
    decision = run(acct=account(700, start_of_day_equity=D(1000)), prof=prof)
    assert decision.accepted, decision.message
    assert decision.leverage == 1
    assert step(decision, "leverage").before["daily_loss_reduce"] == 1


def test_reduce_only_mode_refuses_a_signal_that_opens_risk() -> None:
    prof = profile()
    state = set_mode(derive_state(account(), prof, NOW), TradingMode.REDUCING)
    assert run(prof=prof, state=state).reason is ReasonCode.REDUCING


def test_expired_signal_is_refused_at_its_expiry_time() -> None:
    assert run(signal(expires_at=NOW)).reason is ReasonCode.EXPIRED
    assert run(signal(expires_at=NOW + timedelta(seconds=1))).accepted


def test_symbol_outside_the_allowed_list_is_refused() -> None:
    prof = profile(allowed_symbols=["BTC/USDT:USDT"])
    assert run(prof=prof).reason is ReasonCode.SYMBOL_NOT_ALLOWED


def test_a_symbol_already_held_is_refused_with_its_own_reason_and_why() -> None:
    held = {signal().symbol: "an entry on SOL/USDT:USDT (x-1) is still in flight"}
    decision = run(acct=account(held=held))
    assert decision.reason is ReasonCode.SYMBOL_HELD
    assert decision.message is not None and "still in flight" in decision.message
    assert [s.step for s in decision.steps] == ["gates"]


def test_a_held_symbol_on_a_halted_account_is_reported_halted_first() -> None:
    """The halt is what the operator must act on; a foreign position that halted trading also holds
    its symbol, and the answer must name the halt."""
    held = {signal().symbol: "the exchange holds a position on SOL/USDT:USDT"}
    decision = run(acct=account(held=held, breaker=BreakerStatus.TRIPPED))
    assert decision.reason is ReasonCode.HALTED


def test_another_symbol_being_held_does_not_refuse_this_one() -> None:
    assert run(acct=account(held={"BTC/USDT:USDT": "a position on BTC/USDT:USDT is already open"})).accepted


def test_recovery_mode_after_three_losses_refuses_secondary_setups_and_halves_r() -> None:
    acct = account(history=tuple(trade(-5, minutes_ago=600 - i) for i in range(3)))
    assert run(signal(setup=Setup.SECONDARY), acct).reason is ReasonCode.SECONDARY_DISABLED
    decision = run(signal(conviction=D(8)), acct)
    assert decision.accepted
    assert step(decision, "risk_budget").after["risk_budget"] == D("3.75")  # 7.50 × 0.5


def test_throttle_refuses_the_fourth_entry_within_an_hour() -> None:
    recent = tuple(
        position("XRP/USDT:USDT", "1", "0.5", "0.45", 1, opened_at=NOW - timedelta(minutes=10 * i))
        for i in range(1, 4)
    )
    prof = profile("conservative-10x")
    assert run(acct=account(positions=recent), prof=prof).reason is ReasonCode.THROTTLED
    assert run(acct=account(positions=recent[:2]), prof=prof).accepted
    assert run(acct=account(positions=recent)).accepted  # throttle off in the handbook profile


def test_drawdown_scales_r_linearly_to_the_floor_and_refuses_at_15pct() -> None:
    prof = profile("conservative-10x")
    half = account("925", peak_equity=D(1000))
    decision = run(signal(stop="74.00"), half, prof=prof)
    assert step(decision, "drawdown").after["scale"] == D("0.5")
    assert step(decision, "risk_budget").after["risk_budget"] == D("9.25")  # 2 % × 925 × 0.5
    deep = run(acct=account("880", peak_equity=D(1000)), prof=prof)
    assert step(deep, "drawdown").after["scale"] == D("0.25")  # 0.2 clamped to the floor
    assert run(acct=account("850", peak_equity=D(1000)), prof=prof).reason is ReasonCode.DRAWDOWN


# --- data: fail closed ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("acct", "mkt"),
    [
        (replace(account(), equity=None), market()),
        (account(free_margin=None), market()),
        (account(stale=True), market()),
        (account(), market(stale=True)),
        (account(), market(price=None)),
        (account(), market(funding_rate=None)),
        (account(), market(leverage_tiers=())),
        (account(), market(max_leverage=None)),
        (account(start_of_day_equity=None), market()),
    ],
)
def test_missing_or_stale_data_is_refused_never_assumed(acct: object, mkt: object) -> None:
    decision = run(acct=acct, mkt=mkt, state=CarriedState.initial())  # type: ignore[arg-type]
    assert decision.reason is ReasonCode.DATA_MISSING


def test_unknown_insurance_fund_is_not_missing_data_but_caps_leverage_at_5x() -> None:
    decision = run(mkt=market(insurance_fund=None), prof=profile("fixed-risk"))
    assert decision.accepted and decision.leverage == 5


def test_low_insurance_fund_caps_leverage_at_5x() -> None:
    decision = run(mkt=market(insurance_fund=D(999_999)), prof=profile("fixed-risk"))
    assert decision.leverage == 5
    assert step(decision, "leverage").note.startswith("bound by insurance_fund")


# --- 2. geometry ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sig", "reason"),
    [
        (signal(stop="74.30"), ReasonCode.BAD_GEOMETRY),
        (signal(stop="74.10", side=Side.SHORT), ReasonCode.BAD_GEOMETRY),
        (signal(stop="74.10", tp=("74.00",)), ReasonCode.BAD_GEOMETRY),
        (signal(stop="74.17"), ReasonCode.BAD_GEOMETRY),  # 0.03 < 0.05 % of 74.20
        (signal(stop="74.10", tp=("74.30",)), ReasonCode.REWARD_RISK_TOO_LOW),  # 1:1
    ],
)
def test_geometry_rejections(sig: object, reason: ReasonCode) -> None:
    assert run(sig).reason is reason  # type: ignore[arg-type]


def test_stop_is_rounded_away_from_the_entry_and_a_limit_buy_down_to_the_tick() -> None:
    decision = run(signal(stop="74.109", entry="74.207"))
    assert (decision.entry, decision.stop) == (D("74.20"), D("74.10"))
    short = run(signal(stop="74.301", entry="74.203", side=Side.SHORT))
    assert (short.entry, short.stop) == (D("74.21"), D("74.31"))


def test_stop_distance_of_exactly_the_minimum_is_allowed() -> None:
    decision = run(signal(stop="99.95"), account(10_000), market(price=D(100)))
    assert step(decision, "geometry").after["distance"] == D("0.05")
    assert decision.reason is not ReasonCode.BAD_GEOMETRY


def test_reward_risk_counts_fees_on_the_target_and_on_the_stop() -> None:
    assert reward_risk(Side.LONG, D(100), D(99), D(102), D("0.0005")).quantize(D("0.001")) == D("1.727")
    assert reward_risk(Side.SHORT, D(100), D(101), D(98), D(0)) == D(2)


# --- 3. conviction --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("score", "tier", "leverage"),
    [
        (D(10), "perfect", 10),
        (D(9), "high", 5),
        (D("7.9"), "medium", 2),
        (D(4), "low", 1),
        (None, "medium", 2),
    ],
)
def test_conviction_picks_the_first_tier_reached(score: Decimal | None, tier: str, leverage: int) -> None:
    decision = run(signal(stop="99", conviction=score), account(10_000), market(price=D(100)))
    assert step(decision, "conviction").after["tier"] == tier
    assert decision.leverage == leverage


def test_conviction_below_4_is_skipped() -> None:
    assert run(signal(conviction=D("3.9"))).reason is ReasonCode.LOW_CONVICTION


# --- 4. risk budget and position heat -------------------------------------------------------


def test_position_heat_caps_r_at_2pct_of_equity() -> None:
    prof = profile(conviction={"enabled": False}, risk={"percent": 0.05})
    decision = run(signal(stop="99"), account(10_000), market(price=D(100)), prof)
    assert step(decision, "position_heat").binding
    assert decision.risk == D(200)
    assert decision.binding == "position_heat"


def test_fixed_risk_profile_risks_a_fixed_100_whatever_the_equity() -> None:
    decision = run(signal(stop="99"), account(100_000), market(price=D(100)), profile("fixed-risk"))
    assert decision.qty == D("100.00") and decision.risk == D(100)


# --- 5. quantity with funding ---------------------------------------------------------------


def test_expected_funding_over_24h_is_added_to_the_cost_per_unit_for_the_paying_side() -> None:
    mkt = market(price=D(100), funding_rate=D("0.0001"))
    long = run(signal(stop="99", conviction=D(10)), account(10_000), mkt, profile())
    assert step(long, "quantity").before["funding_per_unit"] == D("0.03")  # 3 × 0.01 % × 100
    assert long.qty == D("97.08")  # 100 / 1.03
    short = run(signal(stop="101", side=Side.SHORT, conviction=D(10)), account(10_000), mkt, profile())
    assert step(short, "quantity").before["funding_per_unit"] == D(0)


# --- 6/7. leverage and caps -----------------------------------------------------------------


def test_loss_streak_of_two_caps_leverage_at_5x_until_a_win() -> None:
    losses = (trade(-5, 700), trade(-5, 650))
    decision = run(acct=account(history=losses), prof=profile("fixed-risk"))
    assert decision.leverage == 5
    assert step(decision, "leverage").before["loss_streak"] == 5
    healed = run(acct=account(history=(*losses, trade(5, 600))), prof=profile("fixed-risk"))
    assert healed.leverage == 20


def test_seed000_trade2_corrected_a_49pct_loss_is_a_big_loss_capping_2x_for_three_trades() -> None:
    big = trade(-1175, 700, equity_before=2400)  # the seed calls it "acceptable"; it is 49 % of equity
    prof = profile("fixed-risk")
    assert run(acct=account(history=(big,)), prof=prof).leverage == 2
    after_two = (big, trade(5, 650), trade(5, 620))
    assert run(acct=account(history=after_two), prof=prof).leverage == 2
    after_three = (*after_two, trade(-1, 600))
    assert run(acct=account(history=after_three), prof=prof).leverage == 20


def test_three_wins_lift_the_state_caps() -> None:
    history = (trade(-300, 800, 1000), trade(5, 700), trade(5, 650))
    prof = profile("fixed-risk", big_loss={"trades": 5})
    assert run(acct=account(history=history), prof=prof).leverage == 2
    lifted = (*history, trade(5, 600))
    assert run(acct=account(history=lifted), prof=prof).leverage == 20


def test_third_position_at_10x_or_more_is_held_under_10x() -> None:
    high = (
        position("XRP/USDT:USDT", "1", "0.5", "0.45", 10),
        position("DOGE/USDT:USDT", "1", "0.1", "0.09", 12),
    )
    decision = run(acct=account(positions=high), prof=profile("fixed-risk"))
    assert decision.leverage == 9
    assert run(acct=account(positions=high[:1]), prof=profile("fixed-risk")).leverage == 20


def test_margin_cap_binds_at_95pct_of_free_margin() -> None:
    decision = run(acct=account(1000, free_margin=D(100)), prof=profile("fixed-risk"))
    assert decision.binding == "margin"
    assert decision.margin is not None and decision.margin <= D(95)


def test_free_margin_that_cannot_carry_the_minimum_order_is_insufficient_margin() -> None:
    decision = run(acct=account(1000, free_margin=D("0.01")), prof=profile("fixed-risk"))
    assert decision.reason is ReasonCode.INSUFFICIENT_MARGIN


def test_account_notional_counts_open_positions() -> None:
    decision = run(acct=account(positions=(position(),)), prof=profile("fixed-risk"))
    assert decision.qty == D("59.29")  # (5000 − 600) / 74.20


# --- 8. liquidation -------------------------------------------------------------------------


def test_liquidation_too_close_even_at_1x_is_refused() -> None:
    assert run(signal(volatility=D("0.5"))).reason is ReasonCode.LIQUIDATION_TOO_CLOSE


def test_the_liquidation_refusal_reads_distances_to_the_tick_and_the_volatility_as_a_percentage() -> None:
    decision = run(signal(volatility=D("0.5")))
    assert decision.message == (
        "Even at 1x the liquidation is too close: liquidation distance 74.20 < 3 × daily volatility 50.00%."
    )


def test_short_liquidation_lies_above_the_stop_by_the_configured_margins() -> None:
    decision = run(signal(stop="74.30", side=Side.SHORT), prof=profile("fixed-risk"))
    assert decision.accepted and decision.liquidation_price is not None
    assert decision.liquidation_price - D("74.30") >= D("0.005") * D("74.20")
    assert decision.liquidation_price - D("74.20") >= 2 * D("0.10")


# --- 9. portfolio heat and correlation groups -----------------------------------------------


def _heat_positions() -> tuple[object, ...]:
    return tuple(position(f"X{i}/USDT:USDT", "1000", "1", "0.85", 1) for i in range(3))  # 150 risk each


def test_seed003_fourth_position_at_1_5pct_is_shrunk_to_the_5pct_heat_cap() -> None:
    prof = profile(conviction={"enabled": False}, risk={"percent": 0.015})
    acct = account(10_000, positions=_heat_positions())
    decision = run(signal(stop="99"), acct, market(price=D(100)), prof)
    assert decision.accepted
    assert decision.binding == "portfolio_heat"
    assert decision.risk == D(50)  # 500 cap − 450 open


def test_heat_policy_reject_refuses_instead_of_shrinking() -> None:
    prof = profile(conviction={"enabled": False}, risk={"percent": 0.015}, portfolio={"policy": "reject"})
    acct = account(10_000, positions=_heat_positions())
    assert run(signal(stop="99"), acct, market(price=D(100)), prof).reason is ReasonCode.HEAT_CAP


def test_seed003_btc_10x_plus_eth_is_over_the_group_leverage_cap() -> None:
    eth = signal(stop="2990", symbol="ETH/USDT:USDT")
    mkt = market(price=D(3000))
    btc10 = account(10_000, positions=(position(leverage=10),))
    assert run(eth, btc10, mkt).reason is ReasonCode.HEAT_CAP
    btc5 = account(10_000, positions=(position(leverage=5),))
    decision = run(replace(eth, conviction=D(10)), btc5, mkt)
    assert decision.leverage == 5  # 5x BTC + 5x ETH = the 10x group cap


def test_measured_correlation_above_threshold_joins_the_group() -> None:
    sol = account(10_000, positions=(position("AVAX/USDT:USDT", "1", "30", "29", 8),))
    mkt = market(correlations={"AVAX/USDT:USDT": D("0.85")})
    assert run(signal(conviction=D(10)), sol, mkt).leverage == 2
    assert run(signal(conviction=D(10)), sol, market()).leverage == 10


# --- 10. funding ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("side", "stop", "rate", "hours", "refused"),
    [
        (Side.LONG, "74.10", "0.001", 8, False),
        (Side.LONG, "74.10", "0.0011", 8, True),
        (Side.LONG, "74.10", "-0.005", 8, False),
        (Side.SHORT, "74.30", "-0.0011", 8, True),
        (Side.SHORT, "74.30", "0.005", 8, False),
        (Side.LONG, "74.10", "0.0006", 4, True),  # 0.12 % per 8 h
    ],
)
def test_adverse_funding_over_the_limit_per_8h_is_refused(
    side: Side, stop: str, rate: str, hours: int, refused: bool
) -> None:
    mkt = market(funding_rate=D(rate), funding_interval_hours=D(hours))
    decision = run(signal(stop=stop, side=side), mkt=mkt)
    assert (decision.reason is ReasonCode.FUNDING_ADVERSE) is refused


# --- 12. exchange filters -------------------------------------------------------------------


def test_order_under_the_minimum_amount_or_notional_is_refused() -> None:
    sig = signal(stop="73.20", conviction=D(4))  # R = 2.50 over a 1.00 stop: 2.50 units, 185.50 notional
    assert run(sig, mkt=market(), prof=profile()).qty == D("2.50")
    assert run(sig, mkt=market(min_amount=D(3)), prof=profile()).reason is ReasonCode.BELOW_MIN_AMOUNT
    assert run(sig, mkt=market(min_notional=D(200)), prof=profile()).reason is ReasonCode.BELOW_MIN_NOTIONAL


def test_margin_too_small_for_the_minimum_order_is_insufficient_margin_not_below_minimum() -> None:
    decision = run(signal(conviction=D(4)), account(100), market(min_amount=D(3)))
    assert decision.reason is ReasonCode.INSUFFICIENT_MARGIN


# --- sizers ---------------------------------------------------------------------------------


def test_kelly_sizer_caps_r_at_a_quarter_of_the_kelly_fraction_after_30_trades() -> None:
    history = tuple(trade(10 if i % 5 < 3 else -10, 900 - i) for i in range(30))  # 60 % wins, 1:1
    prof = profile("fixed-risk", sizer="kelly")
    decision = run(signal(stop="73.20"), account(1000, history=history), prof=prof)
    assert step(decision, "sizer").after["risk_fraction_cap"] == D("0.05")  # 0.25 × f* 0.2
    assert decision.risk is not None and decision.risk <= D(50)
    young = run(signal(stop="73.20"), account(1000, history=history[:29]), prof=prof)
    assert step(young, "sizer").after.get("risk_fraction_cap") is None


def test_vol_target_sizer_caps_exposure_at_target_over_asset_volatility() -> None:
    daily = D("0.25") / D(365).sqrt()
    assert vol_target_exposure(daily, profile().vol_target).quantize(D("0.0001")) == D("0.6")
    prof = profile("fixed-risk", sizer="vol_target")
    decision = run(signal(stop="73.20", volatility=daily), account(1000), prof=prof)
    assert decision.leverage == 1
    assert decision.notional is not None and decision.notional <= D(600)


def test_vol_target_without_a_volatility_is_missing_data() -> None:
    assert run(prof=profile("fixed-risk", sizer="vol_target")).reason is ReasonCode.DATA_MISSING


def test_dynamic_sizer_all_factors_negative_is_clamped_to_the_20pct_minimum() -> None:
    from executor.domain.enums import Regime

    losses = tuple(trade(-1, 900 - i) for i in range(5))
    sig = signal(stop="74.00", strength=D(0), regime=Regime.VOLATILE, volatility=D("0.1"))
    prof = profile("dynamic-4x", loss_streak={"enabled": False}, recovery={"enabled": False})
    decision = run(sig, account(1000, history=losses), market(avg_volatility=D("0.01")), prof)
    assert step(decision, "sizer").after["fraction"] == D("0.20")
