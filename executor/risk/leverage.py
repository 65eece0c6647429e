"""Steps 6–7 of RISK_SPEC section 2 and the sizers' proposal: leverage, then the caps on notional,
margin and account exposure that shrink the quantity."""

from __future__ import annotations

from functools import cache

from executor.domain.enums import RiskStep
from executor.domain.money import ZERO
from executor.domain.reasons import ReasonCode
from executor.risk.decision import Value
from executor.risk.liquidation import tier_for
from executor.risk.profile import SizerKind
from executor.risk.proposal import Proposal, Reject
from executor.risk.sizers import (
    SizerInputs,
    conservative_fraction,
    dynamic_fraction,
    kelly_risk_cap,
    vol_target_exposure,
)


@cache
def _fraction_note(factors: tuple[str, ...]) -> str:
    """The sizer step's note template for these factor names (two sizers, so two templates)."""
    return "margin fraction {!n:f} (" + ", ".join(f"{name} {{!n:f}}" for name in factors) + ")"


def leverage(p: Proposal) -> None:
    """L = the smallest of every leverage ceiling, a whole number, at least 1."""
    profile, market = p.profile, p.market
    components: dict[str, int] = {}
    if p.tier is not None:
        components["conviction_tier"] = p.tier.tier.max_leverage
    components["max_per_trade"] = profile.leverage.max_per_trade
    assert market.max_leverage is not None
    components["exchange_max"] = market.max_leverage
    notional = p.qty * p.entry
    bracket = tier_for(market.leverage_tiers, notional)
    bound = False
    if bracket is None:
        bracket = market.leverage_tiers[-1]
        bound = p.cap("exchange_bracket", bracket.max_notional / p.entry)
    components["exchange_bracket"] = bracket.max_leverage
    components.update(p.state.leverage_caps(profile))
    if p.breaker_tripped:
        components["daily_loss_reduce"] = 1
    fund = market.insurance_fund
    if fund is None or fund < profile.insurance_fund.min_balance:
        components["insurance_fund"] = profile.insurance_fund.low_leverage
    if profile.sizer is SizerKind.VOL_TARGET:
        assert p.signal.volatility is not None
        exposure = vol_target_exposure(p.signal.volatility, profile.vol_target)
        components["vol_target"] = max(1, int(exposure))
    value = min(components.values())
    name = next(key for key, cap in components.items() if cap == value)
    p.leverage = max(1, value)
    note = f"bound by {name}"
    if fund is None:
        note += "; insurance fund unknown, treated as low"
    if bound:
        note += f"; notional capped at the last bracket {bracket.max_notional}"
    before: dict[str, Value] = {**components}
    p.record(RiskStep.LEVERAGE, before, {"leverage": p.leverage, "qty": p.qty}, bound, note)


def _sizer_inputs(p: Proposal) -> SizerInputs:
    return SizerInputs(
        strength=p.signal.strength,
        volatility=p.signal.volatility,
        avg_volatility=p.market.avg_volatility,
        regime=p.signal.regime,
        drawdown=p.drawdown,
        max_drawdown=p.profile.drawdown.max_drawdown,
    )


def sizer(p: Proposal) -> None:
    profile = p.profile
    kind = profile.sizer
    before: dict[str, Value] = {"sizer": kind, "qty": p.qty}
    if kind is SizerKind.FIXED_RISK:
        p.record(RiskStep.SIZER, before, {"qty": p.qty}, note="fixed_risk: the stop-based quantity")
        return
    if kind in (SizerKind.DYNAMIC, SizerKind.CONSERVATIVE):
        inputs = _sizer_inputs(p)
        if kind is SizerKind.DYNAMIC:
            fraction = dynamic_fraction(inputs, p.state, profile.dynamic)
        else:
            fraction = conservative_fraction(inputs, p.state, profile.conservative, profile.kelly)
        p.sizer_fraction = fraction.value
        bound = p.cap("sizer", p.sizer_ceiling(fraction.value))
        after: dict[str, Value] = {"fraction": fraction.value, "qty": p.qty}
        factors = (_fraction_note(tuple(fraction.factors)), (fraction.value, *fraction.factors.values()))
        p.record(RiskStep.SIZER, before, after, bound, factors)
        return
    if kind is SizerKind.KELLY:
        cap = kelly_risk_cap(p.state, profile.kelly)
        if cap is None:
            note = f"kelly: fewer than {profile.kelly.min_trades} closed trades, no cap yet"
            p.record(RiskStep.SIZER, before, {"qty": p.qty}, note=note)
            return
        bound = p.cap("sizer", p.equity * cap / p.cost_per_unit)
        p.record(
            RiskStep.SIZER, before, {"risk_fraction_cap": cap, "qty": p.qty}, bound, "fractional Kelly caps R"
        )
        return
    assert p.signal.volatility is not None
    exposure = vol_target_exposure(p.signal.volatility, profile.vol_target)
    bound = p.cap("sizer", p.equity * exposure / p.entry)
    p.record(
        RiskStep.SIZER,
        before,
        {"exposure_cap": exposure, "qty": p.qty},
        bound,
        "notional ≤ equity × target/asset vol",
    )


def high_leverage_count(p: Proposal) -> None:
    """Seed 003: at most N positions at ≥ threshold leverage at once; otherwise this one stays under it."""
    config = p.profile.leverage
    count = sum(1 for pos in p.account.positions if pos.leverage >= config.high_leverage_threshold)
    before: dict[str, Value] = {"high_leverage_positions": count, "leverage": p.leverage}
    if count >= config.max_high_leverage_positions and p.leverage >= config.high_leverage_threshold:
        bound = p.set_leverage(max(1, config.high_leverage_threshold - 1))
        note = f"{count} positions already at ≥ {config.high_leverage_threshold}x: leverage lowered"
        p.record(RiskStep.HIGH_LEVERAGE_COUNT, before, {"leverage": p.leverage}, bound, note)
        return
    p.record(RiskStep.HIGH_LEVERAGE_COUNT, before, {"leverage": p.leverage})


def trade_notional(p: Proposal) -> None:
    ceiling = p.trade_notional_ceiling()
    before: dict[str, Value] = {"qty": p.qty, "notional_cap": p.equity * p.leverage}
    bound = p.cap("trade_notional", ceiling)
    p.record(
        RiskStep.TRADE_NOTIONAL, before, {"qty": p.qty}, bound, ("notional ≤ equity × {}x", (p.leverage,))
    )


def margin(p: Proposal) -> None:
    ceiling = p.margin_ceiling()
    use = p.profile.leverage.max_margin_use
    before: dict[str, Value] = {"qty": p.qty, "margin_cap": p.free_margin * use}
    if not p.orderable(ceiling):
        message = (
            f"Free margin {p.free_margin} × {use} at {p.leverage}x cannot carry even the minimum order "
            f"({p.min_amount} / {p.min_notional} notional)."
        )
        p.record(RiskStep.MARGIN, before, {"rejected": ReasonCode.INSUFFICIENT_MARGIN.value}, note=message)
        raise Reject(ReasonCode.INSUFFICIENT_MARGIN, message)
    bound = p.cap("margin", ceiling)
    p.record(RiskStep.MARGIN, before, {"qty": p.qty}, bound, ("margin ≤ free margin × {}", (use,)))


def account_leverage(p: Proposal) -> None:
    open_notional = ZERO
    for pos in p.account.positions:
        open_notional += pos.qty * pos.entry
    limit = p.equity * p.profile.leverage.max_account
    room = limit - open_notional
    before: dict[str, Value] = {"qty": p.qty, "open_notional": open_notional, "account_cap": limit}
    bound = p.cap("account_leverage", room / p.entry)
    note = ("all open notional plus this one ≤ equity × {}", (p.profile.leverage.max_account,))
    p.record(RiskStep.ACCOUNT_LEVERAGE, before, {"qty": p.qty}, bound, note)
