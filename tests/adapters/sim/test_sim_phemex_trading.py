"""ccxt's `edit_order` parses the simulator's Phemex amend answer and the engine moves the order; a route the
simulator does not serve answers a bare 404 and is recorded (issue #10, item 13)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import ccxt.async_support as ccxt
import pytest

from adapters.sim import SimServer
from tests.support.simkit import Control

BTC = "BTC/USDT:USDT"


def open_orders(state: dict[str, Any]) -> list[dict[str, Any]]:
    return state["accounts"]["sim-key"]["open_orders"]


async def test_edit_order_amends_a_resting_limit_and_keeps_its_ids(
    phemex_ex: Any, control_p: Control
) -> None:
    placed = await phemex_ex.create_order(BTC, "limit", "buy", 0.01, 59000, {"clientOrderId": "pe-edit"})
    edited = await phemex_ex.edit_order(placed["id"], BTC, "limit", "buy", 0.02, 58500)
    assert (edited["id"], edited["clientOrderId"]) == (placed["id"], "pe-edit")
    assert (edited["price"], edited["amount"], edited["status"]) == (58500, 0.02, "open")
    [order] = open_orders(await control_p.state())
    assert (order["client_id"], order["price"], order["qty"]) == ("pe-edit", "58500", "0.02")
    with pytest.raises(ccxt.InvalidOrder, match="11065"):  # TE_ORD_REPLACE_NOT_MODIFIED
        # (the same quantity, the price left out: the identical request again would be a replay, 19999)
        await phemex_ex.edit_order(placed["id"], BTC, "limit", "buy", 0.02)
    await phemex_ex.cancel_order(placed["id"], BTC)
    with pytest.raises(ccxt.InvalidOrder, match="11066"):  # TE_ORD_STATUS_CANNOT_REPLACE
        await phemex_ex.edit_order(placed["id"], BTC, "limit", "buy", 0.03, 58500)


async def test_edit_order_by_client_id_alone_is_refused_and_clordid_renames(phemex_ex: Any) -> None:
    """ph-docs: `orderID` is required and `clOrdID` is the order's new client id; ccxt sends `clOrdID` in
    place of `orderID` when given a client id."""
    placed = await phemex_ex.create_order(BTC, "limit", "buy", 0.01, 59000, {"clientOrderId": "pe-old"})
    with pytest.raises(ccxt.BadRequest, match="30000"):
        await phemex_ex.edit_order(
            placed["id"], BTC, "limit", "buy", 0.01, 58000, {"clientOrderId": "pe-old"}
        )
    renamed = await phemex_ex.privatePutGOrdersReplace(
        {
            "symbol": "BTCUSDT",
            "orderID": placed["id"],
            "priceRp": "58000",
            "clOrdID": "pe-new",
            "posSide": "Merged",
        }
    )
    assert renamed["data"]["clOrdID"] == "pe-new" and renamed["data"]["orderID"] == placed["id"]


async def test_edit_order_across_the_book_fills_at_the_book(phemex_ex: Any, control_p: Control) -> None:
    placed = await phemex_ex.create_order(BTC, "limit", "buy", 0.01, 59000)
    await phemex_ex.edit_order(placed["id"], BTC, "limit", "buy", 0.01, 60500)
    [position] = [p for p in (await control_p.state())["accounts"]["sim-key"]["positions"]]
    assert (position["qty"], position["entry_price"]) == ("0.01", "60000")


async def test_a_route_the_simulator_does_not_serve_is_a_bare_404_and_is_recorded(
    phemex_sim: tuple[SimServer, str], control_p: Control
) -> None:
    url = f"{phemex_sim[1]}/g-positions/assign?symbol=BTCUSDT&posSide=Merged&posBalanceRv=10"
    async with aiohttp.ClientSession() as session, session.post(url) as response:
        assert response.status == 404
        assert "code" not in await response.text()
    [entry] = [r for r in await control_p.requests() if r["path"] == "/g-positions/assign"]
    assert entry["status"] == 404


async def test_fetch_position_history_lists_each_closed_position_term(
    phemex_ex: Any, control_p: Control
) -> None:
    assert await phemex_ex.fetch_position_history(BTC) == []
    await phemex_ex.create_order(BTC, "market", "buy", 0.02)
    await control_p.mark("BTCUSDT", "61000")
    await phemex_ex.create_order(BTC, "market", "sell", 0.02)
    await phemex_ex.create_order(BTC, "market", "buy", 0.01)
    await control_p.mark("BTCUSDT", "60000")
    await phemex_ex.create_order(BTC, "market", "sell", 0.03)  # closes the long and opens a short
    history = await phemex_ex.fetch_position_history(BTC)
    # newest first; the short the last sell opened has closed nothing yet
    assert [(p["side"], p["contracts"], p["entryPrice"], p["exitPrice"]) for p in history] == [
        ("long", 0.01, 61000, 60000),
        ("long", 0.02, 60000, 61000),
    ]
    fills = (await control_p.state())["accounts"]["sim-key"]["fills"]
    fees = sum(Decimal(f["fee"]) for f in fills[:2])
    first = history[1]
    assert Decimal(str(first["realizedPnl"])) == Decimal(20) - fees
    assert first["timestamp"] == fills[0]["time_ms"] and first["info"]["finished"] == "1"
