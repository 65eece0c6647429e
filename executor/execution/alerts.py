"""Alerts: what an operator must hear about at once. Logged, metered, and posted to a webhook if set."""

from __future__ import annotations

import asyncio
import json
from enum import StrEnum
from typing import Any

import httpx

from executor.observability.logging import get_logger
from executor.observability.metrics import Metrics

log = get_logger("executor.alerts")


class AlertKind(StrEnum):
    STOP_NOT_PLACED = "stop_not_placed"
    BREAKER_TRIPPED = "breaker_tripped"
    UNEXPLAINED_STATE = "unexplained_state"
    LIQUIDATION_TOO_CLOSE = "liquidation_too_close"
    EXCHANGE_BANNED = "exchange_banned"
    FOREIGN_POSITION = "foreign_position"
    ORDER_UNRESOLVED = "order_unresolved"
    CLOSE_DEFERRED = "close_deferred"
    STALE_LEG = "stale_leg"


class Alerter:
    def __init__(self, metrics: Metrics, webhook_url: str = "", account: str = "") -> None:
        self._metrics = metrics
        self._url = webhook_url
        self._account = account
        self._posts: dict[asyncio.Task[None], dict[str, Any]] = {}

    def raise_alert(self, kind: AlertKind, message: str, **details: Any) -> None:
        """Never blocks the caller: the webhook post runs on its own and its failure is only logged."""
        self._metrics.alerts.labels(kind=kind.value).inc()
        log.error("alert", alert=kind.value, message=message, **details)
        if self._url:
            body = {"account": self._account, "alert": kind.value, "message": message, "details": details}
            task = asyncio.create_task(self._post(body))
            self._posts[task] = body
            task.add_done_callback(self._posts.pop)

    async def _post(self, body: dict[str, Any]) -> None:
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
        """At shutdown: give the posts in flight up to `seconds` to reach the webhook.

        A post still unanswered then is cancelled and logged as undelivered with its alert, so an alert
        raised just before a stop is either delivered or says in the log that it was not; the same happens
        if the shutdown's own time limit cancels the wait.
        """
        try:
            if self._posts:
                await asyncio.wait(list(self._posts), timeout=seconds)
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
