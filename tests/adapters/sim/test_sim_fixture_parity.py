"""Recorded exchange responses and the simulator's answers parse through ccxt into the same unified fields.

Each case makes one unified call twice: against the simulator over HTTP, and with ccxt's `fetch` replaced
by the recorded response (symbol renamed to a simulator market). The raw simulator answer must carry every
field of the recording; each unified field the recording fills (or leaves None) is filled (or None) alike.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.support.simkit import Control, binance_client, phemex_client

# ccxt's recorded requests and responses, carried in the checkout (tests/fixtures/ccxt/README.md).
FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "ccxt"
BTC = "BTC/USDT:USDT"

Call = Callable[[Any], Awaitable[Any]]


def _load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def _renamed(raw: Any, old: str, new: str) -> Any:
    return json.loads(json.dumps(raw).replace(f'"{old}"', f'"{new}"'))


def _first(raw: Any) -> dict[str, Any]:
    """The record a unified structure comes from, through lists and Phemex's envelopes."""
    while True:
        if isinstance(raw, list):
            raw = raw[0]
        elif isinstance(raw, dict) and "data" in raw and isinstance(raw["data"], dict | list):
            raw = raw["data"]
        elif isinstance(raw, dict) and "rows" in raw:
            raw = raw["rows"]
        else:
            return raw  # type: ignore[no-any-return]


def _unified(result: Any) -> dict[str, Any]:
    if isinstance(result, list):
        return result[0]  # type: ignore[no-any-return]
    return result  # type: ignore[no-any-return]


async def _recorded(client: Any, response: Any, call: Call) -> Any:
    async def fetch(url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        return response

    client.fetch = fetch
    return await call(client)


def _compare(recorded: Any, simulated: Any, fields: list[str]) -> None:
    for field in fields:
        want, got = recorded.get(field), simulated.get(field)
        assert (want is None) == (got is None), (field, want, got)
        if want is not None and not isinstance(want, dict):
            assert isinstance(got, type(want)) or {type(want), type(got)} <= {int, float}, (field, want, got)


BINANCE_CASES: list[tuple[str, str, str, Call]] = [
    (
        "createOrders",
        "BTCUSDT",
        "limit order",
        lambda ex: ex.create_order(BTC, "limit", "sell", 0.01, 62000),
    ),
    ("fetchOpenOrder", "LTCUSDT", "open order", lambda ex: ex.fetch_open_orders(BTC)),
    ("fetchMyTrades", "BTCUSDT", "trade", lambda ex: ex.fetch_my_trades(BTC)),
]


@pytest.mark.parametrize(("method", "symbol_id", "label", "call"), BINANCE_CASES)
async def test_binance_recordings_and_simulator_agree(
    binance_sim: Any, method: str, symbol_id: str, label: str, call: Call
) -> None:
    case = _load("response_binanceusdm_subset.json")["methods"][method][0]
    live = binance_client(binance_sim[1], enableLastJsonResponse=True)
    replay = binance_client(binance_sim[1])
    try:
        await live.load_markets()
        await replay.load_markets()
        await live.create_order(BTC, "market", "buy", 0.01)
        await live.create_order(BTC, "limit", "buy", 0.01, 58000)  # resting, inside the PERCENT_PRICE band
        simulated = _unified(await call(live))
        raw = live.last_json_response
        recording = _renamed(case["httpResponse"], symbol_id, "BTCUSDT")
        if method == "fetchOpenOrder":
            recording = [recording]
        if method == "createOrders":  # recorded from the batch endpoint: one element is one order
            recording = recording[0]
        recorded = _unified(await _recorded(replay, recording, call))
    finally:
        await live.close()
        await replay.close()
    assert set(_first(case["httpResponse"])) <= set(_first(raw)), label
    expected = _unified(case["parsedResponse"])
    _compare(recorded, simulated, [k for k in expected if k not in ("symbol", "postOnly", "timeInForce")])


async def test_binance_position_recordings_and_simulator_agree(binance_sim: Any) -> None:
    methods = _load("response_binanceusdm_subset.json")["methods"]
    live = binance_client(binance_sim[1], enableLastJsonResponse=True)
    replay = binance_client(binance_sim[1])
    try:
        await live.load_markets()
        await replay.load_markets()
        await live.create_order(BTC, "market", "buy", 0.01)
        for case in methods["fetchPositions"]:
            params = case["input"][1] if len(case["input"]) > 1 else {}

            async def call(ex: Any, params: dict[str, Any] = params) -> Any:
                return await ex.fetch_positions([BTC], params)

            simulated = _unified(await call(live))
            raw = live.last_json_response
            await replay.load_leverage_brackets()
            recorded = _unified(await _recorded(replay, case["httpResponse"], call))
            replay = binance_client(binance_sim[1])
            await replay.load_markets()
            assert set(_first(case["httpResponse"])) - {"breakEvenPrice"} <= set(_first(raw)) | {
                "breakEvenPrice"
            }
            fields = [k for k in _unified(case["parsedResponse"]) if k not in ("marginMode", "side")]
            _compare(recorded, simulated, fields)
    finally:
        await live.close()
        await replay.close()


async def test_binance_algo_order_recording_has_every_field_the_simulator_sends(
    binance: Any, control_b: Control
) -> None:
    recorded = _load("response_binanceusdm_subset.json")["methods"][
        "algoOrder (conditional STOP/STOP_MARKET/TP/TRAILING)"
    ][0]["httpResponse"]
    await binance.create_order(BTC, "market", "buy", 0.01)
    stop = await binance.create_order(
        BTC, "market", "sell", 0.01, None, {"stopLossPrice": 59000, "reduceOnly": True}
    )
    assert set(recorded) <= set(stop["info"])
    parsed_recording = binance.parse_order(_renamed(recorded, "BTCUSDT", "BTCUSDT"), binance.market(BTC))
    _compare(
        parsed_recording, stop, ["id", "clientOrderId", "status", "triggerPrice", "amount", "side", "type"]
    )


PHEMEX_CASES: list[tuple[str, int, Call]] = [
    (
        "createOrder",
        0,
        lambda ex: ex.create_order(
            BTC,
            "market",
            "sell",
            0.01,
            None,
            {"triggerPrice": 70000, "triggerDirection": "up", "reduceOnly": True},
        ),
    ),
    (
        "createOrder",
        2,
        lambda ex: ex.create_order(
            BTC,
            "limit",
            "buy",
            0.01,
            59000,
            {
                "stopLoss": {"triggerPrice": 58000, "triggerPriceType": "mark"},
                "takeProfit": {"triggerPrice": 61000},
            },
        ),
    ),
    ("fetchBalance", 0, lambda ex: ex.fetch_balance({"type": "swap"})),
    ("fetchPositions", 0, lambda ex: ex.fetch_positions([BTC])),
    ("fetchOpenOrders", 0, lambda ex: ex.fetch_open_orders(BTC)),
    ("fetchMyTrades", 0, lambda ex: ex.fetch_my_trades(BTC)),
    ("fetchClosedOrders", 0, lambda ex: ex.fetch_orders(BTC)),
    ("fetchOrders", 0, lambda ex: ex.fetch_orders(BTC)),
]


@pytest.mark.parametrize(("method", "index", "call"), PHEMEX_CASES)
async def test_phemex_recordings_and_simulator_agree(
    phemex_sim: Any, method: str, index: int, call: Call
) -> None:
    case = _load("response_phemex_swap_subset.json")["methods"][method][index]
    live = phemex_client(phemex_sim[1], enableLastJsonResponse=True)
    replay = phemex_client(phemex_sim[1])
    try:
        await live.load_markets()
        await replay.load_markets()
        if (method, index) != ("createOrder", 2):  # TP/SL attach only while the account is flat (11074)
            await live.create_order(BTC, "market", "buy", 0.01)
            await live.create_order(BTC, "limit", "buy", 0.01, 50000)
            stop = {"triggerPrice": 59000, "triggerDirection": "down", "reduceOnly": True}
            await live.create_order(BTC, "market", "sell", 0.01, None, stop)
        if method == "fetchOrders":  # the recording is a stop that fired and filled
            phemex_sim[0].engine.set_mark("BTCUSDT", Decimal("58900"))
        simulated = await call(live)
        raw = live.last_json_response
        recording = case["httpResponse"]
        for symbol_id in ("LTCUSDT", "SOLUSDT"):
            recording = _renamed(recording, symbol_id, "BTCUSDT")
        if method == "fetchPositions":
            recording["data"]["positions"] = recording["data"]["positions"][:1]
            simulated = [p for p in simulated if p["contracts"]]
        recorded = await _recorded(replay, recording, call)
    finally:
        await live.close()
        await replay.close()
    assert set(_first(case["httpResponse"])) <= set(_first(raw))
    if method == "fetchBalance":
        assert set(recorded["USDT"]) == set(simulated["USDT"])
        return
    expected = _unified(case["parsedResponse"])
    skip = {"symbol", "remaining", "type"}
    if method == "fetchClosedOrders":
        simulated = simulated[1:2]  # the resting limit order, like the recording
    if method == "fetchOrders":
        simulated = simulated[2:]  # the stop order, like the recording
        skip.add("price")  # live Phemex stamps a protection price on market stops; the simulator sends 0
    _compare(_unified(recorded), _unified(simulated), [k for k in expected if k not in skip])
