"""The proposal a decision is built on, passed through the pipeline's steps.

Sizes are tracked as named quantity ceilings: the proposal's quantity is the smallest of them, so a
step can only shrink it, and a step that lowers leverage recomputes the ceilings that depend on it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from executor.domain.enums import RiskStep
from executor.domain.money import ZERO, floor_to_step
from executor.domain.reasons import ReasonCode
from executor.domain.signal import Signal
from executor.risk.conviction import TierChoice
from executor.risk.decision import PriceSource, Step, Text, Value
from executor.risk.inputs import RiskAccount, RiskMarket
from executor.risk.profile import RiskProfile
from executor.risk.state import CarriedState

_new_step = tuple.__new__
"""Builds a Step straight from its fields: a third of the cost of the NamedTuple's keyword-aware __new__."""


class Reject(Exception):
    """Raised by a step to end the pipeline with a reason code and a human sentence."""

    def __init__(self, reason: ReasonCode, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(slots=True)
class Proposal:
    signal: Signal
    account: RiskAccount
    market: RiskMarket
    profile: RiskProfile
    state: CarriedState
    now: datetime
    steps: list[Step]
    sign: int = 1
    """The signal's side as +1 (long) or −1 (short), read once: `Side.sign` is a property call."""
    breaker_tripped: bool = False
    drawdown: Decimal = ZERO
    drawdown_scale: Decimal = Decimal(1)
    equity: Decimal = ZERO
    free_margin: Decimal = ZERO
    reference: Decimal = ZERO
    reference_source: PriceSource = PriceSource.MARK
    price_age_ms: int = 0
    order_price: Decimal = ZERO
    taking: bool = True
    entry: Decimal = ZERO
    stop: Decimal = ZERO
    take_profits: tuple[Decimal, ...] = ()
    amount_step: Decimal = ZERO
    price_tick: Decimal = ZERO
    min_amount: Decimal = ZERO
    min_notional: Decimal = ZERO
    taker_fee: Decimal = ZERO
    tier: TierChoice | None = None
    risk_budget: Decimal = ZERO
    cost_per_unit: Decimal = ZERO
    leverage: int = 1
    sizer_fraction: Decimal | None = None
    liquidation: Decimal | None = None
    liquidation_key: tuple[Decimal, int] | None = None
    binding: RiskStep | None = None
    qty: Decimal = ZERO
    ceilings: dict[str, Decimal] = field(default_factory=dict)

    def record(
        self,
        step: RiskStep,
        before: Mapping[str, Value],
        after: Mapping[str, Value],
        binding: bool = False,
        note: Text = "",
    ) -> None:
        self.steps.append(_new_step(Step, (step, before, after, binding, note)))
        if binding:
            self.binding = step

    def cap(self, name: str, ceiling: Decimal) -> bool:
        """Add a quantity ceiling; True when it is tighter than the quantity so far."""
        if ceiling < ZERO:
            ceiling = ZERO
        first = not self.ceilings
        self.ceilings[name] = ceiling
        if first or ceiling < self.qty:
            self.qty = ceiling
            return not first
        return False

    def set_leverage(self, leverage: int) -> bool:
        """Lower leverage and recompute the ceilings that scale with it; True when the quantity shrank."""
        self.leverage = leverage
        before = self.qty
        if "trade_notional" in self.ceilings:
            self.ceilings["trade_notional"] = self.trade_notional_ceiling()
        if "margin" in self.ceilings:
            self.ceilings["margin"] = self.margin_ceiling()
        if "sizer" in self.ceilings and self.sizer_fraction is not None:
            self.ceilings["sizer"] = self.sizer_ceiling(self.sizer_fraction)
        self.qty = min(self.ceilings.values())
        return self.qty < before

    def qty_at(self, leverage: int) -> Decimal:
        """The quantity the ceilings would allow at `leverage`, without changing the proposal."""
        if leverage == self.leverage:
            return self.qty
        saved = self.leverage
        self.leverage = leverage
        qty = min(
            self.trade_notional_ceiling()
            if name == "trade_notional"
            else self.margin_ceiling()
            if name == "margin"
            else self.sizer_ceiling(self.sizer_fraction)
            if name == "sizer" and self.sizer_fraction is not None
            else ceiling
            for name, ceiling in self.ceilings.items()
        )
        self.leverage = saved
        return qty

    def trade_notional_ceiling(self) -> Decimal:
        return self.equity * self.leverage / self.entry

    def margin_ceiling(self) -> Decimal:
        ceiling = self.free_margin * self.profile.leverage.max_margin_use * self.leverage / self.entry
        return ceiling if ceiling > ZERO else ZERO

    def sizer_ceiling(self, fraction: Decimal) -> Decimal:
        return self.equity * fraction * self.leverage / self.entry

    def orderable(self, qty: Decimal) -> bool:
        """Whether `qty`, rounded down to the amount step, still meets the exchange minimums."""
        rounded = floor_to_step(qty, self.amount_step)
        return rounded > 0 and rounded >= self.min_amount and rounded * self.entry >= self.min_notional
