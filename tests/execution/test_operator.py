"""The operator's pause and close on a real store (SQLite and PostgreSQL): one row, one event per change,
closes queued as ordinary close signals the consumer takes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from executor.domain.enums import Action, EventKind, PositionStatus, Setup, Side, SignalSource, SignalStatus
from executor.domain.signal import Instruction, InvalidSymbol
from executor.execution.operator import (
    NothingToClose,
    current_pause,
    queue_closes,
    set_pause,
)
from executor.store.models import PositionRow
from executor.store.store import Store

ACCOUNT = "main"
NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)


async def events(store: Store) -> list[tuple[EventKind, dict[str, object]]]:
    async with store.transaction() as tx:
        return [(row.kind, row.data) for row in reversed(await tx.events.recent(ACCOUNT))]


async def test_a_pause_is_stored_once_with_who_and_why_and_unpause_ends_it(store: Store) -> None:
    async with store.transaction() as tx:
        assert (await current_pause(tx, ACCOUNT)).paused is False

    first = await set_pause(store, ACCOUNT, True, NOW, "cli:ops", "news at 14:00")
    again = await set_pause(store, ACCOUNT, True, NOW + timedelta(minutes=1), "http:bot", None)

    assert first.changed and not again.changed
    assert (again.pause.by, again.pause.since, again.pause.note) == ("cli:ops", NOW, "news at 14:00")
    assert "Paused by cli:ops at 2026-06-02T14:00:00+00:00 (news at 14:00)" in again.pause.describe()
    ended = await set_pause(store, ACCOUNT, False, NOW + timedelta(minutes=2), "cli:ops")
    assert ended.changed and not (await set_pause(store, ACCOUNT, False, NOW, "cli:ops")).changed
    async with store.transaction() as tx:
        assert (await current_pause(tx, ACCOUNT)).paused is False
    assert await events(store) == [
        (EventKind.OPERATOR_PAUSE, {"by": "cli:ops", "note": "news at 14:00"}),
        (EventKind.OPERATOR_UNPAUSE, {"by": "cli:ops", "note": None}),
    ]


async def test_a_close_is_a_queued_close_signal_from_the_operator_with_an_event_naming_who_asked(
    store: Store,
) -> None:
    [queued] = await queue_closes(store, ACCOUNT, ["SOLUSDT"], NOW, "cli:ops")

    async with store.transaction() as tx:
        [row] = await tx.signals.queued(ACCOUNT)
        found = await tx.events.for_signal(ACCOUNT, queued.signal_id)
    assert (row.signal_id, row.source, row.status) == (
        queued.signal_id,
        SignalSource.OPERATOR,
        SignalStatus.QUEUED,
    )
    signal = Instruction.from_payload(row.payload)
    assert (signal.action, signal.symbol) == (Action.CLOSE, "SOLUSDT")
    assert [(e.kind, e.data) for e in found] == [
        (EventKind.OPERATOR_CLOSE, {"by": "cli:ops", "symbol": "SOLUSDT"})
    ]


async def test_close_all_queues_one_close_per_open_position_and_refuses_when_none_is_open(
    store: Store,
) -> None:
    with pytest.raises(NothingToClose):
        await queue_closes(store, ACCOUNT, None, NOW, "cli:ops")
    async with store.transaction() as tx:
        for symbol in ("SOL/USDT:USDT", "ETH/USDT:USDT"):
            await tx.positions.add(
                PositionRow(
                    account=ACCOUNT,
                    symbol=symbol,
                    side=Side.LONG,
                    qty=Decimal(1),
                    entry_price=Decimal(100),
                    leverage=2,
                    setup=Setup.PRIMARY,
                    status=PositionStatus.OPEN,
                    opened_at=NOW,
                )
            )

    queued = await queue_closes(store, ACCOUNT, None, NOW, "http:bot")

    assert [item.symbol for item in queued] == ["ETH/USDT:USDT", "SOL/USDT:USDT"]
    assert len({item.signal_id for item in queued}) == 2


async def test_a_malformed_symbol_is_refused_with_the_fix_and_nothing_is_queued(store: Store) -> None:
    with pytest.raises(InvalidSymbol) as refused:
        await queue_closes(store, ACCOUNT, ["SOL/USDT"], NOW, "cli:ops")
    assert "SOL/USDT is a spot symbol" in str(refused.value) and "SOL/USDT:USDT" in str(refused.value)
    async with store.transaction() as tx:
        assert await tx.signals.queued(ACCOUNT) == []
