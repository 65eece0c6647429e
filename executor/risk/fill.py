"""After the fill: the risk at the stop recomputed from the price actually paid (RISK_SPEC 2.5).

The decision priced the stop loss from the worst fill its order allows, so a fill inside the allowance
stays within R. A fill that is not (a resting limit's price improved on by nobody, a venue that fills
past an IOC bound, a stop moved by the exchange's tick) is caught here: above R by more than the
profile's `risk_tolerance_pct`, the quantity beyond what R carries is to be closed at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from executor.domain.enums import Side
from executor.domain.money import ZERO, floor_to_step

ONE = Decimal(1)


@dataclass(frozen=True, slots=True)
class FillCheck:
    risk: Decimal
    """Loss at the stop for the filled quantity, entry and exit taker fees included."""
    limit: Decimal
    """R × (1 + risk_tolerance_pct): the most the fill may risk before quantity is closed."""
    excess_qty: Decimal
    """Quantity to close at once (a multiple of the amount step); zero within the tolerance."""
    slippage: Decimal
    """How far the fill is beyond the reference price, per unit (negative: a better price)."""


def risk_at_stop(side: Side, qty: Decimal, fill_price: Decimal, stop: Decimal, taker_fee: Decimal) -> Decimal:
    """What `qty` filled at `fill_price` loses if `stop` fills: the distance plus taker fees in and out
    (RISK_SPEC §0), never below zero. It is the risk a trade took at entry, the 1 R of its R multiple."""
    per_unit = (fill_price - stop) * side.sign + taker_fee * (fill_price + stop)
    return qty * per_unit if per_unit > 0 else ZERO


def check_fill(
    side: Side,
    qty: Decimal,
    fill_price: Decimal,
    reference: Decimal,
    stop: Decimal,
    taker_fee: Decimal,
    budget: Decimal,
    tolerance: Decimal,
    amount_step: Decimal,
) -> FillCheck:
    per_unit = (fill_price - stop) * side.sign + taker_fee * (fill_price + stop)
    risk = risk_at_stop(side, qty, fill_price, stop, taker_fee)
    limit = budget * (ONE + tolerance)
    excess = ZERO
    if risk > limit:
        keep = floor_to_step(budget / per_unit, amount_step)
        excess = qty - min(keep, qty)
    return FillCheck(risk, limit, excess, (fill_price - reference) * side.sign)
