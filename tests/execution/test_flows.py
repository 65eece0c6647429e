"""Trader, position keeper, breaker guard and reconciler against the real simulator through real ccxt."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from executor.domain.enums import BreakerStatus, PositionStatus
from executor.domain.order_state import OrderState
from executor.store.models import PositionRow
from tests.support.flow import SOL, Flow, dec, flow

pytestmark = pytest.mark.parametrize("exchange", ["binance", "phemex"])

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}


async def positions(f: Flow, status: PositionStatus) -> list[PositionRow]:
    async with f.store.transaction() as tx:
        return list(await tx.positions.with_status("main", status))


async def test_accepted_signal_opens_a_position_with_exactly_one_resting_reduce_only_stop(
    exchange: str, sqlite_url: str
) -> None:
    async with flow(exchange, sqlite_url) as f:
        await f.submit(id="s1", **LONG_SOL)
        (position,) = await positions(f, PositionStatus.OPEN)
        assert (position.symbol, position.side, position.stop_price) == (SOL, "long", Decimal("140.00"))
        stops = await f.resting_stops()
        assert len(stops) == 1
        assert dec(stops[0]["trigger_price"]) == Decimal("140") and stops[0]["reduce_only"] is True
        async with f.store.transaction() as tx:
            orders = await tx.orders.for_position(position.id)
        assert {(o.kind, o.state) for o in orders} == {("entry", "filled"), ("stop", "open")}


async def test_stop_hit_is_booked_with_the_simulators_pnl_and_fees_to_the_cent(
    exchange: str, database_url: str
) -> None:
    async with flow(exchange, database_url) as f:
        await f.submit(id="s1", **LONG_SOL)
        await f.mark("139")
        await f.tick()
        (closed,) = await positions(f, PositionStatus.CLOSED)
        fills = (await f.sim_account())["fills"]
        sim_pnl = sum(dec(fill["realized_pnl"]) for fill in fills)
        sim_fees = sum(dec(fill["fee"]) for fill in fills)
        assert closed.realized_pnl == sim_pnl and closed.fees == sim_fees
        assert closed.exit_price == Decimal("139")
        assert f.ctx.book.state.loss_streak == 1
        assert f.ctx.book.day is not None and f.ctx.book.day.net == sim_pnl - sim_fees
        assert await f.resting_stops() == []


async def test_rejected_stop_leaves_no_naked_position(exchange: str, sqlite_url: str) -> None:
    async with flow(exchange, sqlite_url) as f:
        stop_path = "/fapi/v1/algoOrder" if exchange == "binance" else "/g-orders"
        await f.control(
            "POST", "faults", {"action": "reject_stop", "method": "POST", "path": stop_path, "count": None}
        )
        await f.submit(id="s1", **LONG_SOL)
        await f.tick()
        account = await f.sim_account()
        assert all(dec(p.get("qty", p.get("size", 0))) == 0 for p in account["positions"])
        assert await positions(f, PositionStatus.OPEN) == []


async def test_realized_loss_past_the_limit_trips_the_breaker_and_new_signals_are_halted(
    exchange: str, sqlite_url: str
) -> None:
    overrides: dict[str, Any] = {"daily_loss": {"basis": "realized", "limit_amount": "50"}}
    async with flow(exchange, sqlite_url, **overrides) as f:
        await f.submit(id="s1", **LONG_SOL)
        await f.mark("139")
        await f.tick()
        assert f.ctx.book.state.breaker is BreakerStatus.TRIPPED
        await f.mark("150")
        await f.submit(id="s2", **LONG_SOL)
        async with f.store.transaction() as tx:
            signal = await tx.signals.get("main", "s2")
            assert signal is not None
            decision = await tx.decisions.for_signal(signal.id)
        assert decision is not None and decision.reason == "HALTED"


async def test_reconcile_settles_an_unsent_order_row_as_not_sent_and_never_sends_it(
    exchange: str, sqlite_url: str
) -> None:
    async with flow(exchange, sqlite_url) as f:
        await f.inbox.submit(
            '{"id": "s1", "symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140"}',
            "websocket",
        )
        # Write the decision and its order rows, then stop before anything is sent (a crash there).
        trader = f.trader
        sent = []

        async def refuse(*_args: object) -> None:
            sent.append(True)
            raise RuntimeError("crashed before sending")

        trader._send = refuse  # type: ignore[method-assign,assignment]
        with pytest.raises(RuntimeError):
            await trader.process_queued()
        await f.reconciler.run()
        async with f.store.transaction() as tx:
            rows = await tx.orders.in_states("main", list(OrderState))
        assert {row.state for row in rows} == {OrderState.NOT_SENT}
        requests = (await f.control("GET", "requests"))["requests"]
        assert not [r for r in requests if r["method"] == "POST" and "order" in r["path"].lower()]


async def test_reconcile_gives_a_stopless_position_its_stop_from_the_database(
    exchange: str, sqlite_url: str
) -> None:
    async with flow(exchange, sqlite_url) as f:
        await f.submit(id="s1", **LONG_SOL)
        (stop,) = await f.resting_stops()
        (position,) = await positions(f, PositionStatus.OPEN)
        async with f.store.transaction() as tx:
            legs = await tx.orders.for_position(position.id)
        row = next(leg for leg in legs if leg.kind == "stop")
        from executor.execution.orders import exchange_view

        await f.adapter.cancel_order(exchange_view(row))
        assert await f.resting_stops() == []
        await f.reconciler.run()
        stops = await f.resting_stops()
        assert len(stops) == 1 and dec(stops[0]["trigger_price"]) == Decimal("140")
        assert stop["order_id"] != stops[0]["order_id"]
