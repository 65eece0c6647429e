"""The daemon's side of the user data stream, in process: real events from the Binance simulator through
the adapter (unmodified ccxt.pro), applied by UserStreamApplier to a real database. Applying them again,
or an older report after a newer one, changes nothing; a close is booked from the stream's own fills only
when they are the position's whole story; a gap holds every event until the resync has run."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.streams import StreamSettings
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind, PositionStatus
from executor.domain.order_state import OrderState
from executor.domain.orders import OrderSide
from executor.domain.user_events import (
    GapReason,
    OrderUpdate,
    PositionUpdate,
    StreamGap,
    TradeUpdate,
    UserEvent,
)
from executor.execution.user_stream import UserStreamApplier
from executor.store.models import OrderRow, PositionRow
from tests.support.adapter_sim import FAST, eventually
from tests.support.flow import SOL, Flow, flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}
STREAMING = replace(FAST, streams=StreamSettings(stall_after=timedelta(seconds=3)))


async def following(f: Flow) -> list[UserEvent]:
    """The adapter's user stream, connected; every event it hands on, in a list."""
    events: list[UserEvent] = []
    assert f.adapter.follow_user_events(events.append)
    await f.adapter.start_background_refresh()
    await eventually(lambda: any(isinstance(e, StreamGap) for e in events), 10)
    return events


async def stop_out(f: Flow, events: list[UserEvent]) -> list[UserEvent]:
    """Open a protected long, take the stop out; the events from the open on, once the stop's fill and the
    flat position after it are in."""
    start = len(events)
    await f.submit(id="s1", **LONG_SOL)
    await f.mark("139")
    await eventually(lambda: _flat_after_the_stop(events[start:]), 5)
    return events[start:]


def _stop_filled_at(events: list[UserEvent]) -> int | None:
    """Where the stop's first fill is reported, if it is."""
    return next(
        (
            i
            for i, e in enumerate(events)
            if isinstance(e, OrderUpdate) and e.order.kind is OrderKind.STOP and e.order.filled > 0
        ),
        None,
    )


def _stop_finished(events: list[UserEvent]) -> bool:
    return _stop_filled_at(events) is not None


def _flat_after_the_stop(events: list[UserEvent]) -> bool:
    filled = _stop_filled_at(events)
    return filled is not None and any(
        isinstance(e, PositionUpdate) and e.symbol == SOL and e.qty == 0 for e in events[filled:]
    )


async def positions(f: Flow, status: PositionStatus) -> list[PositionRow]:
    async with f.store.read() as tx:
        return list(await tx.positions.with_status("main", status))


async def stop_row(f: Flow) -> OrderRow:
    async with f.store.read() as tx:
        rows = await tx.orders.in_states("main", list(OrderState))
    return next(row for row in rows if row.kind is OrderKind.STOP)


async def requests(f: Flow, path: str) -> list[dict[str, Any]]:
    rows = (await f.control("GET", "requests"))["requests"]
    return [r for r in rows if r["path"] == path]


async def test_a_stop_out_is_booked_from_the_stream_once_and_applying_it_again_changes_nothing(
    sqlite_url: str,
) -> None:
    async with flow("binance", sqlite_url, adapter_settings=STREAMING) as f:
        events = await following(f)
        applier = UserStreamApplier(f.ctx, f.keeper, f.reconciler.run)
        batch = await stop_out(f, events)
        trades_read = len(await requests(f, "/fapi/v1/userTrades"))
        await applier.apply(batch)
        (closed,) = await positions(f, PositionStatus.CLOSED)
        fills = (await f.sim_account())["fills"]
        assert closed.exit_price == 139
        assert closed.fees == sum(Decimal(fill["fee"]) for fill in fills)  # entry and exit, to the cent
        assert len(await requests(f, "/fapi/v1/userTrades")) == trades_read  # booked from the stream's fills
        assert (await stop_row(f)).state is OrderState.FILLED

        before = len((await f.control("GET", "requests"))["requests"])
        await applier.apply(batch)  # every event again
        await applier.apply(list(reversed(batch)))  # and out of order
        after = (await f.control("GET", "requests"))["requests"][before:]
        assert [(r["method"], r["path"]) for r in after] == []  # nothing sent, nothing read
        assert [p.id for p in await positions(f, PositionStatus.CLOSED)] == [closed.id]
        assert (await stop_row(f)).state is OrderState.FILLED  # the older reports did not move it back


async def test_without_the_entrys_fill_the_close_is_booked_from_the_exchanges_record(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url, adapter_settings=STREAMING) as f:
        events = await following(f)
        applier = UserStreamApplier(f.ctx, f.keeper, f.reconciler.run)
        batch = await stop_out(f, events)
        partial = [  # the entry's fill never came
            e for e in batch if not (isinstance(e, TradeUpdate) and e.fill.side is OrderSide.BUY)
        ]
        assert len(partial) == len(batch) - 1
        trades_read = len(await requests(f, "/fapi/v1/userTrades"))
        await applier.apply(partial)
        (closed,) = await positions(f, PositionStatus.CLOSED)
        assert closed.exit_price == 139
        assert len(await requests(f, "/fapi/v1/userTrades")) > trades_read  # read from REST instead


async def test_a_gap_holds_the_events_behind_it_until_the_resync_has_run(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url, adapter_settings=STREAMING) as f:
        events = await following(f)
        order: list[str] = []
        resynced = asyncio.Event()

        async def resync() -> None:
            order.append("resync")
            await resynced.wait()

        applier = UserStreamApplier(f.ctx, f.keeper, resync)
        runner = asyncio.create_task(applier.run())
        try:
            batch = await stop_out(f, events)
            applier.sink(StreamGap(GapReason.DISCONNECTED, "test", f.ctx.now()))
            for event in batch:
                applier.sink(event)
            await eventually(lambda: order == ["resync"], 3)  # the runner holds the batch until it returns
            assert await positions(f, PositionStatus.CLOSED) == []  # nothing applied while untrusted
            assert not applier.trusted
            resynced.set()
            await eventually(lambda: positions(f, PositionStatus.CLOSED), 5)
            assert applier.trusted
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def test_a_batch_that_cannot_be_applied_makes_the_next_one_wait_for_a_resync(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url, adapter_settings=STREAMING) as f:
        await f.adapter.market_snapshot(SOL)  # a settlement two minutes on: the booking reads funding
        schedule = f.adapter.funding_schedule(SOL)
        assert schedule is not None and schedule.next_funding_time is not None
        now_ms = int((await f.control("GET", "state"))["now_ms"])
        to_settlement = schedule.next_funding_time - datetime.fromtimestamp(now_ms / 1000, UTC)
        await f.control(
            "POST", "clock", {"advance_seconds": (to_settlement - timedelta(minutes=2)).total_seconds()}
        )
        events = await following(f)
        resyncs: list[int] = []

        async def resync() -> None:
            resyncs.append(len(resyncs))
            await f.reconciler.run()

        applier = UserStreamApplier(f.ctx, f.keeper, resync)
        for event in events:
            applier.sink(event)  # the connection's gap: the first resync
        runner = asyncio.create_task(applier.run())
        try:
            await eventually(lambda: applier.trusted, 10)
            await f.control(
                "POST",
                "faults",
                {"action": "error_5xx", "method": "GET", "path": "/fapi/v1/income", "count": None},
            )
            start = len(events)
            await f.submit(id="s1", **LONG_SOL)
            await f.mark("139")
            await eventually(lambda: _stop_finished(events[start:]), 5)
            for event in events[start:]:
                applier.sink(event)
            await eventually(lambda: not applier.trusted, 10)  # the booking's funding read failed
            assert await positions(f, PositionStatus.CLOSED) == []
            await f.control("DELETE", "faults")
            applier.sink(events[-1])  # any later event: applied only after a resync
            await eventually(lambda: positions(f, PositionStatus.CLOSED), 10)
            await eventually(lambda: applier.trusted, 10)
            assert len(resyncs) == 2
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


async def test_the_fills_alone_prove_the_close_when_the_account_update_trails_them(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url, adapter_settings=STREAMING) as f:
        events = await following(f)
        applier = UserStreamApplier(f.ctx, f.keeper, f.reconciler.run)
        batch = await stop_out(f, events)
        without_positions = [e for e in batch if not isinstance(e, PositionUpdate)]
        trades_read = len(await requests(f, "/fapi/v1/userTrades"))
        await applier.apply(without_positions)
        (closed,) = await positions(f, PositionStatus.CLOSED)
        assert closed.exit_price == 139
        assert len(await requests(f, "/fapi/v1/userTrades")) == trades_read


def _entry_lookups(rows: list[dict[str, Any]]) -> list[str]:
    return [
        r["params"].get("origClientOrderId")
        for r in rows
        if r["method"] == "GET" and r["path"] == "/fapi/v1/order"
    ]


async def test_an_entrys_fill_looks_up_that_entry_alone_and_a_report_of_it_resting_none(
    sqlite_url: str,
) -> None:
    """A lookup by id weighs 5 of Phemex's ~500 units a minute: each event about one resting entry looked up
    every resting entry, and the latency bench's burst of limit entries filled the window. Only the entry an
    event reports filled or ended is looked up; the report of an entry resting unfilled costs nothing."""
    async with flow("binance", sqlite_url, adapter_settings=STREAMING) as f:
        events = await following(f)
        applier = UserStreamApplier(f.ctx, f.keeper, f.reconciler.run)
        eth_mark = Decimal((await f.control("GET", "state"))["marks"]["ETHUSDT"])
        eth_limit = (eth_mark * Decimal("0.97")).quantize(Decimal("0.01"))
        await f.submit(
            id="eth",
            symbol="ETHUSDT",
            side="long",
            entry={"type": "limit", "price": str(eth_limit)},
            stop=str((eth_limit * Decimal("0.99")).quantize(Decimal("0.01"))),
            conviction=8,
        )
        sol = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "limit", "price": "145"}, "stop": "143"}
        await f.submit(id="sol", conviction=8, **sol)
        sol_entry = client_order_id("sol", OrderKind.ENTRY)
        await eventually(lambda: _reported(events, sol_entry), 5)
        start = len((await f.control("GET", "requests"))["requests"])
        await applier.apply([e for e in events if not isinstance(e, StreamGap)])  # both reported resting
        assert _entry_lookups((await f.control("GET", "requests"))["requests"][start:]) == []

        placed = len(events)
        await f.mark("144")
        await eventually(lambda: any(isinstance(e, TradeUpdate) for e in events[placed:]), 5)
        await applier.apply(events[placed:])
        assert [p.symbol for p in await positions(f, PositionStatus.OPEN)] == [SOL]
        assert _entry_lookups((await f.control("GET", "requests"))["requests"][start:]) == [sol_entry]


def _reported(events: list[UserEvent], client_id: str) -> bool:
    return any(isinstance(e, OrderUpdate) and e.order.client_id == client_id for e in events)


async def test_events_are_applied_in_their_symbols_section_while_another_symbol_is_held(
    sqlite_url: str,
) -> None:
    """A batch of events took the whole account's section, so a signal on another symbol waited for it. Only
    the breaker's check after the booked close takes the whole account, once the other symbol is free."""
    async with flow("binance", sqlite_url, adapter_settings=STREAMING) as f:
        events = await following(f)
        applier = UserStreamApplier(f.ctx, f.keeper, f.reconciler.run)
        batch = await stop_out(f, events)
        held, release = asyncio.Event(), asyncio.Event()

        async def hold_eth() -> None:
            async with f.ctx.lock.symbol("ETH/USDT:USDT"):
                held.set()
                await release.wait()

        holder = asyncio.create_task(hold_eth())
        await held.wait()
        applying = asyncio.create_task(applier.apply(batch))
        closed: list[PositionRow] = []

        async def booked() -> bool:
            closed[:] = await positions(f, PositionStatus.CLOSED)
            return bool(closed)

        await eventually(booked, 15)  # booked while ETH's section is held
        assert [p.symbol for p in closed] == [SOL]
        assert not applying.done()  # the breaker's check waits for the whole account
        release.set()
        await holder
        await applying
