"""Phemex market streams: unmodified ccxt.pro `phemex` against the simulator's DataGW
(adapters/sim/ws_phemex.py) — the ticker pack carries the mark, the order book a snapshot then increments —
and the adapter's follower (adapters/streams.py): prices from the streams while live, from REST while
stalled or disconnected."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro  # type: ignore[import-untyped]
import pytest

from adapters import streams as stream_module
from adapters.ccxt_target import target_simulator
from adapters.sim import ws_phemex
from executor.domain.market import MarketDataItem
from executor.ports.exchange import StreamName, StreamState
from tests.adapters.test_adapters_streams import STREAMED
from tests.support.adapter_sim import BTC, ETH, Sim, eventually, running_sim

D = Decimal
MARK_READ, BOOK_READ = "/md/v2/ticker/24hr", "/md/v2/orderbook"


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim("phemex", STREAMED) as running:
        yield running


@pytest.fixture
async def pro(sim: Sim) -> AsyncIterator[Any]:
    exchange = target_simulator(ccxtpro.phemex({"options": {"defaultType": "swap"}}), sim.url)
    try:
        yield exchange
    finally:
        await exchange.close()


def state_of(sim: Sim, name: StreamName) -> StreamState:
    return next(s.state for s in sim.adapter.stream_statuses() if s.name is name)


async def reads(sim: Sim, path: str) -> int:
    return len(await sim.requests("GET", path))


async def test_ccxt_pro_watch_ticker_gets_every_symbol_with_its_mark_in_the_pack(sim: Sim, pro: Any) -> None:
    await sim.mark(BTC, "61000.5")
    btc = await pro.watch_ticker(BTC)
    assert btc["symbol"] == BTC and btc["timestamp"] is not None
    row = btc["info"]
    assert row[0] == "BTCUSDT" and row[stream_module.PACK_MARK] == "61000.5"  # markRp
    eth = pro.tickers[ETH]
    assert eth["info"][0] == "ETHUSDT" and eth["timestamp"] == btc["timestamp"]  # the same pack


async def test_ccxt_pro_watch_order_book_gets_a_snapshot_then_increments_to_the_new_top(
    sim: Sim, pro: Any
) -> None:
    book = await pro.watch_order_book(BTC)
    bid, ask = sim.server.engine.book_top("BTCUSDT")
    assert (D(str(book["bids"][0][0])), D(str(book["asks"][0][0]))) == (bid, ask)
    assert len(book["bids"]) == len(book["asks"]) == sim.server.config.book_levels
    first = book["nonce"]
    await sim.mark(BTC, "62000")
    book = await eventually(lambda: _top_changed(pro, bid), 3)
    bid, ask = sim.server.engine.book_top("BTCUSDT")
    assert (D(str(book["bids"][0][0])), D(str(book["asks"][0][0]))) == (bid, ask)
    assert book["nonce"] > first
    assert len(book["bids"]) == len(book["asks"]) == sim.server.config.book_levels  # removed levels gone


async def _top_changed(pro: Any, old_bid: Decimal) -> Any:
    book = await pro.watch_order_book(BTC)
    return book if D(str(book["bids"][0][0])) != old_bid else None


async def test_a_connection_without_heartbeat_is_dropped_and_server_ping_keeps_one(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ws_phemex, "HEARTBEAT_SECONDS", 0.6)
    async with sim.session.ws_connect(sim.url + "/ws", autoping=False) as silent:
        async with asyncio.timeout(3):
            message = await silent.receive()
        assert message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    async with sim.session.ws_connect(sim.url + "/ws", autoping=False) as pinging:
        for request_id in range(6):
            await pinging.send_str(json.dumps({"id": request_id, "method": "server.ping", "params": []}))
            async with asyncio.timeout(1):
                answer = json.loads((await pinging.receive()).data)
            assert answer == {"error": None, "id": request_id, "result": "pong"}
            await asyncio.sleep(0.2)
        assert not pinging.closed


async def test_an_unknown_symbol_is_refused_with_an_error_object(sim: Sim) -> None:
    async with sim.session.ws_connect(sim.url + "/ws") as ws:
        await ws.send_str(json.dumps({"id": 7, "method": "orderbook_p.subscribe", "params": ["NOPEUSDT"]}))
        async with asyncio.timeout(1):
            answer = json.loads((await ws.receive()).data)
        assert answer["id"] == 7 and answer["result"] is None and answer["error"]["code"] == 6001


async def test_the_adapter_prices_from_live_phemex_streams_without_a_rest_read(sim: Sim) -> None:
    sim.adapter.watch(BTC)
    await sim.adapter.start_background_refresh()
    await eventually(lambda: all(s.state is StreamState.LIVE for s in sim.adapter.stream_statuses()), 5)
    await sim.mark(BTC, "61000")
    bid, ask = sim.server.engine.book_top("BTCUSDT")
    await eventually(lambda: sim.adapter._marks.get(BTC) == D(61000), 3)
    await eventually(lambda: sim.adapter._books.get(BTC) == (bid, ask), 3)
    before = (await reads(sim, MARK_READ), await reads(sim, BOOK_READ))
    snapshot = await sim.adapter.market_snapshot(BTC)
    assert (snapshot.mark_price, snapshot.bid, snapshot.ask) == (D(61000), bid, ask)
    assert MarketDataItem.MARK_PRICE not in snapshot.stale
    assert (await reads(sim, MARK_READ), await reads(sim, BOOK_READ)) == before


@pytest.mark.parametrize("action", ["ws_stall", "ws_disconnect"])
async def test_a_stalled_or_dropped_ticker_stream_falls_back_to_rest_and_comes_back(
    sim: Sim, action: str
) -> None:
    sim.adapter.watch(BTC)
    await sim.adapter.start_background_refresh()
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 5)
    await sim.fault(action=action, match={"stream": "perp_market24h_pack_p"}, count=None)
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.DOWN, 5)
    await sim.mark(BTC, "60500")
    before = await reads(sim, MARK_READ)
    snapshot = await eventually(lambda: _fresh_mark(sim, D(60500)), 5)
    assert snapshot.mark_price == D(60500)
    assert await reads(sim, MARK_READ) > before
    await sim.control("DELETE", "faults")
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 6)
    (status,) = [s for s in sim.adapter.stream_statuses() if s.name is StreamName.MARK_PRICE]
    assert status.reconnects >= 1
    await eventually(lambda: sim.adapter._marks.get(BTC) == D(60500), 3)


async def test_a_quiet_phemex_book_stays_live_on_pongs_and_a_frozen_one_is_stalled(sim: Sim) -> None:
    """orderbook_p sends changes only (a snapshot each 60 s): an unchanged book past two stall limits answers
    the follower's ping and stays live without reconnecting; a frozen connection (ws_stall) is a stall."""
    sim.adapter.watch(BTC)
    await sim.adapter.start_background_refresh()
    await eventually(lambda: state_of(sim, StreamName.BOOK_TICKER) is StreamState.LIVE, 5)
    await asyncio.sleep(6)
    (status,) = [s for s in sim.adapter.stream_statuses() if s.name is StreamName.BOOK_TICKER]
    assert (status.state, status.reconnects, status.problem) == (StreamState.LIVE, 0, None)
    await sim.fault(action="ws_stall", match={"stream": "orderbook_p"}, count=None)
    await sim.mark(BTC, "60100")
    await eventually(lambda: state_of(sim, StreamName.BOOK_TICKER) is StreamState.DOWN, 8)
    (status,) = [s for s in sim.adapter.stream_statuses() if s.name is StreamName.BOOK_TICKER]
    assert status.problem is not None and "stalled" in status.problem


async def _fresh_mark(sim: Sim, mark: Decimal) -> object:
    snapshot = await sim.adapter.market_snapshot(BTC)
    fresh = MarketDataItem.MARK_PRICE not in snapshot.stale
    return snapshot if fresh and snapshot.mark_price == mark else None
