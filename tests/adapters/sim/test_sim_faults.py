"""Each fault kind as ccxt experiences it, plus the request log that records what reached the exchange."""

from __future__ import annotations

import time
from typing import Any

import ccxt.async_support as ccxt
import pytest

from adapters.sim.faults import FaultBook
from adapters.sim.wire import WireRequest
from tests.support.simkit import Control

BTC = "BTC/USDT:USDT"
ORDER = "/fapi/v1/order"


async def test_delay_holds_the_answer_but_executes(binance: Any, control_b: Control) -> None:
    await control_b.fault(action="delay", method="POST", path=ORDER, delay_ms=300)
    started = time.monotonic()
    order = await binance.create_order(BTC, "market", "buy", 0.01)
    assert time.monotonic() - started >= 0.3 and order["status"] == "closed"


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ({"action": "error_5xx", "status": 503}, ccxt.ExchangeNotAvailable),
        ({"action": "rate_limit"}, ccxt.DDoSProtection),
        ({"action": "ban"}, ccxt.DDoSProtection),
        ({"action": "drop_before"}, ccxt.NetworkError),
    ],
)
async def test_refusals_never_execute_the_order(
    binance: Any, control_b: Control, rule: dict[str, Any], expected: type[Exception]
) -> None:
    await control_b.fault(method="POST", path=ORDER, match={"newClientOrderId": "f-1"}, **rule)
    with pytest.raises(expected):
        await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "f-1"})
    with pytest.raises(ccxt.OrderNotFound):
        await binance.fetch_order(None, BTC, {"clientOrderId": "f-1"})
    [logged] = [r for r in await control_b.requests() if (r["method"], r["path"]) == ("POST", ORDER)]
    assert logged["fault"] == rule["action"] and logged["params"]["newClientOrderId"] == "f-1"
    retry = await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "f-1"})
    assert retry["status"] == "closed"  # the rule fired once (count defaults to 1)


async def test_execute_then_drop_leaves_an_order_the_client_never_heard_of(
    binance: Any, control_b: Control
) -> None:
    await control_b.fault(action="drop_after", method="POST", path=ORDER, match={"newClientOrderId": "amb-1"})
    with pytest.raises(ccxt.NetworkError):
        await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "amb-1"})
    landed = await binance.fetch_order(None, BTC, {"clientOrderId": "amb-1"})
    assert landed["status"] == "closed" and landed["filled"] == 0.01


async def test_reject_stop_refuses_only_the_stop(binance: Any, control_b: Control) -> None:
    await control_b.fault(action="reject_stop")
    await binance.create_order(BTC, "market", "buy", 0.01)
    stop = {"stopLossPrice": 59000, "reduceOnly": True}
    with pytest.raises(ccxt.OperationRejected, match="-4045"):
        await binance.create_order(BTC, "market", "sell", 0.01, None, stop)
    assert await binance.fetch_open_orders(BTC, params={"trigger": True}) == []
    placed = await binance.create_order(BTC, "market", "sell", 0.01, None, stop)
    assert placed["status"] == "open"


async def test_phemex_rate_limit_and_execute_then_drop(phemex_ex: Any, control_p: Control) -> None:
    await control_p.fault(action="rate_limit", method="POST", path="/g-orders")
    with pytest.raises(ccxt.RateLimitExceeded):
        await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "pf-1"})
    await control_p.fault(action="drop_after", method="POST", path="/g-orders", match={"clOrdID": "pf-2"})
    with pytest.raises(ccxt.NetworkError):
        await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "pf-2"})
    landed = await phemex_ex.fetch_order(None, BTC, {"clientOrderId": "pf-2"})
    assert landed["status"] == "closed"
    with pytest.raises(ccxt.OrderNotFound):
        await phemex_ex.fetch_order(None, BTC, {"clientOrderId": "pf-1"})


async def test_phemex_reject_stop_refuses_an_entry_carrying_a_stop_loss(
    phemex_ex: Any, control_p: Control
) -> None:
    await control_p.fault(action="reject_stop")
    with pytest.raises(ccxt.InvalidOrder, match="11031"):
        await phemex_ex.create_order(BTC, "market", "buy", 0.01, None, {"stopLoss": {"triggerPrice": 59000}})
    assert (await control_p.state())["accounts"]["sim-key"]["positions"] == []


async def test_requests_are_recorded_in_arrival_order_with_times(binance: Any, control_b: Control) -> None:
    await control_b.call("DELETE", "requests")
    before = time.time_ns()
    await binance.create_order(BTC, "market", "buy", 0.01, None, {"clientOrderId": "rec-1"})
    await binance.create_order(
        BTC, "market", "sell", 0.01, None, {"stopLossPrice": 59000, "reduceOnly": True}
    )
    rows = await control_b.requests()
    assert [(r["method"], r["path"]) for r in rows] == [("POST", ORDER), ("POST", "/fapi/v1/algoOrder")]
    assert rows[0]["params"]["newClientOrderId"] == "rec-1" and "signature" not in rows[0]["params"]
    assert rows[0]["arrival_monotonic_ns"] < rows[1]["arrival_monotonic_ns"]
    assert before <= rows[0]["arrival_wall_ns"] <= time.time_ns() and rows[0]["status"] == 200
    assert rows[1]["params"]["type"] == "STOP_MARKET" and rows[1]["params"]["algoType"] == "CONDITIONAL"


def test_probability_rules_fire_reproducibly_under_a_seed() -> None:
    wire = WireRequest("GET", "/fapi/v1/time", "", "", {})
    outcomes = []
    for _ in range(2):
        book = FaultBook(seed=1)
        book.install({"action": "error_5xx", "probability": 0.5, "seed": 42})
        outcomes.append([book.pick(wire, is_stop_order=False) is not None for _ in range(40)])
    assert outcomes[0] == outcomes[1] and 5 < sum(outcomes[0]) < 35


async def test_bad_fault_rule_is_refused_with_the_reason(control_b: Control) -> None:
    async with control_b.session.post(
        f"{control_b.base_url}/_sim/faults", json={"action": "explode"}
    ) as response:
        assert response.status == 400 and "action" in (await response.json())["error"]


@pytest.mark.parametrize(
    ("rule", "reason"),
    [
        (
            {"action": "delay", "delay_ms": "٥٠٠"},
            "delay_ms = '٥٠٠': expected a whole number from 0",
        ),
        ({"action": "error_5xx", "status": 404}, "status = 404: expected a 5xx status for error_5xx"),
        ({"action": "delay", "probability": 2}, "probability = 2: expected a number from 0 to 1"),
        ({"action": "delay", "match": "newClientOrderId"}, "match = 'newClientOrderId': expected an object"),
        ({"action": "delay", "count": 0}, "count = 0: expected a whole number ≥ 1"),
        (
            {"action": "delay", "delay": 5},
            "delay = 5: is not a known key; the keys here are: action,",
        ),
        ({"path": "/x"}, "action: is required; add it"),
    ],
)
async def test_each_bad_key_of_a_fault_rule_is_named_with_what_it_takes(
    control_b: Control, rule: dict[str, Any], reason: str
) -> None:
    async with control_b.session.post(f"{control_b.base_url}/_sim/faults", json=rule) as response:
        assert response.status == 400
        assert reason in (await response.json())["error"]
    assert await control_b.call("GET", "faults") == {"rules": []}


def test_a_rule_with_a_probability_fires_until_removed_and_one_without_fires_once() -> None:
    book = FaultBook(seed=7)
    assert book.install({"action": "delay", "probability": 0.5}).count is None
    assert book.install({"action": "delay"}).count == 1
    assert book.install({"action": "delay", "count": None}).count is None
    assert book.install({"action": "delay", "count": "3", "probability": "0.25"}).count == 3


async def test_hide_order_executes_but_the_order_is_not_found_for_a_while(
    binance: Any, control_b: Control
) -> None:
    """Binance answers -2013/-2011 for orders that exist, for a while after placement (freqtrade#6392,
    freqtrade#12681): lookups, open-order lists and cancels miss the order, the engine still holds it."""
    await binance.create_order(BTC, "market", "buy", 0.01)
    await control_b.fault(
        action="hide_order", path="/fapi/v1/algoOrder", match={"clientAlgoId": "hid-1"}, delay_ms=600
    )
    stop = {"stopLossPrice": 59000, "reduceOnly": True, "clientOrderId": "hid-1"}
    placed = await binance.create_order(BTC, "market", "sell", 0.01, None, stop)
    assert placed["status"] == "open"
    with pytest.raises(ccxt.OrderNotFound):
        await binance.fetch_order(None, BTC, {"clientOrderId": "hid-1", "trigger": True})
    assert await binance.fetch_open_orders(BTC, params={"trigger": True}) == []
    with pytest.raises(ccxt.OrderNotFound, match="-2011"):
        await binance.cancel_order(placed["id"], BTC, {"trigger": True})
    [resting] = [o for o in (await control_b.state())["accounts"]["sim-key"]["open_orders"]]
    assert resting["client_id"] == "hid-1"
    await control_b.call("POST", "clock", {"advance_seconds": 0.7})  # past the hide, on the simulator's clock
    found = await binance.fetch_order(None, BTC, {"clientOrderId": "hid-1", "trigger": True})
    assert found["id"] == placed["id"] and found["status"] == "open"


async def test_phemex_hide_order_misses_the_order_in_lookups_and_lists(
    phemex_ex: Any, control_p: Control
) -> None:
    await control_p.fault(action="hide_order", path="/g-orders", match={"clOrdID": "phid-1"}, delay_ms=600)
    await phemex_ex.create_order(BTC, "limit", "buy", 0.01, 50000, {"clientOrderId": "phid-1"})
    assert await phemex_ex.fetch_open_orders(BTC) == []
    await control_p.call("POST", "clock", {"advance_seconds": 0.7})  # past the hide, on the simulator's clock
    [listed] = await phemex_ex.fetch_open_orders(BTC)
    assert listed["clientOrderId"] == "phid-1"


async def test_fill_past_limit_fills_an_ioc_limit_past_its_own_price_once(
    binance: Any, control_b: Control
) -> None:
    """Harsher than any exchange (docs/simulator.md): the taking fill lands slip_bps past the book, beyond
    the limit; the next order fills normally."""
    await control_b.mark(BTC, "60000")
    await control_b.fault(
        action="fill_past_limit", path=ORDER, match={"newClientOrderId": "slip-1"}, slip_bps=100
    )
    bound = {"clientOrderId": "slip-1", "timeInForce": "IOC"}
    slipped = await binance.create_order(BTC, "limit", "buy", 0.01, 60060, bound)
    assert (slipped["status"], slipped["average"]) == ("closed", 60600)
    normal = await binance.create_order(BTC, "limit", "buy", 0.01, 60060, {"timeInForce": "IOC"})
    assert normal["average"] == 60000


async def test_phemex_fill_past_limit_fills_a_sell_below_its_limit(
    phemex_ex: Any, control_p: Control
) -> None:
    await control_p.mark(BTC, "60000")
    await control_p.fault(
        action="fill_past_limit", path="/g-orders", match={"clOrdID": "pslip-1"}, slip_bps=50
    )
    bound = {"clientOrderId": "pslip-1", "timeInForce": "ImmediateOrCancel"}
    placed = await phemex_ex.create_order(BTC, "limit", "sell", 0.01, 59940, bound)
    slipped = await phemex_ex.fetch_order(placed["id"], BTC)  # Phemex answers the placement before the fill
    assert (slipped["filled"], slipped["average"]) == (0.01, 59700)
