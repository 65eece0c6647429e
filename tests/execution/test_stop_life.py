"""A Binance stop refused after it triggers (issue #10 item 4): a missing stop, re-placed or else closed."""

from __future__ import annotations

from decimal import Decimal

from structlog.testing import capture_logs

from executor.domain.enums import OrderKind, PositionStatus
from executor.domain.order_state import OrderState
from tests.support.flow import Flow, dec, flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}


async def _open_with_rejecting_stop(f: Flow) -> None:
    await f.control(
        "POST", "faults", {"action": "reject_after_trigger", "method": "POST", "path": "/fapi/v1/algoOrder"}
    )
    await f.submit(id="s1", **LONG_SOL)
    assert len(await f.resting_stops()) == 1


async def _sim_qty(f: Flow) -> Decimal:
    return sum((dec(p["qty"]) for p in (await f.sim_account())["positions"]), Decimal(0))


async def test_a_stop_rejected_after_its_trigger_with_the_price_past_it_closes_the_position(
    sqlite_url: str,
) -> None:
    async with flow("binance", sqlite_url) as f:
        await _open_with_rejecting_stop(f)
        await f.mark("139")  # the stop triggers; the matching engine refuses it
        assert await _sim_qty(f) > 0 and await f.resting_stops() == []
        with capture_logs() as logs:
            await f.tick()
        assert await _sim_qty(f) == 0
        assert any(entry["event"] == "position_past_its_stop" for entry in logs)
        async with f.store.transaction() as tx:
            [position] = await tx.positions.with_status("main", PositionStatus.CLOSED)
            legs = await tx.orders.for_position(position.id)
        states = {(row.kind, row.state) for row in legs}
        assert (OrderKind.CLOSE, OrderState.FILLED) in states
        assert not [row for row in legs if row.state in (OrderState.OPEN, OrderState.PENDING)]


async def test_a_stop_rejected_after_its_trigger_is_replaced_once_the_price_is_back(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url) as f:
        await _open_with_rejecting_stop(f)
        await f.mark("139")
        await f.mark("150")  # back before the tracker looked: nothing shows but the missing stop
        await f.reconciler.run()
        [stop] = await f.resting_stops()
        assert dec(stop["trigger_price"]) == Decimal("140") and stop["status"] == "UNTRIGGERED"
        assert await _sim_qty(f) > 0
        async with f.store.transaction() as tx:
            [position] = await tx.positions.with_status("main", PositionStatus.OPEN)
            legs = [row for row in await tx.orders.for_position(position.id) if row.kind is OrderKind.STOP]
        # The refused stop's row ended (REJECTED as its algo order, or CANCELED as the expired order it
        # triggered, which carries the same client id); the new one rests.
        [old] = [row for row in legs if row.state is not OrderState.OPEN]
        assert old.state in (OrderState.REJECTED, OrderState.CANCELED) and old.filled_qty == 0
        assert [row.exchange_order_id for row in legs if row.state is OrderState.OPEN] == [
            str(stop["order_id"])
        ]
        await f.mark("139")  # the new stop works
        await f.tick()
        assert await _sim_qty(f) == 0


async def _algo_posts(f: Flow) -> int:
    requests = (await f.control("GET", "requests"))["requests"]
    return sum(1 for r in requests if r["method"] == "POST" and r["path"] == "/fapi/v1/algoOrder")


async def test_a_triggering_stop_is_working_not_missing_so_nothing_is_placed_or_sent_again(
    sqlite_url: str,
) -> None:
    async with flow("binance", sqlite_url) as f:
        await f.control(
            "POST",
            "faults",
            {"action": "trigger_delay", "method": "POST", "path": "/fapi/v1/algoOrder", "delay_ms": 5000},
        )
        await f.submit(id="s1", **LONG_SOL)
        [stop] = await f.resting_stops()
        await f.mark("139")  # fired: TRIGGERING, out of the open list, the position still open
        assert await f.resting_stops() == [] and await _sim_qty(f) > 0
        with capture_logs() as logs:
            await f.tick()
            await f.reconciler.run()
        assert any(entry["event"] == "stop_triggering" for entry in logs)
        assert await _algo_posts(f) == 1  # no second stop
        assert await _sim_qty(f) > 0  # and no close at market racing the stop
        async with f.store.transaction() as tx:
            [position] = await tx.positions.with_status("main", PositionStatus.OPEN)
            [row] = [row for row in await tx.orders.for_position(position.id) if row.kind is OrderKind.STOP]
        assert row.state is OrderState.OPEN and row.exchange_order_id == str(stop["order_id"])
        await f.control("POST", "clock", {"advance_seconds": 6})  # the matching engine executes it
        await f.tick()
        assert await _sim_qty(f) == 0
        assert await _algo_posts(f) == 1
        orders = (await f.sim_account())["orders"]
        executed = [(o["type"], o["parent_id"]) for o in orders if o["type"] in ("LIMIT", "MARKET")]
        assert executed == [("LIMIT", None), ("MARKET", stop["order_id"])]  # the entry, the stop's; no close
