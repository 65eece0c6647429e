"""One account's state at a glance: what `GET /status` serves and `executor status` prints.

Built from the database alone, so the CLI can show it when the daemon is down; the running daemon
adds what only the exchange knows (equity, mark prices) through the keyword arguments.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from executor.domain.account import Position
from executor.domain.enums import BreakerStatus, OrderKind, PositionStatus
from executor.domain.order_state import OrderState
from executor.execution.operator import current_pause
from executor.risk import CarriedState, RiskProfile, daily_loss_limit
from executor.risk.clock import trading_day, zone
from executor.risk.profile import LossBasis
from executor.store.models import DailyLossRow, OrderRow, PositionRow
from executor.store.repositories import Repositories
from executor.store.store import Store

LIVE_ORDER_STATES: tuple[OrderState, ...] = tuple(state for state in OrderState if state.may_be_live)
QUEUED_COUNT_CAP = 1000
"""`queued_signals` counts the inbox backlog up to this many; more reads as this number."""


def money(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def moment(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


async def status_report(
    store: Store,
    account: str,
    profile: RiskProfile,
    now: datetime,
    *,
    equity: Decimal | None = None,
    exchange_positions: Sequence[Position] | None = None,
) -> dict[str, Any]:
    """The JSON-ready report; `equity` and `exchange_positions` come from the exchange when known."""
    today = trading_day(now, profile.daily_loss.timezone)
    async with store.read() as tx:
        risk_row = await tx.risk_state.get(account)
        day_row = await tx.daily_loss.get(account, today)
        positions = await tx.positions.with_status(account, PositionStatus.OPEN)
        position_orders = {row.id: await tx.orders.for_position(row.id) for row in positions}
        signal_ids = {row.id: await _signal_id(tx, row.signal_pk) for row in positions}
        open_orders = await tx.orders.in_states(account, LIVE_ORDER_STATES)
        queued = await tx.signals.queued(account, limit=QUEUED_COUNT_CAP)
        pause = await current_pause(tx, account)
    state = CarriedState.initial() if risk_row is None else CarriedState.from_dict(risk_row.state)
    report: dict[str, Any] = {
        "account": account,
        "now": now.isoformat(),
        "profile": profile.name,
        "breaker": _breaker(state, 0 if risk_row is None else risk_row.version, profile, now),
        "pause": pause.as_dict(),
        "day": _day(today, day_row, profile, equity),
        "equity": money(equity),
        "positions": [
            _position(row, signal_ids[row.id], position_orders[row.id], exchange_positions)
            for row in positions
        ],
        "orders": [order_report(row) for row in open_orders],
        "queued_signals": len(queued),
    }
    if exchange_positions is not None:
        report["untracked_positions"] = [
            _exchange_position(position)
            for position in exchange_positions
            if not any(_matches(row, position) for row in positions)
        ]
    return report


def _breaker(state: CarriedState, version: int, profile: RiskProfile, now: datetime) -> dict[str, Any]:
    tripped = state.breaker is BreakerStatus.TRIPPED
    return {
        "status": state.breaker.value,
        "reason": state.trip_reason,
        "tripped_at": moment(state.tripped_at),
        "resets_at": moment(breaker_resets_at(state, profile, now)) if tripped else None,
        "resumed_at": moment(state.resumed_at),
        "resume_note": state.resume_note,
        "mode": state.mode.value,
        "version": version,
    }


def breaker_resets_at(state: CarriedState, profile: RiskProfile, now: datetime) -> datetime:
    """The next trading-day boundary after the trip, when the daemon resets the breaker by itself."""
    timezone = profile.daily_loss.timezone
    days: list[date] = [trading_day(now, timezone) if state.trading_day is None else state.trading_day]
    if state.tripped_at is not None:
        days.append(trading_day(state.tripped_at, timezone))
    return datetime.combine(max(days) + timedelta(days=1), time(0), tzinfo=zone(timezone))


def _day(
    today: date, row: DailyLossRow | None, profile: RiskProfile, equity: Decimal | None
) -> dict[str, Any]:
    config = profile.daily_loss
    start = None if row is None else row.start_of_day_equity
    net = None if row is None else row.realized_pnl - row.fees + row.funding
    limit = daily_loss_limit(config, start) if config.enabled else None
    loss: Decimal | None
    if config.basis is LossBasis.EQUITY and equity is not None and start is not None:
        loss, basis = start - equity, LossBasis.EQUITY
    else:
        loss, basis = (None if net is None else -net), LossBasis.REALIZED
    return {
        "trading_day": today.isoformat(),
        "start_of_day_equity": money(start),
        "realized_pnl": money(None if row is None else row.realized_pnl),
        "fees": money(None if row is None else row.fees),
        "funding": money(None if row is None else row.funding),
        "net": money(net),
        "loss": money(loss),
        "loss_basis": basis.value,
        "configured_basis": config.basis.value,
        "limit": money(limit),
        "limit_pct": money(config.limit_pct),
        "limit_amount": money(config.limit_amount),
        "breaker_enabled": config.enabled,
    }


def order_report(row: OrderRow) -> dict[str, Any]:
    return {
        "client_order_id": row.client_order_id,
        "exchange_order_id": row.exchange_order_id,
        "kind": row.kind,
        "symbol": row.symbol,
        "side": row.side,
        "type": row.order_type,
        "qty": money(row.qty),
        "price": money(row.price),
        "trigger_price": money(row.trigger_price),
        "reduce_only": row.reduce_only,
        "state": row.state,
        "filled_qty": money(row.filled_qty),
        "average_price": money(row.average_price),
        "position_id": row.position_pk,
        "error": row.error,
        "created_at": moment(row.created_at),
        "updated_at": moment(row.updated_at),
    }


def _live(orders: Iterable[OrderRow], kind: OrderKind) -> dict[str, Any] | None:
    """The newest order of that kind the exchange may hold (a replaced stop leaves a final one behind)."""
    live = [row for row in orders if row.kind is kind and row.state in LIVE_ORDER_STATES]
    return order_report(live[-1]) if live else None


async def _signal_id(tx: Repositories, signal_pk: int | None) -> str | None:
    signal = None if signal_pk is None else await tx.signals.by_pk(signal_pk)
    return None if signal is None else signal.signal_id


def _position(
    row: PositionRow,
    signal_id: str | None,
    orders: Sequence[OrderRow],
    exchange_positions: Sequence[Position] | None,
) -> dict[str, Any]:
    stop = _live(orders, OrderKind.STOP)
    report: dict[str, Any] = {
        "id": row.id,
        "signal_id": signal_id,
        "symbol": row.symbol,
        "side": row.side,
        "qty": money(row.qty),
        "entry_price": money(row.entry_price),
        "stop_price": money(row.stop_price),
        "risk_at_entry": money(row.risk_at_entry),
        "take_profit": money(row.take_profit),
        "leverage": row.leverage,
        "setup": row.setup,
        "opened_at": moment(row.opened_at),
        "stop_order": stop,
        "take_profit_order": _live(orders, OrderKind.TAKE_PROFIT),
        "stop_resting": stop is not None and stop["state"] is OrderState.OPEN,
    }
    if exchange_positions is not None:
        found = next((p for p in exchange_positions if _matches(row, p)), None)
        report["exchange"] = None if found is None else _exchange_position(found)
    return report


def _matches(row: PositionRow, position: Position) -> bool:
    return row.symbol == position.symbol and row.side is position.side


def _exchange_position(position: Position) -> dict[str, Any]:
    return {
        "symbol": position.symbol,
        "side": position.side.value,
        "qty": money(position.qty),
        "entry_price": money(position.entry_price),
        "mark_price": money(position.mark_price),
        "liquidation_price": money(position.liquidation_price),
        "unrealized_pnl": money(position.unrealized_pnl),
        "notional": money(position.notional),
    }
