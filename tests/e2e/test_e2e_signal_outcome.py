"""Decisions go back to whoever sent the signal: `POST /signals?wait=` answers with the outcome,
`GET /signals/{id}` serves the stored signal with it, `executor signal send` prints it, and a WebSocket
sender gets it pushed on its connection after the acknowledgement."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import websockets

from harness.e2e import (
    SYMBOL,
    Daemon,
    DaemonFactory,
    Sim,
    eventually,
    flat_view,
    market_signal,
    protected_view,
)

pytestmark = pytest.mark.slow


async def post_waiting(daemon: Daemon, payload: dict[str, Any], wait: str) -> tuple[int, dict[str, Any]]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=40)) as session,
        session.post(f"{daemon.http_url}/signals?wait={wait}", data=json.dumps(payload)) as response,
    ):
        body: dict[str, Any] = await response.json(content_type=None)
        return response.status, body


async def test_a_webhook_sender_waiting_gets_the_decision_and_get_signals_id_serves_the_whole_record(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()

    code, body = await post_waiting(daemon, market_signal("wait-open-1"), "10")

    assert (code, body["status"]) == (202, "queued"), body
    outcome = body["outcome"]
    assert (outcome["id"], outcome["status"], outcome["accepted"], outcome["reason"]) == (
        "wait-open-1",
        "decided",
        True,
        None,
    ), outcome
    assert Decimal(outcome["stop"]) == Decimal("147"), outcome
    assert Decimal(outcome["qty"]) > 0 and outcome["leverage"] >= 1 and outcome["entry"] is not None
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    code, record = await daemon.get("/signals/wait-open-1")
    assert code == 200, record
    assert record["signal"]["status"] == "decided" and record["decision"]["accepted"] is True
    assert {order["kind"] for order in record["orders"]} >= {"entry", "stop"}
    assert record["outcome"] == outcome
    assert (await daemon.get("/signals/never-sent-1"))[0] == 404

    code, _, err = await daemon.cli("pause")
    assert code == 0, err
    code, body = await post_waiting(daemon, market_signal("wait-paused-1"), "10")
    assert (body["outcome"]["status"], body["outcome"]["reason"]) == ("decided", "PAUSED"), body
    code, body = await post_waiting(daemon, market_signal("wait-bad-1"), "31")
    assert code == 400 and body["errors"][0]["field"] == "wait", body


async def test_signal_send_prints_each_signals_outcome_an_open_decided_and_a_close_done(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, tmp_path: Any
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    path = tmp_path / "signals.jsonl"
    path.write_text(json.dumps(market_signal("send-open-1")) + "\n")

    code, out, err = await daemon.cli("signal", "send", str(path), "--wait", "10")

    assert code == 0, err
    [answer] = map(json.loads, out.splitlines())
    assert answer["status"] == "queued" and answer["outcome"]["status"] == "decided", answer
    assert answer["outcome"]["accepted"] is True, answer
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    path.write_text(json.dumps({"id": "send-close-1", "action": "close", "symbol": SYMBOL}))
    code, out, err = await daemon.cli("signal", "send", "--http", str(path))
    assert code == 0, err
    [answer] = map(json.loads, out.splitlines())
    assert (answer["outcome"]["status"], answer["outcome"]["accepted"]) == ("done", True), answer
    assert "closing" in answer["outcome"]["message"], answer


async def test_a_websocket_sender_gets_each_outcome_on_its_connection_an_open_accepted_and_one_rejected(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    async with websockets.connect(daemon.ws_url, open_timeout=5) as ws:
        await ws.send(json.dumps(market_signal("ws-open-1")))
        await ws.send(json.dumps(market_signal("ws-unlisted-1") | {"symbol": "NOPE/USDT:USDT"}))
        received = []
        for _ in range(4):
            async with asyncio.timeout(30):
                received.append(json.loads(await ws.recv()))

    answers = [message for message in received if "signal_id" in message]
    outcomes = {message["id"]: message for message in received if "signal_id" not in message}
    assert [(a["signal_id"], a["status"]) for a in answers] == [
        ("ws-open-1", "queued"),
        ("ws-unlisted-1", "queued"),
    ]
    assert received.index(answers[0]) < received.index(outcomes["ws-open-1"]), received
    accepted, rejected = outcomes["ws-open-1"], outcomes["ws-unlisted-1"]
    assert (accepted["status"], accepted["accepted"], accepted["reason"]) == ("decided", True, None), accepted
    assert Decimal(accepted["stop"]) == Decimal("147") and Decimal(accepted["qty"]) > 0, accepted
    assert accepted["leverage"] >= 1 and accepted["entry"] is not None, accepted
    assert (rejected["status"], rejected["accepted"]) == ("decided", False), rejected
    assert rejected["reason"] == "SYMBOL_NOT_ALLOWED" and "NOPE/USDT:USDT" in rejected["message"], rejected
    assert set(accepted) == {
        "id",
        "status",
        "accepted",
        "reason",
        "message",
        "qty",
        "leverage",
        "entry",
        "stop",
    }
    await eventually(lambda: protected_view(sim), what="the position with its stop")


async def acknowledged_then_settled(
    ws: websockets.ClientConnection, payload: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Send `payload` and read the connection until its acknowledgement and then its outcome arrived."""
    await ws.send(json.dumps(payload))
    acknowledgement: dict[str, Any] | None = None
    while True:
        async with asyncio.timeout(30):
            message = json.loads(await ws.recv())
        if message.get("signal_id") == payload["id"]:
            acknowledgement = message
        elif message.get("id") == payload["id"]:
            assert acknowledgement is not None, f"the outcome came before the acknowledgement: {message}"
            return acknowledgement, message


async def test_a_websocket_sender_gets_the_result_of_a_move_stop_and_a_close_on_its_connection(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    async with websockets.connect(daemon.ws_url, open_timeout=5) as ws:
        await acknowledged_then_settled(ws, market_signal("ws-life-open-1"))
        await eventually(lambda: protected_view(sim), what="the position with its stop")
        move = {"id": "ws-life-move-1", "action": "move_stop", "symbol": SYMBOL, "stop": "148"}
        acknowledgement, moved = await acknowledged_then_settled(ws, move)
        back = {"id": "ws-life-back-1", "action": "move_stop", "symbol": SYMBOL, "stop": "146"}
        _, refused = await acknowledged_then_settled(ws, back)
        close = {"id": "ws-life-close-1", "action": "close", "symbol": SYMBOL}
        _, closed = await acknowledged_then_settled(ws, close)

    assert acknowledgement["status"] == "queued", acknowledgement
    assert (moved["status"], moved["accepted"]) == ("done", True), moved
    assert moved["message"].startswith("stop moved from 147") and moved["message"].endswith(" to 148"), moved
    assert set(moved) == {"id", "status", "accepted", "message"}  # not sized: no qty, leverage, entry, stop
    # away from profit: refused, and said so on the sender's connection
    assert (refused["status"], refused["accepted"]) == ("failed", False), refused
    assert "is not toward profit" in refused["message"], refused
    assert (closed["status"], closed["accepted"]) == ("done", True), closed
    assert closed["message"] == f"closing {SYMBOL} at market", closed
    await eventually(lambda: flat_view(sim), what="flat after the close")
