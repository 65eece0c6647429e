"""Step 12 of RISK_SPEC section 2: the order as the exchange will see it, on its grid and above its
minimums, with a last check that rounding kept the liquidation requirements."""

from __future__ import annotations

from executor.domain.enums import RiskStep
from executor.domain.money import floor_to_step
from executor.domain.reasons import ReasonCode
from executor.risk.decision import Value
from executor.risk.proposal import Proposal, Reject
from executor.risk.safety import liquidation_at, liquidation_problem
from executor.risk.sizing import on_grid


def exchange_filters(p: Proposal) -> None:
    qty = on_grid(floor_to_step(p.qty, p.amount_step), p.amount_step)
    before: dict[str, Value] = {"qty": p.qty}
    cause = f" (bound by {p.binding})" if p.binding else ""
    if qty <= 0 or qty < p.min_amount:
        message = f"Quantity {qty} is under the exchange minimum amount {p.min_amount}{cause}."
        p.record(
            RiskStep.EXCHANGE_FILTERS, before, {"rejected": ReasonCode.BELOW_MIN_AMOUNT.value}, note=message
        )
        raise Reject(ReasonCode.BELOW_MIN_AMOUNT, message)
    notional = qty * p.entry
    if notional < p.min_notional:
        message = f"Notional {notional} is under the exchange minimum notional {p.min_notional}{cause}."
        p.record(
            RiskStep.EXCHANGE_FILTERS, before, {"rejected": ReasonCode.BELOW_MIN_NOTIONAL.value}, note=message
        )
        raise Reject(ReasonCode.BELOW_MIN_NOTIONAL, message)
    same = p.liquidation is not None and p.liquidation_key == (qty, p.leverage)
    liq = p.liquidation if same else liquidation_at(p, qty, p.leverage)
    problem = None if same else liquidation_problem(p, liq)
    if problem is not None:
        message = f"After rounding, the liquidation is too close: {problem}."
        p.record(
            RiskStep.EXCHANGE_FILTERS,
            before,
            {"rejected": ReasonCode.LIQUIDATION_TOO_CLOSE.value},
            note=message,
        )
        raise Reject(ReasonCode.LIQUIDATION_TOO_CLOSE, message)
    p.qty, p.liquidation = qty, liq
    p.record(
        RiskStep.EXCHANGE_FILTERS,
        before,
        {"qty": qty, "notional": notional},
        note=("quantity rounded down to the step {!n:f}", (p.amount_step,)),
    )
