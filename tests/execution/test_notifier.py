"""Notifications through Apprise's generic JSON scheme to a real local receiver: filters, retries, a receiver
that never answers, the shutdown drain, and alerts raised where the daemon raises them (in-process against
the simulator, tests/support/flow.py)."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal

import pytest
from structlog.testing import capture_logs

from adapters.ccxt_base import CcxtAdapter
from executor.config.risk_profiles import load_profile
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from executor.domain.market import Market
from executor.domain.notices import GROUPS, AlertKind, Figure, Notice, NoticeEvent, Unit
from executor.execution.alerts import Alerter
from executor.execution.notifier import Notifier, Target
from executor.observability.metrics import Metrics
from executor.ports.errors import ExchangeError
from harness.e2e import AlertSink, eventually
from tests.support.flow import ACCOUNT, SOL, Flow, flow

FILLED = Notice(
    NoticeEvent.ENTRY_FILLED,
    "entry filled: long SOL/USDT:USDT",
    symbol="SOL/USDT:USDT",
    figures=(Figure("quantity", Decimal("15"), Unit.QTY), Figure("stop", Decimal("147"), Unit.PRICE)),
)
TRADES = frozenset({NoticeEvent.ENTRY_FILLED, NoticeEvent.POSITION_CLOSED})
EVERYTHING = GROUPS["all"]


def quick(*targets: Target, **tuning: float) -> Notifier:
    settings = {"backoff_seconds": 0.05, "timeout_seconds": 2.0} | tuning
    return Notifier(list(targets), **settings)  # type: ignore[arg-type]


async def taken(sink: AlertSink) -> list[dict[str, object]] | None:
    return sink.answered or None


async def reached(sink: AlertSink) -> list[dict[str, object]] | None:
    return sink.received or None


def numbered(number: int) -> Notice:
    return Notice(NoticeEvent.POSITION_CLOSED, f"position closed #{number}")


async def test_each_url_receives_only_the_events_its_filter_names() -> None:
    async with AlertSink() as trades, AlertSink() as alerts:
        notifier = quick(
            Target(trades.apprise_url, TRADES),
            Target(alerts.apprise_url, frozenset({AlertKind.STOP_NOT_PLACED})),
        )
        notifier.start()
        alerter = Alerter(Metrics(), account=ACCOUNT, notifier=notifier)

        alerter.notify(FILLED)
        alerter.raise_alert(AlertKind.STOP_NOT_PLACED, "stop not confirmed", symbol="SOL/USDT:USDT")
        alerter.notify(Notice(NoticeEvent.STOP_MOVED, "stop moved"))
        await notifier.drain(5)

    assert trades.titles() == [f"[{ACCOUNT}] entry_filled SOL/USDT:USDT"]
    assert alerts.titles() == [f"[{ACCOUNT}] stop_not_placed SOL/USDT:USDT"]
    assert trades.answered[0]["message"] == "entry filled: long SOL/USDT:USDT\nquantity: 15\nstop: 147"
    assert (trades.answered[0]["type"], alerts.answered[0]["type"]) == ("info", "failure")


async def test_a_failing_receiver_is_retried_with_backoff_until_it_takes_the_notice() -> None:
    async with AlertSink(fail_first=2) as sink:
        notifier = quick(Target(sink.apprise_url, EVERYTHING), attempts=3)
        notifier.start()
        started = time.monotonic()
        notifier.submit(FILLED)
        await eventually(lambda: taken(sink), what="the third attempt taken")
        elapsed = time.monotonic() - started
        await notifier.drain(1)

    assert len(sink.received) == 3 and len(sink.answered) == 1
    assert elapsed >= 0.05 + 0.1  # the two backoffs, doubling from 0.05 s


async def test_a_receiver_that_keeps_failing_is_given_up_with_one_log_line_and_the_next_notice_goes() -> None:
    async with AlertSink(fail_first=2) as sink:
        notifier = quick(Target(sink.apprise_url, EVERYTHING), attempts=2)
        notifier.start()
        with capture_logs() as logs:
            notifier.submit(numbered(1))
            notifier.submit(numbered(2))
            await notifier.drain(10)

    failed = [line for line in logs if line["event"] == "notification_failed"]
    assert [line["headline"] for line in failed] == ["position closed #1"]
    assert failed[0]["url"] == "json://***"
    assert [body["message"] for body in sink.answered] == ["position closed #2"]


async def test_a_receiver_that_never_answers_does_not_slow_the_caller_or_the_event_loop() -> None:
    async with AlertSink(answer_after=None) as sink:
        notifier = quick(Target(sink.apprise_url, EVERYTHING), timeout_seconds=30)
        notifier.start()
        alerter = Alerter(Metrics(), account=ACCOUNT, notifier=notifier)

        started = time.monotonic()
        for number in range(200):
            alerter.notify(numbered(number))
            alerter.raise_alert(AlertKind.FOREIGN_POSITION, "foreign position", symbol="BTC/USDT:USDT")
        submitting = time.monotonic() - started

        ticks = []
        for _ in range(10):
            before = time.monotonic()
            await asyncio.sleep(0.01)
            ticks.append(time.monotonic() - before)
        await eventually(lambda: reached(sink), what="the first post reaching the receiver")
        with capture_logs():
            await notifier.drain(0.1)

    assert submitting < 0.5
    assert max(ticks) < 0.2


async def test_a_full_queue_drops_the_new_notice_with_a_log_line_naming_it() -> None:
    async with AlertSink(answer_after=None) as sink:
        notifier = Notifier([Target(sink.apprise_url, EVERYTHING)], queue_size=2)
        with capture_logs() as logs:
            for number in range(3):
                notifier.submit(numbered(number))

    dropped = [line["headline"] for line in logs if line["event"] == "notification_dropped"]
    assert dropped == ["position closed #2"]


async def test_shutdown_drain_sends_what_is_queued_within_the_budget() -> None:
    async with AlertSink(answer_after=0.05) as sink:
        notifier = quick(Target(sink.apprise_url, EVERYTHING))
        notifier.start()
        for number in range(5):
            notifier.submit(numbered(number))
        with capture_logs() as logs:
            await notifier.drain(10)

    assert [body["message"] for body in sink.answered] == [f"position closed #{n}" for n in range(5)]
    assert [line for line in logs if line["event"] == "notification_undelivered"] == []


async def test_shutdown_drain_logs_every_notice_a_hung_receiver_did_not_take_as_undelivered() -> None:
    async with AlertSink(answer_after=None) as sink:
        notifier = quick(Target(sink.apprise_url, EVERYTHING), timeout_seconds=30)
        notifier.start()
        for number in range(3):
            notifier.submit(numbered(number))
        await eventually(lambda: reached(sink), what="the first post reaching the receiver")
        started = time.monotonic()
        with capture_logs() as logs:
            await notifier.drain(0.3)
        waited = time.monotonic() - started

    undelivered = [line["headline"] for line in logs if line["event"] == "notification_undelivered"]
    assert undelivered == [f"position closed #{n}" for n in range(3)]
    assert waited < 2


async def test_the_alerter_drain_covers_the_notifier_and_the_legacy_webhook_together() -> None:
    async with AlertSink() as webhook, AlertSink() as chat:
        notifier = quick(Target(chat.apprise_url, EVERYTHING))
        notifier.start()
        alerter = Alerter(Metrics(), webhook.url, ACCOUNT, notifier)
        alerter.raise_alert(AlertKind.EXCHANGE_BANNED, "the exchange refuses requests until 12:00")
        await alerter.drain(5)

    assert webhook.kinds() == ["exchange_banned"]
    assert chat.titles() == [f"[{ACCOUNT}] exchange_banned"]


# ------------------------------------------------------------------ alerts where the daemon raises them


@asynccontextmanager
async def alerted(sqlite_url: str, *, grid: bool = False) -> AsyncIterator[tuple[Flow, AlertSink]]:
    """A flow whose alerts go through Apprise to a local receiver, drained before the flow closes. `grid`:
    the notifier reads the markets (tick, step) from the flow's adapter, as the daemon's does
    (`build_notifier`)."""
    adapters: list[CcxtAdapter] = []

    async def market(symbol: str) -> Market | None:
        return (await adapters[0].markets()).get(symbol)

    async with AlertSink() as sink:
        target = Target(sink.apprise_url, GROUPS["alerts"])
        notifier = Notifier([target], market if grid else None, backoff_seconds=0.05, timeout_seconds=2.0)
        notifier.start()
        async with flow("binance", sqlite_url, notifier=notifier) as f:
            adapters.append(f.adapter)
            yield f, sink
            await notifier.drain(5)


LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}


async def test_an_exchange_ban_the_tracker_meets_reaches_the_receiver_as_exchange_banned(
    sqlite_url: str,
) -> None:
    async with alerted(sqlite_url) as (f, sink):
        await f.control("POST", "faults", {"action": "ban", "method": "GET", "path": "*", "count": 1})
        with pytest.raises(ExchangeError):
            await f.keeper.track()
        banned = f.adapter.banned_until

    assert banned is not None
    assert sink.titles() == [f"[{ACCOUNT}] exchange_banned"]
    [body] = sink.answered
    assert body["type"] == "failure" and f"banned_until: {banned.isoformat()}" in str(body["message"])


async def test_a_close_the_exchange_does_not_carry_out_reaches_the_receiver_as_close_deferred(
    sqlite_url: str,
) -> None:
    async with alerted(sqlite_url) as (f, sink):
        await f.submit(id="deferred-open-1", **LONG_SOL)
        await f.control(
            "POST",
            "faults",
            {"action": "error_5xx", "method": "POST", "path": "/fapi/v1/order", "count": None},
        )
        await f.submit(id="deferred-close-1", action="close", symbol="SOLUSDT")

    # the close order's outcome stays unknown through the adapter's retries: the position is closed later
    assert sink.titles() == [f"[{ACCOUNT}] close_deferred {SOL}"]
    assert sink.answered[0]["message"] == "the close was not carried out yet; it is retried"


async def test_an_entry_filled_past_what_r_carries_reaches_the_receiver_as_fill_risk_exceeded(
    sqlite_url: str,
) -> None:
    async with alerted(sqlite_url, grid=True) as (f, sink):
        # the entry's IOC fills 1 % past the book (docs/simulator.md: no exchange does; the only way in)
        match = {"newClientOrderId": client_order_id("fill-risk-1", OrderKind.ENTRY)}
        fault = {"action": "fill_past_limit", "method": "*", "path": "/fapi/v1/order", "match": match}
        await f.control("POST", "faults", fault | {"slip_bps": 100})
        await f.submit(id="fill-risk-1", **LONG_SOL)

    assert sink.titles() == [f"[{ACCOUNT}] fill_risk_exceeded {SOL}"]
    lines = str(sink.answered[0]["message"]).splitlines()
    assert lines[0].startswith("the fill at "), lines
    assert {line.split(":")[0] for line in lines[1:]} == {"risk", "limit", "excess_qty"}, lines
    # money with 2 decimals, prices to SOL's tick (0.010), quantities on its step (1)
    money, qty = r"\d+\.\d\d", r"\d+"
    assert re.fullmatch(
        rf"the fill at 151\.50 \(reference 150\.00\) risks {money} at the stop 140\.00, over R {money} with "
        rf"the tolerance, {money}: closing {qty} of {qty}, keeping {qty}",
        lines[0],
    ), lines
    assert re.fullmatch(rf"risk: {money} USDT", lines[1]) and re.fullmatch(rf"limit: {money} USDT", lines[2])
    assert re.fullmatch(rf"excess_qty: {qty}", lines[3]), lines


async def test_an_entry_whose_outcome_stays_unknown_reaches_the_receiver_as_order_unresolved(
    sqlite_url: str,
) -> None:
    async with alerted(sqlite_url) as (f, sink):
        fault = {"action": "error_5xx", "method": "POST", "path": "/fapi/v1/order", "count": None}
        await f.control("POST", "faults", fault)
        await f.submit(id="unresolved-1", **LONG_SOL)

    assert sink.titles() == [f"[{ACCOUNT}] order_unresolved {SOL}"]
    lines = str(sink.answered[0]["message"]).splitlines()
    assert lines[0] == "entry outcome unknown" and re.fullmatch(r"qty: \d+", lines[1]), lines
    assert lines[2].startswith("error: ") and "unresolved after 3 attempts" in lines[2], lines


async def test_legs_a_closed_position_left_resting_reach_the_receiver_as_stale_leg_on_the_markets_grid(
    sqlite_url: str,
) -> None:
    """The close cannot cancel position A's stop and take-profit (Binance keeps them after the position is
    flat); the next entry on the symbol is refused and the operator is told which legs rest: quantities on
    SOL's step (1), prices on its tick (0.010)."""
    async with alerted(sqlite_url, grid=True) as (f, sink):
        await f.submit(id="stale-a", **LONG_SOL, take_profit="175")
        fault = {"action": "error_5xx", "method": "DELETE", "path": "/fapi/v1/algoOrder", "count": None}
        await f.control("POST", "faults", fault)
        await f.submit(id="stale-a-close", action="close", symbol="SOLUSDT")
        await f.tick()  # books the close; its stop and take-profit still rest
        await f.submit(id="stale-b", **LONG_SOL)

    assert sink.titles() == [f"[{ACCOUNT}] stale_leg {SOL}"]
    message = str(sink.answered[0]["message"])
    stop, target = (client_order_id("stale-a", kind) for kind in (OrderKind.STOP, OrderKind.TAKE_PROFIT))
    assert re.fullmatch(
        rf"legs of an earlier position on {re.escape(SOL)} still rest and could not be cancelled: "
        rf"stop sell (\d+) trigger 140\.00 \({stop}\); take_profit sell \1 trigger 175\.00 \({target}\)",
        message,
    ), message


async def test_an_exchange_liquidation_price_too_close_reaches_the_receiver_as_liquidation_too_close(
    sqlite_url: str,
) -> None:
    """The tracker holds the exchange's own liquidation price to the profile's rules once per position and
    run; a daemon restarted with a stricter profile (here: swapped in before the tracker's first look)
    finds the open position's liquidation too close. Its prices and distances read to SOL's tick."""
    async with alerted(sqlite_url, grid=True) as (f, sink):
        await f.submit(id="liq-close-1", **LONG_SOL)
        f.ctx.profile = load_profile("handbook", {"liquidation": {"safety_multiple": "4"}})
        await f.tick()
        live = (await f.adapter.account_snapshot()).position(SOL)

    assert live is not None and live.liquidation_price is not None
    liquidation = live.liquidation_price.quantize(Decimal("0.01"))
    assert sink.titles() == [f"[{ACCOUNT}] liquidation_too_close {SOL}"]
    assert str(sink.answered[0]["message"]).splitlines() == [
        "exchange liquidation price breaks the safety rules: liquidation distance "
        f"{Decimal('150.00') - liquidation} < 4 × stop distance 10.00",
        "entry_price: 150.00",
        "stop_price: 140.00",
        f"liquidation_price: {liquidation}",
    ]
