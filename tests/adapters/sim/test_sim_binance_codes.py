"""Binance codes and shapes (issue #10 item 6): the PERCENT_PRICE band, the ACK answer of a new order."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import ccxt.async_support as ccxt
import pytest

from adapters.sim import SimServer
from tests.support.simkit import Control, binance_client, static_config

BTC = "BTC/USDT:USDT"


async def test_a_limit_price_outside_the_percent_price_band_is_refused_with_its_side_code(
    binance: Any,
) -> None:
    [symbol] = [s for s in (await binance.fapiPublicGetExchangeInfo())["symbols"] if s["symbol"] == "BTCUSDT"]
    [band] = [f for f in symbol["filters"] if f["filterType"] == "PERCENT_PRICE"]
    assert (band["multiplierDown"], band["multiplierUp"]) == ("0.9500", "1.0500")
    with pytest.raises(ccxt.BadRequest, match=r"-4016.*higher than 63000"):
        await binance.create_order(BTC, "limit", "buy", 0.01, 63000.1)
    with pytest.raises(ccxt.BadRequest, match=r"-4024.*lower than 57000"):
        await binance.create_order(BTC, "limit", "sell", 0.01, 56999.9)
    resting = await binance.create_order(BTC, "limit", "buy", 0.01, 57000)  # the edge is inside
    assert resting["status"] == "open"


@pytest.fixture
async def slippery() -> AsyncIterator[Any]:
    server = SimServer(static_config().with_overrides(slippage_bps=600), exchange="binance")
    client = binance_client(await server.start())
    try:
        yield client
    finally:
        await client.close()
        await server.stop()


async def test_a_market_order_whose_best_price_is_outside_the_band_is_refused_4131(slippery: Any) -> None:
    with pytest.raises(ccxt.OperationRejected, match="-4131"):
        await slippery.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.OperationRejected, match="-4131"):
        await slippery.create_order(BTC, "market", "sell", 0.01)


async def test_a_new_order_is_answered_ack_shaped_unless_result_is_asked(
    binance: Any, control_b: Control
) -> None:
    ack = await binance.fapiPrivatePostOrder(
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "MARKET",
            "quantity": "0.01",
            "newClientOrderId": "ack-1",
        }
    )
    assert ack["status"] == "NEW" and ack["executedQty"] == "0"
    assert "avgPrice" not in ack and "cumQuote" not in ack
    await control_b.fault(action="answer_ack", method="POST", path="/fapi/v1/order")
    answered = await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "ack-2"})
    assert answered["status"] == "open" and not answered["filled"] and answered["average"] is None
    filled = await binance.fetch_order(None, BTC, {"clientOrderId": "ack-2"})
    assert filled["status"] == "closed" and filled["filled"] == 0.01
    result = await binance.create_order(BTC, "market", "buy", 0.01)  # ccxt asks for RESULT
    assert result["status"] == "closed" and result["average"] == 60000


async def test_a_reduce_only_order_beyond_what_resting_reduce_only_orders_leave_is_refused_4118(
    binance: Any,
) -> None:
    await binance.create_order(BTC, "market", "buy", 0.01)
    await binance.create_order(BTC, "limit", "sell", 0.01, 61000, {"reduceOnly": True, "timeInForce": "GTC"})
    with pytest.raises(ccxt.OperationRejected, match="-4118"):
        await binance.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
    [position] = await binance.fetch_positions([BTC])
    assert position["contracts"] == 0.01
    await binance.cancel_all_orders(BTC)
    closed = await binance.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
    assert closed["status"] == "closed"
