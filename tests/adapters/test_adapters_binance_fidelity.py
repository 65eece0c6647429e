"""The Binance adapter against the strict simulator's Binance-only behaviours (issue #10)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters import binance as binance_adapter
from adapters.sim import load_sim_config
from executor.domain.account import MarginMode
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind, Side
from executor.domain.orders import OrderStatus
from executor.ports.errors import AmbiguousWriteError, ErrorClass, ErrorReason, OrderRejectedError
from tests.support.adapter_sim import BTC, ETH, Sim, entry_request, running_sim
from tests.support.simkit import binance_client

D = Decimal


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim("binance") as running:
        yield running


async def test_a_stop_algo_order_no_longer_served_is_found_in_the_algo_order_history(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    result = await sim.adapter.open_with_stop(entry_request("sig-1"))
    assert result.stop is not None and result.stop.client_id is not None
    cancelled = await sim.adapter.cancel_order(result.stop)
    await sim.fault(action="forget_closed", method="GET", path="/fapi/v1/algoOrder", count=None)
    found = await sim.adapter.fetch_order(BTC, result.stop.client_id)
    assert found is not None and found.exchange_id == cancelled.exchange_id
    assert found.status is OrderStatus.CANCELED
    assert [r["status"] for r in await sim.requests("GET", "/fapi/v1/algoOrder")][-1] == 400
    assert await sim.requests("GET", "/fapi/v1/allAlgoOrders")


async def test_a_stop_rejected_after_its_trigger_reads_ended_with_nothing_filled(sim: Sim) -> None:
    await sim.fault(action="reject_after_trigger", method="POST", path="/fapi/v1/algoOrder")
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    result = await sim.adapter.open_with_stop(entry_request("sig-1"))
    assert result.stop is not None and result.stop.client_id is not None
    await sim.mark(BTC, "58900")
    found = await sim.adapter.fetch_order(BTC, result.stop.client_id)
    # The triggered order (same client id, EXPIRED) or the algo order (REJECTED): ended, nothing filled.
    assert found is not None and not found.is_open and found.filled == 0
    assert (await sim.adapter.open_orders(BTC)) == []
    account = await sim.adapter.account_snapshot()
    position = account.position(BTC)
    assert position is not None and position.qty == D("0.010")


async def test_a_triggering_stop_reads_open_then_filled_once_executed(sim: Sim) -> None:
    await sim.fault(action="trigger_delay", method="POST", path="/fapi/v1/algoOrder", delay_ms=5000)
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    result = await sim.adapter.open_with_stop(entry_request("sig-1"))
    assert result.stop is not None and result.stop.client_id is not None
    await sim.mark(BTC, "58900")
    working = await sim.adapter.fetch_order(BTC, result.stop.client_id)
    # Not resting, still working: the daemon must not read it as a missing stop.
    assert working is not None and working.is_open and working.conditional and working.filled == 0
    assert (await sim.adapter.open_orders(BTC)) == []
    await sim.control("POST", "clock", {"advance_seconds": 6})
    done = await sim.adapter.fetch_order(BTC, result.stop.client_id)
    # The order it executed (same client id) or the algo order with its fill: filled.
    assert done is not None and done.status is OrderStatus.CLOSED and done.filled == D("0.010")


async def test_an_entry_hidden_past_the_grace_is_not_resent_when_the_symbol_has_fills_since() -> None:
    """The answer is lost and the filled order stays hidden longer than the not-found grace: a resend
    would open a second position (the filled original no longer blocks its client id)."""
    async with running_sim("binance") as sim:
        await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
        cid = client_order_id("sig-hidden-long", OrderKind.ENTRY)
        await sim.fault(
            action="drop_after",
            method="POST",
            path=sim.order_path,
            match={"newClientOrderId": cid},
            hide_ms=8000,
        )
        with pytest.raises(AmbiguousWriteError, match="not resent"):
            await sim.adapter.open_with_stop(entry_request("sig-hidden-long"))
        account = await sim.account()
        assert len([o for o in account["orders"] if o["client_id"] == cid]) == 1
        assert [D(p["qty"]) for p in account["positions"]] == [D("0.010")]
        assert len(await sim.requests("POST", sim.order_path)) == 1


async def test_the_price_band_is_read_from_the_percent_price_filter(sim: Sim) -> None:
    filters = (await sim.adapter.markets())[BTC].filters
    assert (filters.price_band_down, filters.price_band_up) == (D("0.95"), D("1.05"))


async def test_market_orders_refused_4131_by_the_band_or_4118_by_reduce_only_orders_are_not_sent_again(
    sim: Sim,
) -> None:
    """-4131 and -4118 are not executed (no ambiguity) and pass only once the book or the resting orders
    change, so the adapter neither looks them up nor sends them again: their own reasons, FINAL, one request
    each (ccxt raises OperationRejected for both; docs/exchange-facts.md §6)."""
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await sim.adapter.open_with_stop(entry_request("sig-band"))
    by_hand = binance_client(sim.url)
    try:
        await by_hand.create_order(
            BTC, "limit", "sell", 0.01, 61000, {"reduceOnly": True, "timeInForce": "GTC"}
        )
    finally:
        await by_hand.close()
    with pytest.raises(OrderRejectedError) as conflict:
        await sim.adapter.close_position(BTC, Side.LONG, D("0.010"), "sig-band-x1")
    sim.server.engine.config = sim.server.engine.config.with_overrides(slippage_bps=600)  # past the ±5 % band
    with pytest.raises(OrderRejectedError) as band:
        await sim.adapter.open_with_stop(entry_request("sig-band-2"))

    assert (conflict.value.reason, conflict.value.classification.exchange_code) == (
        ErrorReason.REDUCE_ONLY_CONFLICT,
        -4118,
    )
    assert (band.value.reason, band.value.classification.exchange_code) == (ErrorReason.PRICE_BAND, -4131)
    assert conflict.value.error_class is band.value.error_class is ErrorClass.FINAL
    refused = [r["params"]["newClientOrderId"] for r in await sim.requests("POST", sim.order_path)][-2:]
    assert refused == ["sig-band-x1", client_order_id("sig-band-2", OrderKind.ENTRY)]
    assert [r["status"] for r in await sim.requests("POST", sim.order_path)][-2:] == [400, 400]
    assert not await sim.requests("GET", sim.order_path)  # not looked up: nothing to resolve


async def test_an_entry_answered_without_its_fill_is_read_back_and_its_stop_covers_the_fill(sim: Sim) -> None:
    await sim.fault(action="answer_ack", method="POST", path=sim.order_path)
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    result = await sim.adapter.open_with_stop(entry_request("sig-ack"))
    assert result.entry.filled == D("0.010") and result.entry.average_price == D(60000)
    assert result.stop is not None and result.stop.qty == D("0.010")
    [answered] = await sim.requests("POST", sim.order_path)
    assert answered["fault"] == "answer_ack"


async def test_a_request_refused_5028_by_the_matching_engine_is_resent_after_a_clock_resync() -> None:
    """-5028: the matching engine saw the request after its recvWindow and did not execute it; ccxt raises
    BadRequest (final), but the code says: resync the clock and send again (docs/exchange-facts.md §1)."""
    async with running_sim("binance") as sim:
        await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
        await sim.fault(action="delay", method="POST", path=sim.order_path, delay_ms=1500)  # window: 1 s
        result = await sim.adapter.open_with_stop(entry_request("sig-5028"))
        assert result.protected and result.entry.filled == D("0.010")
        posts = await sim.requests("POST", sim.order_path)
        assert [r["status"] for r in posts] == [400, 200]
        assert await sim.requests("GET", "/fapi/v1/time")  # the clock was read again
        account = await sim.account()
        assert len([o for o in account["orders"] if o["type"] == "MARKET"]) == 1


async def test_the_funding_interval_comes_from_funding_info_and_is_8_hours_for_symbols_it_does_not_list() -> (
    None
):
    """`premiumIndex` carries no interval; `fundingInfo` lists only adjusted symbols (here ETH at 4 h)."""
    config = load_sim_config().for_dialect("binance")
    eth_4h = tuple(
        inst.model_copy(update={"funding_interval_hours": 4}) if inst.symbol == "ETHUSDT" else inst
        for inst in config.instruments
    )
    async with running_sim("binance", instruments=eth_4h, dialects={}) as sim:
        btc = await sim.adapter.market_snapshot(BTC)
        eth = await sim.adapter.market_snapshot(ETH)
        assert btc.funding is not None and btc.funding.interval == timedelta(hours=8)
        assert eth.funding is not None and eth.funding.interval == timedelta(hours=4)
        assert len(await sim.requests("GET", "/fapi/v1/fundingInfo")) == 1  # read once, kept an hour
        [listed] = await sim.adapter.exchange.fapiPublicGetFundingInfo()
        assert listed["symbol"] == "ETHUSDT"
        premium = await sim.adapter.exchange.fapiPublicGetPremiumIndex({"symbol": "BTCUSDT"})
        assert not [key for key in premium if "interval" in key.lower()]


async def test_fills_and_funding_of_a_position_held_for_weeks_are_read_window_by_window_and_page_by_page(
    sim: Sim, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(binance_adapter, "HISTORY_PAGE", 25)  # pages of 25 rows, so the paging is exercised
    since = (await sim.adapter.server_time()).at
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await sim.adapter.open_with_stop(entry_request("sig-weeks"))
    await sim.control("POST", "clock", {"advance_seconds": 23 * 86_400})
    close_id = client_order_id("sig-weeks", OrderKind.CLOSE)
    await sim.adapter.close_position(BTC, Side.LONG, D("0.010"), close_id)

    account = await sim.account()
    fills = await sim.adapter.fills_since(BTC, since)
    assert sorted(f.trade_id for f in fills) == sorted(str(f["trade_id"]) for f in account["fills"])
    assert len(fills) == 2  # the entry three weeks ago and the close now
    payments = await sim.adapter.funding_payments_since(BTC, since)
    booked = [r for r in account["income"] if r["type"] == "FUNDING_FEE"]
    assert len(booked) == 69 and len(payments) == len(booked)
    assert sum(p.amount for p in payments) == sum(D(r["amount"]) for r in booked)
    windows = [r["params"] for r in await sim.requests("GET", "/fapi/v1/userTrades")]
    assert len(windows) >= 4 and all(
        int(w["endTime"]) - int(w["startTime"]) <= 7 * 86_400_000 for w in windows
    )
    assert len(await sim.requests("GET", "/fapi/v1/income")) == 3  # 25 + 25 + 19
