"""The operator's side of a running daemon: `executor halt` / `resume --force` take effect within seconds
and are recorded, `executor status --json` shows the live state, /metrics has the promised series, and a
position the daemon did not open halts trading at start-up instead of being guessed about."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from executor.domain.enums import OrderKind
from harness.e2e import (
    SYMBOL,
    AlertSink,
    Daemon,
    DaemonFactory,
    Sim,
    alerts,
    assert_exactly_one_stop,
    creating_requests,
    decided,
    entry_id,
    eventually,
    flat_view,
    market_signal,
    money,
    protected_view,
    settled_view,
    unsettled_orders,
)

pytestmark = pytest.mark.slow


async def samples(daemon: Daemon) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """/metrics as {(sample name, sorted labels): value}."""
    code, text = await daemon.get("/metrics")
    assert code == 200, text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


async def daemon_breaker(daemon: Daemon, tripped: bool) -> None:
    """Wait for the running daemon itself (its breaker gauge, not the database) to see the change."""

    async def probe() -> bool:
        return (await samples(daemon)).get(("executor_breaker_tripped", ())) == float(tripped)

    await eventually(probe, what=f"the daemon's breaker gauge at {int(tripped)}")


async def breaker_is(daemon: Daemon, status: str) -> Any:
    async def probe() -> Any:
        report = await daemon.status()
        return report if report["breaker"]["status"] == status else None

    return await eventually(probe, what=f"the breaker {status}")


async def test_operator_halt_refuses_entries_with_halted_and_resume_force_lets_them_through_both_recorded(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()

    code, out, err = await daemon.cli("halt", "--reason", "e2e maintenance window")
    assert code == 0, err
    report = await breaker_is(daemon, "tripped")
    assert "e2e maintenance window" in report["breaker"]["reason"]
    await daemon_breaker(daemon, tripped=True)
    await daemon.post(market_signal("op-halted-1"))
    decision = await decided(daemon, "op-halted-1")
    assert (decision["accepted"], decision["reason"]) == (False, "HALTED")
    assert entry_id("op-halted-1") not in creating_requests(await sim.requests(), sim.family)

    code, out, err = await daemon.cli("resume", "--force", "--note", "e2e window over")
    assert code == 0, err
    await breaker_is(daemon, "active")
    await daemon_breaker(daemon, tripped=False)
    await daemon.post(market_signal("op-resumed-1"))
    assert (await decided(daemon, "op-resumed-1"))["accepted"] is True
    await eventually(lambda: protected_view(sim), what="the position after the resume")

    kinds = (await daemon.db()).event_kinds()
    assert any("halt" in kind for kind in kinds) and any("resume" in kind for kind in kinds), kinds
    code, out, err = await daemon.cli("status", "--json")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["breaker"]["status"] == "active"
    assert [p["symbol"] for p in shown["positions"]] == [SYMBOL]


async def test_metrics_count_the_signal_decision_orders_and_latency_and_show_equity_day_loss_and_breaker(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("metrics-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    async def after_one_entry() -> Any:
        found = await samples(daemon)
        return found if found.get(("executor_signal_to_wire_seconds_count", ())) == 1 else None

    found = await eventually(after_one_entry, what="the entry counted in /metrics")
    assert found[("executor_signals_total", (("status", "queued"),))] == 1
    assert found[("executor_decisions_total", (("reason", "accepted"),))] == 1
    assert found[("executor_orders_total", (("kind", "entry"), ("state", "filled")))] == 1
    assert found[("executor_orders_total", (("kind", "stop"), ("state", "open")))] >= 1
    assert 9_990 < found[("executor_equity", ())] <= 10_000
    assert found[("executor_day_loss_limit", ())] == 300
    assert found[("executor_breaker_tripped", ())] == 0


async def test_a_position_the_daemon_did_not_open_halts_trading_at_start_up_and_is_left_alone(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with sim.ccxt() as exchange:
        await exchange.create_order(SYMBOL, "market", "buy", 5)
    daemon = daemons(sqlite_url)
    await daemon.start()

    report = await breaker_is(daemon, "tripped")
    assert "not opened by this daemon" in (report["breaker"]["reason"] or ""), report["breaker"]
    assert [p["symbol"] for p in report["untracked_positions"]] == [SYMBOL]
    await daemon.post(market_signal("foreign-1", stop="140"))
    assert (await decided(daemon, "foreign-1"))["reason"] == "HALTED"
    view = await sim.view()
    assert view.qty == 5 and view.orders == [], view.summary()
    assert "foreign_position" in alerts(daemon)


@pytest.mark.parametrize("answer_after", [0.6, None], ids=["slow-webhook", "silent-webhook"])
async def test_alerts_raised_just_before_sigterm_are_posted_or_logged_as_undelivered(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, answer_after: float | None
) -> None:
    """The foreign position's alerts are raised at start-up and still in flight when SIGTERM comes: the
    shutdown waits for the webhook (a fifth of its 5 s limit) or logs each alert it could not deliver."""
    async with sim.ccxt() as exchange:
        await exchange.create_order(SYMBOL, "market", "buy", 5)
    async with AlertSink(answer_after=answer_after) as sink:
        daemon = daemons(sqlite_url, EXECUTOR__ALERTS__WEBHOOK_URL=sink.url)
        await daemon.start()
        code, seconds = await daemon.sigterm()
        assert (code, seconds < 5) == (0, True), (seconds, daemon.log_tail())
    raised = set(alerts(daemon))
    posted = {str(body["alert"]) for body in sink.answered}
    logged = {str(line["alert"]) for line in daemon.logged("alert_undelivered")}
    assert "foreign_position" in raised
    assert (posted, logged) == ((raised, set()) if answer_after else (set(), raised))


async def test_an_operator_halt_cancels_a_resting_limit_entry_and_its_stop_on_the_exchange(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    limit = {**market_signal("op-limit-1", stop="146"), "entry": {"type": "limit", "price": "149"}}
    await daemon.ws_send([limit])

    async def entry_resting() -> Any:
        view = await sim.view()
        return view if any(o["type"].lower() == "limit" for o in view.orders) else None

    await eventually(entry_resting, what="the limit entry resting")

    code, _, err = await daemon.cli("halt", "--reason", "e2e halt with an entry resting")
    assert code == 0, err

    await eventually(lambda: flat_view(sim), what="the resting entry and its stop cancelled by the halt")
    await sim.mark("148.90")
    view = await settled_view(sim)
    assert view.position is None and view.orders == [], view.summary()
    db = await daemon.db()
    assert db.positions == [] and unsettled_orders(db) == []
    assert {row.kind: row.state for row in db.orders}[OrderKind.ENTRY] == "canceled"


async def test_a_position_closed_by_hand_on_the_exchange_is_booked_and_leaves_no_order(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("manual-close-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")
    qty = (await sim.view()).qty

    async with sim.ccxt() as exchange:
        await exchange.create_order(SYMBOL, "market", "sell", float(qty), None, {"reduceOnly": True})

    await eventually(lambda: flat_view(sim), what="flat on the exchange after the manual close")

    async def booked() -> Any:
        db = await daemon.db()
        return db if db.closed_positions() else None

    db = await eventually(booked, what="the manual close booked")
    fills = await sim.fills()
    [position] = db.positions
    assert position.exit_price == money(fills[-1]["price"])
    assert unsettled_orders(db) == []
    assert (await daemon.status())["positions"] == []


@pytest.mark.parametrize("policy", ["halt", "ignore"])
async def test_a_position_enlarged_by_hand_is_never_left_partly_without_a_stop(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, policy: str
) -> None:
    """5 SOL bought by hand on top of the daemon's: a stop for all of it goes out first; then, by
    `on_foreign_position`, trading halts and flattens (the default) or the covered position is kept."""
    daemon = daemons(sqlite_url, EXECUTOR__EXECUTION__ON_FOREIGN_POSITION=policy)
    await daemon.start()
    await daemon.ws_send([market_signal("manual-add-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")

    bought = (await sim.view()).qty
    first_stop = max(row["seq"] for row in await sim.requests())
    async with sim.ccxt() as exchange:
        await exchange.create_order(SYMBOL, "market", "buy", 5)

    async def covering_stop() -> Any:
        created = creating_requests(await sim.requests(since=str(first_stop)), sim.family)
        return next(
            (
                request
                for requests in created.values()
                for request in requests
                if request["path"] == "/fapi/v1/algoOrder"
                and money(request["params"].get("quantity") or "0") == bought + 5
            ),
            None,
        )

    await eventually(covering_stop, within=12, what="a stop for the whole enlarged position")
    if policy == "halt":

        async def halted_and_flat() -> Any:
            report = await daemon.status()
            return report if report["breaker"]["status"] == "tripped" and await flat_view(sim) else None

        report = await eventually(halted_and_flat, within=12, what="the halt and its flatten")
        assert "outside the daemon" in report["breaker"]["reason"], report["breaker"]
    else:

        async def covered() -> Any:
            view = await sim.view()
            stops = view.stops()
            return view if len(stops) == 1 and money(stops[0]["amount"]) == bought + 5 else None

        await eventually(covered, what="the enlarged position with only its covering stop")
        view = await settled_view(sim)
        assert_exactly_one_stop(view)
        assert view.qty == bought + 5, view.summary()
        assert (await daemon.status())["breaker"]["status"] == "active"


async def test_ready_stays_503_and_no_signal_is_taken_over_the_websocket_until_the_first_reconciliation(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    for path in ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"):
        await sim.fault(action="delay", method="GET", path=path, delay_ms=3000, count=1)
    daemon = daemons(sqlite_url)
    daemon.spawn()

    async def reconciling() -> Any:
        try:
            health, _ = await daemon.get("/health")
            ready, body = await daemon.get("/ready")
        except aiohttp.ClientError:
            return None
        return body if (health, ready) == (200, 503) else None

    body = await eventually(reconciling, what="/health up while /ready is 503")
    assert body["ready"] is False and body["reason"]
    assert await daemon.ws_handshake_status() == 0, "the WebSocket ingress listens before reconciliation"
    await daemon.wait_ready()
    events = [line["event"] for line in daemon.events()]
    assert "reconciled" in events and events.index("reconciled") < events.index("ready"), events
    await daemon.ws_send([market_signal("after-ready-1")])
    await eventually(lambda: protected_view(sim), what="a signal traded once ready")
