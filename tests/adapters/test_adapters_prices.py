"""A market entry with a price bound goes out as a marketable limit IOC at the bound (issue #11), through
real ccxt against the simulator in both dialects: it fills within the bound, or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from decimal import Decimal

import pytest

from executor.domain.account import MarginMode
from executor.domain.enums import EntryType, Side
from executor.domain.orders import EntryRequest, OrderStatus
from tests.support.adapter_sim import BTC, EXCHANGES, Sim, entry_request, running_sim

D = Decimal
QTY = D("0.010")


@pytest.fixture(params=EXCHANGES)
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Sim]:
    async with running_sim(request.param) as running:
        yield running


def bounded(signal: str, bound: str, stop: str = "59000") -> EntryRequest:
    return entry_request(signal, stop=stop, price_bound=bound)


async def test_a_bounded_market_entry_is_a_limit_ioc_at_the_bound_and_fills_within_it(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    result = await sim.adapter.open_with_stop(bounded("sig-bound", "60060"))
    assert result.protected, result.stop_error
    assert result.entry.filled == QTY and result.entry.average_price is not None
    assert result.entry.average_price <= D(60060)
    sent = (await sim.requests("POST", sim.order_path))[0]["params"]
    if sim.exchange == "binance":
        assert (sent["type"], sent["timeInForce"], sent["price"]) == ("LIMIT", "IOC", "60060")
    else:
        assert (sent["ordType"], sent["timeInForce"], sent["priceRp"]) == (
            "Limit",
            "ImmediateOrCancel",
            "60060",
        )


async def test_a_bounded_entry_whose_bound_the_market_has_passed_fills_nothing_and_needs_no_stop(
    sim: Sim,
) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await sim.mark(BTC, "60200")  # the market moved past the 60,060 the risk was priced for
    result = await sim.adapter.open_with_stop(bounded("sig-passed", "60060"))
    assert result.entry.filled == 0 and result.entry.status in (OrderStatus.EXPIRED, OrderStatus.CANCELED)
    assert result.stop is None and "without a fill" in (result.stop_error or "")
    assert (await sim.account())["positions"] == []


def test_only_a_market_entry_has_a_price_bound_and_its_stop_is_on_the_losing_side() -> None:
    with pytest.raises(ValueError, match="only a market entry"):
        EntryRequest(BTC, Side.LONG, QTY, EntryType.LIMIT, D(60000), D(59000), "e", "s", price_bound=D(60060))
    with pytest.raises(ValueError, match="losing side"):
        bounded("sig-x", "58000", stop="59000")


def spread_sim(exchange: str) -> AbstractAsyncContextManager[Sim]:
    """A simulator whose takers pay 10 bps: its book is 59,940 / 60,060 around the mark 60,000."""
    return running_sim(exchange, slippage_bps=D(10))


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_the_snapshot_carries_the_best_bid_and_ask_with_the_time_they_were_read(exchange: str) -> None:
    async with spread_sim(exchange) as sim:
        snapshot = await sim.adapter.market_snapshot(BTC)
        assert (snapshot.bid, snapshot.ask, snapshot.mark_price) == (D(59940), D(60060), D(60000))
        assert snapshot.book_at is not None and snapshot.mark_at is not None
        book_path = "/fapi/v1/ticker/bookTicker" if exchange == "binance" else "/md/v2/orderbook"
        assert len(await sim.requests("GET", book_path)) == 1
        await sim.adapter.market_snapshot(BTC)  # fresh: read from the cache
        assert len(await sim.requests("GET", book_path)) == 1


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_a_book_that_cannot_be_read_leaves_the_snapshot_on_the_mark(exchange: str) -> None:
    async with spread_sim(exchange) as sim:
        book_path = "/fapi/v1/ticker/bookTicker" if exchange == "binance" else "/md/v2/orderbook"
        await sim.fault(action="error_5xx", method="GET", path=book_path, count=50)
        snapshot = await sim.adapter.market_snapshot(BTC)
        assert snapshot.bid is None and snapshot.ask is None and snapshot.book_at is None
        assert snapshot.mark_price == D(60000) and snapshot.is_complete


@pytest.mark.parametrize("exchange", EXCHANGES)
async def test_a_buy_bounded_under_the_ask_fills_nothing_and_at_the_ask_fills_there(exchange: str) -> None:
    async with spread_sim(exchange) as sim:
        await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
        under = await sim.adapter.open_with_stop(bounded("sig-under", "60050"))
        assert under.entry.filled == 0 and under.stop is None
        at_ask = await sim.adapter.open_with_stop(bounded("sig-ask", "60120"))
        assert at_ask.protected and at_ask.entry.average_price == D(60060)
