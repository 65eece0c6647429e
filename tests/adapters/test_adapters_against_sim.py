"""Every port method, through real ccxt, against the simulator speaking each exchange's dialect."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import structlog

from adapters.ccxt_base import Credentials
from adapters.factory import build_adapter
from adapters.ratelimit import GateRegistry
from executor.domain.account import MarginMode
from executor.domain.client_ids import client_order_id
from executor.domain.enums import EntryType, OrderKind, Side
from executor.domain.market import MarketDataItem
from executor.domain.orders import EntryRequest, Order, OrderSide, OrderStatus, OrderType
from executor.ports.errors import ErrorReason, ExchangeBannedError, ExchangeError, OrderRejectedError
from executor.ports.exchange import EntryStep
from tests.support.adapter_sim import BTC, EXCHANGES, FAST, Sim, dec, entry_request, eventually, running_sim

D = Decimal
QTY = D("0.010")


@pytest.fixture(params=EXCHANGES)
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Sim]:
    async with running_sim(request.param) as running:
        yield running


async def open_long(sim: Sim, signal: str = "sig-1", stop: str = "59000") -> tuple[Order, Order]:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    result = await sim.adapter.open_with_stop(entry_request(signal, stop=stop))
    assert result.protected and result.stop is not None, result.stop_error
    return result.entry, result.stop


async def test_markets_and_snapshot_carry_filters_tiers_funding(sim: Sim) -> None:
    markets = await sim.adapter.markets()
    assert BTC in markets
    snapshot = await sim.adapter.market_snapshot(BTC)
    assert snapshot.is_complete, snapshot.missing_required
    assert snapshot.mark_price == D(60000)
    assert snapshot.filters is not None and snapshot.filters.price_tick == D("0.1")
    assert snapshot.tiers and snapshot.tiers[0].notional_floor == 0
    assert snapshot.funding is not None
    if sim.exchange == "binance":
        assert snapshot.insurance_fund is not None and snapshot.insurance_fund > 0
        assert snapshot.tiers[1].maintenance_amount == D(50)
        assert snapshot.funding.next_funding_time is not None
    else:
        assert snapshot.insurance_fund is None
        assert MarketDataItem.INSURANCE_FUND not in snapshot.stale


async def test_account_snapshot_before_and_after_a_position(sim: Sim) -> None:
    account = await sim.adapter.account_snapshot()
    assert account.equity == account.wallet_balance == D(10000)
    assert account.positions == ()
    await open_long(sim)
    before = len(await sim.requests())
    account = await sim.adapter.account_snapshot()
    # Phemex answers the account and its positions in one request; Binance's are two endpoints
    assert len(await sim.requests()) - before == (1 if sim.exchange == "phemex" else 2)
    (position,) = account.positions
    exchange_view = (await sim.account())["positions"][0]
    assert (position.symbol, position.side, position.qty) == (BTC, Side.LONG, QTY)
    assert position.liquidation_price == dec(exchange_view["liquidation_price"])
    assert position.liquidation_price is not None and position.liquidation_price < D(59000)
    assert account.free_margin < account.wallet_balance


async def test_ensure_leverage_is_idempotent_and_cached(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 7, MarginMode.ISOLATED)
    first = len(await sim.requests())
    await sim.adapter.ensure_leverage(BTC, 7, MarginMode.ISOLATED)
    assert len(await sim.requests()) == first
    assert (await sim.account())["leverage"]["BTCUSDT"] == 7
    fresh = sim.new_adapter()
    try:
        await fresh.ensure_leverage(BTC, 7, MarginMode.ISOLATED)  # "already set" is success
        await fresh.ensure_leverage(BTC, 3, MarginMode.ISOLATED)
    finally:
        await fresh.aclose()
    assert (await sim.account())["leverage"]["BTCUSDT"] == 3


async def test_open_with_stop_leaves_a_resting_reduce_only_stop_on_mark_price(sim: Sim) -> None:
    entry, stop = await open_long(sim)
    assert entry.status is OrderStatus.CLOSED and entry.filled == QTY and entry.average_price is not None
    assert stop.is_open and stop.conditional and stop.reduce_only
    assert (stop.side, stop.type, stop.trigger_price) == (OrderSide.SELL, OrderType.STOP_MARKET, D(59000))
    (resting,) = [o for o in (await sim.account())["open_orders"] if o["type"] == "STOP_MARKET"]
    assert resting["trigger_source"] == "MARK_PRICE"
    assert resting["reduce_only"] or resting["close_position"]
    await sim.mark(BTC, "58900")
    assert (await sim.account())["positions"] == []


async def test_binance_stop_leaves_right_after_the_entry_answer(sim: Sim) -> None:
    if sim.exchange != "binance":
        assert (await open_long(sim))[1] is not None  # Phemex: one request carries both legs
        assert len(await sim.requests("POST", sim.order_path)) == 1
        return
    await open_long(sim)
    (entry,) = await sim.requests("POST", "/fapi/v1/order")
    (stop,) = await sim.requests("POST", "/fapi/v1/algoOrder")
    assert stop["params"]["workingType"] == "MARK_PRICE" and stop["params"]["reduceOnly"] == "true"
    gap_ms = (stop["arrival_monotonic_ns"] - entry["answered_monotonic_ns"]) / 1e6
    assert gap_ms < 50, f"the position was naked for {gap_ms:.1f} ms in the client"


async def test_lookup_by_client_id_across_normal_and_conditional_orders(sim: Sim) -> None:
    entry, stop = await open_long(sim)
    assert entry.client_id is not None
    found_entry = await sim.adapter.fetch_order(BTC, entry.client_id)
    assert found_entry is not None and found_entry.exchange_id == entry.exchange_id
    assert found_entry.kind is OrderKind.ENTRY
    if stop.client_id is not None:
        found_stop = await sim.adapter.fetch_order(BTC, stop.client_id)
        assert found_stop is not None and found_stop.conditional and found_stop.kind is OrderKind.STOP
    assert await sim.adapter.fetch_order(BTC, client_order_id("never-sent", OrderKind.ENTRY)) is None


async def test_open_orders_list_both_kinds_and_cancel_returns_the_final_state(sim: Sim) -> None:
    _, stop = await open_long(sim)
    tp = await sim.adapter.place_take_profit(
        BTC, Side.LONG, QTY, D(62000), client_order_id("sig-1", OrderKind.TAKE_PROFIT)
    )
    assert tp.conditional and tp.type is OrderType.TAKE_PROFIT_MARKET and tp.reduce_only
    limit_cid = client_order_id("sig-2", OrderKind.ENTRY)
    limit = EntryRequest(BTC, Side.LONG, QTY, EntryType.LIMIT, D(58000), D(57000), limit_cid, "px-unused")
    resting = await sim.adapter.open_with_stop(limit)
    assert resting.entry.is_open
    orders = await sim.adapter.open_orders(BTC)
    ids = {o.exchange_id for o in orders}
    assert {stop.exchange_id, tp.exchange_id, resting.entry.exchange_id} <= ids
    assert any(o.conditional for o in orders) and any(not o.conditional for o in orders)
    cancelled = await sim.adapter.cancel_order(tp)
    assert cancelled.status is OrderStatus.CANCELED
    assert (await sim.adapter.cancel_order(tp)).status is OrderStatus.CANCELED  # twice is safe
    cancelled_entry = await sim.adapter.cancel_order(resting.entry)
    assert cancelled_entry.status is OrderStatus.CANCELED
    await sim.adapter.cancel_all(BTC)
    assert await sim.adapter.open_orders(BTC) == []


async def test_close_position_and_fills_unique_by_trade_id(sim: Sim) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    await open_long(sim)
    close = await sim.adapter.close_position(BTC, Side.LONG, QTY, client_order_id("sig-1", OrderKind.CLOSE))
    assert close.status is OrderStatus.CLOSED and close.filled == QTY and close.reduce_only
    account = await sim.account()
    assert account["positions"] == []
    fills = await sim.adapter.fills_since(BTC, since)
    assert len(fills) == len({f.trade_id for f in fills}) == len(account["fills"])
    assert {f.side for f in fills} == {OrderSide.BUY, OrderSide.SELL}
    assert all(f.fee > 0 for f in fills)


async def test_funding_payments_since(sim: Sim) -> None:
    since = datetime.now(UTC) - timedelta(minutes=1)
    await open_long(sim)
    await sim.control("POST", "funding", {"symbol": "BTCUSDT", "rate": "0.001"})
    await sim.control("POST", "clock", {"advance_seconds": 8 * 3600 + 60})
    payments = await sim.adapter.funding_payments_since(BTC, since)
    assert payments, "a long pays positive funding"
    assert all(p.amount < 0 and p.symbol == BTC for p in payments)
    assert len({p.payment_id for p in payments}) == len(payments)


async def test_answer_dropped_after_execution_resolves_to_the_existing_order(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await sim.fault(action="drop_after", method="POST", path=sim.order_path)
    result = await sim.adapter.open_with_stop(entry_request("sig-drop"))
    assert result.entry.filled == QTY
    assert len(await sim.requests("POST", sim.order_path)) == 1, "found by lookup, so never resent"
    account = await sim.account()
    assert len([o for o in account["orders"] if o["type"] == "MARKET"]) == 1
    assert dec(account["positions"][0]["qty"]) == QTY
    assert result.protected


async def test_stop_answer_dropped_after_execution_never_places_a_second_stop(sim: Sim) -> None:
    if sim.exchange == "phemex":
        await sim.fault(action="drop_after", method="GET", path="/g-orders/activeList")
        _, stop = await open_long(sim, "sig-drop-stop")
        assert stop is not None
    else:
        await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
        await sim.fault(action="drop_after", method="POST", path=sim.stop_path)
        result = await sim.adapter.open_with_stop(entry_request("sig-drop-stop"))
        assert result.protected
    stops = [o for o in (await sim.account())["orders"] if o["type"] == "STOP_MARKET"]
    assert len(stops) == 1


async def test_unexecuted_5xx_and_dropped_request_are_resent_with_the_same_id(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await sim.fault(action="error_5xx", method="POST", path=sim.order_path, status=503)
    await sim.fault(action="drop_before", method="POST", path=sim.order_path)
    result = await sim.adapter.open_with_stop(entry_request("sig-5xx"))
    assert result.protected
    posts = await sim.requests("POST", sim.order_path)
    ids = {r["params"].get("newClientOrderId") or r["params"].get("clOrdID") for r in posts}
    assert len(posts) == 3 and ids == {client_order_id("sig-5xx", OrderKind.ENTRY)}
    assert len([o for o in (await sim.account())["orders"] if o["type"] == "MARKET"]) == 1


async def test_timeout_then_late_execution_never_opens_twice() -> None:
    settings = replace(FAST, timeout_ms=300)
    for exchange in EXCHANGES:
        async with running_sim(exchange, settings) as sim:
            await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
            await sim.fault(action="delay", method="POST", path=sim.order_path, delay_ms=700)
            result = await sim.adapter.open_with_stop(entry_request("sig-late"))
            assert result.entry.filled == QTY
            await eventually(lambda s=sim: _all_answered(s))  # type: ignore[misc]
            account = await sim.account()
            assert len([o for o in account["orders"] if o["type"] == "MARKET"]) == 1
            assert dec(account["positions"][0]["qty"]) == QTY


@pytest.mark.parametrize("delay_ms", [600, 4000])
async def test_an_entry_executing_late_after_the_client_gave_up_opens_exactly_one_position(
    sim: Sim, delay_ms: int
) -> None:
    """The original arrives, the connection dies, the original executes later: inside its window it is
    found by the lookup made once the window has passed; after it (-5028 / expired) the resend is the
    only execution. A resend before the window ends would have opened a second position."""
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    cid = client_order_id(f"sig-late-{delay_ms}", OrderKind.ENTRY)
    key = "newClientOrderId" if sim.exchange == "binance" else "clOrdID"
    await sim.fault(
        action="execute_late", method="POST", path=sim.order_path, match={key: cid}, delay_ms=delay_ms
    )
    result = await sim.adapter.open_with_stop(entry_request(f"sig-late-{delay_ms}"))
    assert result.protected and result.entry.filled == QTY
    await eventually(lambda: _all_answered(sim), within=6)
    account = await sim.account()
    assert len([o for o in account["orders"] if o["client_id"] == cid and o["status"] == "FILLED"]) == 1
    assert [dec(p["qty"]) for p in account["positions"]] == [QTY]
    attempts = [r for r in await sim.requests("POST", sim.order_path) if r["params"].get(key) == cid]
    assert [r["status"] == 200 for r in attempts] == ([True] if delay_ms == 600 else [False, True])


async def test_an_executed_entry_not_found_for_a_while_is_waited_for_never_resent() -> None:
    """The answer is lost and the exchange answers "does not exist" for seconds although the order
    filled (freqtrade#6392): one miss is no proof, so the adapter keeps looking within its grace."""
    settings = replace(FAST, not_found_grace=timedelta(seconds=6))
    for exchange in EXCHANGES:
        async with running_sim(exchange, settings) as sim:
            await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
            cid = client_order_id("sig-hidden", OrderKind.ENTRY)
            key = "newClientOrderId" if exchange == "binance" else "clOrdID"
            await sim.fault(
                action="drop_after", method="POST", path=sim.order_path, match={key: cid}, hide_ms=3500
            )
            result = await sim.adapter.open_with_stop(entry_request("sig-hidden"))
            assert result.protected and result.entry.filled == QTY
            account = await sim.account()
            assert len([o for o in account["orders"] if o["client_id"] == cid]) == 1
            assert [dec(p["qty"]) for p in account["positions"]] == [QTY]


async def _all_answered(sim: Sim) -> bool:
    return all(r["status"] is not None for r in await sim.requests("POST", sim.order_path))


async def test_duplicate_client_id_proves_the_first_attempt_landed(sim: Sim) -> None:
    await open_long(sim)
    cid = client_order_id("sig-dup", OrderKind.TAKE_PROFIT)
    first = await sim.adapter.place_take_profit(BTC, Side.LONG, QTY, D(63000), cid)
    again = await sim.adapter.place_take_profit(BTC, Side.LONG, QTY, D(63000), cid)
    assert again.exchange_id == first.exchange_id
    tps = [o for o in (await sim.account())["orders"] if o["type"] == "TAKE_PROFIT_MARKET"]
    assert len(tps) == 1


async def test_rejected_stop_is_reported_so_the_caller_can_close(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
    await sim.fault(action="reject_stop")
    if sim.exchange == "phemex":
        # The stop rides on the entry request: refusing it refuses the entry, so no position exists.
        with pytest.raises(OrderRejectedError):
            await sim.adapter.open_with_stop(entry_request("sig-reject"))
        assert (await sim.account())["positions"] == []
        return
    result = await sim.adapter.open_with_stop(entry_request("sig-reject"))
    assert result.stop is None and not result.protected and result.stop_error
    assert result.entry.filled == QTY
    close_id = client_order_id("sig-reject", OrderKind.CLOSE)
    close = await sim.adapter.close_position(BTC, Side.LONG, result.entry.filled, close_id)
    assert close.filled == QTY
    assert (await sim.account())["positions"] == []


async def test_insufficient_margin_is_a_final_rejection(sim: Sim) -> None:
    await sim.adapter.ensure_leverage(BTC, 1, MarginMode.ISOLATED)
    with pytest.raises(OrderRejectedError) as caught:
        await sim.adapter.open_with_stop(entry_request("sig-big", qty=D("1")))
    assert caught.value.reason.value == "insufficient_funds"


async def test_rate_limit_storm_backs_off_then_succeeds(sim: Sim) -> None:
    await sim.adapter.markets()
    await sim.fault(action="rate_limit", method="GET", count=3)
    started = time.monotonic()
    account = await sim.adapter.account_snapshot()
    elapsed = time.monotonic() - started
    assert account.equity == D(10000)
    assert elapsed >= 0.05 + 0.1 + 0.2  # FAST backoff: 50 ms doubling
    limited = [r for r in await sim.requests() if r["fault"] == "rate_limit"]
    assert len(limited) == 3


async def test_ip_ban_is_reported_with_its_expiry_and_halts_requests(sim: Sim) -> None:
    await sim.adapter.markets()
    await sim.fault(action="ban", method="GET")
    with pytest.raises(ExchangeBannedError) as caught:
        await sim.adapter.account_snapshot()
    assert caught.value.until > datetime.now(UTC)
    assert sim.adapter.banned_until == caught.value.until
    before = len(await sim.requests())
    with pytest.raises(ExchangeBannedError):
        await sim.adapter.account_snapshot()
    assert len(await sim.requests()) == before


async def test_stale_market_data_is_reported_as_stale(sim: Sim) -> None:
    # Ages a loaded machine's first snapshot fits in (its reads, one after another, took over 100 ms in CI,
    # and the mark read first was stale by the time the last came back).
    settings = replace(
        FAST,
        funding_max_age=timedelta(seconds=1),
        mark_max_age=timedelta(seconds=1),
        tiers_max_age=timedelta(seconds=1),
        insurance_max_age=timedelta(seconds=1),
    )
    adapter = sim.new_adapter(settings)
    try:
        assert (await adapter.market_snapshot(BTC)).is_complete
        await sim.fault(action="error_5xx", method="GET", count=None, status=503)
        await asyncio.sleep(1.1)
        snapshot = await adapter.market_snapshot(BTC)
        assert not snapshot.is_complete
        assert {MarketDataItem.MARK_PRICE, MarketDataItem.FUNDING, MarketDataItem.TIERS} <= snapshot.stale
        if sim.exchange == "binance":
            assert snapshot.insurance_fund is None and MarketDataItem.INSURANCE_FUND in snapshot.stale
    finally:
        await adapter.aclose()


async def test_only_the_price_is_read_again_on_the_path_and_the_mark_when_it_is_the_price(sim: Sim) -> None:
    """The book top is the decision's price (older than `price_max_age`: read again); the mark beside it may
    be `mark_max_age` old, unless no book top can be had and the mark is the price."""
    settings = replace(FAST, price_max_age=timedelta(milliseconds=200), mark_max_age=timedelta(seconds=30))
    adapter = sim.new_adapter(settings)
    mark_path = "/fapi/v1/premiumIndex" if sim.exchange == "binance" else "/md/v2/ticker/24hr"
    book_path = "/fapi/v1/ticker/bookTicker" if sim.exchange == "binance" else "/md/v2/orderbook"

    async def reads() -> tuple[int, int]:
        return len(await sim.requests("GET", mark_path)), len(await sim.requests("GET", book_path))

    try:
        assert (await adapter.market_snapshot(BTC)).is_complete
        marks, books = await reads()
        await asyncio.sleep(0.3)  # the test is the ages: nothing to wait on but the clock
        snapshot = await adapter.market_snapshot(BTC)
        assert snapshot.is_complete and snapshot.bid is not None
        assert await reads() == (marks, books + 1)
        await sim.fault(action="error_5xx", method="GET", path=book_path, count=None, status=503)
        await asyncio.sleep(0.3)
        snapshot = await adapter.market_snapshot(BTC)
        assert snapshot.bid is None and snapshot.is_complete
        assert (await reads())[0] == marks + 1
    finally:
        await adapter.aclose()


async def test_background_refresh_keeps_data_fresh_off_the_critical_path(sim: Sim) -> None:
    settings = replace(
        FAST, refresh_interval=timedelta(milliseconds=20), mark_max_age=timedelta(milliseconds=200)
    )
    adapter = sim.new_adapter(settings)
    funding_path = "/fapi/v1/premiumIndex" if sim.exchange == "binance" else "/md/v2/ticker/24hr"
    try:
        adapter.watch(BTC)
        await adapter.start_background_refresh()
        await eventually(lambda: _count(sim, funding_path, at_least=3))
        await sim.mark(BTC, "61000")

        async def sees_new_mark() -> bool:
            return (await adapter.market_snapshot(BTC)).mark_price == D(61000)

        await eventually(sees_new_mark)
    finally:
        await adapter.aclose()
    stopped = len(await sim.requests())
    await asyncio.sleep(0.1)  # the assertion: nothing goes out once the adapter is closed
    assert len(await sim.requests()) == stopped


async def _count(sim: Sim, path: str, at_least: int) -> bool:
    return len(await sim.requests("GET", path)) >= at_least


async def test_binance_clock_skew_is_resynced_and_the_request_retried() -> None:
    async with running_sim("binance") as sim:
        await sim.adapter.markets()
        sim.adapter.exchange.options["timeDifference"] = -3_600_000  # our clock one hour ahead
        account = await sim.adapter.account_snapshot()
        assert account.equity == D(10000)
        statuses = [(r["path"], r["status"]) for r in await sim.requests()]
        assert ("/fapi/v3/account", 400) in statuses and ("/fapi/v1/time", 200) in statuses
        assert abs(sim.adapter.exchange.options["timeDifference"]) < 60_000


async def test_secrets_never_reach_errors_or_logs(sim: Sim) -> None:
    credentials = Credentials("UNKNOWNKEY1234567890", "TOPSECRET0987654321")
    adapter = build_adapter(
        f"sim-{sim.exchange}", "paper", credentials, sim_base_url=sim.url, settings=FAST, gates=GateRegistry()
    )
    try:
        with structlog.testing.capture_logs() as logs, pytest.raises(ExchangeError) as caught:
            await adapter.account_snapshot()
        assert caught.value.reason is ErrorReason.AUTHENTICATION
        shown = " ".join([str(caught.value), repr(caught.value), repr(adapter), repr(logs)])
        assert "UNKNOWNKEY1234567890" not in shown and "TOPSECRET0987654321" not in shown
    finally:
        await adapter.aclose()


async def test_the_wiring_observes_the_steps_of_an_entry_in_order(sim: Sim) -> None:
    """Crash trials arm their entry crash points through this observer, never inside the adapter."""
    steps: list[EntryStep] = []
    observed = build_adapter(
        f"sim-{sim.exchange}",
        "paper",
        sim_base_url=sim.url,
        settings=FAST,
        gates=GateRegistry(),
        observer=steps.append,
    )
    try:
        await observed.ensure_leverage(BTC, 5, MarginMode.ISOLATED)
        result = await observed.open_with_stop(entry_request("sig-observed"))
    finally:
        await observed.aclose()
    assert result.protected, result.stop_error
    if sim.exchange == "binance":
        assert steps == [EntryStep.ENTRY_ANSWERED, EntryStep.STOP_ANSWERED]
    else:
        assert steps == [EntryStep.ENTRY_ANSWERED]  # the stop rides on the entry's request
