"""A daemon against the simulator notifies through Apprise's generic JSON scheme to a local receiver, each
URL only the events its filter names: an entry, its stop moved, its close and a take profit; the breaker's
trip and the next day's reset; a position it did not open and the reconciliation's halt over it; the
operator's halt, resume, pause, unpause and close; a market stream down and back, once each."""

from __future__ import annotations

import re
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
    seconds_past_next_utc_midnight,
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


def events(sink: AlertSink) -> list[str]:
    """The event of each notification the receiver took, in order (titles read `[main] EVENT [SYMBOL]`)."""
    return [str(body["title"]).split()[1] for body in sink.answered]


async def notified(sink: AlertSink, event: str) -> str:
    """The first notification of `event` the receiver takes."""

    async def found() -> list[str] | None:
        return messages(sink, event) or None

    return (await eventually(found, what=f"the {event} notification"))[0]


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


async def test_a_take_profit_filled_on_the_exchange_is_notified_as_a_take_profit_with_its_profit(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with AlertSink() as trades:
        daemon = daemons(
            sqlite_url, EXECUTOR__ALERTS__URLS=f'[{{url = "{trades.apprise_url}", events = ["trades"]}}]'
        )
        await daemon.start()
        await daemon.ws_send([market_signal("notify-tp-1", take_profit="160")])
        await eventually(lambda: protected_view(sim), what="the position with its stop and take profit")
        await sim.mark("160")  # the take-profit order triggers on the simulator and fills
        await eventually(lambda: flat_view(sim), what="flat after the take profit")
        body = await notified(trades, "take_profit")
        await daemon.sigterm()

    db = await daemon.db()
    [position] = db.closed_positions()
    pnl = position.realized_pnl - position.fees + position.funding
    assert pnl > 0
    assert events(trades) == ["entry_filled", "take_profit"]  # not also as a plain position_closed
    assert trades.answered[-1]["title"] == f"[main] take_profit {SYMBOL}"
    lines = body.splitlines()
    assert lines[0] == f"take profit filled: long {SYMBOL}"
    assert {"exit: 160.00", f"PnL: profit {pnl:,.2f} USDT"} <= set(lines), lines
    assert error_lines(daemon) == []


BREAKER_LIMIT = {
    "EXECUTOR__RISK__OVERRIDES__DAILY_LOSS__LIMIT_AMOUNT": "30",
    "EXECUTOR__RISK__OVERRIDES__DAILY_LOSS__LIMIT_PCT": "false",
}


async def test_the_breakers_trip_and_its_reset_at_the_next_trading_day_are_notified(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with AlertSink() as breaker:
        urls = f'[{{url = "{breaker.apprise_url}", events = ["breaker"]}}]'
        daemon = daemons(sqlite_url, **BREAKER_LIMIT, EXECUTOR__ALERTS__URLS=urls)
        await daemon.start()
        await daemon.ws_send([market_signal("notify-breaker-1")])
        await eventually(lambda: protected_view(sim), what="the position with its stop")
        # 15 SOL long from 150: at 147.90 the open loss passes the limit of 30 before the stop at 147
        await sim.mark("147.90")
        tripped = await notified(breaker, "breaker_tripped")
        await eventually(lambda: flat_view(sim), what="the breaker's flatten")

        clock = await sim.advance(0)
        await sim.advance(seconds_past_next_utc_midnight(clock["now_ms"]))
        reset = await notified(breaker, "breaker_reset")
        await daemon.sigterm()

    assert events(breaker) == ["breaker_tripped", "breaker_reset"]
    assert [body["type"] for body in breaker.answered] == ["failure", "success"]
    # money with 2 decimals: the trip reason, and the loss and the limit as figures (the account's, no
    # market's currency to name)
    money = r"\d+\.\d\d"
    headline, *figures = tripped.splitlines()
    assert re.fullmatch(
        rf"daily loss ({money}) \(equity\) reached the limit 30\.00 \(loss \1 ≥ limit 30\.00, equity basis\)",
        headline,
    ), tripped
    assert re.fullmatch(rf"loss: {money}", figures[0]) and figures[1:] == [
        "limit: 30.00",
        "action: halt",
    ]
    assert reset == "breaker reset: a new trading day"
    assert error_lines(daemon) == []


async def test_a_position_the_daemon_did_not_open_and_the_reconciliation_halt_over_it_are_notified(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with sim.ccxt() as exchange:
        await exchange.create_order(SYMBOL, "market", "buy", 5)
    async with AlertSink() as alerts:
        daemon = daemons(
            sqlite_url, EXECUTOR__ALERTS__URLS=f'[{{url = "{alerts.apprise_url}", events = ["alerts"]}}]'
        )
        await daemon.start()
        foreign = await notified(alerts, "foreign_position")
        unexplained = await notified(alerts, "unexplained_state")
        await daemon.sigterm()

    # the quantity on SOL's step (1), not as the exchange reports it (5.00)
    assert foreign.splitlines() == [f"position long 5 {SYMBOL} was not opened by this daemon", "qty: 5"]
    assert f"[main] foreign_position {SYMBOL}" in [body["title"] for body in alerts.answered]
    assert unexplained.startswith("reconciliation: ") and "was not opened by this daemon" in unexplained
    assert {body["type"] for body in alerts.answered} == {"failure"}
    assert set(events(alerts)) == {"foreign_position", "unexplained_state"}
