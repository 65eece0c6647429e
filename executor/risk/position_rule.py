"""The 20/50 rule of seed 004 (RISK_SPEC section 3), off by default: a position whose loss reaches
20 % of its margin is halved, at 50 % it is closed. The daemon calls this on each mark update."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from executor.domain.money import ZERO
from executor.risk.inputs import OpenPosition
from executor.risk.profile import PositionDrawdown


class PositionAction(StrEnum):
    HOLD = "hold"
    REDUCE = "reduce"
    CLOSE = "close"


@dataclass(frozen=True, slots=True)
class PositionVerdict:
    action: PositionAction
    loss_of_margin: Decimal
    reduce_qty: Decimal


def position_drawdown_action(
    position: OpenPosition, mark: Decimal, config: PositionDrawdown, already_reduced: bool
) -> PositionVerdict:
    """`already_reduced` keeps the halving to once per position; the close still applies after it."""
    margin = position.notional / position.leverage
    loss = (position.entry - mark) * position.side.sign * position.qty
    share = loss / margin if margin > 0 and loss > 0 else ZERO
    if not config.enabled:
        return PositionVerdict(PositionAction.HOLD, share, ZERO)
    if share >= config.close_at:
        return PositionVerdict(PositionAction.CLOSE, share, position.qty)
    if share >= config.reduce_at and not already_reduced:
        return PositionVerdict(PositionAction.REDUCE, share, position.qty * config.reduce_fraction)
    return PositionVerdict(PositionAction.HOLD, share, ZERO)
