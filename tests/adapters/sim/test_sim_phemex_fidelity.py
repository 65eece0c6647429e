"""Phemex as strict as documented (issue #10 items 8 and 11): position mode per symbol, 11074, 11057, the
clOrdID length, 19999 for a replayed request, and the by-order-id rows envelope ccxt misreads."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from adapters.sim import SimServer
from adapters.sim.config import RateLimits
from adapters.sim.model import fmt
from tests.support.simkit import Control, phemex_client, static_config

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"


async def test_position_mode_is_per_symbol_and_a_mismatched_pos_side_is_refused_with_20004(
    phemex_ex: Any, control_p: Control
) -> None:
    await phemex_ex.set_position_mode(True, BTC)

    with pytest.raises(ccxt.ExchangeError, match="20004"):  # ccxt sends posSide Merged by default
        await phemex_ex.create_order(BTC, "market", "buy", 0.01)
    with pytest.raises(ccxt.ExchangeError, match="20004"):  # leverageRr is for one-way only
        await phemex_ex.set_leverage(10, BTC)
    await phemex_ex.set_leverage(10, BTC, {"hedged": True})
    await phemex_ex.create_order(ETH, "market", "buy", 0.1)  # ETH is still one-way
    await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"posSide": "Long"})
    rows = await phemex_ex.fetch_positions([BTC])
    assert sorted((p["info"]["posSide"], p["hedged"], p["contracts"]) for p in rows) == [
        ("Long", True, 0.01),
        ("Short", True, 0.0),
    ]
    [eth] = [p for p in await phemex_ex.fetch_positions([ETH]) if p["contracts"]]
    assert (eth["info"]["posMode"], eth["hedged"]) == ("OneWay", False)

    with pytest.raises(ccxt.ExchangeError, match="20004"):  # no switch while a position is open
        await phemex_ex.set_position_mode(False, BTC)
    await phemex_ex.create_order(BTC, "market", "sell", 0.01, None, {"posSide": "Long"})  # closes the long
    assert [p for p in await phemex_ex.fetch_positions([BTC]) if p["contracts"]] == []
    await phemex_ex.set_position_mode(False, BTC)
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)
    assert (await control_p.state())["accounts"]["sim-key"]["positions"][0]["qty"] == "0.01"


async def test_attached_tp_sl_is_refused_with_11074_while_the_account_holds_any_position(
    phemex_ex: Any, control_p: Control
) -> None:
    await phemex_ex.create_order(ETH, "market", "buy", 0.1)
    with pytest.raises(ccxt.InvalidOrder, match="11074"):
        await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"stopLoss": {"triggerPrice": 59000}})
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)  # without TP/SL it goes
    stop = {"triggerPrice": 59000, "triggerDirection": "down", "reduceOnly": True}
    await phemex_ex.create_order(BTC, "market", "sell", 0.01, None, stop)  # and so does a separate stop
    assert {p["symbol"] for p in await phemex_ex.fetch_positions() if p["contracts"]} == {BTC, ETH}
    # Refused with HTTP 200 (Phemex's envelope): the request log says so, so no check counts it executed.
    creates = [r for r in await control_p.requests() if (r["method"], r["path"]) == ("POST", "/g-orders")]
    assert [(r["status"], r["refused"]) for r in creates] == [
        (200, None),
        (200, 11074),
        (200, None),
        (200, None),
    ]


async def test_reduce_only_without_a_position_is_11057_and_a_clordid_over_40_chars_is_refused(
    phemex_ex: Any,
) -> None:
    with pytest.raises(ccxt.InvalidOrder, match="11057"):
        await phemex_ex.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
    with pytest.raises(ccxt.BadRequest, match="30000"):
        await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "x" * 41})
    placed = await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "y" * 40})
    assert placed["clientOrderId"] == "y" * 40


async def test_the_same_signed_order_request_again_is_19999_and_does_not_execute(
    phemex_sim: tuple[SimServer, str], control_p: Control
) -> None:
    _, url = phemex_sim
    body = json.dumps(
        {"symbol": "BTCUSDT", "clOrdID": "replay-1", "side": "Buy", "orderQtyRq": "0.01", "ordType": "Market"}
    )
    expiry = str(int(time.time()) + 30)
    signature = hmac.new(b"sim-secret", f"/g-orders{expiry}{body}".encode(), hashlib.sha256).hexdigest()
    headers = {
        "x-phemex-access-token": "sim-key",
        "x-phemex-request-expiry": expiry,
        "x-phemex-request-signature": signature,
        "Content-Type": "application/json",
    }
    async with aiohttp.ClientSession() as session:
        answers = []
        for _ in range(2):
            async with session.post(f"{url}/g-orders", data=body, headers=headers) as response:
                answers.append(await response.json())
    assert answers[0]["code"] == 0 and answers[0]["data"]["clOrdID"] == "replay-1"
    assert answers[1] == {"code": 19999, "msg": "REQUEST_IS_DUPLICATED", "data": None}
    orders = (await control_p.state())["accounts"]["sim-key"]["orders"]
    assert [o["client_id"] for o in orders] == ["replay-1"]


@pytest.fixture
async def rows_sim() -> AsyncIterator[tuple[SimServer, Any]]:
    """The default configuration: by-order-id answers `{"data": {"rows": [...]}}`."""
    server = SimServer(static_config(), exchange="phemex")
    client = phemex_client(await server.start())
    await client.load_markets()
    try:
        yield server, client
    finally:
        await client.close()
        await server.stop()


async def test_by_order_id_answers_rows_in_the_doc_spelling_which_ccxt_fetch_order_reads_as_all_none(
    rows_sim: tuple[SimServer, Any],
) -> None:
    _, client = rows_sim
    await client.create_order(BTC, "limit", "buy", 0.01, 50000, {"clientOrderId": "rows-1"})

    raw = await client.privateGetApiDataGFuturesOrdersByOrderId({"symbol": "BTCUSDT", "clOrdID": "rows-1"})
    [row] = raw["data"]["rows"]
    assert (row["clOrdId"], row["ordType"], row["ordStatus"]) == ("rows-1", "Limit", "New")
    assert "orderID" not in row and row["orderId"]
    missing = await client.privateGetApiDataGFuturesOrdersByOrderId({"symbol": "BTCUSDT", "clOrdID": "nope"})
    assert missing["data"] == {"rows": []}
    # ccxt 4.5.90 unwraps rows only for spot (phemex.py:3068-3080): no error, an order without an id.
    misread = await client.fetch_order(None, BTC, {"clientOrderId": "nope"})
    assert (misread["id"], misread["status"], misread["filled"]) == (None, None, None)


async def test_trades_history_names_the_order_while_trading_list_does_not(
    rows_sim: tuple[SimServer, Any],
) -> None:
    server, client = rows_sim
    await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "tr-entry"})
    stop = {"triggerPrice": 59000, "triggerDirection": "down", "reduceOnly": True, "clientOrderId": "tr-stop"}
    placed_stop = await client.create_order(BTC, "market", "sell", 0.01, None, stop)
    server.engine.set_mark("BTCUSDT", Decimal("58900"))

    answer = await client.privateGetApiDataGFuturesTrades({"symbol": "BTCUSDT"})
    exit_row, entry_row = answer["data"]["rows"]  # newest first
    assert (entry_row["clOrdID"], entry_row["side"], entry_row["closedSizeRq"]) == ("tr-entry", "Buy", "0")
    assert (exit_row["clOrdID"], exit_row["orderID"]) == ("tr-stop", placed_stop["id"])  # the stop's own id
    closed = (exit_row["closedSizeRq"], exit_row["closedPnlRv"], exit_row["posSide"])
    assert closed == ("0.01", "-11", "Merged")
    assert exit_row["execStatus"] == "TakerFill" and exit_row["ordType"] == "Stop"
    listed = await client.privateGetExchangeOrderV2TradingList({"symbol": "BTCUSDT", "currency": "USDT"})
    assert len(listed["data"]) == 2
    assert not any(key.lower() in ("orderid", "clordid") for row in listed["data"] for key in row)
    assert {r["execId"] for r in listed["data"]} == {exit_row["execID"], entry_row["execID"]}


async def test_trades_history_pages_by_offset_caps_the_limit_and_defaults_to_two_days(
    rows_sim: tuple[SimServer, Any],
) -> None:
    server, client = rows_sim
    for n in range(3):
        await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": f"page-{n}"})

    async def ids(**query: Any) -> list[str]:
        answer = await client.privateGetApiDataGFuturesTrades({"symbol": "BTCUSDT", **query})
        return [row["clOrdID"] for row in answer["data"]["rows"]]

    assert await ids(limit=2) == ["page-2", "page-1"]
    assert await ids(limit=2, offset=2) == ["page-0"]
    assert await ids(limit=500) == ["page-2", "page-1", "page-0"]  # cut to 200, all three fit
    server.clock.advance(3 * 24 * 3600)
    assert await ids() == []  # start defaults to two days before end
    assert len(await ids(start=0)) == 3
    with pytest.raises(ccxt.BadRequest, match="30000"):
        await client.privateGetApiDataGFuturesTrades({})


def headers_of(client: Any) -> dict[str, str]:
    """HTTP header names are case-insensitive (aiohttp writes some in its own case)."""
    return {name.lower(): value for name, value in client.last_response_headers.items()}


async def limited_sim(mode: RateLimits) -> tuple[SimServer, Any]:
    server = SimServer(static_config().with_overrides(rate_limits=mode), exchange="phemex")
    client = phemex_client(await server.start())
    return server, client


async def test_mainnet_budgets_per_group_answer_429_with_the_group_headers() -> None:
    server, client = await limited_sim(RateLimits.MAINNET)
    try:
        await client.load_markets()  # public: the IP budget only
        for _ in range(20):  # /g-accounts/positions weighs 25 in the Contract group's 500 a minute
            await client.privateGetGAccountsPositions({"currency": "USDT"})
        headers = headers_of(client)
        assert (headers["x-ratelimit-remaining-contract"], headers["x-ratelimit-capacity-contract"]) == (
            "0",
            "500",
        )
        with pytest.raises(ccxt.RateLimitExceeded):
            await client.fetch_open_orders(BTC)  # activeList: Contract, weight 1
        assert 55 <= int(headers_of(client)["x-ratelimit-retry-after-contract"]) <= 60
        for n in range(100):  # Others: 100 a minute, headers without a suffix
            await client.privateGetApiDataGFuturesTrades({"symbol": "BTCUSDT"})
            assert headers_of(client)["x-ratelimit-remaining"] == str(99 - n)
        with pytest.raises(ccxt.RateLimitExceeded):
            await client.privateGetApiDataGFuturesTrades({"symbol": "BTCUSDT"})
        assert "x-ratelimit-retry-after" in headers_of(client)
        await client.fetch_ticker(BTC)  # public requests are not the key's
    finally:
        await client.close()
        await server.stop()


async def test_testnet_shares_500_requests_per_five_minutes_across_everything() -> None:
    server, client = await limited_sim(RateLimits.TESTNET)
    try:
        await client.load_markets()  # three public requests
        async with aiohttp.ClientSession() as session:
            for _ in range(497 - 3):
                async with session.get(f"{server.base_url}/md/v2/ticker/24hr?symbol=BTCUSDT") as response:
                    assert response.status == 200
        await client.fetch_balance()
        await client.fetch_open_orders(BTC)
        await client.fetch_ticker(BTC)
        assert headers_of(client)["x-ratelimit-remaining"] == "0"
        with pytest.raises(ccxt.RateLimitExceeded):
            await client.fetch_balance()
        assert 290 <= int(headers_of(client)["x-ratelimit-retry-after"]) <= 300
    finally:
        await client.close()
        await server.stop()


async def test_products_serve_leverage_margins_and_the_old_risk_limits_for_the_same_tiers(
    phemex_sim: tuple[SimServer, str], phemex_ex: Any
) -> None:
    server, _ = phemex_sim
    data = (await phemex_ex.v2GetPublicProducts())["data"]
    [btc] = [p for p in data["perpProductsV2"] if p["symbol"] == "BTCUSDT"]
    [margins] = [m for m in data["leverageMargins"] if m["index_id"] == btc["leverageMargin"]]
    tiers = server.engine.instrument("BTCUSDT").tiers
    assert [
        (i["notionalValueRv"], i["maxLeverage"], i["maintenanceMarginRateRr"], i["maintenanceAmountRv"])
        for i in margins["items"]
    ] == [(int(t.cap), t.max_leverage, fmt(t.mmr), fmt(t.cum)) for t in tiers]
    [old] = [r for r in data["riskLimitsV2"] if r["symbol"] == "BTCUSDT"]
    assert [r["limit"] for r in old["riskLimits"]] == [int(t.cap) for t in tiers]
