"""The Phemex adapter against the strict Phemex simulator (issue #10 items 8 and 11): the 11074 fallback,
the position mode switch, 19999 looked up instead of taken as a reject, and the rows envelope."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import structlog

from adapters import phemex
from adapters.factory import build_adapter
from adapters.ratelimit import READ_SHARE, GateRegistry, Venue, window_use
from adapters.sim.config import PhemexEnvelope, RateLimits
from executor.domain.account import MarginMode
from executor.domain.enums import Side
from executor.domain.orders import OrderSide, OrderStatus, OrderType
from executor.ports.exchange import EntryStep
from tests.support.adapter_sim import BTC, ETH, FAST, Sim, entry_request, eventually, running_sim

D = Decimal
TESTNET = Venue.TESTNET


@pytest.fixture(params=[PhemexEnvelope.ROWS, PhemexEnvelope.LIST])
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Sim]:
    async with running_sim("phemex", phemex_envelope=request.param) as running:
        yield running


async def test_lookups_read_both_envelopes_and_a_missing_order_is_none_not_an_empty_order(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    result = await sim.adapter.open_with_stop(entry_request("env-1"))
    found = await sim.adapter.fetch_order(BTC, result.entry.client_id or "")
    assert found is not None
    assert (found.exchange_id, found.status, found.filled) == (
        result.entry.exchange_id,
        OrderStatus.CLOSED,
        D("0.01"),
    )
    assert found.type is OrderType.MARKET
    assert await sim.adapter.fetch_order(BTC, "never-sent") is None


async def test_an_attached_stop_refused_with_11074_falls_back_to_a_separate_reduce_only_stop(
    sim: Sim,
) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await sim.adapter.ensure_leverage(ETH, 5, MarginMode.ISOLATED)
    first = await sim.adapter.open_with_stop(entry_request("att-1"))
    assert first.protected
    eth = replace(entry_request("att-2", stop="2900", qty=D("0.5")), symbol=ETH)

    second = await sim.adapter.open_with_stop(eth)

    assert second.protected, second.stop_error
    assert second.entry.filled == D("0.5") and second.stop is not None
    stop = second.stop
    assert (stop.client_id, stop.side, stop.trigger_price, stop.qty) == (
        eth.stop_client_id,
        OrderSide.SELL,
        D("2900"),
        D("0.5"),
    )
    orders = await sim.requests("POST", "/g-orders")
    eth_orders = [r["params"] for r in orders if r["params"]["symbol"] == "ETHUSDT"]
    assert [("stopLossRp" in p, r["status"]) for p, r in zip(eth_orders, orders[-3:], strict=True)] == [
        (True, 200),
        (False, 200),
        (False, 200),
    ]
    account = await sim.account()
    assert [o["trigger_price"] for o in account["open_orders"] if o["symbol"] == "ETHUSDT"] == ["2900"]
    mark = await sim.mark(ETH, "2899")
    assert [f["symbol"] for f in mark["fills"]] == ["ETHUSDT"]
    assert {p["symbol"] for p in (await sim.account())["positions"] if D(p["qty"])} == {"BTCUSDT"}


async def test_ensure_one_way_switches_a_flat_hedged_symbol_and_names_the_fix_for_a_busy_one(
    sim: Sim,
) -> None:
    exchange = sim.adapter.exchange
    await exchange.set_position_mode(True, BTC)
    await exchange.set_position_mode(True, ETH)
    await exchange.create_order(ETH, "market", "buy", 0.5, None, {"posSide": "Long"})

    problems = await sim.adapter.ensure_one_way([BTC, ETH])

    assert len(problems) == 1 and problems[0].startswith(f"{ETH} is in hedged position mode")
    assert "close them" in problems[0]
    modes = {(p["symbol"], p["info"]["posMode"]) for p in await exchange.fetch_positions()}
    assert {(BTC, "OneWay"), (ETH, "Hedged")} <= modes
    switches = await sim.requests("PUT", "/g-positions/switch-pos-mode-sync")
    assert [(r["params"]["symbol"], r["params"]["targetPosMode"]) for r in switches[2:]] == [
        ("BTCUSDT", "OneWay")
    ]
    assert await sim.adapter.ensure_one_way([BTC]) == []


async def test_19999_on_an_order_is_looked_up_and_the_first_request_stands(sim: Sim) -> None:
    """A write answered 19999 (a duplicated request) may have executed: looked up by client id, never taken
    as a reject. The simulator answers 19999 to a byte-identical signed request within its expiry."""
    adapter = sim.adapter
    await adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await adapter.open_with_stop(entry_request("dup-1"))
    exchange = adapter.exchange
    second = exchange.seconds()
    exchange.seconds = lambda: second  # both placements sign the same expiry: the second is a replay
    first = await adapter.place_take_profit(
        BTC, entry_request("dup-1").side, D("0.01"), D("61000"), "tp-dup-1"
    )
    again = await adapter.place_take_profit(
        BTC, entry_request("dup-1").side, D("0.01"), D("61000"), "tp-dup-1"
    )

    assert again.exchange_id == first.exchange_id and again.is_open
    answers = [
        r["status"]
        for r in await sim.requests("POST", "/g-orders")
        if r["params"].get("clOrdID") == "tp-dup-1"
    ]
    assert len(answers) == 2
    lookups = await sim.requests("GET", "/api-data/g-futures/orders/by-order-id")
    assert [r["params"].get("clOrdID") for r in lookups][-1] == "tp-dup-1"  # the 19999 was looked up
    takes = [o for o in (await sim.account())["open_orders"] if o["client_id"] == "tp-dup-1"]
    assert len(takes) == 1


async def test_fills_name_their_orders_and_are_read_page_by_page(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(phemex, "TRADES_PAGE", 2)  # five fills: three pages of the documented offset paging
    adapter = sim.adapter
    await adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    since = datetime.now(UTC) - timedelta(seconds=1)
    entry = (await adapter.open_with_stop(entry_request("fills-1"))).entry
    takes = [
        await adapter.place_take_profit(BTC, Side.LONG, D("0.001"), D(61000 + n), f"tp-fills-{n}")
        for n in range(3)
    ]
    await sim.mark(BTC, "61005")
    await adapter.close_position(BTC, Side.LONG, D("0.007"), "close-fills-1")

    fills = await adapter.fills_since(BTC, since)

    assert len(fills) == 5 and all(f.order_id for f in fills)
    assert fills[0].order_id == entry.exchange_id and fills[0].side is OrderSide.BUY
    assert {f.order_id for f in fills[1:4]} == {take.exchange_id for take in takes}  # each its own order
    assert fills[4].qty == D("0.007") and sum((f.qty for f in fills[1:]), D(0)) == D("0.010")
    pages = [r["params"]["offset"] for r in await sim.requests("GET", "/api-data/g-futures/trades")]
    assert pages == ["0", "2", "4"]


async def test_on_the_testnet_budget_reads_stop_at_their_share_and_stops_and_cancels_still_go() -> None:
    """Issue #10 item 12: 500 requests per 5 minutes in all; reads wait once they have used their share,
    a stop and a cancel leave at once, and the simulator (enforcing the testnet budget) never answers 429."""
    async with running_sim("phemex", rate_limits=RateLimits.TESTNET) as sim:
        adapter = build_adapter(
            "sim-phemex", "paper", sim_base_url=sim.url, settings=FAST, gates=GateRegistry(), venue=TESTNET
        )
        try:
            await adapter.markets()
            while window_use(adapter.exchange) < READ_SHARE:
                await adapter.open_orders(BTC)
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(1.0):
                    await adapter.open_orders(BTC)
            assert len(await sim.requests()) == 375  # reads stop at exactly their share
            async with asyncio.timeout(2.0):
                stop = await adapter.place_stop(BTC, Side.LONG, D("0.01"), D("59000"), "budget-stop")
            async with asyncio.timeout(2.0):
                assert (await adapter.cancel_order(stop)).status is OrderStatus.CANCELED
            statuses = [r["status"] for r in await sim.requests()]
            assert len(statuses) <= 500 and 429 not in statuses
        finally:
            await adapter.aclose()


async def test_concurrent_reads_at_the_edge_of_their_share_do_not_overshoot_it() -> None:
    """Pollers that check the window at the same moment share its last slots: ccxt records a request only
    when its throttler task admits it, so a check alone would let every one of them through."""
    async with running_sim("phemex", rate_limits=RateLimits.TESTNET) as sim:
        adapter = build_adapter(
            "sim-phemex", "paper", sim_base_url=sim.url, settings=FAST, gates=GateRegistry(), venue=TESTNET
        )
        try:
            await adapter.markets()
            while window_use(adapter.exchange) < READ_SHARE - 0.01:  # five slots left
                await adapter.open_orders(BTC)
            with structlog.testing.capture_logs() as logs:
                readers = [asyncio.create_task(adapter.open_orders(BTC)) for _ in range(20)]

                def held() -> bool:
                    """Five answered, and each of the fifteen others has waited a second in the read lane."""
                    waiting = [line for line in logs if line["event"] == "exchange_reads_throttled"]
                    return sum(r.done() for r in readers) == 5 and len(waiting) == 15

                await eventually(held)
            assert len(await sim.requests()) == 375
            for reader in readers:
                reader.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
        finally:
            await adapter.aclose()


async def test_snapshot_tiers_are_the_leverage_margins_of_the_product(sim: Sim) -> None:
    """Issue #10 item 10: the maintenance amounts are Phemex's own (`maintenanceAmountRv`), not derived."""
    snapshot = await sim.adapter.market_snapshot(BTC)
    configured = sim.server.engine.instrument("BTCUSDT").tiers
    assert [
        (t.notional_floor, t.notional_cap, t.max_leverage, t.maintenance_margin_rate, t.maintenance_amount)
        for t in snapshot.tiers
    ] == [(c.floor, c.cap, Decimal(c.max_leverage), c.mmr, c.cum) for c in configured]
    assert [r["path"] for r in await sim.requests("GET", "/public/products")]


async def test_the_minimum_order_value_is_the_products_min_order_value(sim: Sim) -> None:
    """ccxt 4.5.90 sets no minimum cost for Phemex perpetuals; the filters carry `minOrderValueRv`."""
    markets = await sim.adapter.markets()
    for symbol in (BTC, ETH):
        configured = sim.server.engine.instrument(symbol).min_notional
        assert configured > 0
        assert markets[symbol].filters.min_notional == configured
    filters = (await sim.adapter.market_snapshot(BTC)).filters
    assert filters is not None and filters.min_notional == D(5)


async def test_an_attached_stop_triggered_before_the_lookup_is_found_in_the_history_with_its_fill(
    sim: Sim,
) -> None:
    """A mark that crosses the stop the moment the entry fills takes the stop out of the open orders
    before the adapter looks: it is found among the closed orders, triggered, and the exit fill names it."""
    engine = sim.server.engine

    def crash_the_mark(step: EntryStep) -> None:
        if step is EntryStep.ENTRY_ANSWERED:
            engine.set_mark("BTCUSDT", D("58990"))

    adapter = build_adapter(
        "sim-phemex",
        "paper",
        sim_base_url=sim.url,
        settings=FAST,
        gates=GateRegistry(),
        observer=crash_the_mark,
    )
    try:
        await adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
        since = datetime.now(UTC) - timedelta(seconds=1)
        result = await adapter.open_with_stop(entry_request("fast-stop-1"))
        fills = await adapter.fills_since(BTC, since)
    finally:
        await adapter.aclose()

    stop = result.stop
    assert stop is not None and result.stop_error is None
    assert (stop.status, stop.side, stop.trigger_price, stop.conditional) == (
        OrderStatus.CLOSED,
        OrderSide.SELL,
        D("59000"),
        True,
    )
    assert [(f.order_id, f.side) for f in fills] == [
        (result.entry.exchange_id, OrderSide.BUY),
        (stop.exchange_id, OrderSide.SELL),
    ]
    assert not [p for p in (await sim.account())["positions"] if D(p["qty"])]
