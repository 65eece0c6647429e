"""Write-ahead order rows and how the exchange's view of an order moves them along their life."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from executor.domain.enums import OrderKind
from executor.domain.order_state import OrderState, advance, history_entry
from executor.domain.orders import Order, OrderSide, OrderStatus, OrderType
from executor.observability.metrics import Metrics
from executor.store.models import OrderRow

_STATE_OF_STATUS: dict[OrderStatus, OrderState] = {
    OrderStatus.OPEN: OrderState.OPEN,
    OrderStatus.CLOSED: OrderState.FILLED,
    OrderStatus.CANCELED: OrderState.CANCELED,
    OrderStatus.EXPIRED: OrderState.CANCELED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}


def intent(
    *,
    account: str,
    client_id: str,
    kind: OrderKind,
    symbol: str,
    side: OrderSide,
    order_type: OrderType,
    qty: Decimal,
    now: datetime,
    signal_pk: int | None = None,
    position_pk: int | None = None,
    price: Decimal | None = None,
    trigger_price: Decimal | None = None,
) -> OrderRow:
    """The row written before the request leaves: PENDING, with its deterministic client id."""
    conditional = order_type in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)
    return OrderRow(
        account=account,
        client_order_id=client_id,
        signal_pk=signal_pk,
        position_pk=position_pk,
        kind=kind,
        symbol=symbol,
        side=side,
        order_type=order_type,
        qty=qty,
        price=price,
        trigger_price=trigger_price,
        reduce_only=kind is not OrderKind.ENTRY,
        conditional=conditional,
        state=OrderState.PENDING,
        state_history=[history_entry(OrderState.PENDING, now)],
        filled_qty=Decimal(0),
        created_at=now,
        updated_at=now,
    )


def move(row: OrderRow, target: OrderState, now: datetime, metrics: Metrics, note: str | None = None) -> None:
    state, history = advance(row.state, target, list(row.state_history), now, note)
    if state is not row.state:
        metrics.orders.labels(kind=row.kind, state=state.value).inc()
    row.state, row.state_history, row.updated_at = state, history, now
    if note and target in (OrderState.REJECTED, OrderState.UNKNOWN, OrderState.NOT_SENT):
        row.error = note


def apply_exchange_view(row: OrderRow, order: Order, now: datetime, metrics: Metrics) -> None:
    """Record what the exchange says of the order: its id, fill and state."""
    row.exchange_order_id = order.exchange_id or row.exchange_order_id
    row.executed_order_id = order.executed_order_id or row.executed_order_id
    row.filled_qty = order.filled
    if order.average_price is not None:
        row.average_price = order.average_price
    target = _STATE_OF_STATUS[order.status]
    if target is OrderState.FILLED and order.filled == 0:
        # A closed order that never traded ended without a fill: it is not "filled".
        move(row, OrderState.CANCELED, now, metrics, "ended without a fill")
        return
    move(row, target, now, metrics)


def exchange_view(row: OrderRow) -> Order:
    """The order as the port needs it to cancel or replace it, from what the row knows."""
    return Order(
        symbol=row.symbol,
        exchange_id=row.exchange_order_id or "",
        client_id=row.client_order_id,
        kind=row.kind,
        type=row.order_type,
        side=row.side,
        status=OrderStatus.OPEN,
        qty=row.qty,
        filled=row.filled_qty,
        average_price=row.average_price,
        price=row.price,
        trigger_price=row.trigger_price,
        reduce_only=row.reduce_only,
        conditional=row.conditional,
        timestamp=row.created_at,
    )
