"""The operator's levers on a running daemon: `executor pause`/`unpause` (and POST /pause, /unpause) stop
new entries while held positions stay managed, survive a restart and are recorded; `executor close
SYMBOL`/`--all` (and POST /positions/{symbol}/close) close at market, cancel the legs and book the trade."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest

from harness.e2e import (
    SYMBOL,
    Daemon,
    DaemonFactory,
    Sim,
    assert_exactly_one_stop,
    creating_requests,
    decided,
    entry_id,
    error_lines,
    eventually,
    flat_view,
    market_signal,
    protected_view,
    settled_view,
    unsettled_orders,
)

pytestmark = pytest.mark.slow

ETH = "ETH/USDT:USDT"
SECRET = "e2e-operator-secret-0123456789"


def eth_signal(signal_id: str) -> dict[str, Any]:
    return market_signal(signal_id, symbol=ETH, stop="2940")


async def closed_db(daemon: Daemon, count: int = 1) -> Any:
    db = await daemon.db()
    return db if len(db.closed_positions()) == count and not db.open_positions() else None


async def http_post(daemon: Daemon, path: str, *, secret: str | None = None) -> tuple[int, Any]:
    headers = {"Authorization": f"Bearer {secret}"} if secret else {}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        session.post(daemon.http_url + path, headers=headers) as response,
    ):
        return response.status, await response.json(content_type=None)


async def test_pause_refuses_an_open_with_paused_while_the_held_positions_stop_is_still_moved_and_fires(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("pause-held-1")])
    await eventually(lambda: protected_view(sim), what="the held position with its stop")

    code, out, err = await daemon.cli("pause", "--note", "e2e: news at 14:00")
    assert code == 0, err
    assert "paused at" in out
    code, out, err = await daemon.cli("pause")
    assert (code, out.startswith("already paused since")) == (0, True), (out, err)
    await daemon.ws_send([eth_signal("pause-eth-1")])
    decision = await decided(daemon, "pause-eth-1")
    assert (decision["accepted"], decision["reason"]) == (False, "PAUSED")
    assert "e2e: news at 14:00" in decision["message"] and "unpause" in decision["message"]
    assert entry_id("pause-eth-1") not in creating_requests(await sim.requests(), sim.family)
    report = await daemon.status()
    assert report["pause"]["paused"] is True and report["pause"]["by"].startswith("cli:"), report["pause"]
    code, out, err = await daemon.cli("status")
    assert code == 0, err
    assert "PAUSED by cli:" in out and "e2e: news at 14:00" in out, out

    # The held position is still managed: its stop moves, and its fill is booked.
    await daemon.ws_send([{"id": "pause-move-1", "action": "move_stop", "symbol": SYMBOL, "stop": "148"}])

    async def moved() -> Any:
        view = await sim.view()
        stops = view.stops()
        return view if len(stops) == 1 and "148" in json.dumps(stops[0]) else None

    assert_exactly_one_stop(await eventually(moved, what="the stop moved to 148 while paused"), trigger="148")
    await sim.mark("147.5")
    db = await eventually(lambda: closed_db(daemon), what="the stop's fill booked while paused")
    assert unsettled_orders(db) == []

    code, out, err = await daemon.cli("unpause")
    assert (code, out.startswith("unpaused at")) == (0, True), (out, err)
    await daemon.ws_send([market_signal("pause-after-1")])
    assert (await decided(daemon, "pause-after-1"))["accepted"] is True
    await eventually(lambda: protected_view(sim), what="a position opened after the unpause")
    kinds = (await daemon.db()).event_kinds()
    assert kinds.count("operator.pause") == 1 and kinds.count("operator.unpause") == 1, kinds
    assert error_lines(daemon) == []


async def test_close_symbol_closes_at_market_cancels_its_stop_and_take_profit_books_it_and_names_who_asked(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("close-op-1", take_profit="160")])

    async def both_legs() -> Any:
        view = await sim.view()
        return view if view.position is not None and len(view.orders) == 2 else None

    await eventually(both_legs, what="the position with its stop and take-profit")

    code, out, err = await daemon.cli("close", SYMBOL)
    assert code == 0, err
    signal_id = out.split(" queued as signal ")[1].split(":")[0]

    await eventually(lambda: flat_view(sim), what="no position and no leg left after the operator's close")
    view = await settled_view(sim)
    assert view.position is None and view.orders == [], view.summary()
    db = await eventually(lambda: closed_db(daemon), what="the closed trade booked")
    [position] = db.positions
    assert position.realized_pnl is not None and unsettled_orders(db) == []
    explained = await daemon.explain(signal_id)
    assert explained["signal"]["source"] == "operator"
    kinds = {event["kind"]: event["data"] for event in explained["events"]}
    assert kinds["operator.close"]["by"].startswith("cli:"), kinds
    assert kinds["signal.close"]["ok"] is True, kinds
    assert (await daemon.status())["positions"] == []
    assert error_lines(daemon) == []


async def test_pause_over_http_survives_a_restart_and_close_over_http_and_close_all_flatten_two_positions(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, EXECUTOR__INGRESS__SECRET=SECRET)
    await daemon.start()
    assert (await http_post(daemon, "/pause"))[0] == 401
    code, body = await http_post(daemon, "/pause?note=restart%20test&by=ops-bot", secret=SECRET)
    assert (code, body["changed"], body["paused"], body["by"]) == (200, True, True, "http:ops-bot"), body

    code, _ = await daemon.sigterm()
    assert code == 0, daemon.log_tail()
    await daemon.start()
    assert (await daemon.status())["pause"]["paused"] is True
    await daemon.post_signed(market_signal("restart-paused-1"), SECRET)
    assert (await decided(daemon, "restart-paused-1"))["reason"] == "PAUSED"

    code, body = await http_post(daemon, "/unpause", secret=SECRET)
    assert (code, body["changed"], body["paused"]) == (200, True, False), body
    await daemon.post_signed(market_signal("two-sol-1"), SECRET)
    await daemon.post_signed(eth_signal("two-eth-1"), SECRET)
    await eventually(lambda: protected_view(sim), what="the SOL position")
    await eventually(lambda: protected_view(sim, ETH), what="the ETH position")

    assert (await http_post(daemon, "/positions/ETH/USDT:USDT/close"))[0] == 401
    code, body = await http_post(daemon, "/positions/ETH%0AUSDT/close", secret=SECRET)
    assert code == 400 and "symbol" in body["error"], body  # a line break: its 400 line, not a 404
    code, body = await http_post(daemon, "/positions/ETH/USDT:USDT/close?by=ops-bot", secret=SECRET)
    assert code == 202 and [item["symbol"] for item in body["queued"]] == [ETH], body
    await eventually(lambda: flat_view_of(sim, ETH), what="the ETH position closed over HTTP")
    assert (await sim.view()).position is not None  # SOL untouched

    code, out, err = await daemon.cli("close", "--all")
    assert code == 0, err
    assert out.count("queued as signal") == 1 and SYMBOL in out, out
    await eventually(lambda: flat_view(sim), what="every position closed by close --all")
    db = await eventually(lambda: closed_db(daemon, 2), what="both trades booked")
    assert unsettled_orders(db) == []
    code, out, err = await daemon.cli("close", "--all")
    assert (code, out.strip()) == (0, "no open position to close; nothing queued"), (out, err)
    assert error_lines(daemon) == []


async def flat_view_of(sim: Sim, symbol: str) -> Any:
    view = await sim.view(symbol)
    return view if view.position is None and view.orders == [] else None


async def test_post_positions_close_closes_every_open_position_and_then_has_nothing_to_close(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, EXECUTOR__INGRESS__SECRET=SECRET)
    await daemon.start()
    await daemon.post_signed(market_signal("all-sol-1"), SECRET)
    await daemon.post_signed(eth_signal("all-eth-1"), SECRET)
    await eventually(lambda: protected_view(sim), what="the SOL position")
    await eventually(lambda: protected_view(sim, ETH), what="the ETH position")

    assert (await http_post(daemon, "/positions/close"))[0] == 401
    code, body = await http_post(daemon, "/positions/close?by=ops-bot", secret=SECRET)

    assert code == 202, body
    assert sorted(item["symbol"] for item in body["queued"]) == sorted([SYMBOL, ETH]), body
    await eventually(lambda: flat_view(sim), what="the SOL position closed")
    await eventually(lambda: flat_view_of(sim, ETH), what="the ETH position closed")
    db = await eventually(lambda: closed_db(daemon, 2), what="both trades booked")
    assert unsettled_orders(db) == []
    for item in body["queued"]:
        explained = await daemon.explain(item["signal_id"])
        kinds = {event["kind"]: event["data"] for event in explained["events"]}
        assert kinds["operator.close"]["by"] == "http:ops-bot", kinds
    code, body = await http_post(daemon, "/positions/close", secret=SECRET)
    assert (code, body["queued"]) == (200, []), body
    assert error_lines(daemon) == []
