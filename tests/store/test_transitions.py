"""State transitions the repositories perform: signals settle once, orders move only as their life allows,
positions close, resize, move their stop and record a close request, all on the row as the transaction
sees it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from executor.domain.enums import OrderKind, PositionStatus, Setup, Side, SignalSource, SignalStatus
from executor.domain.order_state import IllegalTransition, OrderState, history_entry
from executor.domain.orders import Order, OrderSide, OrderStatus, OrderType
from executor.store.models import OrderRow, PositionRow
from executor.store.store import Store

NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
LATER = NOW + timedelta(seconds=3)
ACCOUNT = "main"


async def _signal(store: Store, signal_id: str = "s1") -> int:
    async with store.transaction() as tx:
        row, _ = await tx.signals.store(
            account=ACCOUNT, signal_id=signal_id, source=SignalSource.WEBHOOK, payload={}, received_at=NOW
        )
    return row.id


async def _order(
    store: Store, client_id: str, kind: OrderKind = OrderKind.ENTRY, signal_pk: int | None = None
) -> None:
    async with store.transaction() as tx:
        await tx.orders.add(
            OrderRow(
                account=ACCOUNT,
                client_order_id=client_id,
                signal_pk=signal_pk,
                kind=kind,
                symbol="SOL/USDT:USDT",
                side=OrderSide.BUY if kind is OrderKind.ENTRY else OrderSide.SELL,
                order_type=OrderType.MARKET if kind is OrderKind.ENTRY else OrderType.STOP_MARKET,
                qty=Decimal(2),
                trigger_price=None if kind is OrderKind.ENTRY else Decimal(140),
                state=OrderState.PENDING,
                state_history=[history_entry(OrderState.PENDING, NOW)],
                created_at=NOW,
                updated_at=NOW,
            )
        )


async def _position(store: Store, signal_pk: int | None = None) -> int:
    async with store.transaction() as tx:
        row = await tx.positions.add(
            PositionRow(
                account=ACCOUNT,
                signal_pk=signal_pk,
                symbol="SOL/USDT:USDT",
                side=Side.LONG,
                status=PositionStatus.OPEN,
                qty=Decimal(2),
                entry_price=Decimal(150),
                stop_price=Decimal(140),
                leverage=5,
                setup=Setup.PRIMARY,
                opened_at=NOW,
            )
        )
    return row.id


def reported(status: OrderStatus, filled: str, **fields: object) -> Order:
    values: dict[str, object] = {
        "symbol": "SOL/USDT:USDT",
        "exchange_id": "ex-1",
        "client_id": "c-entry",
        "kind": OrderKind.ENTRY,
        "type": OrderType.MARKET,
        "side": OrderSide.BUY,
        "status": status,
        "qty": Decimal(2),
        "filled": Decimal(filled),
        "average_price": Decimal("150.5") if Decimal(filled) else None,
        "price": None,
        "trigger_price": None,
        "reduce_only": False,
        "conditional": False,
        "timestamp": NOW,
    }
    return Order(**(values | fields))  # type: ignore[arg-type]


async def test_a_signal_is_settled_once_and_a_second_settle_changes_nothing(store: Store) -> None:
    signal_pk = await _signal(store)
    async with store.transaction() as tx:
        assert await tx.signals.settle(signal_pk, SignalStatus.DECIDED, NOW) is True
    async with store.transaction() as tx:
        assert await tx.signals.settle(signal_pk, SignalStatus.FAILED, LATER, "too late") is False
        row = await tx.signals.by_pk(signal_pk)
    assert row is not None
    assert (row.status, row.decided_at, row.error) == (SignalStatus.DECIDED, NOW, None)


async def test_an_order_moves_along_its_life_and_the_observer_hears_each_change_once(
    database_url: str,
) -> None:
    heard: list[tuple[OrderKind, OrderState]] = []
    store = Store.open(database_url, on_order_moved=lambda kind, state: heard.append((kind, state)))
    await store.upgrade()
    try:
        await _order(store, "c-entry")
        async with store.transaction() as tx:
            await tx.orders.move(ACCOUNT, "c-entry", OrderState.UNKNOWN, NOW, "timed out")
            await tx.orders.move(ACCOUNT, "c-entry", OrderState.UNKNOWN, NOW, "timed out again")
        async with store.transaction() as tx:
            row = await tx.orders.record(ACCOUNT, "c-entry", reported(OrderStatus.CLOSED, "2"), LATER)
        async with store.transaction() as tx:
            stored = await tx.orders.by_client_id(ACCOUNT, "c-entry")
    finally:
        await store.close()
    assert heard == [(OrderKind.ENTRY, OrderState.UNKNOWN), (OrderKind.ENTRY, OrderState.FILLED)]
    assert row.state is OrderState.FILLED
    assert stored is not None
    assert (stored.state, stored.exchange_order_id, stored.filled_qty, stored.average_price) == (
        OrderState.FILLED,
        "ex-1",
        Decimal(2),
        Decimal("150.5"),
    )
    assert stored.error == "timed out again"  # the latest word on a failure state
    assert [entry["state"] for entry in stored.state_history] == ["pending", "unknown", "filled"]
    assert stored.updated_at == LATER


async def test_a_closed_order_that_never_traded_is_recorded_cancelled_not_filled(store: Store) -> None:
    await _order(store, "c-entry")
    async with store.transaction() as tx:
        row = await tx.orders.record(ACCOUNT, "c-entry", reported(OrderStatus.CLOSED, "0"), NOW)
    assert row.state is OrderState.CANCELED
    assert row.state_history[-1] == history_entry(OrderState.CANCELED, NOW, "ended without a fill")


async def test_a_move_the_order_life_forbids_raises_and_writes_nothing(store: Store) -> None:
    await _order(store, "c-entry")
    async with store.transaction() as tx:
        await tx.orders.move(ACCOUNT, "c-entry", OrderState.NOT_SENT, NOW, "not on the exchange")
    with pytest.raises(IllegalTransition, match="not_sent to pending"):
        async with store.transaction() as tx:
            await tx.orders.move(ACCOUNT, "c-entry", OrderState.PENDING, LATER)
    with pytest.raises(LookupError, match="c-missing"):
        async with store.transaction() as tx:
            await tx.orders.move(ACCOUNT, "c-missing", OrderState.OPEN, LATER)
    async with store.transaction() as tx:
        row = await tx.orders.by_client_id(ACCOUNT, "c-entry")
    assert row is not None
    assert (row.state, row.error, row.updated_at) == (OrderState.NOT_SENT, "not on the exchange", NOW)


async def test_a_resting_stop_is_adopted_with_its_id_and_trigger(store: Store) -> None:
    await _order(store, "c-stop", OrderKind.STOP)
    resting = reported(
        OrderStatus.OPEN,
        "0",
        exchange_id="ex-stop",
        client_id=None,
        kind=None,
        type=OrderType.STOP_MARKET,
        trigger_price=Decimal("139.5"),
    )
    async with store.transaction() as tx:
        await tx.orders.adopt(ACCOUNT, "c-stop", resting, NOW)
    async with store.transaction() as tx:
        row = await tx.orders.by_client_id(ACCOUNT, "c-stop")
    assert row is not None
    assert (row.state, row.exchange_order_id, row.trigger_price) == (
        OrderState.OPEN,
        "ex-stop",
        Decimal("139.5"),
    )


async def test_attach_gives_the_entry_and_its_protective_legs_to_the_position_only(store: Store) -> None:
    signal_pk = await _signal(store)
    for client_id, kind in [
        ("c-entry", OrderKind.ENTRY),
        ("c-stop", OrderKind.STOP),
        ("c-close", OrderKind.CLOSE),
    ]:
        await _order(store, client_id, kind, signal_pk)
    await _order(store, "other-stop", OrderKind.STOP, await _signal(store, "s2"))
    position_pk = await _position(store, signal_pk)
    async with store.transaction() as tx:
        entry = await tx.orders.attach(
            ACCOUNT, "c-entry", position_pk, (OrderKind.STOP, OrderKind.TAKE_PROFIT)
        )
        owners = {
            client_id: (await tx.orders.by_client_id(ACCOUNT, client_id)).position_pk  # type: ignore[union-attr]
            for client_id in ("c-entry", "c-stop", "c-close", "other-stop")
        }
    assert entry.position_pk == position_pk
    assert owners == {"c-entry": position_pk, "c-stop": position_pk, "c-close": None, "other-stop": None}


async def test_a_position_closes_once_and_is_no_longer_open(store: Store) -> None:
    position_pk = await _position(store)
    async with store.transaction() as tx:
        row = await tx.positions.open_one(position_pk)
        assert row is not None
        await tx.positions.close(
            row,
            exit_price=Decimal(155),
            realized_pnl=Decimal(10),
            fees=Decimal("0.3"),
            funding=Decimal("-0.1"),
            closed_at=LATER,
        )
    async with store.transaction() as tx:
        assert await tx.positions.open_one(position_pk) is None
        closed = await tx.positions.get(position_pk)
        assert closed is not None
        with pytest.raises(ValueError, match="closed, not open"):
            await tx.positions.close(
                closed,
                exit_price=None,
                realized_pnl=Decimal(0),
                fees=Decimal(0),
                funding=Decimal(0),
                closed_at=LATER,
            )
    assert (closed.status, closed.exit_price, closed.realized_pnl, closed.closed_at) == (
        PositionStatus.CLOSED,
        Decimal(155),
        Decimal(10),
        LATER,
    )


async def test_a_position_is_resized_asked_to_close_and_its_stop_moved(store: Store) -> None:
    position_pk = await _position(store)
    async with store.transaction() as tx:
        await tx.positions.resize(position_pk, Decimal(3))
        await tx.positions.request_close(position_pk, "close signal s9")
        moved, previous = await tx.positions.move_stop(position_pk, Decimal(145))
    async with store.transaction() as tx:
        row = await tx.positions.get(position_pk)
        with pytest.raises(LookupError):
            await tx.positions.resize(position_pk + 100, Decimal(1))
    assert previous == Decimal(140) and moved.stop_price == Decimal(145)
    assert row is not None
    assert (row.qty, row.close_requested, row.stop_price) == (Decimal(3), "close signal s9", Decimal(145))
