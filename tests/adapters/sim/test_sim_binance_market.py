"""ccxt's unified market-data and account methods parse the simulator's Binance answers (issue #10, 13)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from adapters.sim import SimServer
from adapters.sim.candles import HISTORY_MINUTES
from adapters.sim.config import PricePathConfig, PricePathKind
from tests.support.simkit import Control, binance_client, static_config

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
MINUTE = 60_000


@pytest.fixture
async def walking() -> AsyncIterator[tuple[SimServer, Any]]:
    """A random-walk simulator whose live steps are an hour apart, so only the generated past moves."""
    path = PricePathConfig(kind=PricePathKind.RANDOM_WALK, step_seconds=3600, volatility_bps=Decimal(600))
    server = SimServer(static_config().with_overrides(price_path=path), exchange="binance")
    url = await server.start()
    client = binance_client(url)
    try:
        await client.load_markets()
        yield server, client
    finally:
        await client.close()
        await server.stop()


async def test_ohlcv_has_a_week_of_generated_past_that_ends_at_the_mark_and_moves(
    walking: tuple[SimServer, Any],
) -> None:
    server, client = walking
    candles = await client.fetch_ohlcv(BTC, "1h", limit=200)
    assert len(candles) == 169  # 168 whole hours of past and the hour in progress
    assert all(b[0] - a[0] == 3_600_000 for a, b in itertools.pairwise(candles))
    assert all(low <= min(o, c) <= max(o, c) <= high for _, o, high, low, c, _ in candles)
    assert candles[-1][4] == 60000 and len({c[4] for c in candles}) > 100
    minutes = await client.fetch_ohlcv(BTC, "1m", since=candles[-2][0], limit=60)
    assert len(minutes) == 60 and minutes[0][0] == candles[-2][0]
    assert minutes[0][1] == candles[-2][1] and max(m[2] for m in minutes) == candles[-2][2]
    marks = await client.fetch_ohlcv(BTC, "1h", limit=200, params={"price": "mark"})
    assert [m[:5] for m in marks] == [c[:5] for c in candles] and all(m[5] == 0 for m in marks)
    assert server.requests.entries[-1].path == "/fapi/v1/markPriceKlines"
    raw = await client.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "5m", "limit": 1500})
    assert len(raw) == 1500 and candles[-1][0] <= raw[-1][0] < candles[-1][0] + 60 * MINUTE
    assert len(await client.fetch_ohlcv(BTC, "1w")) == 2  # a week of minutes spans two Monday-opened weeks
    assert HISTORY_MINUTES == 7 * 1440


async def test_ohlcv_books_the_simulators_own_fills_as_volume_and_refuses_what_binance_refuses(
    binance: Any, control_b: Control
) -> None:
    await binance.create_order(BTC, "market", "buy", 0.01)
    await binance.create_order(BTC, "market", "sell", 0.004)
    [candle] = await binance.fetch_ohlcv(BTC, "1m", limit=1)
    assert candle[5] == pytest.approx(0.014)
    raw = await binance.fapiPublicGetKlines(
        {"symbol": "BTCUSDT", "interval": "1m", "startTime": candle[0], "limit": 1}
    )
    assert raw[0][8] == 2 and Decimal(raw[0][9]) == Decimal("0.01")  # trades, taker buy volume
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        await binance.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "1M"})
    with pytest.raises(ccxt.BadRequest, match="-1130"):
        await binance.fapiPublicGetKlines({"symbol": "BTCUSDT", "interval": "1m", "limit": 1501})


async def test_order_book_is_a_ladder_from_the_prices_takers_fill_at() -> None:
    config = static_config().with_overrides(slippage_bps=Decimal(5), book_levels=7, book_step_bps=Decimal(2))
    server = SimServer(config, exchange="binance")
    client = binance_client(await server.start())
    try:
        await client.load_markets()
        book = await client.fetch_order_book(BTC, 10)
        assert book["bids"][0][0] == 59970 and book["asks"][0][0] == 60030  # 60,000 ± 5 bps
        assert len(book["bids"]) == len(book["asks"]) == 7 and book["timestamp"] is not None
        assert [b[0] for b in book["bids"]] == sorted((b[0] for b in book["bids"]), reverse=True)
        assert book["asks"][1][0] == pytest.approx(60030 * 1.0002, abs=0.1)
        top = await client.fetch_bids_asks([BTC])
        assert (top[BTC]["bid"], top[BTC]["ask"]) == (book["bids"][0][0], book["asks"][0][0])
        with pytest.raises(ccxt.BadRequest, match="-1100"):
            await client.fetch_order_book(BTC, 7)  # legal limits: 5, 10, 20, 50, 100, 500, 1000
        fill = await client.create_order(BTC, "market", "buy", 0.01)
        assert fill["average"] == book["asks"][0][0]
    finally:
        await client.close()
        await server.stop()


async def test_tickers_and_last_prices_follow_the_mark_and_the_days_fills(
    binance: Any, control_b: Control
) -> None:
    assert (await binance.fetch_ticker(BTC))["open"] == 60000  # the first ask starts the bars
    await control_b.mark("BTCUSDT", "61000")
    await binance.create_order(BTC, "market", "buy", 0.02)
    ticker = await binance.fetch_ticker(BTC)
    assert ticker["last"] == 61000 and ticker["open"] == 60000 and ticker["high"] == 61000
    assert ticker["baseVolume"] == pytest.approx(0.02) and ticker["quoteVolume"] == pytest.approx(1220)
    assert ticker["percentage"] == pytest.approx(1.667, abs=0.001) and ticker["timestamp"] is not None
    tickers = await binance.fetch_tickers()
    assert set(tickers) >= {BTC, ETH} and tickers[ETH]["baseVolume"] == 0
    lasts = await binance.fetch_last_prices()
    assert lasts[BTC]["price"] == 61000 and lasts[ETH]["price"] == tickers[ETH]["last"]
    both = await binance.fetch_bids_asks()
    assert set(both) >= {BTC, ETH}


async def test_public_trades_are_the_simulators_fills_with_the_takers_side(binance: Any) -> None:
    await binance.create_order(BTC, "market", "buy", 0.01)
    await binance.create_order(BTC, "market", "sell", 0.003)
    trades = await binance.fetch_trades(BTC)
    assert [(t["side"], t["amount"]) for t in trades] == [("buy", 0.01), ("sell", 0.003)]
    assert trades[0]["price"] == 60000 and trades[0]["timestamp"] is not None
    recent = await binance.fetch_trades(BTC, params={"fetchTradesMethod": "fapiPublicGetTrades"})
    assert [(t["side"], t["amount"]) for t in recent] == [("buy", 0.01), ("sell", 0.003)]
    assert await binance.fetch_trades(ETH) == []
    with pytest.raises(ccxt.BadRequest, match="-1127"):
        await binance.fapiPublicGetAggTrades({"symbol": "BTCUSDT", "startTime": 0, "endTime": 3_600_000})


async def test_trading_fees_are_the_instruments_and_open_interest_counts_positions_over_time(
    binance: Any,
) -> None:
    fee = await binance.fetch_trading_fee(BTC)
    assert (fee["maker"], fee["taker"]) == (0.0002, 0.0005)
    fees = await binance.fetch_trading_fees()
    assert fees[BTC]["info"] == {"feeTier": 0} and fees[BTC]["taker"] is not None
    before = await binance.fetch_open_interest_history(BTC, "5m", limit=3)
    assert [h["openInterestAmount"] for h in before] == [0, 0, 0]
    assert before[-1]["timestamp"] - before[0]["timestamp"] == 600_000
    await binance.create_order(BTC, "market", "buy", 0.05)
    assert (await binance.fetch_open_interest(BTC))["openInterestAmount"] == 0.05
    history = await binance.fetch_open_interest_history(BTC, "5m", limit=3)
    assert [h["openInterestAmount"] for h in history] == [0, 0, 0]  # the last 5-minute mark was before it
    raw = await binance.fapiDataGetOpenInterestHist(
        {"symbol": "BTCUSDT", "period": "5m", "startTime": history[-1]["timestamp"] + 1}
    )
    assert raw == []  # the next period has not closed
    with pytest.raises(ccxt.BadRequest, match="-1120"):
        await binance.fapiDataGetOpenInterestHist({"symbol": "BTCUSDT", "period": "1m"})


async def test_positions_carry_their_update_time(binance: Any) -> None:
    order = await binance.create_order(BTC, "market", "buy", 0.01)
    [position] = await binance.fetch_positions([BTC])
    assert position["contracts"] == 0.01 and position["side"] == "long"
    # the position's updateTime is its last fill's, as the order's updateTime is; the order's own timestamp
    # is its creation, which a millisecond may separate from the fill
    assert position["timestamp"] == order["lastUpdateTimestamp"] >= order["timestamp"]


async def test_multi_assets_mode_reads_false_and_is_refused_on_isolated_margin(binance: Any) -> None:
    assert await binance.fapiPrivateGetMultiAssetsMargin() == {"multiAssetsMargin": False}
    with pytest.raises(ccxt.BadRequest, match="-4167"):
        await binance.fapiPrivatePostMultiAssetsMargin({"multiAssetsMargin": "true"})
    with pytest.raises(ccxt.OperationRejected, match="-4171"):
        await binance.fapiPrivatePostMultiAssetsMargin({"multiAssetsMargin": "false"})
    config = await binance.fapiPrivateGetAccountConfig()
    assert config["multiAssetsMargin"] is False and config["dualSidePosition"] is False


async def test_a_route_the_simulator_does_not_serve_is_a_bare_404_and_is_recorded(
    binance_sim: tuple[SimServer, str], control_b: Control
) -> None:
    url = f"{binance_sim[1]}/fapi/v1/continuousKlines?pair=BTCUSDT"
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 404
        assert "code" not in await response.text()
    [entry] = [r for r in await control_b.requests() if r["path"] == "/fapi/v1/continuousKlines"]
    assert entry["status"] == 404
