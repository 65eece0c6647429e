"""A market entry with a price bound goes out as a marketable limit IOC at the bound (issue #11), through
real ccxt against the simulator in both dialects: it fills within the bound, or not at all."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from executor.domain.account import MarginMode
from executor.domain.client_ids import client_order_id
from executor.domain.enums import EntryType, OrderKind, Side
from executor.domain.orders import EntryRequest, OrderStatus
from tests.support.adapter_sim import BTC, EXCHANGES, Sim, running_sim

D = Decimal
QTY = D("0.010")


@pytest.fixture(params=EXCHANGES)
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Sim]:
    async with running_sim(request.param) as running:
        yield running


def bounded(signal: str, bound: str, side: Side = Side.LONG, stop: str = "59000") -> EntryRequest:
    return EntryRequest(
        symbol=BTC,
        side=side,
        qty=QTY,
        entry_type=EntryType.MARKET,
        limit_price=None,
        stop_price=D(stop),
        entry_client_id=client_order_id(signal, OrderKind.ENTRY),
        stop_client_id=client_order_id(signal, OrderKind.STOP),
        price_bound=D(bound),
    )


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
