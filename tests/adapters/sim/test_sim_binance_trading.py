"""ccxt's unified trade methods behind batch orders, modify order, isolated margin and liquidation records
parse the simulator's Binance answers, and the engine changes as Binance's would (issue #10, item 13)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from adapters.sim import SimServer
from tests.support.simkit import Control, binance_client, static_config

BTC = "BTC/USDT:USDT"


def account(state: dict[str, Any]) -> dict[str, Any]:
    return state["accounts"]["sim-key"]


def open_orders(state: dict[str, Any]) -> list[dict[str, Any]]:
    return account(state)["open_orders"]


def position(state: dict[str, Any]) -> dict[str, Any]:
    [row] = [p for p in account(state)["positions"] if p["symbol"] == "BTCUSDT"]
    return row


async def test_edit_order_moves_a_resting_limits_price_and_size_and_keeps_its_ids(
    binance: Any, control_b: Control
) -> None:
    placed = await binance.create_order(BTC, "limit", "buy", 0.01, 59000, {"clientOrderId": "edit-1"})
    edited = await binance.edit_order(placed["id"], BTC, "limit", "buy", 0.02, 58500)
    assert (edited["id"], edited["clientOrderId"]) == (placed["id"], "edit-1")
    assert (edited["price"], edited["amount"], edited["status"]) == (58500, 0.02, "open")
    [order] = open_orders(await control_b.state())
    assert (order["client_id"], order["price"], order["qty"]) == ("edit-1", "58500", "0.02")
    with pytest.raises(ccxt.OperationRejected, match="-5027"):
        await binance.edit_order(placed["id"], BTC, "limit", "buy", 0.02, 58500)
    raw = {"symbol": "BTCUSDT", "orderId": placed["id"], "side": "BUY", "quantity": "0.02"}
    with pytest.raises(ccxt.BadRequest, match="-4014"):  # a filter failure leaves the order as it was
        await binance.fapiPrivatePutOrder({**raw, "price": "58500.05"})
    with pytest.raises(ccxt.BadRequest, match="-4016"):  # outside PERCENT_PRICE
        await binance.edit_order(placed["id"], BTC, "limit", "buy", 0.02, 64000)
    with pytest.raises(ccxt.InsufficientFunds, match="-2019"):  # the new size needs margin
        await binance.edit_order(placed["id"], BTC, "limit", "buy", 10, 58500)
    [order] = open_orders(await control_b.state())
    assert (order["price"], order["qty"]) == ("58500", "0.02")


async def test_edit_order_across_the_book_fills_as_a_taker_and_a_post_only_is_cancelled(
    binance: Any, control_b: Control
) -> None:
    placed = await binance.create_order(BTC, "limit", "buy", 0.01, 59000)
    taken = await binance.edit_order(placed["id"], BTC, "limit", "buy", 0.01, 60500)
    assert taken["status"] == "closed" and taken["average"] == 60000  # the ask, not the new limit
    maker = await binance.create_order(BTC, "limit", "sell", 0.01, 61000, {"timeInForce": "PO"})
    cancelled = await binance.edit_order(maker["id"], BTC, "limit", "sell", 0.01, 59900)
    assert cancelled["status"] == "canceled" and cancelled["filled"] == 0
    assert position(await control_b.state())["qty"] == "0.01"


async def test_create_orders_places_each_leg_and_answers_a_refused_leg_in_its_place(
    binance: Any, control_b: Control
) -> None:
    answers = await binance.create_orders(
        [
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 59000},
            {"symbol": BTC, "type": "limit", "side": "buy", "amount": 5000, "price": 59000},
            {"symbol": BTC, "type": "market", "side": "buy", "amount": 0.02},
        ]
    )
    # ccxt parses the refused leg as a rejected order and sorts the list by time, so it comes first.
    assert sorted(a["status"] for a in answers) == ["closed", "open", "rejected"]
    [refused] = [a for a in answers if a["status"] == "rejected"]
    assert refused["info"] == {"code": -4005, "msg": "Quantity greater than max quantity."}
    state = await control_b.state()
    assert [o["qty"] for o in open_orders(state)] == ["0.01"] and position(state)["qty"] == "0.02"
    with pytest.raises(ccxt.BadRequest, match="-1130"):
        await binance.create_orders(
            [{"symbol": BTC, "type": "limit", "side": "buy", "amount": 0.01, "price": 59000}] * 6
        )


async def test_cancel_orders_cancels_each_id_and_answers_an_unknown_one_with_2011(
    binance: Any, control_b: Control
) -> None:
    first = await binance.create_order(BTC, "limit", "buy", 0.01, 59000)
    second = await binance.create_order(BTC, "limit", "buy", 0.01, 58000, {"clientOrderId": "cx-2"})
    answers = await binance.cancel_orders([first["id"], "987654"], BTC)
    # ccxt keeps only the answers naming the symbol: the -2011 entry is in the raw answer.
    assert [(a["id"], a["status"]) for a in answers] == [(first["id"], "canceled")]
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):  # ccxt raises on a lone refused entry
        await binance.fapiPrivateDeleteBatchOrders({"symbol": "BTCUSDT", "orderidlist": ["987654"]})
    by_client = await binance.cancel_orders([], BTC, {"clientOrderIds": ["cx-2"]})
    assert by_client[0]["id"] == second["id"] and by_client[0]["status"] == "canceled"
    assert open_orders(await control_b.state()) == []


async def test_add_and_reduce_margin_move_the_isolated_margin_and_the_liquidation_price(
    binance: Any, control_b: Control
) -> None:
    with pytest.raises(ccxt.OperationRejected, match="-4054"):
        await binance.add_margin(BTC, 10)
    await binance.create_order(BTC, "market", "buy", 0.1)  # 6,000 USDT at leverage 20: 300 margin
    before = position(await control_b.state())
    added = await binance.add_margin(BTC, 100)
    assert (added["type"], added["amount"], added["status"]) == ("add", 100, "ok")
    after = position(await control_b.state())
    assert Decimal(after["margin"]) == Decimal(before["margin"]) + 100
    assert Decimal(after["liquidation_price"]) < Decimal(before["liquidation_price"])
    reduced = await binance.reduce_margin(BTC, 40)
    assert reduced["type"] == "reduce"
    assert Decimal(position(await control_b.state())["margin"]) == Decimal(before["margin"]) + 60
    with pytest.raises(ccxt.InsufficientFunds, match="-4051"):  # below the initial margin
        await binance.reduce_margin(BTC, 100)
    with pytest.raises(ccxt.InsufficientFunds, match="-4050"):
        await binance.add_margin(BTC, 1_000_000)
    history = await binance.fetch_margin_adjustment_history(BTC)
    assert [(h["type"], h["amount"]) for h in history] == [("add", 100), ("reduce", 40)]
    assert all(h["timestamp"] for h in history)


async def test_fetch_my_liquidations_returns_the_liquidation_order(binance: Any, control_b: Control) -> None:
    await binance.create_order(BTC, "market", "buy", 0.1)
    assert await binance.fetch_my_liquidations(BTC) == []
    await control_b.mark("BTCUSDT", "56000")  # 1/20 below entry less maintenance: liquidated
    [liquidation] = await binance.fetch_my_liquidations(BTC)
    assert liquidation["info"]["clientOrderId"].startswith("autoclose-")
    assert liquidation["info"]["origType"] == "LIQUIDATION" and liquidation["price"] == 56000
    assert liquidation["contracts"] == 0.1 and liquidation["side"] == "sell"


async def test_market_routes_behind_ohlcv_premium_old_trades_rpi_book_and_status(
    binance: Any, binance_sim: tuple[SimServer, str]
) -> None:
    await binance.create_order(BTC, "market", "buy", 0.01)
    premium = await binance.fetch_ohlcv(BTC, "1h", limit=3, params={"price": "premiumIndex"})
    assert len(premium) == 3 and all(row[1:5] == [0, 0, 0, 0] for row in premium)
    old = await binance.fetch_trades(BTC, params={"fetchTradesMethod": "fapiPublicGetHistoricalTrades"})
    assert [(t["side"], t["amount"]) for t in old] == [("buy", 0.01)]
    assert binance_sim[0].requests.entries[-1].path == "/fapi/v1/historicalTrades"
    rpi = await binance.fetch_order_book(BTC, params={"rpi": True})
    book = await binance.fetch_order_book(BTC, 1000)
    assert (rpi["bids"], rpi["asks"]) == (book["bids"], book["asks"]) and rpi["bids"]
    with pytest.raises(ccxt.BadRequest, match="-1100"):  # only 1000 is legal (ccxt always sends it)
        await binance.fapiPublicGetRpiDepth({"symbol": "BTCUSDT", "limit": 100})
    assert (await binance.fetch_status())["status"] == "ok"


async def test_margin_changes_survive_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "sim.json"
    for restarted in (False, True):
        server = SimServer(static_config(), exchange="binance", state_path=state)
        client = binance_client(await server.start())
        try:
            await client.load_markets()
            if not restarted:
                await client.create_order(BTC, "market", "buy", 0.1)
                await client.add_margin(BTC, 25)
            history = await client.fetch_margin_adjustment_history(BTC)
            assert [(h["type"], h["amount"]) for h in history] == [("add", 25)]
        finally:
            await client.close()
            await server.stop()
