"""Orders that exist but are not found yet (issue #10 item 5): an entry whose fill is seen only after its
row was settled `not_sent` is adopted as an audited transition, never left as a foreign position."""

from __future__ import annotations

import asyncio
import json

from executor.domain.client_ids import client_order_id
from executor.domain.enums import BreakerStatus, EventKind, OrderKind, PositionStatus, SignalSource
from executor.domain.order_state import OrderState
from tests.support.flow import SOL, Flow, dec, flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}
HIDDEN_S = 6


def _halted(f: Flow) -> bool:
    return f.ctx.book.state.breaker is BreakerStatus.TRIPPED


async def _rows(f: Flow) -> dict[str, OrderState]:
    async with f.store.transaction() as tx:
        return {row.kind: row.state for row in await tx.orders.in_states("main", list(OrderState))}


async def test_an_entry_filled_unseen_then_settled_not_sent_is_adopted_with_its_stop_when_it_shows(
    sqlite_url: str,
) -> None:
    async with flow("binance", sqlite_url) as f:
        f.ctx.settings = f.ctx.settings.model_copy(update={"not_found_grace_seconds": 1.0})
        cid = client_order_id("s1", OrderKind.ENTRY)
        await f.control(
            "POST",
            "faults",
            {
                "action": "drop_after",
                "method": "POST",
                "path": "/fapi/v1/order",
                "match": {"newClientOrderId": cid},
                "hide_ms": HIDDEN_S * 1000,
            },
        )
        await f.inbox.submit(json.dumps({"id": "s1", **LONG_SOL}), SignalSource.WEBSOCKET)
        assert await f.trader.process_queued() == 1
        assert (await _rows(f))["entry"] is OrderState.UNKNOWN  # filled, but not found: never resent
        await asyncio.sleep(1.1)
        await f.reconciler.run()  # still hidden: settled not_sent, and the position is unexplained
        assert (await _rows(f))["entry"] is OrderState.NOT_SENT
        await asyncio.sleep(HIDDEN_S)
        await f.reconciler.run()  # now the exchange reports it filled: the exchange is the truth

        async with f.store.transaction() as tx:
            [position] = await tx.positions.with_status("main", PositionStatus.OPEN)
            entry = await tx.orders.by_client_id("main", cid)
            events = await tx.events.recent("main")
        assert position.symbol == SOL and position.stop_price == dec("140")
        assert entry is not None and entry.state is OrderState.FILLED
        assert "after it was settled not_sent" in json.dumps(entry.state_history)
        assert [e.data["client_id"] for e in events if e.kind is EventKind.ORDER_LATE_FILL] == [cid]
        [stop] = await f.resting_stops()
        assert dec(stop["trigger_price"]) == dec("140")
        account = await f.sim_account()
        assert len([o for o in account["orders"] if o["client_id"] == cid]) == 1
        assert [dec(p["qty"]) for p in account["positions"]] == [position.qty]


async def test_a_resting_entry_settled_canceled_on_a_miss_that_filled_is_adopted_and_protected(
    sqlite_url: str,
) -> None:
    """The breaker's halt cancels a resting entry the exchange hides (-2011): the row is settled canceled and
    its stop cancelled with it, yet the entry rests and fills. Once the exchange shows the fill the
    reconciler takes it as the truth: an audited transition, the position booked and protected, no
    foreign-position halt (not while the fill is still hidden either: one miss is no proof, and the position
    is guarded by a stop at the entry's planned trigger meanwhile, the one the adoption keeps)."""
    async with flow("binance", sqlite_url) as f:
        cid = client_order_id("c1", OrderKind.ENTRY)
        await f.control(
            "POST",
            "faults",
            {
                "action": "hide_order",
                "path": "/fapi/v1/order",
                "match": {"newClientOrderId": cid},
                "delay_ms": 60_000,
            },
        )
        await f.submit(
            id="c1", symbol="SOLUSDT", side="long", entry={"type": "limit", "price": "149"}, stop="140"
        )
        async with f.store.transaction() as tx:
            entry = await tx.orders.by_client_id("main", cid)
        assert entry is not None and entry.state is OrderState.OPEN
        async with f.ctx.lock:
            await f.keeper.cancel_entry(entry)  # as the breaker's halt does: -2011, the order is hidden
        assert (await _rows(f)) == {"entry": OrderState.CANCELED, "stop": OrderState.CANCELED}
        await f.mark("148.90")  # the hidden entry still rests, and fills
        miss = await f.reconciler.run()  # a position not ours yet: one miss is no proof, no halt
        assert miss.unexplained == [] and not _halted(f)
        live = [dec(p["qty"]) for p in (await f.sim_account())["positions"]]
        [guard] = await f.resting_stops()  # and not without a stop while it waits: at the planned trigger
        assert dec(guard["trigger_price"]) == dec("140") and [dec(guard["qty"])] == live
        await f.reconciler.run()  # a second look places no second stop
        assert len(await f.resting_stops()) == 1
        await f.control("POST", "clock", {"advance_seconds": 61})  # the exchange shows it again

        report = await f.reconciler.run()

        assert report.unexplained == []
        async with f.store.transaction() as tx:
            [position] = await tx.positions.with_status("main", PositionStatus.OPEN)
            adopted = await tx.orders.by_client_id("main", cid)
            events = await tx.events.recent("main")
        assert position.stop_price == dec("140") and position.entry_price == dec("149")
        assert adopted is not None and adopted.state is OrderState.FILLED
        assert "after it was settled canceled" in json.dumps(adopted.state_history)
        assert [e.data for e in events if e.kind is EventKind.ORDER_LATE_FILL] == [
            {"client_id": cid, "symbol": SOL, "settled": "canceled", "filled": str(position.qty)}
        ]
        assert not _halted(f)
        [stop] = await f.resting_stops()
        assert dec(stop["trigger_price"]) == dec("140") and dec(stop["qty"]) == position.qty
        assert [dec(p["qty"]) for p in (await f.sim_account())["positions"]] == [position.qty]
