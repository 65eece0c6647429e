"""ccxt's unified market-data methods parse the simulator's Phemex USDT-perpetual answers (issue #10, 13)."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from adapters.sim import SimServer
from adapters.sim.config import PhemexEnvelope, PricePathConfig, PricePathKind
from tests.support.simkit import Control, phemex_client, static_config

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
MINUTE = 60_000


@pytest.fixture
async def walking() -> AsyncIterator[Any]:
    """A random-walk simulator whose live steps are an hour apart, so only the generated past moves."""
    path = PricePathConfig(kind=PricePathKind.RANDOM_WALK, step_seconds=3600, volatility_bps=Decimal(600))
    config = static_config().with_overrides(price_path=path, phemex_envelope=PhemexEnvelope.LIST)
    server = SimServer(config, exchange="phemex")
    client = phemex_client(await server.start())
    try:
        await client.load_markets()
        yield client
    finally:
        await client.close()
        await server.stop()


async def test_ohlcv_serves_whole_candles_of_the_generated_past_by_count_and_by_time(walking: Any) -> None:
    candles = await walking.fetch_ohlcv(BTC, "1h", limit=100)
    assert len(candles) == 100 and all(b[0] - a[0] == 3_600_000 for a, b in itertools.pairwise(candles))
    assert candles[-1][0] + 3_600_000 <= walking.milliseconds()  # the candle in progress is not included
    assert all(low <= min(o, c) <= max(o, c) <= high for _, o, high, low, c, _ in candles)
    assert len({c[4] for c in candles}) > 50
    since = candles[-3][0]
    by_time = await walking.fetch_ohlcv(BTC, "1h", since=since)
    assert [c[:5] for c in by_time] == [c[:5] for c in candles[-2:]] or by_time[0][0] == since
    assert by_time[0][:5] == candles[-3][:5]
    minutes = await walking.fetch_ohlcv(BTC, "1m", since=since, limit=60)
    assert minutes[0][1] == candles[-3][1] and max(m[2] for m in minutes[:60]) == candles[-3][2]
    with pytest.raises(ccxt.BadRequest, match="30000"):
        await walking.fetch_ohlcv(BTC, "1h", limit=200)  # limit outside 5, 10, 50, 100, 500, 1000


async def test_order_book_is_the_ladder_and_its_top_is_where_a_market_order_fills() -> None:
    config = static_config().with_overrides(
        phemex_envelope=PhemexEnvelope.LIST, slippage_bps=Decimal(5), book_levels=40, book_step_bps=Decimal(1)
    )
    server = SimServer(config, exchange="phemex")
    client = phemex_client(await server.start())
    try:
        await client.load_markets()
        book = await client.fetch_order_book(BTC)
        assert len(book["bids"]) == len(book["asks"]) == 30  # Phemex's depth: 30 levels
        assert book["bids"][0][0] < book["asks"][0][0] and book["nonce"] is not None
        assert book["asks"][1][0] > book["asks"][0][0] and book["bids"][1][0] < book["bids"][0][0]
        fill = await client.create_order(BTC, "market", "buy", 0.01)
        assert fill["average"] is None or fill["average"] == book["asks"][0][0]
        [trade] = await client.fetch_my_trades(BTC)
        assert trade["price"] == book["asks"][0][0]
    finally:
        await client.close()
        await server.stop()


async def test_public_trades_are_the_simulators_fills_newest_first_with_the_takers_side(
    phemex_ex: Any, control_p: Control
) -> None:
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)
    await phemex_ex.create_order(BTC, "market", "sell", 0.004)
    trades = await phemex_ex.fetch_trades(BTC)
    assert sorted((t["side"], t["amount"]) for t in trades) == [("buy", 0.01), ("sell", 0.004)]
    assert all(t["price"] == 60000 and t["timestamp"] is not None for t in trades)
    assert await phemex_ex.fetch_trades(ETH) == []


async def test_tickers_in_the_v2_shape_ccxt_reads_follow_the_marks_and_the_days_fills(
    phemex_ex: Any, control_p: Control
) -> None:
    assert (await phemex_ex.fetch_ticker(BTC))["last"] == 60000  # the first ask starts the bars
    await control_p.mark("BTCUSDT", "61000")
    await phemex_ex.create_order(BTC, "market", "buy", 0.02)
    ticker = await phemex_ex.fetch_ticker(BTC)
    assert (ticker["last"], ticker["high"], ticker["low"]) == (61000, 61000, 60000)
    assert ticker["timestamp"] is not None
    info = ticker["info"]
    assert (info["openRp"], info["volumeRq"], info["turnoverRv"]) == ("60000", "0.02", "1220")
    assert ticker["quoteVolume"] == pytest.approx(1220e-8)  # ccxt scales turnoverRv by ratioScale (its bug)
    assert "lastRp" not in info  # v3's field; ccxt reads v2's closeRp
    tickers = await phemex_ex.fetch_tickers()
    assert set(tickers) >= {BTC, ETH} and tickers[BTC]["last"] == 61000 and tickers[ETH]["last"] is not None
    interest = await phemex_ex.fetch_open_interest(BTC)
    assert interest["openInterestAmount"] == 0.02


async def test_ohlcv_volume_is_the_simulators_fills(phemex_ex: Any) -> None:
    await phemex_ex.create_order(BTC, "market", "buy", 0.02)
    raw = await phemex_ex.publicGetMdV2KlineList({"symbol": "BTCUSDT", "resolution": 60, "from": 0, "to": 60})
    assert raw["data"]["rows"] == []
    with pytest.raises(ccxt.BadRequest, match="30000"):
        await phemex_ex.publicGetMdV2KlineLast({"symbol": "BTCUSDT", "resolution": 120, "limit": 5})


async def test_positions_carry_their_update_time(phemex_ex: Any) -> None:
    """ccxt reads an open position's `transactTimeNs` as `lastUpdateTimestamp`; its `timestamp` comes from
    `openedTimeNs`, which only the closed-position history carries (ccxt phemex.py:3991-3992)."""
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)
    [position] = await phemex_ex.fetch_positions([BTC])
    [fill] = await phemex_ex.fetch_my_trades(BTC)
    assert position["contracts"] == 0.01 and position["side"] == "long"
    assert abs(position["lastUpdateTimestamp"] - fill["timestamp"]) <= 1  # ns × 0.000001 in floats
