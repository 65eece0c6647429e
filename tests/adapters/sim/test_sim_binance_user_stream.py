"""The simulator's Binance USDⓈ-M user data stream: listen keys, events read by unmodified ccxt.pro
(watch_orders, watch_my_trades, watch_positions) and by a raw socket, and each stream fault."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable
from decimal import Decimal
from typing import Any, TypeVar

import aiohttp
import ccxt.pro as ccxtpro
import pytest

from adapters.ccxt_target import target_simulator
from adapters.sim import SimServer
from adapters.sim.ws_binance_user import BinanceUserStreams
from tests.support.adapter_sim import eventually
from tests.support.simkit import Control

SYMBOL = "BTC/USDT:USDT"
KEY_PATH = "/fapi/v1/listenKey"
HEADERS = {"X-MBX-APIKEY": "sim-key"}
T = TypeVar("T")


@pytest.fixture
async def pro(binance_sim: tuple[SimServer, str]) -> AsyncIterator[Any]:
    client = target_simulator(
        ccxtpro.binanceusdm(
            {
                "apiKey": "sim-key",
                "secret": "sim-secret",
                "enableRateLimit": False,
                "options": {"watchPositions": {"fetchPositionsSnapshot": False}},
            }
        ),
        binance_sim[1],
    )
    await client.load_markets()
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def http(binance_sim: tuple[SimServer, str]) -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(binance_sim[1]) as session:
        yield session


async def within(work: Awaitable[T], seconds: float) -> T:
    async with asyncio.timeout(seconds):
        return await work


async def listen_key(http: aiohttp.ClientSession) -> str:
    async with http.post(KEY_PATH, headers=HEADERS) as response:
        assert response.status == 200
        return str((await response.json())["listenKey"])


class RawStream:
    """A plain WebSocket on `/ws/<listenKey>`: every frame as sent, nothing parsed away."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws

    async def next(self, seconds: float = 3) -> dict[str, Any]:
        async with asyncio.timeout(seconds):
            message = await self.ws.receive()
        assert message.type is aiohttp.WSMsgType.TEXT, message
        return dict(json.loads(message.data))

    async def until(self, what: str) -> list[dict[str, Any]]:
        """Every event up to and including the first whose `e` (or `o.X` / `o.x`) is `what`."""
        seen: list[dict[str, Any]] = []
        while True:
            event = await self.next()
            seen.append(event)
            body = event.get("o") or {}
            if what in (event.get("e"), body.get("X"), body.get("x")):
                return seen

    async def quiet(self, seconds: float = 0.5) -> list[dict[str, Any]]:
        """What arrives within `seconds` (nothing, when the stream is quiet)."""
        seen: list[dict[str, Any]] = []
        try:
            while True:
                seen.append(await self.next(seconds))
        except TimeoutError:
            return seen


@pytest.fixture
async def raw(binance_sim: tuple[SimServer, str], http: aiohttp.ClientSession) -> AsyncIterator[RawStream]:
    key = await listen_key(http)
    async with http.ws_connect(f"/ws/{key}", autoping=False) as ws:
        yield RawStream(ws)


async def test_a_listen_key_is_kept_per_account_extended_and_closed(http: aiohttp.ClientSession) -> None:
    first = await listen_key(http)
    assert len(first) == 64 and first.isalnum()
    assert await listen_key(http) == first  # a valid key is returned again, not replaced
    async with http.put(KEY_PATH, headers=HEADERS) as response:
        assert (response.status, await response.json()) == (200, {"listenKey": first})
    async with http.delete(KEY_PATH, headers=HEADERS) as response:
        assert (response.status, await response.json()) == (200, {})
    async with http.put(KEY_PATH, headers=HEADERS) as response:
        assert response.status == 400
        assert (await response.json())["code"] == -1125
    async with http.post(KEY_PATH) as response:
        assert (response.status, (await response.json())["code"]) == (401, -2014)
    assert await listen_key(http) != first


async def connected(sim: SimServer) -> None:
    """Until the account's user stream is open on the simulator: an event before that is never sent."""
    streams = sim.user_streams
    assert isinstance(streams, BinanceUserStreams)
    await eventually(lambda: streams.open_connections("sim-key") > 0)


async def test_ccxt_pro_sees_a_market_order_and_its_trade_with_the_rest_trade_id(
    pro: Any, binance: Any, control_b: Control, binance_sim: tuple[SimServer, str]
) -> None:
    orders = asyncio.ensure_future(pro.watch_orders())
    trades = asyncio.ensure_future(pro.watch_my_trades())
    await connected(binance_sim[0])
    order = await binance.create_order(SYMBOL, "market", "buy", 0.01, None, {"newClientOrderId": "e2e-1"})
    (seen,) = (await within(orders, 5))[-1:]
    assert (seen["id"], seen["clientOrderId"]) == (order["id"], "e2e-1")
    (trade,) = await within(trades, 5)
    rest_trades = await binance.fetch_my_trades(SYMBOL)
    assert trade["id"] == rest_trades[-1]["id"] and trade["order"] == order["id"]
    assert trade["info"]["X"] == "FILLED" and trade["info"]["x"] == "TRADE"
    assert Decimal(trade["info"]["l"]) == Decimal("0.01")
    assert any("/private/ws?listenKey=" in url for url in pro.clients)


async def test_ccxt_pro_sees_the_position_from_account_update(
    pro: Any, binance: Any, binance_sim: tuple[SimServer, str]
) -> None:
    positions = asyncio.ensure_future(pro.watch_positions())
    await connected(binance_sim[0])
    await binance.create_order(SYMBOL, "market", "sell", 0.02, None, {"newClientOrderId": "e2e-2"})
    (position,) = await within(positions, 5)
    assert position["symbol"] == SYMBOL
    assert Decimal(position["info"]["pa"]) == Decimal("-0.02")


async def test_a_triggered_stop_sends_its_algo_states_then_the_executed_orders_trade(
    raw: RawStream, binance: Any, control_b: Control
) -> None:
    await binance.create_order(SYMBOL, "market", "buy", 0.01, None, {"newClientOrderId": "e-1"})
    await raw.until("ACCOUNT_UPDATE")
    stop = await binance.create_order(
        SYMBOL,
        "market",
        "sell",
        0.01,
        None,
        {"stopLossPrice": 59000, "reduceOnly": True, "workingType": "MARK_PRICE", "clientOrderId": "s-1"},
    )
    (new,) = await raw.until("NEW")
    assert (new["e"], new["o"]["X"], new["o"]["caid"], str(new["o"]["aid"])) == (
        "ALGO_UPDATE",
        "NEW",
        "s-1",
        stop["id"],
    )
    await control_b.mark("BTCUSDT", "58900")
    events = await raw.until("ACCOUNT_UPDATE")
    kinds = [(e["e"], e["o"].get("X") if "o" in e else e["a"]["m"]) for e in events]
    assert kinds == [
        ("ALGO_UPDATE", "TRIGGERED"),
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ORDER_TRADE_UPDATE", "FILLED"),
        ("ALGO_UPDATE", "FINISHED"),
        ("ACCOUNT_UPDATE", "ORDER"),
    ]
    triggered, _, trade, finished, account = events
    assert triggered["o"]["ai"] == str(trade["o"]["i"]) == finished["o"]["ai"]
    assert finished["o"]["aq"] == "0.01" and finished["o"]["ap"] == trade["o"]["L"]
    assert trade["o"]["ot"] == "STOP_MARKET" and trade["o"]["R"] is True
    assert Decimal(trade["o"]["rp"]) < 0 and trade["o"]["N"] == "USDT"
    assert account["a"]["P"][0]["pa"] == "0"


async def test_a_stop_refused_after_its_trigger_sends_rejected_and_the_trigger_reject_event(
    raw: RawStream, binance: Any, control_b: Control
) -> None:
    await binance.create_order(SYMBOL, "market", "buy", 0.01, None, {"newClientOrderId": "e-2"})
    await raw.until("ACCOUNT_UPDATE")
    await control_b.fault(
        action="reject_after_trigger", method="POST", path="/fapi/v1/algoOrder", match={"clientAlgoId": "s-2"}
    )
    await binance.create_order(
        SYMBOL,
        "market",
        "sell",
        0.01,
        None,
        {"stopLossPrice": 59000, "reduceOnly": True, "clientOrderId": "s-2"},
    )
    await raw.until("NEW")
    await control_b.mark("BTCUSDT", "58900")
    events = await raw.until("CONDITIONAL_ORDER_TRIGGER_REJECT")
    rejected = [e for e in events if e["e"] == "ALGO_UPDATE" and e["o"]["X"] == "REJECTED"]
    assert len(rejected) == 1 and rejected[0]["o"]["rm"] == "Reduce Only reject"
    reject = events[-1]
    child = rejected[0]["o"]["ai"] or None
    assert reject["or"]["s"] == "BTCUSDT" and reject["or"]["r"] == "Reduce Only reject"
    expired = [e for e in events if e["e"] == "ORDER_TRADE_UPDATE" and e["o"]["c"] == "s-2"]
    assert reject["or"]["i"] == expired[0]["o"]["i"] and child is None  # the order it placed, never filled


async def test_a_cancelled_order_and_a_funding_payment_are_streamed(
    raw: RawStream, binance: Any, control_b: Control, binance_sim: tuple[SimServer, str]
) -> None:
    await binance.create_order(SYMBOL, "limit", "buy", 0.01, 58000, {"newClientOrderId": "l-1"})
    await binance.create_order(SYMBOL, "market", "buy", 0.01, None, {"newClientOrderId": "m-1"})
    await binance.cancel_order(None, SYMBOL, {"origClientOrderId": "l-1"})
    events = await raw.until("CANCELED")
    assert [e["o"]["c"] for e in events if e["e"] == "ORDER_TRADE_UPDATE"][-1] == "l-1"
    await control_b.call("POST", "funding", {"symbol": "BTCUSDT", "rate": "0.001"})
    await control_b.call("POST", "clock", {"advance_seconds": 8 * 3600})
    events = await raw.until("ACCOUNT_UPDATE")
    (funding,) = [e for e in events if e["e"] == "ACCOUNT_UPDATE"]
    assert funding["a"]["m"] == "FUNDING_FEE"
    assert Decimal(funding["a"]["B"][0]["bc"]) < 0  # a long pays a positive rate


async def test_the_duplicate_reorder_and_delay_faults(
    raw: RawStream, binance: Any, control_b: Control
) -> None:
    await control_b.fault(action="ws_duplicate", match={"stream": "user", "event": "ORDER_TRADE_UPDATE"})
    await binance.create_order(SYMBOL, "limit", "buy", 0.01, 58000, {"newClientOrderId": "d-1"})
    first, second = await raw.next(), await raw.next()
    assert first == second and first["o"]["X"] == "NEW"

    await control_b.fault(action="ws_reorder", match={"stream": "user"})
    await binance.create_order(SYMBOL, "market", "buy", 0.01, None, {"newClientOrderId": "r-1"})
    events = await raw.until("ACCOUNT_UPDATE")
    assert [e["o"]["x"] for e in events if e["e"] == "ORDER_TRADE_UPDATE"] == ["TRADE", "NEW"]

    await control_b.fault(action="ws_delay", delay_ms=600, match={"stream": "user"})
    await binance.cancel_order(None, SYMBOL, {"origClientOrderId": "d-1"})
    assert await raw.quiet(0.3) == []
    (late,) = await raw.quiet(0.6)
    assert late["o"]["X"] == "CANCELED"


async def stall_began(control: Control) -> bool:
    """The one-shot stall rule is spent: an event met it, and the connection went silent then."""
    rules = (await control.call("GET", "faults"))["rules"]
    return not any(rule["action"] == "ws_stall" for rule in rules)


async def test_the_disconnect_fault_closes_and_the_stall_fault_answers_no_pings(
    binance_sim: tuple[SimServer, str], http: aiohttp.ClientSession, binance: Any, control_b: Control
) -> None:
    key = await listen_key(http)
    async with http.ws_connect(f"/ws/{key}", autoping=False) as ws:
        await control_b.fault(action="ws_disconnect", match={"stream": "user"})
        await binance.create_order(SYMBOL, "limit", "buy", 0.01, 58000, {"newClientOrderId": "x-1"})
        message = await within(ws.receive(), 3)
        assert message.type is aiohttp.WSMsgType.CLOSE
    async with http.ws_connect(f"/ws/{key}", autoping=False) as ws:
        await ws.ping(b"1")
        assert (await within(ws.receive(), 3)).type is aiohttp.WSMsgType.PONG
        await control_b.fault(action="ws_stall", delay_ms=800, match={"stream": "user"})
        await binance.cancel_order(None, SYMBOL, {"origClientOrderId": "x-1"})
        await eventually(lambda: stall_began(control_b))
        await ws.ping(b"2")
        with pytest.raises(TimeoutError):
            await within(ws.receive(), 0.4)  # stalled: no pong, no event
        late = await within(ws.receive(), 2)  # the stall ends: the event follows
        assert late.type is aiohttp.WSMsgType.TEXT and json.loads(late.data)["o"]["X"] == "CANCELED"


async def test_listen_key_expiry_says_so_closes_and_a_new_key_is_made(
    binance_sim: tuple[SimServer, str], http: aiohttp.ClientSession, control_b: Control
) -> None:
    key = await listen_key(http)
    async with http.ws_connect(f"/private/ws?listenKey={key}", autoping=False) as ws:
        await control_b.call("POST", "clock", {"advance_seconds": 61 * 60})
        expired = json.loads((await within(ws.receive(), 3)).data)
        assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", key)
        assert (await within(ws.receive(), 3)).type is aiohttp.WSMsgType.CLOSE
    async with http.ws_connect(f"/ws/{key}", autoping=False) as ws:
        assert (await within(ws.receive(), 3)).type is aiohttp.WSMsgType.CLOSE  # a dead key
    assert await listen_key(http) != key


async def test_the_listen_key_expire_fault_ends_the_key_at_the_next_event(
    raw: RawStream, binance: Any, control_b: Control, http: aiohttp.ClientSession
) -> None:
    key = await listen_key(http)
    await control_b.fault(action="listen_key_expire", match={"stream": "user"})
    await binance.create_order(SYMBOL, "limit", "buy", 0.01, 58000, {"newClientOrderId": "k-1"})
    expired = await raw.next()
    assert (expired["e"], expired["listenKey"]) == ("listenKeyExpired", key)
    assert (await within(raw.ws.receive(), 3)).type is aiohttp.WSMsgType.CLOSE
    assert await listen_key(http) != key
