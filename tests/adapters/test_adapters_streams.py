"""Market streams (adapters/streams.py) against the simulator: prices from the stream while it is live, from
REST while it is stalled or down, stale (fail closed) when both are gone, and the stream back after."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.streams import MarketStreams, StreamSettings
from executor.domain.market import MarketDataItem
from executor.ports.exchange import MARKET_STREAMS, StreamName, StreamState
from tests.support.adapter_sim import BTC, ETH, FAST, Sim, eventually, running_sim

D = Decimal
STREAMED = replace(
    FAST,
    mark_max_age=timedelta(seconds=2),
    # a book top pushed as the mark is set ages while the mark's next 1 s push is waited for
    price_max_age=timedelta(seconds=2),
    streams=StreamSettings(
        stall_after=timedelta(seconds=2.5),
        backoff_first=timedelta(milliseconds=100),
        backoff_max=timedelta(milliseconds=400),
    ),
)
PRICE_READS = ("/fapi/v1/premiumIndex", "/fapi/v1/ticker/bookTicker")


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim("binance", STREAMED) as running:
        running.adapter.watch(BTC)
        await running.adapter.start_background_refresh()
        yield running


def state_of(sim: Sim, name: StreamName) -> StreamState:
    return next(s.state for s in sim.adapter.stream_statuses() if s.name is name)


async def price_reads(sim: Sim) -> int:
    return len([r for r in await sim.requests("GET") if r["path"] in PRICE_READS])


async def test_a_live_stream_prices_the_snapshot_without_a_rest_read(sim: Sim) -> None:
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 5)
    await sim.mark(BTC, "61000")
    await eventually(lambda: _cached_mark(sim) == D(61000), 3)
    before = await price_reads(sim)
    snapshot = await sim.adapter.market_snapshot(BTC)
    assert (snapshot.mark_price, snapshot.bid, snapshot.ask) == (D(61000), D(61000), D(61000))
    assert MarketDataItem.MARK_PRICE not in snapshot.stale
    assert await price_reads(sim) == before


async def test_every_symbol_in_a_frame_of_pushes_is_recorded(sim: Sim) -> None:
    """markPrice@1s sends every symbol each second in one frame; ccxt.pro's watch returns with its first
    message, and the others were lost (their marks read over REST on every decision)."""
    sim.adapter.watch(ETH)
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 5)
    await sim.mark(BTC, "61000")
    await sim.mark(ETH, "3100")

    def recorded() -> bool:
        marks = (sim.adapter._marks.get(BTC), sim.adapter._marks.get(ETH))
        return marks == (D(61000), D(3100))

    await eventually(recorded, 3)
    before = len(await sim.requests("GET", "/fapi/v1/premiumIndex"))
    for _ in range(3):  # seconds of pushes: each symbol's mark stays fresh from the stream alone
        for symbol in (BTC, ETH):
            assert MarketDataItem.MARK_PRICE not in (await sim.adapter.market_snapshot(symbol)).stale
        await asyncio.sleep(1)
    assert len(await sim.requests("GET", "/fapi/v1/premiumIndex")) == before


async def test_a_stalled_stream_falls_back_to_rest_and_comes_back(sim: Sim) -> None:
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 5)
    await sim.fault(action="ws_stall", path="/market/*", count=None)
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.DOWN, 5)
    (status,) = [s for s in sim.adapter.stream_statuses() if s.name is StreamName.MARK_PRICE]
    assert status.problem is not None and "stalled" in status.problem
    await sim.mark(BTC, "60500")
    before = len(await sim.requests("GET", "/fapi/v1/premiumIndex"))
    snapshot = await eventually(lambda: _fresh_mark(sim, D(60500)), 4)
    assert snapshot.mark_price == D(60500)
    assert len(await sim.requests("GET", "/fapi/v1/premiumIndex")) > before
    await sim.control("DELETE", "faults")
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 6)
    (status,) = [s for s in sim.adapter.stream_statuses() if s.name is StreamName.MARK_PRICE]
    assert status.reconnects >= 1


async def test_with_the_stream_and_rest_both_gone_the_mark_is_stale(sim: Sim) -> None:
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 5)
    await sim.fault(action="ws_disconnect", count=None)
    await sim.fault(action="error_5xx", path="/fapi/v1/premiumIndex", count=None)
    await sim.fault(action="error_5xx", path="/fapi/v1/ticker/bookTicker", count=None)
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.DOWN, 5)
    snapshot = await eventually(lambda: _stale_mark(sim), 5)
    assert snapshot.bid is None and snapshot.ask is None
    await sim.control("DELETE", "faults")
    await eventually(lambda: state_of(sim, StreamName.MARK_PRICE) is StreamState.LIVE, 6)
    await eventually(lambda: state_of(sim, StreamName.BOOK_TICKER) is StreamState.LIVE, 6)


async def test_a_quiet_book_stream_stays_live_on_pongs_and_a_frozen_one_is_stalled(sim: Sim) -> None:
    """bookTicker sends only changes: a book that does not move for two stall limits is pinged, answers, and
    is neither reconnected nor down; a connection that answers no ping (ws_stall) is a stall."""
    await eventually(lambda: state_of(sim, StreamName.BOOK_TICKER) is StreamState.LIVE, 5)
    connects = await book_connections(sim)
    await asyncio.sleep(6)  # the static price path: no change, no message, past two stall limits
    (status,) = [s for s in sim.adapter.stream_statuses() if s.name is StreamName.BOOK_TICKER]
    assert (status.state, status.reconnects, status.problem) == (StreamState.LIVE, 0, None)
    assert await book_connections(sim) == connects
    await sim.fault(action="ws_stall", path="/public/*", count=None)
    await sim.mark(BTC, "60100")  # a change to push: the rule fires and freezes the connection
    await eventually(lambda: state_of(sim, StreamName.BOOK_TICKER) is StreamState.DOWN, 8)
    (status,) = [s for s in sim.adapter.stream_statuses() if s.name is StreamName.BOOK_TICKER]
    assert status.problem is not None and "stalled" in status.problem


async def book_connections(sim: Sim) -> int:
    return len([r for r in await sim.requests("GET") if r["path"].startswith("/public/")])


def _cached_mark(sim: Sim) -> Decimal | None:
    return sim.adapter._marks.get(BTC)


async def _fresh_mark(sim: Sim, mark: Decimal) -> object:
    snapshot = await sim.adapter.market_snapshot(BTC)
    fresh = MarketDataItem.MARK_PRICE not in snapshot.stale
    return snapshot if fresh and snapshot.mark_price == mark else None


async def _stale_mark(sim: Sim) -> object:
    snapshot = await sim.adapter.market_snapshot(BTC)
    return snapshot if MarketDataItem.MARK_PRICE in snapshot.stale else None


class _Chatty:
    """A stream whose every watch is answered at once: a close always lands while a message is arriving."""

    def __init__(self) -> None:
        self.markets: dict[str, object] = {BTC: {}}
        self.tickers: dict[str, object] = {}
        self.bidsasks: dict[str, object] = {}

    async def watch_mark_prices(self, symbols: list[str]) -> dict[str, object]:
        await asyncio.sleep(0)
        self.tickers[BTC] = {"info": {"p": "60000"}}
        return {BTC: self.tickers[BTC]}

    async def watch_bids_asks(self, symbols: list[str]) -> dict[str, object]:
        await asyncio.sleep(0)
        self.bidsasks[BTC] = {"info": {"b": "59999", "a": "60001"}}
        return {BTC: self.bidsasks[BTC]}

    async def close(self) -> None:
        return None


class _Prices:
    def record_mark(self, symbol: str, mark: Decimal) -> None:
        pass

    def record_book(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        pass


async def test_closing_while_a_message_arrives_stops_the_streams() -> None:
    """The shutdown's cancellation is never lost to a message that completes at the same moment (3.11's
    wait_for returned the message and kept the stream running, so the daemon's close waited forever)."""

    async def no_markets() -> dict[str, object]:
        return {}

    for attempt in range(30):
        streams = MarketStreams(
            lambda: {name: _Chatty() for name in MARKET_STREAMS}, _Prices(), lambda: [BTC], no_markets
        )
        streams.start()
        for _ in range(attempt % 5 + 1):
            await asyncio.sleep(0)
        async with asyncio.timeout(2):
            await streams.aclose()
        assert all(
            task.get_name() not in ("stream-mark_price", "stream-book_ticker") for task in asyncio.all_tasks()
        )
