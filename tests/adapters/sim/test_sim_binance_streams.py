"""The simulator's Binance market streams, read by unmodified ccxt.pro (watch_mark_price, watch_bids_asks)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.pro as ccxtpro
import pytest

from adapters.ccxt_target import target_simulator
from adapters.sim import SimServer
from tests.support.simkit import Control, static_config

SYMBOL = "BTC/USDT:USDT"


@pytest.fixture
async def pro(binance_sim: tuple[SimServer, str]) -> AsyncIterator[Any]:
    client = target_simulator(ccxtpro.binanceusdm({"enableRateLimit": False}), binance_sim[1])
    await client.load_markets()
    try:
        yield client
    finally:
        await client.close()


async def _watch_marks(pro: Any, *, times: int) -> None:
    for _ in range(times):
        async with asyncio.timeout(5):
            await pro.watch_mark_price(SYMBOL)


async def test_watch_mark_price_receives_the_simulators_mark(
    binance_sim: tuple[SimServer, str], pro: Any, control_b: Control
) -> None:
    await control_b.mark("BTCUSDT", "61234.5")
    async with asyncio.timeout(5):
        ticker = await pro.watch_mark_price(SYMBOL)
    assert Decimal(str(ticker["markPrice"])) == Decimal("61234.5")
    assert ticker["info"]["e"] == "markPriceUpdate"
    await control_b.mark("BTCUSDT", "61300")
    async with asyncio.timeout(5):
        ticker = await pro.watch_mark_price(SYMBOL)
    assert Decimal(str(ticker["markPrice"])) == Decimal("61300")
    assert "/market/ws/" in next(iter(pro.clients))


async def test_watch_bids_asks_receives_the_book_top_the_rest_api_quotes(
    binance_sim: tuple[SimServer, str], pro: Any, control_b: Control, binance: Any
) -> None:
    async with asyncio.timeout(5):
        first = await pro.watch_bids_asks([SYMBOL])
    assert first[SYMBOL]["bid"] == first[SYMBOL]["ask"] == 60000  # slippage_bps = 0: the book is the mark
    await control_b.mark("BTCUSDT", "60500")
    async with asyncio.timeout(5):
        tickers = await pro.watch_bids_asks([SYMBOL])
    book = await binance.fetch_bids_asks([SYMBOL])
    assert (tickers[SYMBOL]["bid"], tickers[SYMBOL]["ask"]) == (book[SYMBOL]["bid"], book[SYMBOL]["ask"])
    assert tickers[SYMBOL]["bid"] == 60500
    assert tickers[SYMBOL]["info"]["e"] == "bookTicker"
    assert "/public/ws/" in next(iter(pro.clients))


async def test_book_ticker_has_the_slippage_spread() -> None:
    server = SimServer(static_config().with_overrides(slippage_bps=Decimal(5)), exchange="binance")
    url = await server.start()
    client = target_simulator(ccxtpro.binanceusdm({"enableRateLimit": False}), url)
    try:
        async with asyncio.timeout(5):
            tickers = await client.watch_bids_asks([SYMBOL])
        assert (tickers[SYMBOL]["bid"], tickers[SYMBOL]["ask"]) == (59970, 60030)
    finally:
        await client.close()
        await server.stop()


async def test_a_disconnect_fault_closes_the_stream_and_ccxt_pro_sees_it(
    binance_sim: tuple[SimServer, str], pro: Any, control_b: Control
) -> None:
    async with asyncio.timeout(5):
        await pro.watch_mark_price(SYMBOL)
    await control_b.fault(action="ws_disconnect", path="/market/*")
    with pytest.raises(ccxtpro.NetworkError):
        await _watch_marks(pro, times=5)
    async with asyncio.timeout(5):
        ticker = await pro.watch_mark_price(SYMBOL)
    assert ticker["markPrice"] == 60000


async def test_a_stall_fault_keeps_the_socket_open_and_silent(
    binance_sim: tuple[SimServer, str], pro: Any, control_b: Control
) -> None:
    async with asyncio.timeout(5):
        await pro.watch_mark_price(SYMBOL)
    await control_b.fault(action="ws_stall", path="/market/*", delay_ms=2500)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2.0):
            await pro.watch_mark_price(SYMBOL)
    async with asyncio.timeout(3):
        ticker = await pro.watch_mark_price(SYMBOL)
    assert ticker["markPrice"] == 60000
    assert (await control_b.call("GET", "faults"))["rules"] == []


async def test_stream_faults_pass_rest_requests_by(
    binance_sim: tuple[SimServer, str], control_b: Control, binance: Any
) -> None:
    await control_b.fault(action="ws_disconnect", count=None)
    await binance.fetch_mark_price(SYMBOL)
    assert len((await control_b.call("GET", "faults"))["rules"]) == 1


async def test_combined_stream_wraps_events_and_subscribe_is_answered(
    binance_sim: tuple[SimServer, str],
) -> None:
    url = binance_sim[1].replace("http", "ws", 1) + "/stream?streams=btcusdt@markPrice@1s"
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@markPrice@1s"], "id": 7}))
        seen: dict[str, Any] = {}
        while len(seen) < 2:
            async with asyncio.timeout(5):
                message = json.loads((await ws.receive()).data)
            if "id" in message:
                assert message == {"result": None, "id": 7}
                continue
            seen[message["stream"]] = message["data"]
        assert set(seen) == {"btcusdt@markPrice@1s", "ethusdt@markPrice@1s"}
        assert set(seen["btcusdt@markPrice@1s"]) == {"e", "E", "s", "p", "i", "P", "r", "T"}
        await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 8}))
        while True:
            async with asyncio.timeout(5):
                message = json.loads((await ws.receive()).data)
            if "id" in message:
                break
        assert message == {"result": ["btcusdt@markPrice@1s", "ethusdt@markPrice@1s"], "id": 8}
