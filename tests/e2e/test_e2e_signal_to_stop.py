"""A signal over each real ingress becomes an entry with one resting reduce-only stop on the simulator, and a
hit stop is booked: PnL and fees equal to the simulator's fills, the loss streak and the day's loss."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import pytest
import redis.asyncio as aioredis

from executor.domain.enums import SignalSource
from harness.e2e import (
    Daemon,
    DaemonFactory,
    DbView,
    Sim,
    assert_exactly_one_stop,
    cents_equal,
    creating_requests,
    entry_id,
    error_lines,
    eventually,
    flat_view,
    market_signal,
    money,
    protected_view,
    settled_view,
    unsettled_orders,
)
from tests.support.e2e import DIALECTS_AND_DATABASES

pytestmark = pytest.mark.slow


async def assert_entry_with_stop(daemon: Daemon, sim: Sim, signal_id: str) -> None:
    """The accepted decision's quantity is the exchange's long position, guarded by exactly one stop."""
    await eventually(lambda: protected_view(sim), what="a position with a resting stop on the simulator")
    view = await settled_view(sim)
    assert_exactly_one_stop(view, trigger="147")
    assert view.side == "long"
    db = await daemon.db(signal_id)
    decision = db.decisions[signal_id]
    assert decision.accepted, decision.message
    assert view.qty == decision.qty
    sent = creating_requests(await sim.requests(), sim.family)[entry_id(signal_id)]
    assert len(sent) == 1, sent
    assert error_lines(daemon) == []


async def test_a_webhook_signal_with_the_exchange_symbol_becomes_an_entry_and_one_resting_stop(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()

    status, answer = await daemon.post({**market_signal("hook-open-1"), "symbol": "SOLUSDT"})

    assert (status, answer) == (202, {"signal_id": "hook-open-1", "status": "queued", "errors": []})
    await assert_entry_with_stop(daemon, sim, "hook-open-1")


async def test_a_redis_signal_becomes_an_entry_and_one_resting_stop_and_an_invalid_one_is_dead_lettered(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, redis_url: str
) -> None:
    stream = f"e2e:{uuid.uuid4().hex[:12]}"
    client = aioredis.from_url(redis_url)
    try:
        daemon = daemons(
            sqlite_url, EXECUTOR__INGRESS__REDIS_URL=redis_url, EXECUTOR__INGRESS__REDIS_STREAM=stream
        )
        await daemon.start()

        await client.xadd(stream, {"signal": json.dumps({**market_signal("redis-bad-1"), "side": "up"})})
        await client.xadd(stream, {"signal": json.dumps(market_signal("redis-open-1"))})

        await assert_entry_with_stop(daemon, sim, "redis-open-1")
        db = await daemon.db("redis-open-1", "redis-bad-1")
        row = db.signal("redis-open-1")
        assert row is not None and row.source is SignalSource.REDIS
        assert db.signal("redis-bad-1") is None and db.rejected_signals == 1
        letters: Any = await client.xrange(f"{stream}:dead")
        [(_, dead)] = letters
        assert [e["field"] for e in json.loads(dead[b"errors"])] == ["side"]
        pending = await client.xpending(stream, "executor")
        assert pending["pending"] == 0
    finally:
        await client.delete(stream, f"{stream}:dead")
        await client.aclose()


@DIALECTS_AND_DATABASES
async def test_a_websocket_signal_becomes_a_protected_entry_and_its_hit_stop_is_booked_pnl_fees_streak_day(
    daemons: DaemonFactory, sim: Sim, database: str
) -> None:
    """The exchange's PnL and fees to the cent, a loss streak of one and the day's loss, after the stop."""
    daemon = daemons(database)
    await daemon.start()
    answers = await daemon.ws_send([market_signal("stop-hit-1")])
    assert answers == [{"signal_id": "stop-hit-1", "status": "queued", "errors": []}]
    await assert_entry_with_stop(daemon, sim, "stop-hit-1")

    crossed = await sim.mark("146")

    assert len(crossed["fills"]) == 1, crossed
    await eventually(lambda: flat_view(sim), what="no position and no open order on the simulator")

    async def closed() -> DbView | None:
        db = await daemon.db()
        return db if db.closed_positions() else None

    db = await eventually(closed, what="the position booked as closed")
    fills = await sim.fills()
    assert len(fills) == 2, fills
    exchange_pnl = sum((money(f["realized_pnl"]) for f in fills), Decimal(0))
    exchange_fees = sum((money(f["fee"]) for f in fills), Decimal(0))
    assert exchange_pnl < 0

    booked = await daemon.booked_fills(sim.trade_id(f) for f in fills)
    assert all(row is not None for row in booked.values()), booked
    assert {sim.trade_id(f): money(f["fee"]) for f in fills} == {t: r.fee for t, r in booked.items() if r}
    [position] = db.positions
    assert position.status == "closed"
    assert cents_equal(position.realized_pnl, exchange_pnl), (position.realized_pnl, exchange_pnl)
    assert cents_equal(position.fees, exchange_fees), (position.fees, exchange_fees)
    assert position.exit_price == money(crossed["fills"][0]["price"])
    assert unsettled_orders(db) == []
    [stop_row] = [row for row in db.orders if row.kind == "stop"]
    assert (stop_row.state, stop_row.filled_qty) == ("filled", position.qty)
    exit_fill = booked[sim.trade_id(crossed["fills"][0])]
    assert exit_fill is not None
    if sim.family == "binance":  # Phemex's trade list names no order: its fills cannot be attributed
        assert exit_fill.client_order_id == stop_row.client_order_id
    assert db.risk_state["loss_streak"] == 1
    assert db.risk_state["losses"] == 1 and db.risk_state["wins"] == 0
    assert db.day is not None
    assert cents_equal(db.day.realized_pnl, exchange_pnl)
    assert cents_equal(db.day.fees, exchange_fees)

    status = await daemon.status()
    assert status["positions"] == []
    assert status["orders"] == []
    assert cents_equal(status["day"]["realized_pnl"], exchange_pnl)
    assert cents_equal(status["day"]["fees"], exchange_fees)
    assert cents_equal(status["day"]["net"], exchange_pnl - exchange_fees)
    assert status["breaker"]["status"] == "active"
    assert error_lines(daemon) == []
