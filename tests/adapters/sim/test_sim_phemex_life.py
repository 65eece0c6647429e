"""The unmodified ccxt phemex client lives a whole trading life against the simulator over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.support.simkit import Control, phemex_client

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


async def total(exchange: Any) -> Decimal:
    balance = await exchange.fetch_balance()
    return Decimal(balance["info"]["data"]["account"]["accountBalanceRv"])


async def open_positions(exchange: Any, symbol: str) -> list[Any]:
    return [p for p in await exchange.fetch_positions([symbol]) if p["contracts"]]


async def test_market_entry_with_attached_stop_loss_closes_at_the_stop_with_pnl_and_fees_to_the_cent(
    phemex_ex: Any, control_p: Control
) -> None:
    assert phemex_ex.market(BTC)["precision"] == {"amount": 0.001, "price": 0.1}
    await phemex_ex.set_margin_mode("isolated", BTC, {"leverage": 10})
    await phemex_ex.set_leverage(10, BTC)
    balance = await phemex_ex.fetch_balance()
    assert balance["USDT"] == {"free": 10000, "used": 0, "total": 10000}
    funding = await phemex_ex.fetch_funding_rate(BTC)
    assert funding["fundingRate"] == 0.0001 and funding["markPrice"] == 60000

    entry = await phemex_ex.create_order(
        BTC,
        "market",
        "buy",
        0.01,
        None,
        {"clientOrderId": "p-entry", "stopLoss": {"triggerPrice": 59000, "triggerPriceType": "mark"}},
    )
    assert entry["status"] == "open" and entry["filled"] == 0 and entry["stopLossPrice"] == 59000  # an ack
    filled = await phemex_ex.fetch_order(None, BTC, {"clientOrderId": "p-entry"})
    assert (filled["status"], filled["filled"], filled["average"]) == ("closed", 0.01, 60000)
    [stop] = await phemex_ex.fetch_open_orders(BTC)
    assert (stop["type"], stop["side"], stop["triggerPrice"], stop["reduceOnly"]) == (
        "Stop",
        "sell",
        59000,
        True,
    )
    assert stop["info"]["trigger"] == "ByMarkPrice"
    [position] = await open_positions(phemex_ex, BTC)
    assert (position["side"], position["contracts"], position["entryPrice"], position["leverage"]) == (
        "long",
        0.01,
        60000,
        10,
    )
    assert position["marginMode"] == "isolated"

    await control_p.mark(BTC, "58900")

    assert await open_positions(phemex_ex, BTC) == []
    fired = await phemex_ex.fetch_order(stop["id"], BTC)
    assert (fired["status"], fired["average"]) == ("closed", 58900)
    trades = await phemex_ex.fetch_my_trades(BTC)
    assert sorted((t["side"], t["price"], t["fee"]["cost"]) for t in trades) == [
        ("buy", 60000, 0.36),
        ("sell", 58900, 0.3534),
    ]
    assert await total(phemex_ex) == Decimal("10000") - Decimal("0.36") - Decimal("11") - Decimal("0.3534")
    assert await phemex_ex.fetch_open_orders(BTC) == []


async def test_limit_order_rests_then_fills_as_maker_when_the_mark_crosses(
    phemex_ex: Any, control_p: Control
) -> None:
    order = await phemex_ex.create_order(ETH, "limit", "buy", 0.1, 2950, {"clientOrderId": "p-rest"})
    [resting] = await phemex_ex.fetch_open_orders(ETH)
    assert resting["id"] == order["id"] and resting["price"] == 2950 and resting["remaining"] == 0.1

    await control_p.mark(ETH, "2940")

    done = await phemex_ex.fetch_order(order["id"], ETH)
    assert (done["status"], done["average"], done["fee"]["cost"]) == ("closed", 2950, "0.0295")
    [position] = await open_positions(phemex_ex, ETH)
    assert position["entryPrice"] == 2950


async def test_attached_take_profit_fires_and_the_stop_stays_untriggered(
    phemex_ex: Any, control_p: Control
) -> None:
    await phemex_ex.create_order(
        ETH,
        "market",
        "buy",
        0.1,
        None,
        {"stopLoss": {"triggerPrice": 2900}, "takeProfit": {"triggerPrice": 3100}},
    )
    legs = {o["type"]: o for o in await phemex_ex.fetch_open_orders(ETH)}
    assert set(legs) == {"Stop", "MarketIfTouched"}

    await control_p.mark(ETH, "3100")

    assert (await phemex_ex.fetch_order(legs["MarketIfTouched"]["id"], ETH))["status"] == "closed"
    # Unverified for Phemex: the harsher reading keeps the other leg until it is cancelled.
    assert (await phemex_ex.fetch_order(legs["Stop"]["id"], ETH))["info"]["ordStatus"] == "Untriggered"
    assert await total(phemex_ex) == Decimal("10000") - Decimal("0.18") + Decimal("10") - Decimal("0.186")


async def test_funding_settles_at_the_interval_and_reads_back_as_phemex_fee(
    phemex_ex: Any, control_p: Control
) -> None:
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)
    await control_p.call("POST", "funding", {"symbol": "BTCUSDT", "rate": "0.0003"})
    state = await control_p.state()
    boundary = state["next_funding_ms"]["BTCUSDT"]
    await control_p.call("POST", "clock", {"advance_seconds": (boundary - state["now_ms"]) / 1000 + 1})

    [payment] = await phemex_ex.fetch_funding_history(BTC)
    # Phemex reports funding as a fee: positive when the account paid (ccxt passes it through as a string)
    assert Decimal(str(payment["amount"])) == Decimal("0.18") and payment["timestamp"] == boundary
    [rate] = await phemex_ex.fetch_funding_rate_history(BTC)
    assert (rate["fundingRate"], rate["timestamp"]) == (0.0003, boundary)
    assert await total(phemex_ex) == Decimal("10000") - Decimal("0.36") - Decimal("0.18")


async def test_isolated_liquidation_takes_the_margin(phemex_ex: Any, control_p: Control) -> None:
    await phemex_ex.set_leverage(100, BTC)
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)

    await control_p.mark(BTC, "59600")

    assert await open_positions(phemex_ex, BTC) == []
    assert await total(phemex_ex) == Decimal("10000") - Decimal("0.36") - Decimal("6")
    assert (await control_p.state())["insurance_fund"] == "1000002"


async def test_rejections_raise_the_classes_live_phemex_produces(phemex_ex: Any, phemex_sim: Any) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="11048"):
        await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"stopLoss": {"triggerPrice": 61000}})
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)
    await phemex_ex.create_order(BTC, "limit", "buy", 0.01, 50000, {"clientOrderId": "p-dup"})
    with pytest.raises(ccxt.DuplicateOrderId):  # a duplicate among open orders (another price: not a replay)
        await phemex_ex.create_order(BTC, "limit", "buy", 0.01, 49000, {"clientOrderId": "p-dup"})
    with pytest.raises(ccxt.InvalidOrder, match="11044"):
        await phemex_ex.create_order(
            BTC,
            "market",
            "sell",
            0.01,
            None,
            {"triggerPrice": 61000, "triggerDirection": "down", "reduceOnly": True},
        )
    with pytest.raises(ccxt.InsufficientFunds):
        await phemex_ex.create_order(BTC, "market", "buy", 5)
    with pytest.raises(ccxt.OrderNotFound):
        await phemex_ex.fetch_order("00000000-0000-4000-8000-0000000fffff", BTC)
    with pytest.raises(ccxt.OrderNotFound):
        await phemex_ex.cancel_order("00000000-0000-4000-8000-0000000fffff", BTC)

    url = phemex_sim[1]
    wrong_secret = phemex_client(url, secret="not-the-secret")
    expired = phemex_client(url)
    expired.options["x-phemex-request-expiry"] = -120
    try:
        for client in (wrong_secret, expired):
            with pytest.raises(ccxt.AuthenticationError):
                await client.fetch_balance()
    finally:
        await wrong_secret.close()
        await expired.close()


async def test_a_separate_stop_outlives_its_position_and_acts_on_the_next_one(
    phemex_ex: Any, control_p: Control
) -> None:
    await phemex_ex.create_order(ETH, "market", "buy", 0.1)
    stop = {
        "triggerPrice": 2900,
        "triggerDirection": "descending",
        "triggerType": "ByMarkPrice",
        "reduceOnly": True,
    }
    await phemex_ex.create_order(ETH, "market", "sell", 0.1, None, stop)
    await phemex_ex.create_order(ETH, "market", "sell", 0.1, None, {"reduceOnly": True})
    [resting] = await phemex_ex.fetch_open_orders(ETH)
    assert resting["info"]["ordStatus"] == "Untriggered"
    await phemex_ex.create_order(ETH, "market", "buy", 0.3)
    await control_p.mark(ETH, "2900")
    [position] = await open_positions(phemex_ex, ETH)
    assert position["contracts"] == 0.2
