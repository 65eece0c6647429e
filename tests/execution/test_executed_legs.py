"""Which live protective legs a close books as executed instead of cancelling: only those whose executing
order's fills (Binance's order created by the trigger, Phemex's stop itself) cover their quantity. A
triggered stop whose order filled in part, or a stop with no fill of its own, is still cancelled."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from executor.domain.enums import OrderKind
from executor.domain.order_state import OrderState
from executor.domain.orders import Fill, OrderSide, OrderType
from executor.execution.booking import executed_legs
from executor.execution.orders import intent
from executor.store.models import OrderRow

NOW = datetime(2026, 11, 29, tzinfo=UTC)


def leg(
    pk: int, kind: OrderKind, *, state: OrderState = OrderState.OPEN, executed: str | None = None
) -> OrderRow:
    row = intent(
        account="main",
        client_id=f"leg-{pk}",
        kind=kind,
        symbol="SOL/USDT:USDT",
        side=OrderSide.SELL,
        order_type=OrderType.STOP_MARKET,
        qty=Decimal("2"),
        now=NOW,
    )
    row.id, row.state, row.exchange_order_id, row.executed_order_id = pk, state, f"algo-{pk}", executed
    return row


def fill(trade_id: str, order_id: str, qty: str) -> Fill:
    return Fill(
        trade_id,
        order_id,
        "SOL/USDT:USDT",
        OrderSide.SELL,
        Decimal(qty),
        Decimal("146"),
        Decimal(0),
        None,
        NOW,
    )


def test_a_leg_is_executed_only_when_its_own_orders_fills_cover_it() -> None:
    stop = leg(1, OrderKind.STOP, executed="order-9")
    partial = leg(2, OrderKind.STOP, executed="order-8")
    take_profit = leg(3, OrderKind.TAKE_PROFIT)
    ended = leg(4, OrderKind.STOP, state=OrderState.FILLED, executed="order-7")
    fills = [
        fill("t1", "order-9", "1.5"),
        fill("t2", "order-9", "0.5"),
        fill("t2", "order-9", "0.5"),  # the same trade twice (stream and REST) counts once
        fill("t3", "order-8", "1.9"),  # the trigger's order filled in part: the rest may still rest
        fill("t4", "order-7", "2"),
    ]
    found = executed_legs([stop, partial, take_profit, ended], fills)
    assert list(found) == [1]
    assert [f.trade_id for f in found[1][1]] == ["t1", "t2"]


def test_a_phemex_stop_is_executed_by_fills_under_its_own_order_id() -> None:
    stop = leg(1, OrderKind.STOP)
    assert list(executed_legs([stop], [fill("t1", "algo-1", "2")])) == [1]
