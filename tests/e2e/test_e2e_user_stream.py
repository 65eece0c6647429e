"""The user data stream in the daemon (issue #11; Binance's, and Phemex's aop_p): a stop that triggers at the
exchange is booked closed from the stream's events, long before the tracker's next poll, and under every
user-stream fault the position still ends booked closed once, with every fill booked once, nothing sent
twice and no position left without a stop, each fill under the order that made it. The tracker polls every
30 s and reconciliation every 60 s here, so what closes the position sooner is the stream (or the resync its
gap asks for)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from harness.e2e import (
    SYMBOL,
    Daemon,
    DaemonFactory,
    Sim,
    entry_id,
    eventually,
    flat_view,
    market_signal,
    order_sent_twice,
    protected_view,
)
from harness.invariants import protection

pytestmark = pytest.mark.slow

SLOW_POLLING = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "30",
    "EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS": "60",
    "EXECUTOR__EXCHANGE__STREAM_STALL_MS": "1500",
    "EXECUTOR__RISK__OVERRIDES__ALLOWED_SYMBOLS": '["SOL/USDT:USDT"]',
}
USER = {"stream": "user"}
TRADE_READS = {"binance": "/fapi/v1/userTrades", "phemex": "/api-data/g-futures/trades"}


async def user_stream(daemon: Daemon) -> dict[str, Any] | None:
    _, body = await daemon.get("/ready")
    found = (body.get("streams") or {}).get("user_data")
    return found if found and found["state"] == "live" else None


async def closed_in_db(daemon: Daemon) -> Any:
    view = await daemon.db()
    return view.closed_positions() if not view.open_positions() and view.closed_positions() else None


async def open_with_stop(daemons: DaemonFactory, sim: Sim, sqlite_url: str, signal_id: str) -> Daemon:
    daemon = daemons(sqlite_url, **SLOW_POLLING)
    await daemon.start()
    await eventually(lambda: user_stream(daemon), what="the user data stream live in /ready")
    await daemon.ws_send([market_signal(signal_id)])
    await eventually(lambda: protected_view(sim), what="the position with its stop")
    await eventually(lambda: daemon_holds_position(daemon), what="the position in the database")
    return daemon


async def daemon_holds_position(daemon: Daemon) -> bool:
    return bool((await daemon.db()).open_positions())


async def assert_booked_under(daemon: Daemon, sim: Sim, signal_id: str, exit_kind: OrderKind) -> None:
    """Every fill booked under the order that made it: the entry's under the entry row, the exit's under the
    leg that closed the position. A fill under another order (or none) corrupts the trade history, each
    order's fees and the R multiple. On Binance a triggered algo order's fill names the order its trigger
    created (`executed_order_id`); on Phemex the stop's own order id."""
    fills = await sim.fills()
    booked = await daemon.booked_fills(sim.trade_id(fill) for fill in fills)
    orders = {row.id: row for row in (await daemon.db()).orders}
    expected = {"buy": entry_id(signal_id), "sell": client_order_id(signal_id, exit_kind)}
    for fill in fills:
        row = booked[sim.trade_id(fill)]
        assert row is not None and row.order_pk is not None, (fill, row)
        order = orders[row.order_pk]
        wanted = expected[fill["side"].lower()]
        assert (order.client_order_id, row.client_order_id) == (wanted, wanted), (fill, row, order)
        algo = order.conditional and sim.family == "binance"
        made_it = order.executed_order_id if algo else order.exchange_order_id
        assert made_it is not None and row.exchange_order_id == made_it, (fill, row, order)


async def assert_invariants(daemon: Daemon, sim: Sim, signal_id: str) -> None:
    """Flat on the exchange with nothing resting, one closed position booked from every fill once, each
    under its order."""
    assert await eventually(lambda: flat_view(sim), within=10, what="flat, no order resting")
    assert await protection(sim) == []
    assert order_sent_twice(await sim.requests(), sim.family) == []
    fills = await sim.fills()
    assert [fill["side"].lower() for fill in fills] == ["buy", "sell"], fills
    booked = await daemon.booked_fills(sim.trade_id(fill) for fill in fills)
    assert all(row is not None for row in booked.values()), booked  # no missed fill
    view = await daemon.db()
    [position] = view.closed_positions()
    assert not view.open_positions()
    assert position.exit_price is not None and position.realized_pnl < 0
    # the trade table's unique trade id makes a second booking impossible; the position's numbers show none
    sell = next(fill for fill in fills if fill["side"].lower() == "sell")
    assert position.exit_price == booked[sim.trade_id(sell)].price  # type: ignore[union-attr]
    await assert_booked_under(daemon, sim, signal_id, OrderKind.STOP)


@pytest.mark.parametrize("family", ["binance", "phemex"], indirect=True)
async def test_a_triggered_stop_is_booked_closed_from_the_stream_long_before_the_next_poll(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = await open_with_stop(daemons, sim, sqlite_url, "user-stream-1")
    since = (await sim.requests())[-1]["seq"]
    started = time.monotonic()
    await sim.mark("146")  # through the stop at 147
    await eventually(lambda: closed_in_db(daemon), within=10, interval=0.01, what="booked closed")
    elapsed = time.monotonic() - started
    print(f"stop triggered → booked closed in {elapsed * 1000:.0f} ms (the tracker polls every 30 s)")
    assert elapsed < 5
    # booked from the stream's own fills: the trades were not read (the breaker reads the account here)
    requests = await sim.requests(since=str(since))
    reads = {r["path"] for r in requests if r["method"] == "GET"}
    assert TRADE_READS[sim.family] not in reads, reads
    if sim.family == "phemex":  # its events name the attached stop by order id alone: the stop's end is
        # recorded from them, so the booking does not try to cancel the executed stop (3 requests of the 500)
        assert [r["path"] for r in requests if r["method"] == "DELETE"] == []
    await assert_invariants(daemon, sim, "user-stream-1")
    _, metrics = await daemon.get("/metrics")
    assert 'executor_stream_live{stream="user_data"} 1.0' in str(metrics)
    assert 'executor_user_events_total{kind="TradeUpdate"}' in str(metrics)


@pytest.mark.parametrize(
    "rule",
    [
        pytest.param({"action": "ws_duplicate", "count": None}, id="duplicated"),
        pytest.param({"action": "ws_reorder", "count": None}, id="out-of-order"),
        pytest.param({"action": "ws_delay", "delay_ms": 700, "count": None}, id="delayed"),
        pytest.param({"action": "ws_disconnect"}, id="disconnect"),
        pytest.param({"action": "ws_stall"}, id="silent-stall"),
        pytest.param({"action": "listen_key_expire"}, id="listen-key-expiry"),
    ],
)
async def test_under_a_user_stream_fault_the_stop_is_booked_once_and_nothing_is_left_unprotected(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, rule: dict[str, Any]
) -> None:
    signal_id = f"user-fault-{rule['action']}"
    daemon = await open_with_stop(daemons, sim, sqlite_url, signal_id)
    await sim.fault(**rule, match=USER)
    await sim.mark("146")  # the stop's events meet the fault
    await eventually(lambda: closed_in_db(daemon), within=20, what="booked closed despite the fault")
    await assert_invariants(daemon, sim, signal_id)
    await eventually(lambda: user_stream(daemon), within=20, what="the user data stream live again")


@pytest.mark.parametrize("family", ["phemex"], indirect=True)
@pytest.mark.parametrize(
    ("rule", "from_entry"),
    [
        pytest.param({"action": "ws_duplicate", "count": None}, True, id="duplicated"),
        # the entry's first message goes out after the next one: the stop's exit, when it triggers
        pytest.param({"action": "ws_reorder", "match": {"type": "incremental"}}, True, id="out-of-order"),
        pytest.param({"action": "ws_delay", "delay_ms": 700, "count": None}, True, id="delayed"),
        pytest.param({"action": "ws_disconnect"}, False, id="disconnect"),
        pytest.param({"action": "ws_stall"}, False, id="silent-stall"),
    ],
)
async def test_under_a_phemex_private_stream_fault_the_stop_is_booked_once(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, rule: dict[str, Any], from_entry: bool
) -> None:
    """Duplicated, reordered and delayed messages act from the entry on; a disconnect or stall on the
    stop's message."""
    fault = {**rule, "match": {"stream": "aop_p", **rule.get("match", {})}}
    daemon = daemons(sqlite_url, **SLOW_POLLING)
    await daemon.start()
    await eventually(lambda: user_stream(daemon), what="the user data stream live in /ready")
    if from_entry:
        await sim.fault(**fault)
    signal_id = f"phemex-user-fault-{rule['action']}"
    await daemon.ws_send([market_signal(signal_id)])
    await eventually(lambda: protected_view(sim), what="the position with its stop")
    await eventually(lambda: daemon_holds_position(daemon), what="the position in the database")
    if not from_entry:
        await sim.fault(**fault)
    await sim.mark("146")  # the stop's messages meet the fault
    await eventually(lambda: closed_in_db(daemon), within=20, what="booked closed despite the fault")
    await assert_invariants(daemon, sim, signal_id)
    await eventually(lambda: user_stream(daemon), within=20, what="the user data stream live again")
    rules = (await sim.call("GET", "faults"))["rules"]
    assert all(r["fired"] for r in rules), rules  # the fault acted (a single rule is gone once it fired)


@pytest.mark.parametrize("family", ["binance", "phemex"], indirect=True)
async def test_a_close_signals_fill_is_booked_under_the_close_order(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = await open_with_stop(daemons, sim, sqlite_url, "user-close-1")
    await daemon.ws_send([{"id": "user-close-1-close", "action": "close", "symbol": SYMBOL}])
    await eventually(lambda: closed_in_db(daemon), within=10, what="booked closed")
    assert await eventually(lambda: flat_view(sim), within=10, what="flat, no order resting")
    assert [fill["side"].lower() for fill in await sim.fills()] == ["buy", "sell"]
    await assert_booked_under(daemon, sim, "user-close-1", OrderKind.CLOSE)


@pytest.mark.parametrize("family", ["binance", "phemex"], indirect=True)
async def test_a_take_profits_fill_is_booked_under_the_take_profit_order(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, **SLOW_POLLING)
    await daemon.start()
    await eventually(lambda: user_stream(daemon), what="the user data stream live in /ready")
    await daemon.ws_send([market_signal("user-tp-1", take_profit="159")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    async def take_profit_resting() -> bool:
        return len((await sim.view()).orders) == 2

    await eventually(take_profit_resting, what="the take-profit resting beside the stop")
    await eventually(lambda: daemon_holds_position(daemon), what="the position in the database")
    await sim.mark("160")  # through the take-profit at 159
    await eventually(lambda: closed_in_db(daemon), within=10, what="booked closed")
    assert await eventually(lambda: flat_view(sim), within=10, what="flat, no order resting")
    assert [fill["side"].lower() for fill in await sim.fills()] == ["buy", "sell"]
    await assert_booked_under(daemon, sim, "user-tp-1", OrderKind.TAKE_PROFIT)


async def test_a_triggered_algo_stops_fill_is_booked_under_the_stop_when_its_algo_update_comes_late(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """Binance: the stop's trade and the flat position arrive before the algo order's TRIGGERED/FINISHED
    (which name the order its trigger created), and a cancel of the algo order would fail: the fill is still
    booked under the stop (the booking sends no cancel for it since it records the executed stop filled;
    the failing cancel stays as a guard that the fill's attribution does not rest on one)."""
    daemon = await open_with_stop(daemons, sim, sqlite_url, "user-late-algo-1")
    await sim.fault(action="ws_delay", delay_ms=1500, count=None, match={**USER, "event": "ALGO_UPDATE"})
    await sim.fault(action="error_5xx", method="DELETE", path="/fapi/v1/algoOrder", count=None)
    await sim.mark("146")  # through the stop at 147
    await eventually(lambda: closed_in_db(daemon), within=10, what="booked closed")
    await assert_booked_under(daemon, sim, "user-late-algo-1", OrderKind.STOP)


async def test_an_executed_algo_stop_is_not_cancelled_when_its_algo_update_comes_after_the_booking(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """Binance: the stop's trade and the flat position arrive in one batch, the algo order's TRIGGERED and
    FINISHED 1.5 s later, in another. The trade names the order the trigger created and its fills cover the
    stop: the booking records the stop filled instead of cancelling an executed order (a DELETE and two
    lookups, 3 requests of the budget)."""
    daemon = await open_with_stop(daemons, sim, sqlite_url, "user-executed-1")
    await sim.fault(action="ws_delay", delay_ms=1500, count=None, match={**USER, "event": "ALGO_UPDATE"})
    since = (await sim.requests())[-1]["seq"]
    await sim.mark("146")  # through the stop at 147
    await eventually(lambda: closed_in_db(daemon), within=10, what="booked closed")
    await eventually(lambda: stop_state(daemon, "user-executed-1"), within=5, what="the stop row final")
    booked_on = await order_updates(daemon)

    async def late_update_in() -> bool:
        return await order_updates(daemon) > booked_on

    await eventually(late_update_in, within=5, what="the algo update (1.5 s late) received")
    await asyncio.sleep(0.5)  # the assertion: in the half second after it, it changes nothing, sends nothing
    requests = await sim.requests(since=str(since))
    assert [r["path"] for r in requests if r["method"] == "DELETE"] == []
    lookups = [r["path"] for r in requests if r["method"] == "GET" and "order" in r["path"].lower()]
    assert lookups == [], lookups
    assert await stop_state(daemon, "user-executed-1") == "filled"
    await assert_booked_under(daemon, sim, "user-executed-1", OrderKind.STOP)


async def order_updates(daemon: Daemon) -> float:
    """How many order events the daemon took from its user stream (`executor_user_events_total`)."""
    code, text = await daemon.get("/metrics")
    assert code == 200, text
    samples = (s for family in text_string_to_metric_families(text) for s in family.samples)
    return sum(
        s.value
        for s in samples
        if s.name == "executor_user_events_total" and s.labels.get("kind") == "OrderUpdate"
    )


async def stop_state(daemon: Daemon, signal_id: str) -> str | None:
    """The stop row's state once it is final (None while it may still be live)."""
    stop = client_order_id(signal_id, OrderKind.STOP)
    row = next(row for row in (await daemon.db()).orders if row.client_order_id == stop)
    return None if row.state.may_be_live else row.state.value
