"""Isolated-margin liquidation price for linear USDT perpetuals in one-way mode (RISK_SPEC 2.8),
with the maintenance rate and amount of the leverage tier that the position's notional falls in.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from executor.domain.display import percent, to_tick
from executor.domain.enums import Side
from executor.risk.inputs import LeverageBracket
from executor.risk.profile import Liquidation

ONE = Decimal(1)


def tier_for(tiers: Sequence[LeverageBracket], notional: Decimal) -> LeverageBracket | None:
    """The bracket whose upper bound is the first at or above `notional`; None past the last bracket."""
    for tier in tiers:
        if notional <= tier.max_notional:
            return tier
    return None


def liquidation_price(
    side: Side, qty: Decimal, entry: Decimal, leverage: Decimal | int, mmr: Decimal, cum: Decimal
) -> Decimal:
    """long:  (qty·entry − IM − cum) / (qty·(1 − mmr));  short: (qty·entry + IM + cum) / (qty·(1 + mmr)),
    with initial margin IM = qty·entry / leverage. A long below zero cannot be liquidated: 0."""
    if qty <= 0 or entry <= 0 or leverage <= 0:
        raise ValueError("qty, entry and leverage must be positive")
    notional = qty * entry
    initial_margin = notional / leverage
    if side is Side.LONG:
        price = (notional - initial_margin - cum) / (qty * (ONE - mmr))
        return max(price, Decimal(0))
    return (notional + initial_margin + cum) / (qty * (ONE + mmr))


def liquidation_for_tiers(
    side: Side, qty: Decimal, entry: Decimal, leverage: int, tiers: Sequence[LeverageBracket]
) -> Decimal | None:
    tier = tier_for(tiers, qty * entry)
    if tier is None:
        return None
    return liquidation_price(side, qty, entry, leverage, tier.mmr, tier.cum)


def liquidation_violation(
    side: Side,
    entry: Decimal,
    stop: Decimal,
    liquidation: Decimal | None,
    config: Liquidation,
    volatility: Decimal | None = None,
    tick: Decimal | None = None,
) -> str | None:
    """Which distance requirement of RISK_SPEC 2.8 a liquidation price breaks, or None. The pipeline
    uses it before the order; the daemon applies it to the exchange's own price after the fill. Prices
    and distances read to the market's `tick` where the caller knows it."""
    if liquidation is None or (liquidation <= 0 and side is Side.SHORT):
        return "the liquidation price is unknown"
    to_liq = (entry - liquidation) * side.sign
    to_stop = (entry - stop) * side.sign
    stop_to_liq = (stop - liquidation) * side.sign
    if stop_to_liq <= 0:
        return f"liquidation {to_tick(liquidation, tick)} is not beyond the stop {to_tick(stop, tick)}"
    if to_liq < config.safety_multiple * to_stop:
        return (
            f"liquidation distance {to_tick(to_liq, tick)} < {config.safety_multiple} × stop distance"
            f" {to_tick(to_stop, tick)}"
        )
    if stop_to_liq < config.stop_buffer * entry:
        buffer = percent(config.stop_buffer * 100)
        return f"stop-to-liquidation {to_tick(stop_to_liq, tick)} < {buffer} of the entry"
    if volatility is not None and to_liq < config.vol_multiple * volatility * entry:
        return (
            f"liquidation distance {to_tick(to_liq, tick)} < {config.vol_multiple} × daily volatility"
            f" {percent(volatility * 100)}"
        )
    return None
