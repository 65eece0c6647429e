"""After an entry's fill: the slippage it took and the risk at the stop from the price paid (RISK_SPEC 2.5).

The decision priced the stop loss from the worst fill its order allowed, so a fill inside the allowance is
within R. This module turns the stored decision and the position into the pure check's inputs, and the
check's verdict into what the position row, the audit log and the operator are told.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from executor.domain.display import money, price, quantity
from executor.domain.enums import Side
from executor.domain.market import Market, MarketFilters
from executor.risk import RiskProfile
from executor.risk.fill import FillCheck, check_fill
from executor.store.models import DecisionRow, PositionRow


@dataclass(frozen=True, slots=True)
class Slippage:
    """Per unit, on the paying side (positive costs the trade): what the order allowed, what the fill took."""

    allowed: Decimal | None
    actual: Decimal | None


def slippage(decision: DecisionRow, side: Side, fill_price: Decimal | None) -> Slippage:
    """From the decision's reference price (`entry`) and order price; unknown parts stay None."""
    reference = decision.entry
    if reference is None:
        return Slippage(None, None)
    allowed = (decision.order_price - reference) * side.sign if decision.order_price is not None else None
    actual = (fill_price - reference) * side.sign if fill_price is not None else None
    return Slippage(allowed, actual)


def assess(
    position: PositionRow, filled: Decimal, decision: DecisionRow, market: Market | None, profile: RiskProfile
) -> FillCheck | None:
    """The check of the `filled` quantity at the position's fill price and the decision's stop and R; None
    when they are unknown.

    The decision's stop, not the position's current one: the check is about what the fill risked, and a
    stop moved later is the operator's or the strategy's choice. The fee is the market's taker rate, else
    the profile's, as in the decision.
    """
    if decision.risk_budget is None or decision.stop is None or decision.entry is None or market is None:
        return None
    taker = market.taker_fee if market.taker_fee is not None else profile.taker_fee
    return check_fill(
        position.side,
        filled,
        position.entry_price,
        decision.entry,
        decision.stop,
        taker,
        decision.risk_budget,
        profile.risk_tolerance_pct,
        market.filters.amount_step,
    )


def describe(
    position: PositionRow, decision: DecisionRow, check: FillCheck, filters: MarketFilters | None
) -> str:
    """One sentence for the alert and the close's reason: prices to the tick, quantities to the step."""

    def at(value: Decimal | None) -> str:
        return "unknown" if value is None else price(value, filters)

    def of(value: Decimal) -> str:
        return quantity(value, filters)

    budget = "unknown" if decision.risk_budget is None else money(decision.risk_budget)
    return (
        f"the fill at {at(position.entry_price)} (reference {at(decision.entry)}) risks {money(check.risk)}"
        f" at the stop {at(decision.stop)}, over R {budget} with the tolerance, {money(check.limit)}: "
        f"closing {of(check.excess_qty)} of {of(position.qty)}, keeping {of(position.qty - check.excess_qty)}"
    )
