"""Orders that exist but are not found yet (issue #10 item 5): an entry whose fill is seen only after its
row was settled `not_sent` is adopted as an audited transition, never left as a foreign position."""

from __future__ import annotations

import asyncio
import json

from executor.domain.client_ids import client_order_id
from executor.domain.enums import EventKind, OrderKind, PositionStatus
from executor.domain.order_state import OrderState
from tests.support.flow import SOL, Flow, dec, flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}
HIDDEN_S = 6


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
        await f.inbox.submit(json.dumps({"id": "s1", **LONG_SOL}), "websocket")
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
