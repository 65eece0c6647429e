"""Client order ids are unique among open orders only, and a signed request the client gave up on can
still execute until its window ends on the exchange's clock (docs/simulator.md, "Client ids and late
execution"; exchange-facts.md item 1)."""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.support.simkit import Control, binance_client, phemex_client

BTC = "BTC/USDT:USDT"
ORDER = "/fapi/v1/order"
ALGO = "/fapi/v1/algoOrder"
STOP = {"stopLossPrice": 59000, "reduceOnly": True}


def market_orders(state: dict[str, Any], client_id: str) -> list[dict[str, Any]]:
    orders = state["accounts"]["sim-key"]["orders"]
    return [o for o in orders if o["client_id"] == client_id and o["type"] == "MARKET"]


async def test_binance_refuses_an_open_orders_id_and_accepts_it_again_once_that_order_closed(
    binance: Any, control_b: Control
) -> None:
    await binance.create_order(BTC, "market", "buy", 0.02)
    await binance.create_order(BTC, "market", "sell", 0.01, None, {**STOP, "clientOrderId": "sl-1"})
    with pytest.raises(ccxt.InvalidOrder, match="-4116"):
        await binance.create_order(BTC, "market", "sell", 0.01, None, {**STOP, "clientOrderId": "sl-1"})
    await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "en-1"})
    again = await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "en-1"})
    assert again["status"] == "closed" and again["filled"] == 0.01
    assert len(market_orders(await control_b.state(), "en-1")) == 2
    looked_up = await binance.fetch_order(None, BTC, {"clientOrderId": "en-1"})
    assert looked_up["id"] == again["id"]  # a reused id answers with its most recent order


async def test_binance_accepts_a_closed_algo_orders_client_algo_id_again(
    binance: Any, control_b: Control
) -> None:
    await binance.create_order(BTC, "market", "buy", 0.03)
    cancelled = await binance.create_order(
        BTC, "market", "sell", 0.01, None, {**STOP, "clientOrderId": "sl-c"}
    )
    await binance.cancel_order(cancelled["id"], BTC, {"trigger": True})
    again = await binance.create_order(BTC, "market", "sell", 0.01, None, {**STOP, "clientOrderId": "sl-c"})
    assert again["id"] != cancelled["id"] and again["status"] == "open"
    fired = await binance.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        None,
        {"stopLossPrice": 59500, "reduceOnly": True, "clientOrderId": "sl-f"},
    )
    await control_b.mark("BTCUSDT", "59400")  # FINISHED: it fired and its order filled
    assert (await binance.fetch_order(fired["id"], BTC, {"trigger": True}))["status"] == "closed"
    reused = await binance.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        None,
        {"stopLossPrice": 59000, "reduceOnly": True, "clientOrderId": "sl-f"},
    )
    assert reused["id"] != fired["id"] and reused["status"] == "open"
    algo = [o for o in (await control_b.state())["accounts"]["sim-key"]["open_orders"] if o["trigger_price"]]
    assert sorted(o["client_id"] for o in algo) == ["sl-c", "sl-f"]


async def test_binance_refuses_a_client_id_outside_its_pattern(binance: Any) -> None:
    for bad in ("x" * 37, "has space", "ünicode"):
        with pytest.raises(ccxt.BadRequest, match="-4015"):
            await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": bad})


async def test_phemex_accepts_a_closed_orders_id_again(phemex_ex: Any, control_p: Control) -> None:
    await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "pe-1"})
    # Another quantity: the same signed request within its second would be a replay (19999).
    await phemex_ex.create_order(BTC, "market", "buy", 0.02, None, {"clientOrderId": "pe-1"})
    assert len(market_orders(await control_p.state(), "pe-1")) == 2


async def wait_answered(control: Control, client_key: str, client_id: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            for row in await control.requests():
                if row["params"].get(client_key) == client_id and row["status"] is not None:
                    return row
            await asyncio.sleep(0.05)


async def test_an_order_the_client_gave_up_on_executes_late_inside_its_recv_window(
    binance_sim: Any, control_b: Control
) -> None:
    client = binance_client(binance_sim[1], options={"recvWindow": 2000})
    try:
        await control_b.fault(
            action="execute_late",
            method="POST",
            path=ORDER,
            match={"newClientOrderId": "late-1"},
            delay_ms=500,
        )
        with pytest.raises(ccxt.NetworkError):
            await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "late-1"})
        with pytest.raises(ccxt.OrderNotFound):
            await client.fetch_order(None, BTC, {"clientOrderId": "late-1"})  # not yet
        logged = await wait_answered(control_b, "newClientOrderId", "late-1")
        assert (logged["fault"], logged["status"]) == ("execute_late", 200)
        landed = await client.fetch_order(None, BTC, {"clientOrderId": "late-1"})
        assert landed["status"] == "closed" and landed["filled"] == 0.01
    finally:
        await client.close()


async def test_an_order_held_past_its_recv_window_is_refused_5028_and_never_executes(
    binance_sim: Any, control_b: Control
) -> None:
    # A window of 1 s, held 2 s: wide enough that a loaded machine does not spend it before the gateway.
    client = binance_client(binance_sim[1], options={"recvWindow": 1000})
    try:
        await control_b.fault(
            action="execute_late", method="POST", path=ALGO, match={"clientAlgoId": "late-2"}, delay_ms=2000
        )
        await client.create_order(BTC, "market", "buy", 0.01)
        with pytest.raises(ccxt.NetworkError):
            await client.create_order(BTC, "market", "sell", 0.01, None, {**STOP, "clientOrderId": "late-2"})
        logged = await wait_answered(control_b, "clientAlgoId", "late-2")
        assert (logged["fault"], logged["status"]) == ("execute_late", 400)
        with pytest.raises(ccxt.OrderNotFound):
            await client.fetch_order(None, BTC, {"clientOrderId": "late-2", "trigger": True})
        # A held request that is answered (a slow `delay`) gets the matching engine's refusal itself.
        await control_b.fault(action="delay", method="POST", path=ORDER, delay_ms=2000)
        with pytest.raises(ccxt.BadRequest, match="-5028"):
            await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "late-3"})
        assert market_orders(await control_b.state(), "late-3") == []
    finally:
        await client.close()


async def test_phemex_executes_late_until_the_request_expiry_and_never_after(
    phemex_sim: Any, control_p: Control
) -> None:
    client = phemex_client(phemex_sim[1], options={"defaultType": "swap", "x-phemex-request-expiry": 1})
    try:
        for client_id, delay_ms, status in (("pl-1", 300, 200), ("pl-2", 2500, 401)):
            await control_p.fault(
                action="execute_late", path="/g-orders", match={"clOrdID": client_id}, delay_ms=delay_ms
            )
            with pytest.raises(ccxt.NetworkError):
                await client.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": client_id})
            logged = await wait_answered(control_p, "clOrdID", client_id)
            assert (logged["fault"], logged["status"]) == ("execute_late", status)
        state = await control_p.state()
        assert len(market_orders(state, "pl-1")) == 1 and market_orders(state, "pl-2") == []
    finally:
        await client.close()
