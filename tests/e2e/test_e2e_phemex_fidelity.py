"""The daemon against the strict Phemex simulator (issue #10 item 8): the position mode is read and switched
at start-up or trading does not start, and an attached stop refused with 11074 becomes a separate stop."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from harness.e2e import (
    SYMBOL,
    Daemon,
    DaemonFactory,
    Sim,
    SimProcess,
    assert_exactly_one_stop,
    entry_id,
    error_lines,
    eventually,
    market_signal,
    protected_view,
)
from harness.stress import stop_daemon

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("family", ["phemex"], indirect=True)]

ETH = "ETH/USDT:USDT"


async def pos_modes(sim: Sim) -> set[tuple[str, str]]:
    async with sim.ccxt() as exchange:
        return {(p["symbol"], p["info"]["posMode"]) for p in await exchange.fetch_positions()}


async def test_a_hedged_symbol_with_nothing_open_is_switched_to_one_way_at_start_up(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with sim.ccxt() as exchange:
        await exchange.set_position_mode(True, SYMBOL)
    assert (SYMBOL, "Hedged") in await pos_modes(sim)
    daemon = daemons(sqlite_url)

    await daemon.start()

    assert (SYMBOL, "OneWay") in await pos_modes(sim)
    assert [line["symbol"] for line in daemon.logged("phemex_position_mode_switched")] == [SYMBOL]
    await daemon.ws_send([market_signal("mode-1")])
    view = await eventually(lambda: protected_view(sim), what="the position and its stop")
    assert_exactly_one_stop(view, trigger="147")
    assert error_lines(daemon) == []


async def test_a_hedged_symbol_holding_a_position_keeps_trading_from_starting_with_the_fix_named(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with sim.ccxt() as exchange:
        await exchange.set_position_mode(True, SYMBOL)
        await exchange.create_order(SYMBOL, "market", "buy", 1, None, {"posSide": "Long"})
    daemon = daemons(sqlite_url)

    daemon.spawn()

    async def refusals() -> list[dict[str, Any]]:
        return daemon.logged("position_mode_refused")

    [refused] = await eventually(refusals, within=60, what="the refusal")
    assert refused["detail"].startswith(f"{SYMBOL} is in hedged position mode")
    assert "close them" in refused["detail"] and "restart the executor" in refused["detail"]
    status, body = await daemon.get("/ready")
    assert status != 200 and "hedged position mode" in str(body)
    assert (SYMBOL, "Hedged") in await pos_modes(sim)
    creates = [r for r in await sim.requests() if r["method"] == "POST" and r["path"] == "/g-orders"]
    assert len(creates) == 1  # only the test's own hedged entry
    code, _ = daemon.terminate()
    assert code == 0


async def test_an_attached_stop_refused_with_11074_is_placed_as_a_separate_stop(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("att-1")])
    await eventually(lambda: protected_view(sim), what="the first position and its attached stop")

    await daemon.ws_send([market_signal("att-2", symbol=ETH, stop="2900")])

    view = await eventually(lambda: protected_view(sim, ETH), what="the ETH position and a stop")
    stop = assert_exactly_one_stop(view, trigger="2900")
    assert stop["clientOrderId"]  # our own id: the separate stop, not an exchange-created attached one
    entries: list[Any] = [
        r["params"]
        for r in await sim.requests()
        if r["method"] == "POST" and r["path"] == "/g-orders" and r["params"]["symbol"] == "ETHUSDT"
    ]
    # the entry with its attached stop (refused), the entry alone, the stop (a trigger price of its own)
    assert [("stopLossRp" in p, "stopPxRp" in p) for p in entries] == [
        (True, False),
        (False, False),
        (False, True),
    ]
    assert Decimal(str(view.qty)) > 0
    assert error_lines(daemon) == []


async def test_a_closed_positions_fills_are_booked_under_the_orders_the_trades_history_names(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """Issue #10 item 9: the fills come from `/api-data/g-futures/trades` (orderID, clOrdID), not from
    `tradingList` (no order id), so each fill is booked under its order, the stop's exit included. This is
    the REST path, so the streams are off: with the private stream live a close it proves is booked from the
    stream's own fills without this read (test_e2e_user_stream.py pins that, but not which order each of
    those fills is booked under)."""
    daemon = daemons(sqlite_url, EXECUTOR__EXCHANGE__STREAMS="false")
    await daemon.start()
    await daemon.ws_send([market_signal("book-1")])
    await eventually(lambda: protected_view(sim), what="the position and its stop")

    await sim.mark("146.5")

    async def closed() -> Any:
        db = await daemon.db()
        return db if db.closed_positions() else None

    db = await eventually(closed, what="the close booked")
    entry_fill, exit_fill = await sim.fills()
    booked = await daemon.booked_fills([sim.trade_id(entry_fill), sim.trade_id(exit_fill)])
    entry_row, exit_row = booked[sim.trade_id(entry_fill)], booked[sim.trade_id(exit_fill)]
    assert entry_row is not None and exit_row is not None
    orders = {row.id: row for row in db.orders}
    assert orders[entry_row.order_pk].client_order_id == entry_id("book-1")
    assert exit_row.order_pk is not None and orders[exit_row.order_pk].kind.value == "stop"
    assert exit_row.exchange_order_id == orders[exit_row.order_pk].exchange_order_id
    histories = {r["path"] for r in await sim.requests() if "trad" in r["path"]}
    assert histories == {"/api-data/g-futures/trades"}
    assert error_lines(daemon) == []


async def test_an_attached_stop_that_triggers_before_the_daemon_looks_is_booked_with_the_exit_fill(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """The open-order reads are slow (delay fault) and the mark crosses the stop as soon as the entry
    fills: the daemon finds the triggered stop in the order history, books it, and the exit fill names it."""
    daemon = daemons(sqlite_url)
    await daemon.start()
    await sim.fault(action="delay", method="GET", path="/g-orders/activeList", delay_ms=3000)
    await daemon.ws_send([market_signal("fast-1")])

    async def entered() -> bool:
        return len(await sim.fills()) == 1

    await eventually(entered, what="the entry filled")
    await sim.mark("146.5")

    async def closed() -> Any:
        db = await daemon.db()
        return db if db.closed_positions() else None

    db = await eventually(closed, what="the close booked", within=60)
    entry_fill, exit_fill = await sim.fills()
    booked = await daemon.booked_fills([sim.trade_id(entry_fill), sim.trade_id(exit_fill)])
    exit_row = booked[sim.trade_id(exit_fill)]
    assert exit_row is not None and exit_row.order_pk is not None
    stop = {row.id: row for row in db.orders}[exit_row.order_pk]
    assert (stop.kind.value, stop.state.value) == ("stop", "filled")
    assert stop.exchange_order_id == exit_row.exchange_order_id
    assert len(db.closed_positions()) == 1 and not db.open_positions()
    assert [e.get("stop_error") for e in daemon.logged("entry_placed")] == [None]
    assert error_lines(daemon) == []


async def rest_requests(sim: Sim) -> list[dict[str, Any]]:
    """The requests but the market streams' WebSocket upgrades (`GET /`): a stream that reconnects on a loaded
    machine is no polling, and the simulator's REST budget does not count it."""
    return [r for r in await sim.requests() if r["path"] not in ("/", "/ws")]


async def test_on_the_testnet_budget_polling_is_throttled_and_a_close_still_leaves_at_once(
    family: str, tmp_path: Path, sqlite_url: str
) -> None:
    """Issue #10 item 12: a simulator enforcing the Phemex testnet's 500 requests per 5 minutes in all, and a
    daemon keeping to it (`exchange.rate_limits = testnet`) with the harness's 0.2 s polling: its reads stop
    at their share of the budget, no request is refused with 429, and a close is not held behind them."""
    process = SimProcess(family, tmp_path / "sim", config='[sim]\nrate_limits = "testnet"\n')
    sim = Sim(family, process.start())
    # the account read on every tick even while the streams follow it: polling that outgrows the budget
    budget = {
        "EXECUTOR__EXCHANGE__RATE_LIMITS": "testnet",
        "EXECUTOR__EXECUTION__STREAMED_ACCOUNT_SECONDS": "0.2",
    }
    daemon = Daemon(sim, sqlite_url, tmp_path, extra_env=budget)
    try:
        await daemon.start()
        await daemon.ws_send([market_signal("budget-1")])

        async def held() -> bool:  # through the control API: the harness spends none of the budget
            account = await sim.account()
            return any(p["qty"] != "0" for p in account["positions"]) and bool(account["open_orders"])

        await eventually(held, what="the position and its stop")

        async def reads_throttled() -> bool:
            return len(await rest_requests(sim)) >= 375  # 75 % of 500: the reads' share is spent

        await eventually(reads_throttled, within=120, what="the reads' share of the budget spent")
        before = len(await rest_requests(sim))
        await asyncio.sleep(3)
        assert len(await rest_requests(sim)) - before <= 1  # polling waits now
        sent = time.monotonic()
        await daemon.ws_send([{"id": "budget-close-1", "action": "close", "symbol": SYMBOL}])

        async def flat() -> bool:
            return all(p["qty"] == "0" for p in (await sim.account())["positions"])

        await eventually(flat, within=20, what="the position closed")
        assert time.monotonic() - sent < 10
        statuses = [r["status"] for r in await sim.requests()]
        assert 429 not in statuses and len(statuses) <= 500
        assert error_lines(daemon) == []
    finally:
        stop_daemon(daemon)
        process.stop()
