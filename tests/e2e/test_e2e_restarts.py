"""Restarts: `kill -9` at each crash point between decision and protection, a position closed on the
exchange while the daemon was down, and a SIGTERM that exits 0 quickly and leaves the stop resting."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from decimal import Decimal
from functools import partial
from typing import Any

import aiohttp
import pytest
import redis.asyncio as aioredis

from harness.e2e import (
    SIM_SYMBOL,
    SYMBOL,
    DaemonFactory,
    Sim,
    assert_exactly_one_stop,
    cents_equal,
    creating_requests,
    entry_id,
    eventually,
    flat_view,
    market_signal,
    money,
    order_sent_twice,
    protected_view,
    settled_view,
    unsettled_orders,
)

pytestmark = pytest.mark.slow

SIGKILL_EXIT = -9
ETH = "ETH/USDT:USDT"
BTC = "BTC/USDT:USDT"
DAILY_LIMIT_30 = {
    "EXECUTOR__RISK__OVERRIDES__DAILY_LOSS__LIMIT_AMOUNT": "30",
    "EXECUTOR__RISK__OVERRIDES__DAILY_LOSS__LIMIT_PCT": "false",
}


CRASH_POINTS = [
    *(
        pytest.param("binance", point, id=point)
        for point in ("decision_stored", "entry_answered", "stop_answered", "entry_stored")
    ),
    pytest.param("phemex", "entry_answered", id="phemex-entry_answered"),
]


@pytest.mark.parametrize(("family", "point"), CRASH_POINTS, indirect=["family"])
async def test_kill_9_at_a_crash_point_then_a_restart_leaves_one_stop_and_no_order_sent_twice(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, point: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start(EXECUTOR__TESTING__CRASH_AT=point)
    signal_id = f"crash-{point}"

    with contextlib.suppress(Exception):  # the process may die before its answer leaves
        await daemon.ws_send([market_signal(signal_id)])
    assert await daemon.wait_exit() == SIGKILL_EXIT
    [armed] = [event for event in daemon.events(0) if event.get("event") == "crash_points_armed"]
    assert armed["points"] == [point] and armed["level"] == "warning"

    at_crash = await sim.view()
    sent = creating_requests(await sim.requests(), sim.family)
    if point == "decision_stored":
        assert at_crash.position is None and sent == {}, at_crash.summary()
    elif point == "entry_answered" and sim.family == "binance":
        assert at_crash.position is not None and at_crash.stops() == [], at_crash.summary()
    else:  # the stop rests (Phemex: attached to the entry), but its answer or the position row is not stored
        assert_exactly_one_stop(at_crash, trigger="147")

    await daemon.start()

    if point == "decision_stored":
        view = await settled_view(sim)
        assert view.position is None and view.orders == [], view.summary()
        db = await daemon.db(signal_id)
        assert db.signal(signal_id) is not None and db.open_positions() == []

        async def settled_not_sent() -> bool:  # unknown until the not-found grace has passed
            return {row.state for row in (await daemon.db(signal_id)).orders} == {"not_sent"}

        await eventually(settled_not_sent, within=40, what="the unsent rows settled not_sent")
    else:
        await eventually(lambda: protected_view(sim), what="the position protected after the restart")
        view = await settled_view(sim)
        assert_exactly_one_stop(view, trigger="147")
        db = await daemon.db()
        [position] = db.open_positions()
        assert position.qty == view.qty and position.stop_price == 147
        status = await daemon.status()
        assert [p["stop_resting"] for p in status["positions"]] == [True], status["positions"]
        assert status["breaker"]["status"] == "active", status["breaker"]
    requests = await sim.requests()
    assert order_sent_twice(requests, sim.family) == []
    assert len(creating_requests(requests, sim.family).get(entry_id(signal_id), [])) <= 1


async def test_kill_9_after_a_websocket_signal_is_stored_but_unanswered_decides_it_once_after_restart(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start(EXECUTOR__TESTING__CRASH_AT="signal_stored")
    signal = market_signal("crash-stored-ws-1")

    with contextlib.suppress(Exception):  # stored, then killed before the answer
        await daemon.ws_send([signal])
    assert await daemon.wait_exit() == SIGKILL_EXIT
    assert creating_requests(await sim.requests(), sim.family) == {}
    await daemon.start()
    resent = await daemon.ws_send([signal])

    assert resent[0]["status"] == "duplicate"
    await eventually(lambda: protected_view(sim), what="the stored signal traded after the restart")
    assert_exactly_one_stop(await settled_view(sim), trigger="147")
    requests = await sim.requests()
    assert len(creating_requests(requests, sim.family)[entry_id("crash-stored-ws-1")]) == 1
    assert order_sent_twice(requests, sim.family) == []


async def test_kill_9_after_a_redis_signal_is_stored_but_unacked_decides_it_once_after_restart(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, redis_url: str
) -> None:
    stream = f"e2e:{uuid.uuid4().hex[:12]}"
    client = aioredis.from_url(redis_url)
    try:
        env = {"EXECUTOR__INGRESS__REDIS_URL": redis_url, "EXECUTOR__INGRESS__REDIS_STREAM": stream}
        daemon = daemons(sqlite_url, **env)
        await daemon.start(EXECUTOR__TESTING__CRASH_AT="signal_stored")

        await client.xadd(stream, {"signal": json.dumps(market_signal("crash-stored-redis-1"))})
        assert await daemon.wait_exit() == SIGKILL_EXIT
        assert (await client.xpending(stream, "executor"))["pending"] == 1
        await daemon.start()

        await eventually(lambda: protected_view(sim), what="the stored signal traded after the restart")

        async def acked() -> bool:
            return bool((await client.xpending(stream, "executor"))["pending"] == 0)

        await eventually(acked, what="the redelivered entry acknowledged")
        assert_exactly_one_stop(await settled_view(sim), trigger="147")
        requests = await sim.requests()
        assert len(creating_requests(requests, sim.family)[entry_id("crash-stored-redis-1")]) == 1
        assert order_sent_twice(requests, sim.family) == []
    finally:
        await client.delete(stream, f"{stream}:dead")
        await client.aclose()


async def test_sigterm_leaves_the_stop_and_a_close_and_funding_while_down_are_booked_after_restart(
    daemons: DaemonFactory, sim: Sim, database_url: str
) -> None:
    daemon = daemons(database_url)
    await daemon.start()
    await daemon.ws_send([market_signal("down-close-1", side="short", stop="153")])
    await eventually(lambda: protected_view(sim), what="the short position with its stop")
    view = await settled_view(sim)
    before, before_qty = assert_exactly_one_stop(view, trigger="153"), view.qty
    assert before["side"] == "buy"
    code, seconds = daemon.terminate()
    assert (code, seconds < 5) == (0, True), daemon.log_tail()
    assert assert_exactly_one_stop(await sim.view(), trigger="153")["id"] == before["id"]

    state = await sim.state()  # a funding settlement while down: the short receives it (rate > 0)
    settled = await sim.advance((state["next_funding_ms"][SIM_SYMBOL] - state["now_ms"]) / 1000 + 1)
    [event] = [e for e in settled["funding"] if e["symbol"] == SIM_SYMBOL]
    received = before_qty * money(event["mark"]) * money(event["rate"])
    assert received > 0
    crossed = await sim.mark("154")
    assert len(crossed["fills"]) == 1, crossed
    await eventually(lambda: flat_view(sim), what="the stop filled on the exchange while the daemon is down")
    await daemon.start()

    async def booked() -> Any:
        db = await daemon.db()
        return db if db.closed_positions() else None

    db = await eventually(booked, what="the close booked after the restart")
    fills = await sim.fills()
    exchange_pnl = sum((money(f["realized_pnl"]) for f in fills), Decimal(0))
    exchange_fees = sum((money(f["fee"]) for f in fills), Decimal(0))
    [position] = db.positions
    assert cents_equal(position.realized_pnl, exchange_pnl), (position.realized_pnl, exchange_pnl)
    assert cents_equal(position.fees, exchange_fees), (position.fees, exchange_fees)
    assert cents_equal(position.funding, received), (position.funding, received)
    assert unsettled_orders(db) == []
    assert db.risk_state["loss_streak"] == 1
    assert db.day is not None and cents_equal(db.day.realized_pnl, exchange_pnl)
    status = await daemon.status()
    assert status["positions"] == [] and status["orders"] == []
    assert status["breaker"]["status"] == "active", status["breaker"]


@pytest.mark.parametrize("family", ["phemex"], indirect=True)
async def test_sigterm_exits_0_within_5_seconds_and_leaves_the_stop_resting_on_the_exchange(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("sigterm-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")
    before = assert_exactly_one_stop(await settled_view(sim), trigger="147")

    code, seconds = daemon.terminate()

    assert code == 0, daemon.log_tail()
    assert seconds < 5
    after = assert_exactly_one_stop(await sim.view(), trigger="147")
    assert after["id"] == before["id"]
    assert [line["event"] for line in daemon.events()][-1] == "stopped"


async def test_a_second_daemon_waits_as_standby_and_after_a_kill_9_of_the_first_takes_over_its_position(
    daemons: DaemonFactory, sim: Sim, database_url: str
) -> None:
    primary = daemons(database_url)
    await primary.start()
    standby = daemons(database_url)
    standby.spawn()
    # as long as a daemon's start-up may take (Daemon.wait_ready): an interpreter start on a loaded machine
    await eventually(
        lambda: _logged(standby, "standby"), within=60, what="the second daemon waiting as a standby"
    )
    assert await _refused(standby), "a standby must not listen"
    await primary.ws_send([market_signal("standby-1")])
    await eventually(lambda: protected_view(sim), what="the primary's position with its stop")

    assert primary.process is not None
    primary.process.kill()
    await standby.wait_ready()

    assert_exactly_one_stop(await settled_view(sim), trigger="147")
    closed = await standby.ws_send([{"id": "standby-close-1", "action": "close", "symbol": SYMBOL}])
    assert closed[0]["status"] == "queued"
    await eventually(lambda: flat_view(sim), what="the standby closing the position it took over")
    assert order_sent_twice(await sim.requests(), sim.family) == []


async def _logged(daemon: Any, event: str) -> bool:
    return bool(daemon.logged(event))


async def _refused(daemon: Any) -> bool:
    try:
        await daemon.get("/health")
    except aiohttp.ClientError:
        return True
    return False


async def test_kill_9_right_after_a_close_is_booked_books_it_once_after_restart(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start(EXECUTOR__TESTING__CRASH_AT="fill_booked")
    await daemon.ws_send([market_signal("crash-booked-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    await sim.mark("146")
    assert await daemon.wait_exit() == SIGKILL_EXIT
    await daemon.start()

    await asyncio.sleep(1.5)  # tracker passes after the restart: a second booking of the close would show
    db = await daemon.db()
    [position] = db.positions
    assert position.status == "closed"
    assert (db.risk_state["trades"], db.risk_state["losses"], db.risk_state["loss_streak"]) == (1, 1, 1)
    fills = await sim.fills()
    assert db.day is not None
    assert cents_equal(db.day.realized_pnl, sum((money(f["realized_pnl"]) for f in fills), Decimal(0)))
    assert cents_equal(db.day.fees, sum((money(f["fee"]) for f in fills), Decimal(0)))
    assert unsettled_orders(db) == []


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_kill_9_while_a_close_is_being_booked_books_it_whole_after_restart(
    daemons: DaemonFactory, sim: Sim, database: str
) -> None:
    """Crash trial --seed 4242 (trial 4257): killed inside the booking of a close, SQLite kept the fills
    (its driver committed them early) but not the position, so the restart booked PnL 0 and fees 0."""
    daemon = daemons(database)
    await daemon.start(EXECUTOR__TESTING__CRASH_AT="fills_inserted")
    await daemon.ws_send([market_signal("crash-inserted-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    await daemon.ws_send([{"id": "crash-inserted-close", "action": "close", "symbol": SYMBOL}])
    assert await daemon.wait_exit() == SIGKILL_EXIT
    assert (await sim.view()).position is None
    await daemon.start()

    async def booked() -> bool:
        return [p.status for p in (await daemon.db()).positions] == ["closed"]

    await eventually(booked, what="the position booked after the restart")
    db = await daemon.db()
    fills = await sim.fills()
    assert len(fills) == 2 and db.day is not None
    position = db.positions[0]
    assert cents_equal(position.fees, sum((money(f["fee"]) for f in fills), Decimal(0)))
    assert cents_equal(position.realized_pnl, sum((money(f["realized_pnl"]) for f in fills), Decimal(0)))
    assert (db.day.realized_pnl, db.day.fees) == (position.realized_pnl, position.fees)
    assert "gone from the exchange without fills" not in daemon.log_text()


async def test_kill_9_right_after_the_breaker_trips_still_flattens_after_restart(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, **DAILY_LIMIT_30)
    await daemon.start(EXECUTOR__TESTING__CRASH_AT="breaker_tripped")
    await daemon.ws_send([market_signal("crash-tripped-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    await sim.mark("147.90")
    assert await daemon.wait_exit() == SIGKILL_EXIT
    assert_exactly_one_stop(await sim.view())  # tripped, not yet flattened: the stop still guards it
    await daemon.start()

    await eventually(lambda: flat_view(sim), what="the flatten finished after the restart")
    status = await daemon.status()
    assert status["breaker"]["status"] == "tripped"
    db = await daemon.db()
    assert [p.status for p in db.positions] == ["closed"] and unsettled_orders(db) == []


async def test_sigterm_in_a_burst_leaves_no_position_without_its_stop_and_the_rest_trade_once_after_restart(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    burst = {
        SYMBOL: market_signal("burst-sol-1"),
        ETH: {**market_signal("burst-eth-1", stop="2940"), "symbol": ETH},
        BTC: {**market_signal("burst-btc-1", stop="59000"), "symbol": BTC},
    }

    answers = await daemon.ws_send(list(burst.values()))
    code, seconds = daemon.terminate()

    assert [a["status"] for a in answers] == ["queued"] * 3
    assert (code, seconds < 5) == (0, True), daemon.log_tail()
    for symbol in burst:
        view = await sim.view(symbol)
        if view.position is not None:  # the signal in flight was finished: its stop rests
            assert_exactly_one_stop(view)
    await daemon.start()
    for symbol in burst:
        await eventually(partial(protected_view, sim, symbol), what=f"{symbol} traded after the restart")
        assert_exactly_one_stop(await sim.view(symbol))
    requests = await sim.requests()
    sent = creating_requests(requests, sim.family)
    assert [len(sent[entry_id(signal["id"])]) for signal in burst.values()] == [1, 1, 1]
    assert order_sent_twice(requests, sim.family) == []
    assert len((await daemon.db()).open_positions()) == 3
