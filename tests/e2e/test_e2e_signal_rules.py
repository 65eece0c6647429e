"""Signals that must not trade twice or at all, and signals that manage an open position: a duplicate id
over both ingresses gives one order; invalid and unauthorized signals change nothing; `close` closes and
`move_stop` moves the stop (new one resting before the old one goes, only toward profit)."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest

from executor.signals.auth import sign
from harness.e2e import (
    SYMBOL,
    Daemon,
    DaemonFactory,
    Sim,
    assert_exactly_one_stop,
    creating_requests,
    entry_id,
    error_lines,
    eventually,
    flat_view,
    market_signal,
    protected_view,
    settled_view,
    stop_id,
)
from tests.support.e2e import DIALECTS_AND_DATABASES

pytestmark = pytest.mark.slow

SECRET = "e2e-ingress-secret"
ETH = "ETH/USDT:USDT"
BTC = "BTC/USDT:USDT"


async def signal_done(daemon: Daemon, signal_id: str) -> Any:
    """The signal's row once the consumer has finished with it (no longer queued)."""

    async def probe() -> Any:
        row = (await daemon.db(signal_id)).signal(signal_id)
        return row if row is not None and row.status != "queued" else None

    return await eventually(probe, what=f"signal {signal_id} processed")


async def test_one_signal_id_sent_twice_over_websocket_and_again_over_the_webhook_yields_one_order(
    daemons: DaemonFactory, sim: Sim, database_url: str
) -> None:
    daemon = daemons(database_url)
    await daemon.start()
    signal = market_signal("dup-1")

    first = await daemon.ws_send([signal, signal])
    second = await daemon.ws_send([signal])
    hook = await daemon.post(signal)
    changed = await daemon.post(market_signal("dup-1", stop="146"))

    assert [a["status"] for a in first + second] == ["queued", "duplicate", "duplicate"]
    assert hook == (200, {"signal_id": "dup-1", "status": "duplicate", "errors": []})
    assert changed[0] == 200 and changed[1]["status"] == "duplicate"
    await eventually(lambda: protected_view(sim), what="the one position with its stop")
    view = await settled_view(sim)
    assert_exactly_one_stop(view, trigger="147")
    sent = creating_requests(await sim.requests(), sim.family)
    entries = {cid: attempts for cid, attempts in sent.items() if "-en" in cid}
    assert list(entries) == [entry_id("dup-1")]
    assert len(entries[entry_id("dup-1")]) == 1
    db = await daemon.db("dup-1")
    assert len(db.positions) == 1
    assert db.signal("dup-1").payload["stop"] == "147"  # type: ignore[union-attr]
    assert error_lines(daemon) == []


async def test_invalid_and_unauthorized_signals_get_their_errors_and_change_nothing(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, EXECUTOR__INGRESS__SECRET=SECRET)
    await daemon.start()
    good = market_signal("auth-1")
    body = json.dumps(good).encode()
    now = int(time.time())

    assert await daemon.ws_handshake_status() == 401
    assert await daemon.ws_handshake_status(token="wrong") == 401
    unsigned = await daemon.post(good)
    wrong_token = await daemon.post({**good, "token": "wrong"})
    bad_signature = await daemon.post(body, {"X-Timestamp": str(now), "X-Signature": "00" * 32})
    stale = await daemon.post(
        body, {"X-Timestamp": str(now - 3600), "X-Signature": sign(SECRET, body, now - 3600)}
    )
    bearer_and_wrong_token = await daemon.post(
        {**good, "token": "wrong"}, {"Authorization": f"Bearer {SECRET}"}
    )
    for status, answer in (unsigned, wrong_token, bad_signature, stale, bearer_and_wrong_token):
        assert status == 401, answer
        assert answer["status"] == "unauthorized" and answer["signal_id"] is None
        assert answer["errors"][0]["field"] == "auth"

    bad_side = await daemon.post_signed({**market_signal("invalid-1"), "side": "LONG"}, SECRET)
    assert bad_side[0] == 400
    assert bad_side[1]["status"] == "invalid" and bad_side[1]["signal_id"] == "invalid-1"
    assert [e["field"] for e in bad_side[1]["errors"]] == ["side"]
    over_ws = await daemon.ws_send(
        ["not json", {k: v for k, v in market_signal("invalid-2").items() if k != "stop"}], token=SECRET
    )
    assert [a["status"] for a in over_ws] == ["invalid", "invalid"]
    assert over_ws[0]["errors"][0]["field"] == "body"
    assert [e["field"] for e in over_ws[1]["errors"]] == ["stop"]

    for path in ("/status", "/metrics", "/openapi.json"):
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"X-Token": "wrong"}):
            code, answer = await daemon.get(path, headers)
            assert code == 401 and answer["status"] == "unauthorized", (path, headers, answer)
        assert (await daemon.get(path, {"X-Token": SECRET}))[0] == 200, path
    for path in ("/health", "/ready"):
        assert (await daemon.get(path, {}))[0] == 200, path
    code, out, err = await daemon.cli("status", "--json")
    assert code == 0 and json.loads(out)["daemon"]["source"] == "daemon", (out, err)

    await asyncio.sleep(1.0)  # the assertion: a second on, nothing refused was stored or traded after all
    db = await daemon.db("auth-1", "invalid-1", "invalid-2")
    assert db.signals == [] and db.positions == [] and db.orders == []
    assert db.rejected_signals == 3
    assert creating_requests(await sim.requests(), sim.family) == {}
    report = await daemon.status()
    assert report["queued_signals"] == 0 and report["positions"] == []

    accepted = await daemon.post_signed(good, SECRET)
    assert accepted == (202, {"signal_id": "auth-1", "status": "queued", "errors": []})
    by_token = await daemon.post({**market_signal("auth-2"), "token": SECRET, "symbol": ETH, "stop": "2940"})
    assert by_token == (202, {"signal_id": "auth-2", "status": "queued", "errors": []})
    over_ws = await daemon.ws_send(
        [{**market_signal("auth-3"), "symbol": BTC, "stop": "59000"}], token=SECRET
    )
    assert over_ws[0]["status"] == "queued"
    await eventually(lambda: protected_view(sim), what="the signed signal's position")
    await eventually(lambda: protected_view(sim, ETH), what="the token signal's position")
    await eventually(lambda: protected_view(sim, BTC), what="the Bearer signal's position")
    stored = (await daemon.db("auth-2")).signal("auth-2")
    assert stored is not None and "token" not in stored.payload and SECRET not in json.dumps(stored.payload)
    assert SECRET not in "\n".join(path.read_text() for path in daemon.runs)
    assert error_lines(daemon) == []


@DIALECTS_AND_DATABASES
async def test_move_stop_rests_the_new_stop_before_cancelling_the_old_only_toward_profit_and_close_flattens(
    daemons: DaemonFactory, sim: Sim, database: str
) -> None:
    daemon = daemons(database)
    await daemon.start()
    await daemon.ws_send([market_signal("manage-1")])
    await eventually(lambda: protected_view(sim), what="the position with its first stop")
    old_stop = assert_exactly_one_stop(await settled_view(sim), trigger="147")
    since = (await sim.requests())[-1]["seq"]

    moved = await daemon.ws_send(
        [{"id": "manage-move-1", "action": "move_stop", "symbol": SYMBOL, "stop": 148}]
    )
    assert moved[0]["status"] == "queued"
    assert (await signal_done(daemon, "manage-move-1")).status == "decided"

    view = await settled_view(sim)
    new_stop = assert_exactly_one_stop(view, trigger="148")
    assert new_stop["id"] != old_stop["id"]
    requests = await sim.requests(since=str(since))
    placed = [a for attempts in creating_requests(requests, sim.family).values() for a in attempts]
    cancelled = [r for r in requests if r["method"] == "DELETE"]
    assert len(placed) == 1 and cancelled, [(r["method"], r["path"], r["params"]) for r in requests]
    assert placed[0]["seq"] < min(r["seq"] for r in cancelled)
    db = await daemon.db()
    assert db.open_positions()[0].stop_price == 148
    assert "stop.moved" in db.event_kinds()
    explained = await daemon.explain("manage-move-1")  # the stops it placed and cancelled, with states
    assert [(o["client_order_id"], o["state"]) for o in explained["orders"]] == [
        (stop_id("manage-1", 1), "open"),
        (stop_id("manage-1"), "canceled"),
    ]

    since = (await sim.requests())[-1]["seq"]
    back = await daemon.post(
        {"id": "manage-move-2", "action": "move_stop", "symbol": SYMBOL, "stop": "147.5"}
    )
    assert back[0] == 202
    refused = await signal_done(daemon, "manage-move-2")
    assert refused.status == "failed" and "profit" in (refused.error or "")
    assert_exactly_one_stop(await sim.view(), trigger="148")
    assert creating_requests(await sim.requests(since=str(since)), sim.family) == {}

    closed = await daemon.ws_send([{"id": "manage-close-1", "action": "close", "symbol": SYMBOL}])
    assert closed[0]["status"] == "queued"
    await eventually(lambda: flat_view(sim), what="no position and no stop after the close signal")

    async def booked() -> Any:
        db = await daemon.db()
        return db if db.closed_positions() else None

    db = await eventually(booked, what="the position booked as closed")
    assert db.open_positions() == []
    stops = [(row.client_order_id, row.state, row.filled_qty) for row in db.orders if row.kind == "stop"]
    assert all(state == "canceled" for _, state, _ in stops), f"stops that never executed: {stops}"
    assert error_lines(daemon) == []


async def test_a_second_signal_on_an_open_symbol_is_refused_while_another_symbol_trades_and_books_alone(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    eth = {**market_signal("multi-eth-1", stop="2940"), "symbol": ETH}

    answers = await daemon.ws_send(
        [market_signal("multi-sol-1"), market_signal("multi-sol-2", stop="146"), eth]
    )

    assert [a["status"] for a in answers] == ["queued", "queued", "queued"]
    await eventually(lambda: protected_view(sim), what="the SOL position protected")
    await eventually(lambda: protected_view(sim, ETH), what="the ETH position protected")
    refused = (await daemon.db("multi-sol-2")).decisions["multi-sol-2"]
    assert not refused.accepted and "already open" in refused.message
    assert refused.reason == "SYMBOL_HELD", refused.reason
    assert entry_id("multi-sol-2") not in creating_requests(await sim.requests(), sim.family)
    assert_exactly_one_stop(await settled_view(sim), trigger="147")

    await sim.mark("146")

    await eventually(lambda: flat_view(sim), what="the SOL position closed by its stop")

    async def sol_booked() -> Any:
        db = await daemon.db()
        return db if [p.symbol for p in db.closed_positions()] == [SYMBOL] else None

    db = await eventually(sol_booked, what="only the SOL position booked")
    assert [p.symbol for p in db.open_positions()] == [ETH]
    assert_exactly_one_stop(await sim.view(ETH), trigger="2940")
    assert error_lines(daemon) == []
