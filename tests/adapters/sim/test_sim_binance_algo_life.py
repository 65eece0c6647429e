"""Binance algo order life (issue #10 item 4): REJECTED after the trigger, and lookups that stop serving."""

from __future__ import annotations

from typing import Any

import ccxt.async_support as ccxt
import pytest

from tests.support.simkit import Control

BTC = "BTC/USDT:USDT"
ALGO = "/fapi/v1/algoOrder"
THREE_DAYS = 3 * 86_400


async def _long_with_stop(binance: Any, client_id: str) -> dict[str, Any]:
    await binance.create_order(BTC, "market", "buy", 0.01)
    return await binance.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        None,
        {"stopLossPrice": 59000, "reduceOnly": True, "clientOrderId": client_id},
    )


async def test_a_stop_rejected_after_its_trigger_leaves_the_position_open_without_a_stop(
    binance: Any, control_b: Control
) -> None:
    await control_b.fault(
        action="reject_after_trigger", method="POST", path=ALGO, match={"clientAlgoId": "rj-1"}
    )
    stop = await _long_with_stop(binance, "rj-1")
    assert stop["status"] == "open"
    await control_b.mark(BTC, "58900")
    rejected = await binance.fetch_order(None, BTC, {"clientOrderId": "rj-1", "trigger": True})
    assert rejected["info"]["algoStatus"] == "REJECTED" and rejected["status"] == "rejected"
    assert rejected["info"]["actualOrderId"] != ""  # it reached the matching engine, which refused it
    [position] = await binance.fetch_positions([BTC])
    assert position["contracts"] == 0.01  # nothing closed: the position has no stop now
    assert await binance.fetch_open_orders(BTC, params={"trigger": True}) == []
    fills = (await control_b.state())["accounts"]["sim-key"]["fills"]
    assert len(fills) == 1  # the entry only


async def test_reject_after_trigger_matches_stop_placements_only(binance: Any, control_b: Control) -> None:
    await control_b.fault(action="reject_after_trigger", method="POST", path="*")
    await binance.create_order(BTC, "market", "buy", 0.01)  # an entry passes the rule by
    [rule] = (await control_b.call("GET", "faults"))["rules"]
    assert rule["fired"] == 0


async def test_forget_closed_answers_not_found_for_a_closed_algo_order_that_all_algo_orders_still_lists(
    binance: Any, control_b: Control
) -> None:
    stop = await _long_with_stop(binance, "gone-1")
    open_again = await binance.create_order(
        BTC,
        "market",
        "sell",
        0.01,
        None,
        {"takeProfitPrice": 61000, "reduceOnly": True, "clientOrderId": "tp-1"},
    )
    await binance.cancel_order(stop["id"], BTC, {"trigger": True})
    await control_b.fault(action="forget_closed", method="GET", path=ALGO, count=None)
    with pytest.raises(ccxt.OrderNotFound):
        await binance.fetch_order(None, BTC, {"clientOrderId": "gone-1", "trigger": True})
    served = await binance.fetch_order(None, BTC, {"clientOrderId": "tp-1", "trigger": True})
    assert served["id"] == open_again["id"]  # open orders are still served
    history = await binance.fetch_orders(BTC, None, None, {"trigger": True})
    [listed] = [o for o in history if o["clientOrderId"] == "gone-1"]
    assert listed["info"]["algoStatus"] == "CANCELED"


async def test_a_cancelled_unfilled_order_is_served_by_neither_lookup_after_three_days(
    binance: Any, control_b: Control
) -> None:
    stop = await _long_with_stop(binance, "old-1")
    await binance.cancel_order(stop["id"], BTC, {"trigger": True})
    await control_b.call("POST", "clock", {"advance_seconds": THREE_DAYS - 60})
    assert (await binance.fetch_order(None, BTC, {"clientOrderId": "old-1", "trigger": True}))["id"] == stop[
        "id"
    ]
    await control_b.call("POST", "clock", {"advance_seconds": 120})
    with pytest.raises(ccxt.OrderNotFound):
        await binance.fetch_order(None, BTC, {"clientOrderId": "old-1", "trigger": True})
    since = binance.milliseconds() - 4 * 86_400_000
    assert await binance.fetch_orders(BTC, since, None, {"trigger": True}) == []
    [entry] = await binance.fetch_orders(BTC, since)
    assert entry["status"] == "closed"  # a filled order is still served


async def test_trigger_delay_shows_a_fired_stop_triggering_unlisted_then_finished_once_the_delay_passes(
    binance: Any, control_b: Control
) -> None:
    await control_b.fault(
        action="trigger_delay", method="POST", path=ALGO, match={"clientAlgoId": "tg-1"}, delay_ms=5000
    )
    await _long_with_stop(binance, "tg-1")
    await control_b.mark(BTC, "58900")
    triggering = await binance.fetch_order(None, BTC, {"clientOrderId": "tg-1", "trigger": True})
    assert triggering["info"]["algoStatus"] == "TRIGGERING" and triggering["status"] == "open"
    assert triggering["info"]["actualOrderId"] == ""  # not in the matching engine yet
    assert await binance.fetch_open_orders(BTC, params={"trigger": True}) == []  # no longer resting
    [position] = await binance.fetch_positions([BTC])
    assert position["contracts"] == 0.01  # unprotected meanwhile, the stop still pending
    await control_b.call("POST", "clock", {"advance_seconds": 6})
    finished = await binance.fetch_order(None, BTC, {"clientOrderId": "tg-1", "trigger": True})
    assert finished["info"]["algoStatus"] == "FINISHED" and finished["info"]["actualOrderId"] != ""
    assert [p for p in await binance.fetch_positions([BTC]) if p["contracts"]] == []


async def test_a_triggering_stop_cannot_be_cancelled_and_ends_rejected_when_nothing_is_left_to_reduce(
    binance: Any, control_b: Control
) -> None:
    await control_b.fault(
        action="trigger_delay", method="POST", path=ALGO, match={"clientAlgoId": "tg-2"}, delay_ms=5000
    )
    stop = await _long_with_stop(binance, "tg-2")
    await control_b.mark(BTC, "58900")
    await control_b.fault(action="forget_closed", method="GET", path=ALGO)
    triggering = await binance.fetch_order(None, BTC, {"clientOrderId": "tg-2", "trigger": True})
    assert triggering["info"]["algoStatus"] == "TRIGGERING"  # not closed: still served
    with pytest.raises(ccxt.OrderNotFound):  # on its way to the matching engine, it no longer rests
        await binance.cancel_order(stop["id"], BTC, {"trigger": True})
    await binance.create_order(BTC, "market", "sell", 0.01, None, {"reduceOnly": True})
    await control_b.call("POST", "clock", {"advance_seconds": 6})
    rejected = await binance.fetch_order(stop["id"], BTC, {"trigger": True})
    assert rejected["info"]["algoStatus"] == "REJECTED"  # reduce-only with nothing to reduce
    assert [p for p in await binance.fetch_positions([BTC]) if p["contracts"]] == []
