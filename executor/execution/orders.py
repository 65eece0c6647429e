"""Write-ahead order rows: the intent written before a request leaves, and the order a row stands for.

State changes are the store's (`OrderRepository.move`, `record`, `adopt`)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from executor.domain.enums import OrderKind
from executor.domain.order_state import OrderState, history_entry
from executor.domain.orders import Order, OrderSide, OrderStatus, OrderType
from executor.store.models import OrderRow


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
