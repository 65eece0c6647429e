"""A daemon against the simulator notifies an entry, its stop moved and its close through Apprise's
generic JSON scheme to a local receiver, each URL only the events its filter names; a market stream down and
back, once each."""

from __future__ import annotations

from decimal import Decimal

import pytest

from harness.e2e import (
    SYMBOL,
    AlertSink,
    Daemon,
    DaemonFactory,
    Sim,
    error_lines,
    eventually,
    flat_view,
    market_signal,
    protected_view,
)

pytestmark = pytest.mark.slow


def messages(sink: AlertSink, event: str) -> list[str]:
    return [
        str(body["message"]) for body in sink.answered if str(body["title"]).startswith(f"[main] {event}")
    ]


MARK_STREAM = "solusdt@markPrice@1s"


async def stream_in(daemon: Daemon, state: str) -> bool:
    _, body = await daemon.get("/ready")
    return bool(body.get("streams", {}).get("mark_price", {}).get("state") == state)


async def reconnected(daemon: Daemon, times: int) -> bool:
    _, body = await daemon.get("/ready")
    return bool(body.get("streams", {}).get("mark_price", {}).get("reconnects", 0) >= times)


async def test_an_entry_its_stop_moved_and_its_close_are_notified_with_readable_numbers(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with AlertSink() as trades, AlertSink() as alerts, AlertSink() as everything:
        urls = (
            f'[{{url = "{trades.apprise_url}", events = ["trades"]}}, '
            f'{{url = "{alerts.apprise_url}", events = ["alerts", "breaker"]}}, "{everything.apprise_url}"]'
        )
        daemon = daemons(sqlite_url, EXECUTOR__ALERTS__URLS=urls)
        await daemon.start()

        await daemon.ws_send([market_signal("notify-1")])
        await eventually(lambda: protected_view(sim), what="the position with its stop")
        await daemon.ws_send([{"id": "notify-move-1", "action": "move_stop", "symbol": SYMBOL, "stop": 148}])

        async def moved() -> list[str] | None:
            return messages(trades, "stop_moved") or None

        await eventually(moved, what="the stop_moved notification")
        await daemon.ws_send([{"id": "notify-close-1", "action": "close", "symbol": SYMBOL}])
        await eventually(lambda: flat_view(sim), what="the close signal's flat account")

        async def closed() -> list[str] | None:
            return messages(trades, "position_closed") or None

        await eventually(closed, what="the position_closed notification")
        code, _ = await daemon.sigterm()

    db = await daemon.db()
    position = db.closed_positions()[0]
    filled = messages(trades, "entry_filled")
    assert len(filled) == 1
    shown = set(filled[0].splitlines())
    # Binance's SOL: tick 0.010 (prices with 2 decimals), step 1 (whole quantities)
    assert {f"quantity: {position.qty:.0f}", "entry: 150.00", "stop: 147.00"} <= shown
    assert f"leverage: {position.leverage}x" in shown
    # the risk taken at entry: the loss at the stop, Binance SOL's 0.05 % taker fee in and out included
    risk = ((position.entry_price - 147) + Decimal("0.0005") * (position.entry_price + 147)) * position.qty
    assert position.risk_at_entry == risk
    assert f"risk: {risk:,.2f} USDT" in shown
    assert {"from: 147.00", "to: 148.00"} <= set(messages(trades, "stop_moved")[0].splitlines())
    lines = messages(trades, "position_closed")[0].splitlines()
    pnl = position.realized_pnl - position.fees + position.funding
    word = "loss" if pnl < 0 else "profit"
    assert f"PnL: {word} {abs(pnl):,.2f} USDT" in lines
    assert f"R: {pnl / risk:.2f} R" in lines
    assert [str(body["title"]).split()[1] for body in trades.answered] == [
        "entry_filled",
        "stop_moved",
        "position_closed",
    ]
    assert [body["message"] for body in everything.answered] == [body["message"] for body in trades.answered]
    assert alerts.received == []
    assert code == 0
    assert daemon.logged("notification_undelivered") == [] and daemon.logged("notification_failed") == []
    assert error_lines(daemon) == []


async def test_an_operators_halt_and_resume_are_notified_once_each_when_the_daemon_picks_them_up(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with AlertSink() as operator:
        urls = f'[{{url = "{operator.apprise_url}", events = ["operator", "breaker"]}}]'
        daemon = daemons(sqlite_url, EXECUTOR__ALERTS__URLS=urls)
        await daemon.start()

        code, _, err = await daemon.cli("halt", "--reason", "e2e maintenance window")
        assert code == 0, err

        async def halted() -> list[str] | None:
            return messages(operator, "operator_halt") or None

        await eventually(halted, what="the operator_halt notification")
        code, _, err = await daemon.cli("resume", "--force", "--note", "e2e: done")
        assert code == 0, err

        async def resumed() -> list[str] | None:
            return messages(operator, "operator_resume") or None

        await eventually(resumed, what="the operator_resume notification")
        await daemon.sigterm()

    assert [str(body["title"]) for body in operator.answered] == [
        "[main] operator_halt",
        "[main] operator_resume",
    ]
    assert messages(operator, "operator_halt") == ["trading halted: e2e maintenance window"]
    assert error_lines(daemon) == []


async def test_an_operators_pause_unpause_and_close_are_notified_when_the_daemon_takes_them(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with AlertSink() as operator:
        urls = f'[{{url = "{operator.apprise_url}", events = ["operator"]}}]'
        daemon = daemons(sqlite_url, EXECUTOR__ALERTS__URLS=urls)
        await daemon.start()

        code, _, err = await daemon.cli("pause", "--note", "e2e: news at noon")
        assert code == 0, err

        async def paused() -> list[str] | None:
            return messages(operator, "operator_pause") or None

        await eventually(paused, what="the operator_pause notification")
        code, _, err = await daemon.cli("unpause")
        assert code == 0, err

        async def unpaused() -> list[str] | None:
            return messages(operator, "operator_unpause") or None

        await eventually(unpaused, what="the operator_unpause notification")
        await daemon.ws_send([market_signal("notify-op-1")])
        await eventually(lambda: protected_view(sim), what="the position with its stop")
        code, _, err = await daemon.cli("close", SYMBOL)
        assert code == 0, err
        await eventually(lambda: flat_view(sim), what="the operator's close")

        async def closed() -> list[str] | None:
            return messages(operator, "operator_close") or None

        await eventually(closed, what="the operator_close notification")
        await daemon.sigterm()

    titles = [str(body["title"]).split()[1] for body in operator.answered]
    assert titles == ["operator_pause", "operator_unpause", "operator_close"]
    assert "e2e: news at noon" in messages(operator, "operator_pause")[0]
    assert messages(operator, "operator_close")[0].startswith(f"closing {SYMBOL} at market")
    assert error_lines(daemon) == []


async def test_a_stream_down_and_back_is_notified_once_each_however_often_it_reconnects_meanwhile(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """The simulator stalls every connection of the mark price stream, reconnections included, until the
    rule is deleted: the daemon sees the stream down and reconnecting for seconds, and says so twice."""
    async with AlertSink() as streams, AlertSink() as trades:
        urls = (
            f'[{{url = "{streams.apprise_url}", events = ["streams"]}}, '
            f'{{url = "{trades.apprise_url}", events = ["trades"]}}]'
        )
        daemon = daemons(
            sqlite_url,
            EXECUTOR__ALERTS__URLS=urls,
            EXECUTOR__EXCHANGE__STREAM_STALL_MS="1000",
            EXECUTOR__RISK__OVERRIDES__ALLOWED_SYMBOLS=f'["{SYMBOL}"]',  # followed from start-up
        )
        await daemon.start()
        await eventually(lambda: stream_in(daemon, "live"), what="the mark price stream live")

        await sim.fault(
            action="ws_stall", method="WS", path="/market/*", match={"stream": MARK_STREAM}, count=None
        )

        async def down() -> list[str] | None:
            return messages(streams, "stream_down") or None

        await eventually(down, what="the stream_down notification")
        await eventually(lambda: reconnected(daemon, 2), what="the stream reconnecting, stalled again")
        await sim.clear_faults()

        async def restored() -> list[str] | None:
            return messages(streams, "stream_restored") or None

        await eventually(restored, what="the stream_restored notification")
        code, _ = await daemon.sigterm()

    assert streams.titles() == ["[main] stream_down", "[main] stream_restored"]
    shown = messages(streams, "stream_down")[0].splitlines()
    assert {"stream: mark_price", "problem: no message for 1 s (stalled)"} <= set(shown), shown
    assert messages(streams, "stream_restored")[0].startswith("stream mark_price is live again")
    assert trades.received == []
    assert [line["alert"] for line in daemon.logged("alert")] == ["stream_down"]
    assert code == 0 and error_lines(daemon) == []
