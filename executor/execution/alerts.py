"""Alerts and notifications: what an operator hears about.

An alert is logged, metered, posted to `alerts.webhook_url` if set (its own sender, body unchanged) and
handed to the Apprise notifier (`alerts.urls`) like every other notice. `notify` is the one entry point
for the other events (fills, stop moves, closes, the breaker, the operator's halt/resume/pause/close).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable
from dataclasses import replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from executor.domain.market import MarketFilters
from executor.domain.notices import AlertKind, Figure, Notice, Severity
from executor.observability.console import market_grid
from executor.observability.logging import get_logger
from executor.observability.metrics import Metrics

if TYPE_CHECKING:  # apprise is a large import; only the daemon, which builds the notifier, needs it
    from executor.execution.notifier import Notifier

__all__ = ["AlertKind", "Alerter"]
"""AlertKind lives in executor/domain/notices.py with the other notified events; importing it from here
still works."""

log = get_logger("executor.alerts")


class Alerter:
    def __init__(
        self, metrics: Metrics, webhook_url: str = "", account: str = "", notifier: Notifier | None = None
    ) -> None:
        self._metrics = metrics
        self._notifier = notifier
        self._url = webhook_url
        self._account = account
        self._posts: dict[asyncio.Task[None], dict[str, Any]] = {}

    def raise_alert(
        self,
        kind: AlertKind,
        message: str,
        *figures: Figure,
        symbol: str | None = None,
        filters: MarketFilters | None = None,
    ) -> None:
        """Never blocks the caller: the webhook post runs on its own and its failure is only logged.

        `figures` carry their unit, so the notification shows them as people read them (on the grid of
        `symbol`'s market); the log line and the webhook keep the exact values, and `filters`, the market's
        grid where the caller knows it, lets the console show the line's prices and quantities on it.
        """
        self._metrics.alerts.labels(kind=kind.value).inc()
        details = {figure.label: _exact(figure.value) for figure in figures}
        log.error(
            "alert", alert=kind.value, message=message, symbol=symbol, **details, **market_grid(filters)
        )
        self.notify(Notice(kind, message, symbol=symbol, figures=figures, severity=Severity.FAILURE))
        if self._url:
            where: dict[str, str | int] = {"symbol": symbol} if symbol else {}
            body = {
                "account": self._account,
                "alert": kind.value,
                "message": message,
                "details": where | details,
            }
            task = asyncio.create_task(self._post(body))
            self._posts[task] = body
            task.add_done_callback(self._posts.pop)

    def notify(self, notice: Notice) -> None:
        """Queue `notice` for the notification URLs whose filter takes it; never blocks the caller."""
        if self._notifier is not None:
            self._notifier.submit(replace(notice, account=self._account))

    async def _post(self, body: dict[str, Any]) -> None:
        import httpx  # only with alerts.webhook_url: not a cost of every daemon start

        try:
            async with httpx.AsyncClient(timeout=5) as client:
                response = await client.post(
                    self._url,
                    content=json.dumps(body, default=str),
                    headers={"Content-Type": "application/json"},
                )
                response.raise_for_status()
        except httpx.HTTPError as exc:
            log.warning("alert_webhook_failed", error=str(exc))

    async def drain(self, seconds: float) -> None:
        """At shutdown: give the webhook posts in flight and the queued notifications up to `seconds`.

        A post still unanswered then is cancelled and logged as undelivered with its alert, so an alert
        raised just before a stop is either delivered or says in the log that it was not; the same happens
        if the shutdown's own time limit cancels the wait.
        """
        waits: list[Awaitable[Any]] = []
        if self._notifier is not None:
            waits.append(self._notifier.drain(seconds))
        if self._posts:
            waits.append(asyncio.wait(list(self._posts), timeout=seconds))
        try:
            await asyncio.gather(*waits)
        finally:
            for task, body in list(self._posts.items()):
                if task.done():
                    continue
                task.cancel()
                log.error(
                    "alert_undelivered",
                    alert=body["alert"],
                    message=body["message"],
                    detail="the webhook had not answered when the daemon stopped",
                )


def _exact(value: Decimal | str | int) -> str | int:
    """A figure as the log line and the webhook keep it: a Decimal as its exact text (a JSON line would
    otherwise carry its repr)."""
    return format(value, "f") if isinstance(value, Decimal) else value
