"""A stream's outage reaches the operator's chat through Apprise's generic JSON scheme to a local receiver:
one `stream_down` per outage whatever its reconnection attempts, one `stream_restored` when it is back, a
plain reconnect not at all, a flapping stream once per quiet window; filtered like every other event.

The statuses are the port's own type, stepped by hand on a hand-moved clock; the daemon against the
simulator's stalled stream is tests/e2e/test_e2e_notifications.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from executor.domain.notices import GROUPS, AlertKind
from executor.execution.alerts import Alerter
from executor.execution.notifier import Notifier, Target
from executor.execution.stream_watch import StreamWatch
from executor.observability.metrics import Metrics
from executor.ports.exchange import StreamName, StreamState, StreamStatus
from harness.e2e import AlertSink
from tests.support.flow import ACCOUNT

START = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
MARK, BOOK = StreamName.MARK_PRICE, StreamName.BOOK_TICKER


class Streams:
    """What the adapter reports, and the watcher's clock, both moved by the test."""

    def __init__(self, *names: StreamName) -> None:
        self.now = START
        self.states = {name: (StreamState.LIVE, 0) for name in names}

    def statuses(self) -> tuple[StreamStatus, ...]:
        return tuple(
            StreamStatus(name, state, self.now, reconnects, "no message for 5 s (stalled)")
            for name, (state, reconnects) in self.states.items()
        )

    async def at(self, seconds: float, watch: StreamWatch, **states: tuple[StreamState, int]) -> None:
        self.now = START + timedelta(seconds=seconds)
        self.states |= {StreamName(name): state for name, state in states.items()}
        await watch.tick()


def watching(streams: Streams, *targets: Target) -> tuple[StreamWatch, Notifier, Metrics]:
    notifier = Notifier(list(targets), backoff_seconds=0.05, timeout_seconds=2.0)
    notifier.start()
    metrics = Metrics()
    alerter = Alerter(metrics, account=ACCOUNT, notifier=notifier)
    return StreamWatch(streams.statuses, alerter, lambda: streams.now), notifier, metrics


DOWN, LIVE = StreamState.DOWN, StreamState.LIVE


async def test_an_outage_with_its_reconnection_attempts_is_one_alert_and_its_end_one_notice() -> None:
    streams = Streams(MARK, BOOK)
    async with AlertSink() as chat, AlertSink() as alerts_only:
        watch, notifier, metrics = watching(
            streams,
            Target(chat.apprise_url, GROUPS["streams"]),
            Target(alerts_only.apprise_url, GROUPS["alerts"]),
        )
        await streams.at(0, watch)
        await streams.at(1, watch, mark_price=(DOWN, 0))
        for second, attempts in [(2, 1), (3, 2), (5, 3), (9, 4), (17, 5)]:
            await streams.at(second, watch, mark_price=(DOWN, attempts))
        await streams.at(18, watch, mark_price=(LIVE, 6))
        await streams.at(19, watch)
        await notifier.drain(5)

    assert chat.titles() == [f"[{ACCOUNT}] stream_down", f"[{ACCOUNT}] stream_restored"]
    down, restored = (str(body["message"]).splitlines() for body in chat.answered)
    assert down[0] == "stream mark_price is down: marks are read from REST until it is back"
    assert {"stream: mark_price", "problem: no message for 5 s (stalled)"} <= set(down)
    assert restored == [
        "stream mark_price is live again",
        "stream: mark_price",
        "down for: 17 s",
        "reconnection attempts: 6",
    ]
    assert [body["type"] for body in chat.answered] == ["failure", "success"]
    assert alerts_only.titles() == [f"[{ACCOUNT}] stream_down"]
    assert metrics.registry.get_sample_value("executor_alerts_total", {"kind": "stream_down"}) == 1


async def test_a_reconnect_back_within_the_grace_is_not_paged() -> None:
    streams = Streams(StreamName.USER_DATA)
    async with AlertSink() as chat:
        watch, notifier, _ = watching(streams, Target(chat.apprise_url, GROUPS["all"]))
        await streams.at(0, watch, user_data=(DOWN, 0))
        await streams.at(1, watch, user_data=(LIVE, 1))
        await streams.at(2, watch)
        await notifier.drain(5)

    assert chat.answered == []


async def test_each_stream_down_is_its_own_alert_naming_it() -> None:
    streams = Streams(MARK, BOOK)
    async with AlertSink() as chat:
        watch, notifier, _ = watching(streams, Target(chat.apprise_url, frozenset({AlertKind.STREAM_DOWN})))
        await streams.at(0, watch, mark_price=(DOWN, 0), book_ticker=(DOWN, 0))
        await streams.at(3, watch)
        await streams.at(4, watch, mark_price=(LIVE, 1), book_ticker=(LIVE, 1))
        await notifier.drain(5)

    assert sorted(str(body["message"]).splitlines()[1] for body in chat.answered) == [
        "stream: book_ticker",
        "stream: mark_price",
    ]


async def test_a_flapping_stream_pages_once_per_quiet_window_and_an_outage_lasting_past_it_still_pages() -> (
    None
):
    streams = Streams(MARK)
    async with AlertSink() as chat:
        watch, notifier, _ = watching(streams, Target(chat.apprise_url, GROUPS["all"]))
        await streams.at(0, watch, mark_price=(DOWN, 0))
        await streams.at(3, watch)  # alerted
        await streams.at(4, watch, mark_price=(LIVE, 1))  # restored
        for second in range(10, 200, 20):  # down for 10 s, back for 10 s, within 5 minutes of the alert
            await streams.at(second, watch, mark_price=(DOWN, second))
            await streams.at(second + 10, watch, mark_price=(LIVE, second))
        await streams.at(250, watch, mark_price=(DOWN, 300))
        await streams.at(302, watch)  # not yet 5 minutes after the alert at 3 s
        await streams.at(303, watch)  # still down when the window ends: alerted
        await streams.at(304, watch)
        await streams.at(310, watch, mark_price=(LIVE, 301))
        await notifier.drain(5)

    assert chat.titles() == [f"[{ACCOUNT}] {event}" for event in ["stream_down", "stream_restored"] * 2]
    assert "down for: 60 s" in str(chat.answered[-1]["message"]).splitlines()
