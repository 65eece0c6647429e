"""Stream outages told to the operator: a `stream_down` alert when a stream stays down, a `stream_restored`
notice when it is live again.

The adapters only log their streams' changes (they may not import the daemon); this watcher reads the
port's `stream_statuses()` every second, the states /ready and /metrics show. An outage runs from the first
look that sees a stream DOWN to the first that sees it LIVE: the reconnection attempts in between are one
outage, one alert. It is alerted once it has lasted `grace`, so a plain reconnect (a quarter second's pause
and a new connection, as at Binance's 24-hour cut) is only logged by its adapter. Alerts are rate-limited
per stream: one that goes down again within `quiet` of its last alert is alerted if it is still down then,
so a flapping stream pages once per window and a lasting outage is never hidden; a restore is notified
only for an outage that was alerted.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from executor.domain.notices import AlertKind, Figure, Notice, NoticeEvent, Severity
from executor.execution.alerts import Alerter
from executor.ports.exchange import StreamName, StreamState, StreamStatus

INTERVAL_SECONDS: Final = 1.0
"""How often the daemon looks at the streams (a read of the adapter's state, no request)."""
GRACE: Final = timedelta(seconds=2)
QUIET: Final = timedelta(minutes=5)

STANDS_IN: Final = {
    StreamName.MARK_PRICE: "marks are read from REST until it is back",
    StreamName.BOOK_TICKER: "bid and ask are read from REST until it is back",
    StreamName.USER_DATA: "the account is polled over REST until it is back, and its gap reconciled then",
}


@dataclass(slots=True)
class _Outage:
    since: datetime
    """The first tick that saw the stream down."""
    reconnects: int
    """The stream's reconnection count then."""
    alerted: bool = False


class StreamWatch:
    def __init__(
        self,
        statuses: Callable[[], Iterable[StreamStatus]],
        alerter: Alerter,
        clock: Callable[[], datetime],
        *,
        grace: timedelta = GRACE,
        quiet: timedelta = QUIET,
    ) -> None:
        self._statuses = statuses
        self._alerter = alerter
        self._clock = clock
        self._grace = grace
        self._quiet = quiet
        self._outages: dict[StreamName, _Outage] = {}
        self._alerted_at: dict[StreamName, datetime] = {}

    async def tick(self) -> None:
        now = self._clock()
        for status in self._statuses():
            outage = self._outages.get(status.name)
            if status.state is StreamState.DOWN:
                if outage is None:
                    outage = self._outages[status.name] = _Outage(now, status.reconnects)
                if not outage.alerted and self._may_alert(status.name, outage, now):
                    self._alert(status, outage, now)
            elif status.state is StreamState.LIVE and outage is not None:
                del self._outages[status.name]
                if outage.alerted:
                    self._restored(status, outage, now)

    def _may_alert(self, name: StreamName, outage: _Outage, now: datetime) -> bool:
        last = self._alerted_at.get(name)
        return now - outage.since >= self._grace and (last is None or now - last >= self._quiet)

    def _alert(self, status: StreamStatus, outage: _Outage, now: datetime) -> None:
        outage.alerted = True
        self._alerted_at[status.name] = now
        self._alerter.raise_alert(
            AlertKind.STREAM_DOWN,
            f"stream {status.name.value} is down: {STANDS_IN[status.name]}",
            Figure("stream", status.name.value),
            Figure("problem", status.problem or "unknown"),
            Figure("down_since", outage.since.isoformat(timespec="seconds")),
        )

    def _restored(self, status: StreamStatus, outage: _Outage, now: datetime) -> None:
        figures = (
            Figure("stream", status.name.value),
            Figure("down for", f"{(now - outage.since).total_seconds():.0f} s"),
            Figure("reconnection attempts", status.reconnects - outage.reconnects),
        )
        headline = f"stream {status.name.value} is live again"
        self._alerter.notify(
            Notice(NoticeEvent.STREAM_RESTORED, headline, figures=figures, severity=Severity.SUCCESS)
        )
