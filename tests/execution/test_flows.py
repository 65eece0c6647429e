"""Trader, position keeper, breaker guard and reconciler against the real simulator through real ccxt."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import pytest
from structlog.testing import capture_logs

from executor.domain.enums import BreakerStatus, PositionStatus, SignalSource, SignalStatus
from executor.domain.order_state import OrderState
from executor.execution.trader import Trader
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
            SignalSource.WEBSOCKET,
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
        await f.reconciler.run()  # one miss is no proof: unknown until the grace has passed
        async with f.store.transaction() as tx:
            rows = await tx.orders.in_states("main", list(OrderState))
        assert {row.state for row in rows} == {OrderState.UNKNOWN}
        f.ctx.settings = f.ctx.settings.model_copy(update={"not_found_grace_seconds": 1.0})
        await asyncio.sleep(1.1)
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


async def test_an_entry_whose_answer_was_not_stored_holds_its_symbol_and_a_close_waits_for_it(
    exchange: str, sqlite_url: str
) -> None:
    """Storing the entry's answer failed after it went out (a database outage): the symbol counts as
    held, a second open on it is refused, and a close is deferred until the entry is settled, then done."""
    async with flow(exchange, sqlite_url) as f:

        async def outage(*_args: object) -> None:
            raise ConnectionError("database unavailable while storing the entry's answer")

        f.trader._record_entry = outage  # type: ignore[method-assign,assignment]
        await f.inbox.submit(json.dumps({"id": "s1", **LONG_SOL}), SignalSource.WEBSOCKET)
        with pytest.raises(ConnectionError):
            await f.trader.process_queued()
        assert await positions(f, PositionStatus.OPEN) == []
        assert (await f.sim_account())["positions"], "the entry executed on the exchange"

        # A consumer that has not seen the failure (as after a restart before reconciliation).
        fresh = Trader(f.ctx, f.keeper, f.trader.alerter, settle=f.reconciler.run)
        for signal in ({"id": "s2", **LONG_SOL}, {"id": "c1", "action": "close", "symbol": "SOLUSDT"}):
            await f.inbox.submit(json.dumps(signal), SignalSource.WEBSOCKET)
        assert await fresh.process_queued() == 1  # s2 decided; c1 deferred, not failed
        async with f.store.transaction() as tx:
            s2 = await tx.signals.get("main", "s2")
            c1 = await tx.signals.get("main", "c1")
            assert s2 is not None and c1 is not None
            decision = await tx.decisions.for_signal(s2.id)
        assert decision is not None and not decision.accepted
        assert decision.message is not None and "in flight" in decision.message
        assert c1.status is SignalStatus.QUEUED

        assert await fresh.process_queued() == 1  # settles the entry first, then closes
        async with f.store.transaction() as tx:
            c1 = await tx.signals.get("main", "c1")
        assert c1 is not None and c1.status is SignalStatus.DECIDED
        await f.tick()
        assert not [p for p in (await f.sim_account())["positions"] if Decimal(p["qty"])]
        assert [p.symbol for p in await positions(f, PositionStatus.CLOSED)] == [SOL]


async def test_a_market_entry_goes_out_as_an_ioc_at_the_decisions_order_price_and_logs_its_slippage(
    exchange: str, sqlite_url: str
) -> None:
    async with flow(exchange, sqlite_url) as f:
        with capture_logs() as logs:
            await f.submit(id="s1", **LONG_SOL)
        async with f.store.transaction() as tx:
            decision = await tx.decisions.for_signal(1)
        assert decision is not None and decision.entry is not None
        steps = {step["step"]: step for step in decision.steps}
        order_price = steps["reference_price"]["after"]["order_price"]
        path = "/fapi/v1/order" if exchange == "binance" else "/g-orders"
        rows = (await f.control("GET", "requests"))["requests"]
        sent = next(row["params"] for row in rows if row["path"] == path)
        if exchange == "binance":
            assert (sent["type"], sent["timeInForce"], sent["price"]) == ("LIMIT", "IOC", order_price)
        else:
            assert (sent["ordType"], sent["timeInForce"], sent["priceRp"]) == (
                "Limit",
                "ImmediateOrCancel",
                order_price,
            )
        (placed,) = [log for log in logs if log["event"] == "entry_placed"]
        assert placed["reference_price"] == str(decision.entry) and placed["order_price"] == order_price
        assert placed["stop_price"] == str(decision.stop)
        fill = Decimal(placed["fill_price"])
        assert fill <= Decimal(order_price) and Decimal(placed["slippage"]) == fill - decision.entry
