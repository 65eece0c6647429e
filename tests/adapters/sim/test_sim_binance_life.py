"""The unmodified ccxt binanceusdm client lives a whole trading life against the simulator over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.support.simkit import Control, binance_client

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


def wallet(balance: dict[str, Any]) -> Decimal:
    return Decimal(balance["info"]["assets"][0]["walletBalance"])


async def test_market_entry_with_mark_price_stop_closes_at_the_stop_with_pnl_and_fees_to_the_cent(
    binance: Any, control_b: Control
) -> None:
    market = binance.market(BTC)
    assert market["precision"]["amount"] == 0.001 and market["precision"]["price"] == 0.1
    with pytest.raises(ccxt.MarginModeAlreadySet):
        await binance.set_margin_mode("isolated", BTC)
    with pytest.raises(ccxt.OperationRejected):
        await binance.set_margin_mode("cross", BTC)
    assert (await binance.set_leverage(10, BTC))["leverage"] == 10
    balance = await binance.fetch_balance()
    assert balance["USDT"]["free"] == 10000 and wallet(balance) == Decimal("10000")
    funding = await binance.fetch_funding_rate(BTC)
    assert funding["fundingRate"] == 0.0001 and funding["markPrice"] == 60000
    insurance = await binance.fapiPublicGetInsuranceBalance({"symbol": "BTCUSDT"})
    assert insurance["assets"][0] == {
        "asset": "USDT",
        "marginBalance": "1000000",
        "updateTime": insurance["assets"][0]["updateTime"],
    }

    entry = await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "life-entry"})
    assert (entry["status"], entry["filled"], entry["average"], entry["clientOrderId"]) == (
        "closed",
        0.01,
        60000,
        "life-entry",
    )
    stop = await binance.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        None,
        {
            "stopLossPrice": 59000,
            "reduceOnly": True,
            "workingType": "MARK_PRICE",
            "clientOrderId": "life-stop",
        },
    )
    assert stop["status"] == "open" and stop["triggerPrice"] == 59000 and stop["reduceOnly"] is True
    algo = await binance.fetch_open_orders(BTC, params={"trigger": True})
    assert [o["clientOrderId"] for o in algo] == ["life-stop"]
    assert algo[0]["info"]["workingType"] == "MARK_PRICE" and algo[0]["info"]["orderType"] == "STOP_MARKET"
    assert await binance.fetch_open_orders(BTC) == []
    [position] = await binance.fetch_positions([BTC])
    assert (position["side"], position["contracts"], position["entryPrice"]) == ("long", 0.01, 60000)
    assert position["marginMode"] == "isolated" and position["collateral"] == 60

    moved = await control_b.mark(BTC, "58900")
    assert [(f["client_id"], f["price"]) for f in moved["fills"]] == [("life-stop", "58900")]

    assert await binance.fetch_positions([BTC]) == []
    fired = await binance.fetch_order(None, BTC, {"trigger": True, "clientOrderId": "life-stop"})
    assert fired["status"] == "closed" and fired["info"]["algoStatus"] == "FINISHED"
    trades = await binance.fetch_my_trades(BTC)
    assert [(t["side"], t["price"], t["fee"]["cost"]) for t in trades] == [
        ("buy", 60000, 0.3),
        ("sell", 58900, 0.2945),
    ]
    assert [t["info"]["realizedPnl"] for t in trades] == ["0", "-11"]
    assert wallet(await binance.fetch_balance()) == Decimal("10000") - Decimal("0.3") - Decimal(
        "11"
    ) - Decimal("0.2945")


async def test_limit_order_rests_then_fills_as_maker_when_the_mark_crosses(
    binance: Any, control_b: Control
) -> None:
    order = await binance.create_order(ETH, "limit", "buy", 0.1, 2950, {"clientOrderId": "rest-1"})
    assert order["status"] == "open" and order["filled"] == 0
    assert [o["id"] for o in await binance.fetch_open_orders(ETH)] == [order["id"]]
    assert (await binance.fetch_balance())["USDT"]["used"] == 14.75  # 0.1 × 2950 / 20x reserved

    await control_b.mark(ETH, "2960")
    assert (await binance.fetch_order(order["id"], ETH))["status"] == "open"
    await control_b.mark(ETH, "2940")

    filled = await binance.fetch_order(None, ETH, {"clientOrderId": "rest-1"})
    assert (filled["status"], filled["average"], filled["filled"]) == ("closed", 2950, 0.1)
    [trade] = await binance.fetch_my_trades(ETH)
    assert trade["takerOrMaker"] == "maker" and trade["fee"]["cost"] == 0.059
    [position] = await binance.fetch_positions([ETH])
    assert position["entryPrice"] == 2950 and position["contracts"] == 0.1


async def test_post_only_that_would_take_is_rejected_as_not_fillable(binance: Any) -> None:
    with pytest.raises(ccxt.OrderNotFillable):
        await binance.create_order(ETH, "limit", "buy", 0.1, 3010, {"postOnly": True})


async def test_take_profit_fires_on_the_rise_and_leaves_the_gtc_stop_open(
    binance: Any, control_b: Control
) -> None:
    await binance.create_order(ETH, "market", "buy", 0.1)
    stop = await binance.create_order(
        ETH, "STOP_MARKET", "sell", None, None, {"triggerPrice": 2900, "closePosition": True}
    )
    take = await binance.create_order(
        ETH, "market", "sell", 0.1, None, {"takeProfitPrice": 3100, "reduceOnly": True}
    )
    assert take["info"]["orderType"] == "TAKE_PROFIT_MARKET"

    await control_b.mark(ETH, "3100")

    assert (await binance.fetch_order(take["id"], ETH, {"trigger": True}))["status"] == "closed"
    # Binance expires only GTE_GTC conditional orders with their position; a GTC one rests on.
    assert (await binance.fetch_order(stop["id"], ETH, {"trigger": True}))["info"]["algoStatus"] == "NEW"
    assert await binance.fetch_positions([ETH]) == []
    expected = Decimal("10000") - Decimal("0.15") + Decimal("10") - Decimal("0.155")
    assert wallet(await binance.fetch_balance()) == expected


async def test_funding_settles_at_the_interval_as_income(binance: Any, control_b: Control) -> None:
    await binance.create_order(BTC, "market", "buy", 0.01)
    await control_b.call("POST", "funding", {"symbol": BTC, "rate": "0.0003"})
    before = await binance.fetch_funding_rate(BTC)
    state = await control_b.state()
    wait_s = (state["next_funding_ms"]["BTCUSDT"] - state["now_ms"]) / 1000 + 1
    await control_b.call("POST", "clock", {"advance_seconds": wait_s})

    [payment] = await binance.fetch_funding_history(BTC)
    assert payment["amount"] == -0.18 and payment["timestamp"] == before["fundingTimestamp"]
    history = await binance.fetch_funding_rate_history(BTC)
    assert [(h["fundingRate"], h["timestamp"]) for h in history] == [(0.0003, before["fundingTimestamp"])]
    after = await binance.fetch_funding_rate(BTC)
    assert after["fundingTimestamp"] == before["fundingTimestamp"] + 8 * 3600 * 1000
    assert wallet(await binance.fetch_balance()) == Decimal("10000") - Decimal("0.3") - Decimal("0.18")


async def test_isolated_liquidation_takes_the_margin_and_feeds_the_insurance_fund(
    binance: Any, control_b: Control
) -> None:
    await binance.set_leverage(100, BTC)
    await binance.create_order(BTC, "market", "buy", 0.01)
    [position] = await binance.fetch_positions([BTC])
    assert position["liquidationPrice"] == pytest.approx(59638.55421687)

    await control_b.mark(BTC, "59600")

    assert await binance.fetch_positions([BTC]) == []
    assert wallet(await binance.fetch_balance()) == Decimal("10000") - Decimal("0.3") - Decimal("6")
    income = (await control_b.state())["accounts"]["sim-key"]["income"]
    assert [(r["type"], r["amount"]) for r in income][-2:] == [
        ("REALIZED_PNL", "-4"),
        ("INSURANCE_CLEAR", "-2"),
    ]
    insurance = await binance.fapiPublicGetInsuranceBalance({"symbol": "BTCUSDT"})
    assert insurance["assets"][0]["marginBalance"] == "1000002"
    orders = await binance.fetch_orders(BTC)
    assert (
        orders[-1]["clientOrderId"].startswith("autoclose-")
        and orders[-1]["info"]["origType"] == "LIQUIDATION"
    )


async def test_rejections_raise_the_classes_live_binance_produces(binance: Any, binance_sim: Any) -> None:
    await binance.create_order(BTC, "market", "buy", 0.01)
    await binance.create_order(BTC, "limit", "buy", 0.01, 58000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):  # a duplicate among open orders
        await binance.create_order(BTC, "limit", "buy", 0.01, 58000, {"clientOrderId": "dup-1"})
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        await binance.create_order(
            BTC, "market", "sell", 0.01, None, {"stopLossPrice": 61000, "reduceOnly": True}
        )
    with pytest.raises(ccxt.InsufficientFunds):
        await binance.create_order(BTC, "market", "buy", 5)
    with pytest.raises(ccxt.OrderNotFound):
        await binance.fetch_order("999999", BTC)
    with pytest.raises(ccxt.OrderNotFound):
        await binance.cancel_order("999999", BTC)

    url = binance_sim[1]
    for overrides, expected in [
        ({"secret": "not-the-secret"}, ccxt.AuthenticationError),
        ({"apiKey": "unknown-key"}, ccxt.AuthenticationError),
    ]:
        client = binance_client(url, **overrides)
        try:
            with pytest.raises(expected):
                await client.fetch_balance()
        finally:
            await client.close()
    stale = binance_client(url)
    stale.options["timeDifference"] = 120_000
    try:
        with pytest.raises(ccxt.InvalidNonce):
            await stale.fetch_balance()
    finally:
        await stale.close()


@pytest.mark.parametrize(
    ("name", "value"), [("quantity", "０.01"), ("quantity", "٠.٠١"), ("price", "６１０００")]
)
async def test_numbers_in_other_digits_than_ascii_are_illegal_characters(
    binance: Any, name: str, value: str
) -> None:
    params = {"symbol": "BTCUSDT", "side": "SELL", "type": "LIMIT", "quantity": "0.01"}
    params |= {"price": "61000", "timeInForce": "GTC"}
    await binance.fapiPrivatePostOrder({**params, "newClientOrderId": "ascii"})
    params[name] = value
    with pytest.raises(ccxt.BadRequest, match="-1100"):
        await binance.fapiPrivatePostOrder(params)
    assert len(await binance.fetch_open_orders(BTC)) == 1


async def test_gtc_legs_of_a_closed_position_rest_on_and_act_on_the_next_position(
    binance: Any, control_b: Control
) -> None:
    await binance.create_order(BTC, "market", "buy", 0.01)
    tp = await binance.create_order(
        BTC, "market", "sell", 0.01, None, {"takeProfitPrice": 61000, "reduceOnly": True}
    )
    gte = await binance.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        None,
        {"stopLossPrice": 59000, "reduceOnly": True, "timeInForce": "GTE_GTC"},
    )
    await binance.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})  # flat

    assert [o["id"] for o in await binance.fetch_open_orders(BTC, params={"trigger": True})] == [tp["id"]]
    assert (await binance.fetch_order(gte["id"], BTC, {"trigger": True}))["info"]["algoStatus"] == "EXPIRED"
    await binance.create_order(BTC, "market", "buy", 0.03)  # a later position, no take-profit of its own
    await control_b.mark(BTC, "61000")
    [position] = await binance.fetch_positions([BTC])
    assert position["contracts"] == 0.02  # the stale take-profit of the first position cut the second
