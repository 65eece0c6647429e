from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy.exc import IntegrityError

from executor.domain.enums import (
    BreakerStatus,
    EventKind,
    OrderKind,
    PositionStatus,
    Setup,
    Side,
    SignalSource,
    SignalStatus,
)
from executor.domain.order_state import OrderState, history_entry
from executor.domain.orders import OrderSide, OrderType
from executor.store.models import (
    DailyLossRow,
    DecisionRow,
    FillRow,
    FundingPaymentRow,
    OrderRow,
    PositionRow,
)
from executor.store.store import Store

# 18 significant digits each, large and small, positive and negative.
BIG = Decimal("123456789.012345678")
SMALL = Decimal("0.123456789012345678")
NEG = Decimal("-98765432.1098765432")
NOW = datetime(2026, 6, 2, 14, 0, 0, 123456, tzinfo=UTC)
ACCOUNT = "main"


def assert_exact(read: Decimal | None, written: Decimal) -> None:
    assert read is not None
    assert (read, str(read)) == (written, str(written))


async def _signal(store: Store, signal_id: str = "s1") -> int:
    async with store.transaction() as tx:
        row, duplicate = await tx.signals.store(
            account=ACCOUNT,
            signal_id=signal_id,
            source=SignalSource.WEBSOCKET,
            payload={"id": signal_id},
            received_at=NOW,
        )
    assert not duplicate
    return row.id


async def test_signal_is_stored_once_and_a_second_arrival_is_a_duplicate(store: Store) -> None:
    first = await _signal(store)
    async with store.transaction() as tx:
        row, duplicate = await tx.signals.store(
            account=ACCOUNT,
            signal_id="s1",
            source=SignalSource.WEBHOOK,
            payload={"other": True},
            received_at=NOW,
        )
    assert (row.id, duplicate, row.source, row.payload) == (first, True, SignalSource.WEBSOCKET, {"id": "s1"})
    async with store.transaction() as tx:
        queued = await tx.signals.queued(ACCOUNT)
        assert [r.signal_id for r in queued] == ["s1"]
        assert await tx.signals.settle(queued[0].id, SignalStatus.DECIDED, NOW) is True
    async with store.transaction() as tx:
        assert await tx.signals.queued(ACCOUNT) == []
        stored = await tx.signals.get(ACCOUNT, "s1")
    assert stored is not None
    assert (stored.status, stored.received_at, stored.decided_at) == (SignalStatus.DECIDED, NOW, NOW)


async def test_rejected_signal_round_trips_and_is_truncated(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.rejected.add(
            account=ACCOUNT,
            source=SignalSource.WEBHOOK,
            raw="x" * 100_000,
            errors=[{"field": "stop"}],
            received_at=NOW,
        )
    async with store.transaction() as tx:
        assert await tx.rejected.count(ACCOUNT) == 1


async def test_decision_round_trips_exact_decimals_and_step_log(store: Store) -> None:
    signal_pk = await _signal(store)
    steps = [{"step": "gates", "before": {}, "after": {"qty": str(BIG)}, "binding": False, "note": ""}]
    async with store.transaction() as tx:
        await tx.decisions.add(
            DecisionRow(
                signal_pk=signal_pk,
                account=ACCOUNT,
                accepted=True,
                reason=None,
                message="ok",
                symbol="SOL/USDT:USDT",
                side=Side.LONG,
                qty=BIG,
                leverage=20,
                entry=SMALL,
                stop=NEG,
                take_profit=None,
                notional=BIG,
                margin=SMALL,
                risk=SMALL,
                risk_pct=SMALL,
                liquidation_price=BIG,
                binding="account_leverage",
                steps=steps,
                decided_at=NOW,
            )
        )
    async with store.transaction() as tx:
        row = await tx.decisions.for_signal(signal_pk)
    assert row is not None
    for read, written in [(row.qty, BIG), (row.entry, SMALL), (row.stop, NEG), (row.liquidation_price, BIG)]:
        assert_exact(read, written)
    assert (row.steps, row.decided_at, row.take_profit) == (steps, NOW, None)


async def test_order_client_id_is_unique_per_account(store: Store) -> None:
    signal_pk = await _signal(store)

    def order(account: str) -> OrderRow:
        return OrderRow(
            account=account,
            client_order_id="x-s1-entry",
            signal_pk=signal_pk,
            kind=OrderKind.ENTRY,
            symbol="SOL/USDT:USDT",
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            qty=BIG,
            price=None,
            trigger_price=SMALL,
            reduce_only=False,
            conditional=False,
            state=OrderState.PENDING,
            state_history=[history_entry(OrderState.PENDING, NOW)],
            filled_qty=Decimal(0),
            created_at=NOW,
            updated_at=NOW,
        )

    async with store.transaction() as tx:
        await tx.orders.add(order(ACCOUNT))
        await tx.orders.add(order("other"))
    with pytest.raises(IntegrityError):
        async with store.transaction() as tx:
            await tx.orders.add(order(ACCOUNT))
    async with store.transaction() as tx:
        row = await tx.orders.by_client_id(ACCOUNT, "x-s1-entry")
        pending = await tx.orders.in_states(ACCOUNT, [OrderState.PENDING])
    assert row is not None and [r.id for r in pending] == [row.id]
    assert_exact(row.qty, BIG)
    assert_exact(row.trigger_price, SMALL)


async def test_fill_books_once_by_trade_id(store: Store) -> None:
    def fill() -> FillRow:
        return FillRow(
            account=ACCOUNT,
            trade_id="t-1",
            symbol="SOL/USDT:USDT",
            side=OrderSide.SELL,
            qty=BIG,
            price=SMALL,
            fee=SMALL,
            fee_asset="USDT",
            realized_pnl=NEG,
            executed_at=NOW,
        )

    async with store.transaction() as tx:
        assert await tx.fills.add(fill()) is True
        assert await tx.fills.add(fill()) is False
    async with store.transaction() as tx:
        row = await tx.fills.by_trade_id(ACCOUNT, "t-1")
    assert row is not None and row.executed_at == NOW
    assert_exact(row.realized_pnl, NEG)
    assert_exact(row.fee, SMALL)


async def test_position_and_its_funding_payments_round_trip(store: Store) -> None:
    async with store.transaction() as tx:
        position = await tx.positions.add(
            PositionRow(
                account=ACCOUNT,
                symbol="BTC/USDT:USDT",
                side=Side.SHORT,
                status=PositionStatus.OPEN,
                qty=SMALL,
                entry_price=BIG,
                stop_price=BIG,
                take_profit=None,
                leverage=5,
                setup=Setup.PRIMARY,
                equity_before=BIG,
                exit_price=None,
                opened_at=NOW,
                closed_at=None,
            )
        )
        payment = FundingPaymentRow(
            account=ACCOUNT,
            payment_id="f-1",
            position_pk=position.id,
            symbol="BTC/USDT:USDT",
            amount=NEG,
            asset="USDT",
            rate=SMALL,
            paid_at=NOW,
        )
        assert await tx.funding.add(payment) is True
        duplicate = FundingPaymentRow(
            account=ACCOUNT, payment_id="f-1", symbol="BTC/USDT:USDT", amount=NEG, asset="USDT", paid_at=NOW
        )
        assert await tx.funding.add(duplicate) is False
    async with store.transaction() as tx:
        opened = await tx.positions.with_status(ACCOUNT, PositionStatus.OPEN)
        payments = await tx.funding.for_position(opened[0].id)
    assert_exact(opened[0].qty, SMALL)
    assert_exact(opened[0].entry_price, BIG)
    assert_exact(opened[0].realized_pnl, Decimal(0))
    assert [p.payment_id for p in payments] == ["f-1"]
    assert_exact(payments[0].amount, NEG)


async def test_daily_loss_row_survives_a_new_store_on_the_same_database(database_url: str) -> None:
    first = Store.open(database_url)
    await first.upgrade()
    async with first.transaction() as tx:
        await tx.daily_loss.add(
            DailyLossRow(
                account=ACCOUNT,
                trading_day=date(2026, 6, 2),
                start_of_day_equity=BIG,
                realized_pnl=NEG,
                fees=SMALL,
                funding=SMALL,
                breaker=BreakerStatus.TRIPPED,
                tripped_at=NOW,
                trip_reason="limit",
                updated_at=NOW,
            )
        )
    await first.close()
    second = Store.open(database_url)
    try:
        async with second.transaction() as tx:
            row = await tx.daily_loss.latest(ACCOUNT)
            same = await tx.daily_loss.get(ACCOUNT, date(2026, 6, 2))
    finally:
        await second.close()
    assert row is not None and same is not None and row.id == same.id
    assert (row.breaker, row.tripped_at, row.trip_reason) == (BreakerStatus.TRIPPED, NOW, "limit")
    assert_exact(row.start_of_day_equity, BIG)
    assert_exact(row.realized_pnl, NEG)


async def test_risk_state_is_written_only_over_the_version_its_writer_read(store: Store) -> None:
    later = NOW + timedelta(hours=1)
    async with store.transaction() as tx:
        first: dict[str, Any] = dict(account=ACCOUNT, state={"loss_streak": 2}, peak_equity=BIG, at=NOW)
        assert await tx.risk_state.compare_and_save(expected_version=0, **first) is True
        assert await tx.risk_state.compare_and_save(expected_version=0, **first) is False
    async with store.transaction() as tx:
        second: dict[str, Any] = dict(account=ACCOUNT, state={"loss_streak": 0}, peak_equity=SMALL, at=later)
        assert await tx.risk_state.compare_and_save(expected_version=1, **second) is True
        assert await tx.risk_state.compare_and_save(expected_version=1, **first) is False
    async with store.transaction() as tx:
        row = await tx.risk_state.get(ACCOUNT)
        version = await tx.risk_state.current_version(ACCOUNT)
    assert row is not None and (row.state, row.updated_at, row.version, version) == (
        {"loss_streak": 0},
        later,
        2,
        2,
    )
    assert_exact(row.peak_equity, SMALL)


async def test_events_append_in_order(store: Store) -> None:
    async with store.transaction() as tx:
        await tx.events.append(
            account=ACCOUNT, at=NOW, kind=EventKind.DAY_STARTED, data={"n": 1}, signal_id="s1"
        )
        await tx.events.append(account=ACCOUNT, at=NOW, kind=EventKind.STOP_MOVED, data={"n": 2})
    async with store.transaction() as tx:
        events = await tx.events.recent(ACCOUNT)
    assert [(e.kind, e.data, e.signal_id) for e in events] == [
        (EventKind.STOP_MOVED, {"n": 2}, None),
        (EventKind.DAY_STARTED, {"n": 1}, "s1"),
    ]


async def test_a_failed_transaction_writes_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="boom"):  # noqa: PT012 - the failing transaction is the subject
        async with store.transaction() as tx:
            await tx.events.append(account=ACCOUNT, at=NOW, kind=EventKind.DAY_STARTED, data={})
            raise RuntimeError("boom")
    async with store.transaction() as tx:
        assert await tx.events.recent(ACCOUNT) == []


async def test_money_columns_refuse_floats(store: Store) -> None:
    with pytest.raises(Exception, match="Decimal"):
        async with store.transaction() as tx:
            await tx.fills.add(
                FillRow(
                    account=ACCOUNT,
                    trade_id="t",
                    symbol="X",
                    side=OrderSide.BUY,
                    qty=0.1,
                    price=SMALL,  # type: ignore[arg-type]
                    fee=SMALL,
                    fee_asset="USDT",
                    executed_at=NOW,
                )
            )


async def test_a_failed_transaction_with_an_insert_unless_present_writes_nothing(store: Store) -> None:
    """SQLite's driver ran such a SAVEPOINT outside any transaction and its release committed the fill:
    a crash later in the booking kept the fills and lost the position (crash trial seed 4257)."""
    fill = FillRow(
        account=ACCOUNT,
        trade_id="t-savepoint",
        symbol="SOL/USDT:USDT",
        side=OrderSide.SELL,
        qty=BIG,
        price=SMALL,
        fee=SMALL,
        fee_asset="USDT",
        realized_pnl=NEG,
        executed_at=NOW,
    )
    with pytest.raises(RuntimeError, match="killed"):  # noqa: PT012 - the failing transaction is the subject
        async with store.transaction() as tx:
            await tx.signals.queued(ACCOUNT)
            assert await tx.fills.add(fill) is True
            raise RuntimeError("killed before the position was booked")
    async with store.transaction() as tx:
        assert await tx.fills.by_trade_id(ACCOUNT, "t-savepoint") is None


async def test_unadopted_entries_are_live_ones_and_filled_ones_without_a_position(store: Store) -> None:
    signal_pk = await _signal(store)

    def entry(client_id: str, state: OrderState, filled: str, symbol: str = "SOL/USDT:USDT") -> OrderRow:
        return OrderRow(
            account=ACCOUNT,
            client_order_id=client_id,
            signal_pk=signal_pk,
            kind=OrderKind.ENTRY,
            symbol=symbol,
            side=OrderSide.BUY,
            order_type=OrderType.MARKET,
            qty=Decimal(1),
            reduce_only=False,
            conditional=False,
            state=state,
            state_history=[history_entry(state, NOW)],
            filled_qty=Decimal(filled),
            created_at=NOW,
            updated_at=NOW,
        )

    async with store.transaction() as tx:
        for row in (
            entry("pending", OrderState.PENDING, "0"),
            entry("unknown", OrderState.UNKNOWN, "0"),
            entry("filled-unadopted", OrderState.FILLED, "1"),
            entry("canceled-part-filled", OrderState.CANCELED, "0.5"),
            entry("canceled-unfilled", OrderState.CANCELED, "0.000"),
            entry("rejected", OrderState.REJECTED, "0"),
            entry("other-symbol", OrderState.PENDING, "0", symbol="ETH/USDT:USDT"),
        ):
            await tx.orders.add(row)
    live = [OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN]
    async with store.transaction() as tx:
        rows = await tx.orders.unadopted_entries(ACCOUNT, "SOL/USDT:USDT", live)
    assert [row.client_order_id for row in rows] == [
        "pending",
        "unknown",
        "filled-unadopted",
        "canceled-part-filled",
    ]


async def test_legs_of_ended_positions_are_the_symbols_live_stops_whose_position_is_not_open(
    store: Store,
) -> None:
    signal_pk = await _signal(store)

    def position(symbol: str, status: PositionStatus) -> PositionRow:
        return PositionRow(
            account=ACCOUNT,
            symbol=symbol,
            side=Side.LONG,
            status=status,
            qty=Decimal(1),
            entry_price=Decimal(100),
            stop_price=Decimal(90),
            take_profit=None,
            leverage=5,
            setup=Setup.PRIMARY,
            equity_before=Decimal(1000),
            exit_price=None,
            opened_at=NOW,
            closed_at=NOW if status is PositionStatus.CLOSED else None,
        )

    def leg(client_id: str, kind: OrderKind, state: OrderState, position_pk: int, symbol: str) -> OrderRow:
        return OrderRow(
            account=ACCOUNT,
            client_order_id=client_id,
            signal_pk=signal_pk,
            position_pk=position_pk,
            kind=kind,
            symbol=symbol,
            side=OrderSide.SELL,
            order_type=OrderType.STOP_MARKET if kind is OrderKind.STOP else OrderType.MARKET,
            qty=Decimal(1),
            trigger_price=Decimal(90) if kind is OrderKind.STOP else None,
            reduce_only=kind is not OrderKind.ENTRY,
            conditional=kind is OrderKind.STOP,
            state=state,
            state_history=[history_entry(state, NOW)],
            filled_qty=Decimal(0),
            created_at=NOW,
            updated_at=NOW,
        )

    sol, eth = "SOL/USDT:USDT", "ETH/USDT:USDT"
    async with store.transaction() as tx:
        closed = (await tx.positions.add(position(sol, PositionStatus.CLOSED))).id
        still_open = (await tx.positions.add(position(sol, PositionStatus.OPEN))).id
        other = (await tx.positions.add(position(eth, PositionStatus.CLOSED))).id
        for row in (
            leg("stale-stop", OrderKind.STOP, OrderState.OPEN, closed, sol),
            leg("stale-unknown", OrderKind.STOP, OrderState.UNKNOWN, closed, sol),
            leg("canceled-stop", OrderKind.STOP, OrderState.CANCELED, closed, sol),
            leg("closed-entry", OrderKind.ENTRY, OrderState.OPEN, closed, sol),
            leg("open-positions-stop", OrderKind.STOP, OrderState.OPEN, still_open, sol),
            leg("other-symbol", OrderKind.STOP, OrderState.OPEN, other, eth),
        ):
            await tx.orders.add(row)
    live = [OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN]
    async with store.read() as tx:
        rows = await tx.orders.legs_of_ended_positions(ACCOUNT, sol, live)
    assert [row.client_order_id for row in rows] == ["stale-stop", "stale-unknown"]
