"""A stored closed position as the performance arithmetic's trade (executor/domain/performance.py): the
one conversion `executor pnl`, `GET /pnl`, the daily report and the dashboard's curve share."""

from __future__ import annotations

from executor.domain.performance import ClosedTrade
from executor.store.models import PositionRow, SignalRow


def strategy_of(signal: SignalRow | None) -> str | None:
    value = signal.payload.get("strategy") if signal is not None else None
    return value if isinstance(value, str) else None


def closed_trade(position: PositionRow, signal: SignalRow | None = None) -> ClosedTrade:
    """Net PnL and R come from the position's booked numbers and its stored risk at entry."""
    return ClosedTrade(
        closed_at=position.closed_at or position.opened_at,
        realized_pnl=position.realized_pnl,
        fees=position.fees,
        funding=position.funding,
        risk_at_entry=position.risk_at_entry,
        strategy=strategy_of(signal),
        symbol=position.symbol,
        setup=position.setup.value,
    )
