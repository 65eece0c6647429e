"""`decide`: the ordered pipeline of RISK_SPEC section 2 over one signal and the current snapshots.

Pure: the same inputs give the same decision, and `now` is the only clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from decimal import Decimal

from executor.domain.display import to_step
from executor.domain.enums import Side
from executor.domain.money import ZERO
from executor.domain.signal import Signal
from executor.risk.clock import require_aware
from executor.risk.decision import Decision
from executor.risk.filters import exchange_filters
from executor.risk.gates import daily_loss, data, drawdown, gates
from executor.risk.inputs import RiskAccount, RiskMarket
from executor.risk.leverage import (
    account_leverage,
    high_leverage_count,
    leverage,
    margin,
    sizer,
    trade_notional,
)
from executor.risk.price import reference_price
from executor.risk.profile import RiskProfile
from executor.risk.proposal import Proposal, Reject
from executor.risk.safety import correlation_group, funding, liquidation, portfolio_heat
from executor.risk.sizing import conviction, geometry, position_heat, quantity, risk_budget
from executor.risk.state import CarriedState, roll_to

HUNDRED = Decimal(100)
CENTS = Decimal("0.01")

STEPS: tuple[Callable[[Proposal], None], ...] = (
    gates,
    data,
    daily_loss,
    drawdown,
    reference_price,
    geometry,
    conviction,
    risk_budget,
    position_heat,
    quantity,
    leverage,
    sizer,
    high_leverage_count,
    trade_notional,
    margin,
    account_leverage,
    liquidation,
    portfolio_heat,
    correlation_group,
    funding,
    exchange_filters,
)


def decide(
    signal: Signal,
    account: RiskAccount,
    market: RiskMarket,
    profile: RiskProfile,
    state: CarriedState,
    now: datetime,
) -> Decision:
    require_aware(now, "now")
    sign = 1 if signal.side is Side.LONG else -1
    proposal = Proposal(signal, account, market, profile, roll_to(state, now, profile), now, [], sign)
    try:
        for step in STEPS:
            step(proposal)
    except Reject as refusal:
        return Decision(
            accepted=False,
            reason=refusal.reason,
            message=refusal.message,
            signal_id=signal.id,
            steps=tuple(proposal.steps),
        )
    return _accepted(proposal)


def _accepted(p: Proposal) -> Decision:
    notional = p.qty * p.entry
    margin_used = notional / p.leverage
    risk = p.qty * p.cost_per_unit
    risk_pct = risk / p.equity * HUNDRED
    base, _, rest = p.signal.symbol.partition("/")
    quote = rest.partition(":")[0]
    price = f"{p.entry} ({p.reference_source}, {p.price_age_ms} ms old"
    price += f"; IOC limit {p.order_price})" if p.taking else ")"
    message = (
        f"{'Long' if p.sign > 0 else 'Short'} {to_step(p.qty, p.amount_step)} {base} at {price} with stop"
        f" {p.stop}, {p.leverage}x: "
        f"risking {risk.quantize(CENTS)} {quote} ({risk_pct.quantize(CENTS)}% of equity) on "
        f"{notional.quantize(CENTS)} notional"
        + (f", size bound by {p.binding}." if p.binding else ", size set by the risk budget.")
    )
    return Decision(
        accepted=True,
        reason=None,
        message=message,
        signal_id=p.signal.id,
        steps=tuple(p.steps),
        qty=p.qty,
        leverage=p.leverage,
        entry=p.entry,
        stop=p.stop,
        take_profit=p.take_profits,
        notional=notional,
        margin=margin_used,
        risk=risk,
        risk_pct=risk_pct,
        liquidation_price=p.liquidation,
        binding=p.binding,
        price_source=p.reference_source,
        price_age_ms=p.price_age_ms,
        order_price=p.order_price,
        takes_liquidity=p.taking,
        slippage_allowance=p.profile.entry_slippage_pct if p.taking else ZERO,
        risk_budget=p.risk_budget,
    )
