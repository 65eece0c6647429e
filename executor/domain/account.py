"""The account as the exchange reports it: equity, free margin and open positions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from executor.domain.enums import Side


class MarginMode(StrEnum):
    ISOLATED = "isolated"
    CROSS = "cross"


@dataclass(frozen=True, slots=True)
class Position:
    """An open position; ``liquidation_price`` is the exchange's own, None when it gave none or 0."""

    symbol: str
    side: Side
    qty: Decimal
    entry_price: Decimal
    mark_price: Decimal | None
    liquidation_price: Decimal | None
    leverage: Decimal | None
    margin_mode: MarginMode | None
    unrealized_pnl: Decimal
    notional: Decimal


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    """Equity = wallet balance + unrealized PnL, in the settlement currency."""

    currency: str
    as_of: datetime
    equity: Decimal
    wallet_balance: Decimal
    free_margin: Decimal
    positions: tuple[Position, ...]

    def position(self, symbol: str) -> Position | None:
        for position in self.positions:
            if position.symbol == symbol:
                return position
        return None
