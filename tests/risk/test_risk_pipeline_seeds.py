"""Table tests of the pipeline on the seeds' own worked examples. Where a seed's arithmetic is wrong,
the test pins the corrected figure and its name says so."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from executor.domain.reasons import ReasonCode
from executor.risk import RiskProfile
from tests.support.risk import NOW, account, market, run, signal, step
from tests.support.risk import profile as base_profile

D = Decimal


def profile(name: str = "handbook", **overrides: Any) -> RiskProfile:
    """The worked figures here are the seeds' and the spec's arithmetic, which count no slippage
    allowance; the allowance has its own tests in test_risk_price.py."""
    return base_profile(name, entry_slippage_pct=0, **overrides)


def test_seed000_trade1_corrected_67_38_units_capped_by_account_notional_not_40000_units() -> None:
    decision = run(signal(stop="74.10"), account(1000), market(), profile("fixed-risk"))
    assert decision.accepted, decision.message
    assert decision.qty == D("67.38")  # the seed's own "$5,000 notional cap → 67.4 units"
    assert decision.leverage == 20
    assert decision.binding == "account_leverage"
    assert decision.notional == D("4999.5960")
    assert decision.risk == D("6.738")  # 67.38 × 0.10: far under the fixed 100


def test_seed000_jun8_primary_corrected_50_units_and_leverage_lowered_to_15x_for_liquidation_distance() -> (
    None
):
    decision = run(signal(stop="64.40"), account(1000), market(price=D("66.40")), profile("fixed-risk"))
    assert decision.accepted, decision.message
    assert decision.qty == D("50.00")  # $100 / $2.00, not 2,000 units "with 40x"
    assert decision.leverage == 15
    assert decision.liquidation_price == D("62.29")
    assert step(decision, "liquidation").after["leverage"] == 15


def test_seed003_baseline_corrected_50_units_risking_100_not_100_per_unit() -> None:
    decision = run(
        signal(stop="98", conviction=D(10)), account(10_000), market(price=D(100)), profile("handbook")
    )
    assert decision.accepted, decision.message
    assert decision.qty == D("50.00")
    assert decision.risk == D(100)
    assert decision.risk_pct == D(1)
    assert decision.leverage == 10


def test_seed003_quick_math_corrected_50_units_is_5000_notional_not_50() -> None:
    decision = run(
        signal(stop="99", conviction=D(6)), account(10_000), market(price=D(100)), profile("handbook")
    )
    assert decision.accepted, decision.message
    assert (decision.qty, decision.notional, decision.risk) == (D("50.00"), D("5000.00"), D(50))
    assert decision.leverage == 2


def test_seed003_5x_formula_corrected_leverage_changes_margin_never_the_risk() -> None:
    sig = signal(stop="99", conviction=D(8))
    high = run(sig, account(10_000), market(price=D(100)), profile("handbook"))
    low = run(sig, account(10_000), market(price=D(100)), profile("handbook", leverage={"max_per_trade": 1}))
    assert high.accepted and low.accepted
    assert (high.leverage, low.leverage) == (5, 1)
    assert high.qty == low.qty == D("75.00")
    assert high.risk == low.risk == D(75)  # 0.75 % of 10,000, not 0.75 % × 5
    assert high.margin == D(1500) and low.margin == D(7500)


def test_seed003_reward_risk_corrected_2_to_1_is_1_73_after_fees_on_both_legs_not_1_9() -> None:
    decision = run(
        signal(stop="99", tp=("102",), conviction=D(8)),
        account(10_000),
        market(price=D(100), taker_fee=D("0.0005")),
    )
    assert decision.reason is ReasonCode.REWARD_RISK_TOO_LOW
    assert step(decision, "geometry").after == {"rejected": "REWARD_RISK_TOO_LOW"}
    assert "1.73" in decision.message


def test_seed003_fees_shrink_the_quantity_so_the_loss_at_the_stop_stays_within_r() -> None:
    decision = run(
        signal(stop="98", conviction=D(10)),
        account(10_000),
        market(price=D(100), taker_fee=D("0.0005")),
        profile(),
    )
    assert decision.qty == D("47.64")  # 100 / (2 + 0.0005 × 198)
    assert decision.risk is not None and decision.risk <= D(100)


def test_seed003_funding_corrected_0_1pct_of_20k_is_20_per_cycle_not_16() -> None:
    decision = run(
        signal(stop="99", conviction=D(8)),
        account(10_000),
        market(price=D(100), funding_rate=D("0.001")),
        profile("handbook", funding={"expected_holding_hours": 8}),
    )
    per_unit = step(decision, "quantity").before["funding_per_unit"]
    assert per_unit * 200 == D(20)  # a 20,000 position (200 units at 100) pays 20 per 8 h cycle


def test_seed003_negative_funding_corrected_longs_receive_it_and_shorts_pay_it() -> None:
    mkt = market(funding_rate=D("-0.0011"))
    assert run(signal(stop="73.90"), mkt=mkt).accepted
    short = run(signal(stop="74.50", side=signal().side.opposite), mkt=mkt)
    assert short.reason is ReasonCode.FUNDING_ADVERSE


def test_seed004_liquidation_at_10x_corrected_to_9_55pct_not_9_5pct() -> None:
    decision = run(
        signal(stop="99", conviction=D(10)), account(10_000), market(price=D(100)), profile("handbook")
    )
    assert decision.leverage == 10
    assert decision.liquidation_price == D("90.46")  # 100 × 0.9 / 0.995 = 90.452…, rounded toward entry


def test_seed004_three_times_daily_volatility_allows_10x_but_not_11x_at_3pct_volatility() -> None:
    decision = run(signal(volatility=D("0.03")), account(1000), market(), profile("fixed-risk"))
    assert decision.accepted, decision.message
    assert decision.leverage == 10
    assert step(decision, "liquidation").before["leverage"] == 20


def test_seed001_dynamic_4x_at_95pct_is_3_8x_exposure() -> None:
    from executor.domain.enums import Regime

    decision = run(
        signal(stop="74.00", strength=D(1), regime=Regime.TRENDING),
        account(1000),
        market(),
        profile("dynamic-4x"),
    )
    assert decision.accepted, decision.message
    assert step(decision, "sizer").after["fraction"] == D("0.95")
    assert decision.leverage == 4
    assert decision.binding == "sizer"
    assert decision.qty == D("51.21")  # 1000 × 0.95 × 4 / 74.20 = 3.8x equity


def test_seed001_conservative_10x_at_30pct_is_3x_exposure() -> None:
    decision = run(signal(stop="74.00"), account(1000), market(), profile("conservative-10x"))
    assert decision.accepted, decision.message
    assert step(decision, "sizer").after["fraction"] == D("0.30")
    assert decision.leverage == 10
    assert decision.qty == D("40.43")  # 1000 × 0.30 × 10 / 74.20


def test_issue_example_scenario_decides_at_20x_bound_by_account_leverage() -> None:
    decision = run(
        signal(stop="74.10", tp=("76.00",)),
        account(1000),
        market(taker_fee=D("0.0005"), funding_rate=D("0.0001")),
        profile("fixed-risk"),
        now=NOW,
    )
    assert (decision.qty, decision.leverage, decision.binding) == (D("67.38"), 20, "account_leverage")
