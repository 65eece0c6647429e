"""Enum columns: domain members in and out, stored as their values, and rows of the untyped schema still load.

`LEGACY` is the schema as the previous version mapped it (every enum column a plain VARCHAR), so rows it
writes are the rows an existing database holds.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Enum, MetaData, String, Table, insert, select
from sqlalchemy.exc import StatementError

from executor.domain.enums import (
    BreakerStatus,
    EventKind,
    OrderKind,
    PositionStatus,
    RiskStep,
    Setup,
    Side,
    SignalSource,
    SignalStatus,
)
from executor.domain.order_state import OrderState, history_entry
from executor.domain.orders import OrderSide, OrderType
from executor.domain.reasons import ReasonCode
from executor.store.models import Base, OrderRow, PositionRow, RejectedSignalRow
from executor.store.store import Store

NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
ACCOUNT = "main"

ENUM_COLUMNS = [
    (table.name, column.name, column.type)
    for table in Base.metadata.sorted_tables
    for column in table.columns
    if isinstance(column.type, Enum)
]

LEGACY = MetaData()
for _table in Base.metadata.sorted_tables:
    _table.to_metadata(LEGACY)
for _table in LEGACY.tables.values():
    for _column in _table.columns:
        if isinstance(_column.type, Enum):
            _column.type = String(_column.type.length)


def legacy(name: str) -> Table:
    return LEGACY.tables[name]


def test_every_enum_column_is_mapped_and_every_member_fits_its_width() -> None:
    mapped = {(table, column) for table, column, _ in ENUM_COLUMNS}
    assert mapped == {
        ("signals", "source"),
        ("signals", "status"),
        ("rejected_signals", "source"),
        ("decisions", "side"),
        ("decisions", "reason"),
        ("decisions", "binding"),
        ("orders", "kind"),
        ("orders", "side"),
        ("orders", "order_type"),
        ("orders", "state"),
        ("fills", "side"),
        ("positions", "side"),
        ("positions", "status"),
        ("positions", "setup"),
        ("daily_loss", "breaker"),
        ("events", "kind"),
    }
    for table, column, enum_type in ENUM_COLUMNS:
        assert enum_type.length is not None
        too_long = [value for value in enum_type.enums if len(value) > enum_type.length]
        assert not too_long, f"{table}.{column} holds {enum_type.length} characters: {too_long}"


async def _legacy_rows(store: Store, **overrides: Any) -> None:
    """One row per table with enum columns, written as the untyped schema wrote them: plain text."""
    rows: list[tuple[str, dict[str, Any]]] = [
        (
            "signals",
            {
                "id": 1,
                "account": ACCOUNT,
                "signal_id": "s1",
                "source": "webhook",
                "payload": {},
                "status": "failed",
                "received_at": NOW,
            },
        ),
        (
            "decisions",
            {
                "signal_pk": 1,
                "account": ACCOUNT,
                "accepted": True,
                "message": "ok",
                "symbol": "SOL/USDT:USDT",
                "side": "short",
                "reason": "HEAT_CAP",
                "binding": "position_heat",
                "steps": [],
                "decided_at": NOW,
            },
        ),
        (
            "positions",
            {
                "id": 1,
                "account": ACCOUNT,
                "signal_pk": 1,
                "symbol": "SOL/USDT:USDT",
                "side": "short",
                "status": "closed",
                "qty": Decimal(1),
                "entry_price": Decimal(150),
                "leverage": 5,
                "setup": "secondary",
                "realized_pnl": Decimal(0),
                "fees": Decimal(0),
                "funding": Decimal(0),
                "opened_at": NOW,
                "closed_at": NOW,
            },
        ),
        (
            "orders",
            {
                "id": 1,
                "account": ACCOUNT,
                "client_order_id": "x-s1-tp",
                "signal_pk": 1,
                "position_pk": 1,
                "kind": "take_profit",
                "symbol": "SOL/USDT:USDT",
                "side": "buy",
                "order_type": "take_profit_market",
                "qty": Decimal(1),
                "reduce_only": True,
                "conditional": True,
                "state": "not_sent",
                "state_history": [],
                "filled_qty": Decimal(0),
                "created_at": NOW,
                "updated_at": NOW,
            },
        ),
        (
            "fills",
            {
                "account": ACCOUNT,
                "trade_id": "t1",
                "order_pk": 1,
                "symbol": "SOL/USDT:USDT",
                "side": "buy",
                "qty": Decimal(1),
                "price": Decimal(140),
                "fee": Decimal(0),
                "fee_asset": "USDT",
                "executed_at": NOW,
            },
        ),
        (
            "daily_loss",
            {
                "account": ACCOUNT,
                "trading_day": date(2026, 6, 2),
                "start_of_day_equity": Decimal(1000),
                "realized_pnl": Decimal(0),
                "fees": Decimal(0),
                "funding": Decimal(0),
                "breaker": "tripped",
                "updated_at": NOW,
            },
        ),
        ("events", {"account": ACCOUNT, "at": NOW, "kind": "operator.resume", "data": {}}),
        (
            "rejected_signals",
            {"account": ACCOUNT, "source": "redis", "raw": "{", "errors": [], "received_at": NOW},
        ),
    ]
    async with store.engine.begin() as connection:
        for table, values in rows:
            await connection.execute(insert(legacy(table)).values(**(values | overrides.get(table, {}))))


async def test_rows_written_as_plain_text_by_the_previous_version_load_as_domain_members(
    store: Store,
) -> None:
    await _legacy_rows(store)
    async with store.transaction() as tx:
        signal = await tx.signals.by_pk(1)
        decision = await tx.decisions.for_signal(1)
        position = await tx.positions.get(1)
        order = await tx.orders.by_client_id(ACCOUNT, "x-s1-tp")
        fill = await tx.fills.by_trade_id(ACCOUNT, "t1")
        day = await tx.daily_loss.latest(ACCOUNT)
        events = await tx.events.recent(ACCOUNT)
        rejected = await tx.session.scalar(select(RejectedSignalRow))
    assert (
        signal is not None and signal.status is SignalStatus.FAILED and signal.source is SignalSource.WEBHOOK
    )
    assert rejected is not None and rejected.source is SignalSource.REDIS
    assert decision is not None and decision.side is Side.SHORT and decision.reason is ReasonCode.HEAT_CAP
    assert decision.binding is RiskStep.POSITION_HEAT
    assert position is not None
    assert position.side is Side.SHORT
    assert position.status is PositionStatus.CLOSED
    assert position.setup is Setup.SECONDARY
    assert order is not None
    assert order.kind is OrderKind.TAKE_PROFIT
    assert order.side is OrderSide.BUY
    assert order.order_type is OrderType.TAKE_PROFIT_MARKET
    assert order.state is OrderState.NOT_SENT
    assert fill is not None and fill.side is OrderSide.BUY
    assert day is not None and day.breaker is BreakerStatus.TRIPPED
    assert len(events) == 1 and events[0].kind is EventKind.OPERATOR_RESUME


async def test_members_are_stored_as_their_values_not_their_names(store: Store) -> None:
    async with store.transaction() as tx:
        position = await tx.positions.add(
            PositionRow(
                account=ACCOUNT,
                symbol="SOL/USDT:USDT",
                side=Side.LONG,
                status=PositionStatus.OPEN,
                qty=Decimal(1),
                entry_price=Decimal(150),
                leverage=5,
                setup=Setup.PRIMARY,
                opened_at=NOW,
            )
        )
        await tx.orders.add(
            OrderRow(
                account=ACCOUNT,
                client_order_id="x-s2-tp",
                position_pk=position.id,
                kind=OrderKind.TAKE_PROFIT,
                symbol="SOL/USDT:USDT",
                side=OrderSide.SELL,
                order_type=OrderType.TAKE_PROFIT_MARKET,
                qty=Decimal(1),
                reduce_only=True,
                conditional=True,
                state=OrderState.NOT_SENT,
                state_history=[history_entry(OrderState.NOT_SENT, NOW)],
                created_at=NOW,
                updated_at=NOW,
            )
        )
    orders, positions = legacy("orders"), legacy("positions")
    async with store.engine.connect() as connection:
        order = (
            await connection.execute(
                select(orders.c.kind, orders.c.side, orders.c.order_type, orders.c.state)
            )
        ).one()
        stored = (
            await connection.execute(select(positions.c.side, positions.c.status, positions.c.setup))
        ).one()
    assert tuple(order) == ("take_profit", "sell", "take_profit_market", "not_sent")
    assert tuple(stored) == ("long", "open", "primary")
    assert all(type(value) is str for value in (*order, *stored))


async def test_a_value_outside_the_enum_is_refused_on_write(store: Store) -> None:
    with pytest.raises(StatementError, match="sideways"):
        async with store.transaction() as tx:
            await tx.positions.add(
                PositionRow(
                    account=ACCOUNT,
                    symbol="SOL/USDT:USDT",
                    side="sideways",
                    status=PositionStatus.OPEN,
                    qty=Decimal(1),
                    entry_price=Decimal(150),
                    leverage=5,
                    setup=Setup.PRIMARY,
                    opened_at=NOW,
                )
            )
    async with store.transaction() as tx:
        assert await tx.positions.with_status(ACCOUNT, PositionStatus.OPEN) == []


async def test_a_stored_value_the_code_does_not_know_fails_the_read_instead_of_passing_as_text(
    store: Store,
) -> None:
    await _legacy_rows(store, positions={"status": "archived"})
    with pytest.raises(LookupError, match="archived"):
        async with store.transaction() as tx:
            await tx.positions.get(1)
