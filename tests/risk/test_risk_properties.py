"""Property tests of RISK_SPEC section 5 over random signals, accounts, markets and profiles."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from executor.domain.enums import BreakerStatus, EntryType, Side
from executor.risk import (
    Entry,
    OpenPosition,
    RiskAccount,
    RiskMarket,
    RiskProfile,
    Signal,
    decide,
    derive_state,
)
from tests.support.risk import NOW, TIERS, profile

D = Decimal
PROFILES = {name: profile(name) for name in ("handbook", "fixed-risk", "dynamic-4x", "conservative-10x")}
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@dataclass(frozen=True)
class Case:
    signal: Signal
    account: RiskAccount
    market: RiskMarket
    profile: RiskProfile


@st.composite
def cases(draw: st.DrawFn, breaker: BreakerStatus = BreakerStatus.ACTIVE) -> Case:
    tick = draw(st.sampled_from([D("0.01"), D("0.1"), D("0.001")]))
    step = draw(st.sampled_from([D("0.001"), D("0.01"), D("1")]))
    price = D(draw(st.integers(1_000, 10_000_000))) * tick
    side = draw(st.sampled_from(Side))
    distance_bp = draw(st.integers(1, 1500))  # 0.01 % to 15 %
    stop = price - side.sign * price * distance_bp / 10_000
    if stop <= 0:
        stop = price / 2
    equity = D(draw(st.integers(10, 1_000_000)))
    free = equity * D(draw(st.integers(0, 100))) / 100
    positions = tuple(
        OpenPosition(
            symbol=draw(st.sampled_from(["BTC/USDT:USDT", "ETH/USDT:USDT", "XRP/USDT:USDT"])),
            side=Side.LONG,
            qty=D(draw(st.integers(1, 100))) / 100,
            entry=D(draw(st.integers(100, 5000))),
            stop=D(draw(st.integers(50, 99))),
            leverage=draw(st.integers(1, 20)),
        )
        for _ in range(draw(st.integers(0, 3)))
    )
    signal = Signal(
        id="p",
        symbol=draw(st.sampled_from(["SOL/USDT:USDT", "ETH/USDT:USDT"])),
        side=side,
        entry=Entry(EntryType.MARKET),
        stop=stop,
        conviction=draw(st.none() | st.integers(0, 10).map(D)),
        strength=draw(st.none() | st.integers(0, 100).map(lambda v: D(v) / 100)),
        volatility=draw(st.none() | st.integers(1, 200).map(lambda v: D(v) / 1000)),
    )
    account = RiskAccount(
        equity=equity,
        free_margin=free,
        start_of_day_equity=equity,
        peak_equity=equity,
        positions=positions,
        breaker=breaker,
    )
    market = RiskMarket(
        price=price,
        amount_step=step,
        price_tick=tick,
        min_amount=step * draw(st.integers(1, 5)),
        min_notional=D(draw(st.integers(0, 20))),
        max_leverage=draw(st.integers(1, 125)),
        leverage_tiers=TIERS,
        taker_fee=D(draw(st.integers(0, 10))) / 10_000,
        funding_rate=D(draw(st.integers(-5, 5))) / 10_000,
        insurance_fund=draw(st.none() | st.just(D(10**9))),
        quoted_at=NOW,
    )
    return Case(signal, account, market, PROFILES[draw(st.sampled_from(sorted(PROFILES)))])


def _decide(case: Case):  # type: ignore[no-untyped-def]
    state = derive_state(case.account, case.profile, NOW)
    return decide(case.signal, case.account, case.market, case.profile, state, NOW)


def _budget(decision) -> Decimal:  # type: ignore[no-untyped-def]
    heat = next(s for s in decision.steps if s.step == "position_heat")
    if "risk_budget" in heat.after:
        return heat.after["risk_budget"]
    return next(s for s in decision.steps if s.step == "risk_budget").after["risk_budget"]


@SETTINGS
@given(cases())
def test_loss_at_the_stop_including_fees_never_exceeds_the_risk_budget(case: Case) -> None:
    decision = _decide(case)
    if decision.accepted:
        fee = case.market.taker_fee * (decision.entry + decision.stop)
        loss = decision.qty * (abs(decision.entry - decision.stop) + fee)
        assert loss <= _budget(decision)
        assert decision.risk <= _budget(decision)


@SETTINGS
@given(cases())
def test_notional_margin_and_account_exposure_stay_under_every_cap(case: Case) -> None:
    decision = _decide(case)
    if not decision.accepted:
        return
    p, equity = case.profile, case.account.equity
    assert decision.leverage is not None and decision.qty is not None and decision.entry is not None
    assert decision.notional is not None and decision.margin is not None and decision.risk is not None
    assert (
        equity is not None and case.account.free_margin is not None and case.market.max_leverage is not None
    )
    assert 1 <= decision.leverage <= min(p.leverage.max_per_trade, case.market.max_leverage)
    assert decision.notional == decision.qty * decision.entry
    assert decision.notional <= equity * decision.leverage
    assert decision.margin <= case.account.free_margin * p.leverage.max_margin_use
    open_notional = sum((pos.notional for pos in case.account.positions), D(0))
    assert open_notional + decision.notional <= equity * p.leverage.max_account
    if p.portfolio.heat_cap is not None:
        open_risk = sum((pos.open_risk for pos in case.account.positions), D(0))
        assert open_risk + decision.risk <= equity * p.portfolio.heat_cap
    if case.market.insurance_fund is None:
        assert decision.leverage <= p.insurance_fund.low_leverage


@SETTINGS
@given(cases())
def test_stop_lies_strictly_between_entry_and_liquidation_with_the_configured_margins(case: Case) -> None:
    decision = _decide(case)
    if not decision.accepted:
        return
    sign, config = case.signal.side.sign, case.profile.liquidation
    entry, stop, liq = decision.entry, decision.stop, decision.liquidation_price
    assert (entry - stop) * sign > 0
    assert (stop - liq) * sign >= config.stop_buffer * entry
    assert (entry - liq) * sign >= config.safety_multiple * (entry - stop) * sign
    if case.signal.volatility is not None:
        assert (entry - liq) * sign >= config.vol_multiple * case.signal.volatility * entry


@SETTINGS
@given(cases())
def test_quantity_is_a_multiple_of_the_step_and_meets_the_minimums_or_is_rejected(case: Case) -> None:
    decision = _decide(case)
    if decision.accepted:
        assert decision.qty % case.market.amount_step == 0
        assert decision.qty >= case.market.min_amount
        assert decision.notional >= case.market.min_notional
        assert decision.entry % case.market.price_tick == 0 and decision.stop % case.market.price_tick == 0
    else:
        assert decision.reason is not None and decision.message


@SETTINGS
@given(cases(breaker=BreakerStatus.TRIPPED))
def test_a_tripped_breaker_rejects_everything_that_opens_risk(case: Case) -> None:
    decision = _decide(case)
    assert not decision.accepted
    assert decision.reason == "HALTED"


@SETTINGS
@given(cases())
def test_same_inputs_give_the_same_decision(case: Case) -> None:
    assert _decide(case) == _decide(case)
    assert _decide(case).to_dict() == _decide(case).to_dict()
