"""Alerts raised just before a shutdown reach the webhook, or the log says they did not; an alert's
figures read on the market's grid on the console and stay exact in JSON lines and the webhook."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from decimal import Decimal
from typing import Any

from aiohttp import web
from structlog.testing import capture_logs

from executor.domain.market import MarketFilters
from executor.domain.notices import AlertKind, Figure, Unit
from executor.execution.alerts import Alerter
from executor.observability.logging import configure_logging
from executor.observability.metrics import Metrics

SOL = "SOL/USDT:USDT"
SOL_GRID = MarketFilters(
    amount_step=Decimal("1"),
    price_tick=Decimal("0.010"),
    min_amount=Decimal("1"),
    min_notional=Decimal("5"),
    max_leverage=None,
)
FIGURES = (
    Figure("risk", Decimal("81.52025"), Unit.MONEY),
    Figure("liquidation_price", Decimal("120.60301508"), Unit.PRICE),
    Figure("excess_qty", Decimal("1.0"), Unit.QTY),
)


class Webhook:
    """A local alerts endpoint that answers after `delay` seconds (never when None).

    A body counts as answered only once the response went back on a connection still open, so a
    post abandoned by its sender is not counted.
    """

    def __init__(self, delay: float | None) -> None:
        self.delay = delay
        self.answered: list[dict[str, Any]] = []
        self.url = ""

    async def receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        if self.delay is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.delay or 0)
        if request.transport is not None and not request.transport.is_closing():
            self.answered.append(body)
        return web.Response(status=204)


@contextlib.asynccontextmanager
async def webhook(delay: float | None) -> AsyncIterator[Webhook]:
    hook = Webhook(delay)
    app = web.Application()
    app.router.add_post("/alerts", hook.receive)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    hook.url = f"http://127.0.0.1:{port}/alerts"
    try:
        yield hook
    finally:
        await runner.cleanup()


def undelivered(logs: Sequence[Mapping[str, Any]]) -> list[tuple[str, str]]:
    return [(line["alert"], line["message"]) for line in logs if line["event"] == "alert_undelivered"]


async def test_an_alert_raised_just_before_shutdown_reaches_a_slow_webhook() -> None:
    async with webhook(delay=0.5) as hook:
        alerter = Alerter(Metrics(), hook.url, "main")
        with capture_logs() as logs:
            alerter.raise_alert(
                AlertKind.BREAKER_TRIPPED, "daily loss past the limit", Figure("action", "halt")
            )
            await alerter.drain(seconds=5)
        assert [(body["alert"], body["account"]) for body in hook.answered] == [("breaker_tripped", "main")]
    assert undelivered(logs) == []


async def test_an_alert_the_webhook_never_answers_is_logged_as_undelivered_within_the_bound() -> None:
    async with webhook(delay=None) as hook:
        alerter = Alerter(Metrics(), hook.url, "main")
        with capture_logs() as logs:
            alerter.raise_alert(AlertKind.STOP_NOT_PLACED, "position without a stop; closing it")
            started = time.monotonic()
            await alerter.drain(seconds=0.3)
            took = time.monotonic() - started
        assert hook.answered == []
    assert undelivered(logs) == [("stop_not_placed", "position without a stop; closing it")]
    assert 0.3 <= took < 2


async def test_a_drain_cut_short_by_the_shutdown_limit_still_logs_what_was_not_delivered() -> None:
    async with webhook(delay=None) as hook:
        alerter = Alerter(Metrics(), hook.url, "main")
        with capture_logs() as logs:
            alerter.raise_alert(AlertKind.FOREIGN_POSITION, "position long 5 SOL is not ours")
            alerter.raise_alert(AlertKind.UNEXPLAINED_STATE, "reconciliation: halted")
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(0.3):
                    await alerter.drain(seconds=30)
    assert sorted(kind for kind, _ in undelivered(logs)) == ["foreign_position", "unexplained_state"]


async def test_drain_returns_at_once_when_no_webhook_is_configured() -> None:
    alerter = Alerter(Metrics())
    with capture_logs() as logs:
        alerter.raise_alert(AlertKind.CLOSE_DEFERRED, "the close was not carried out yet; it is retried")
        async with asyncio.timeout(1):
            await alerter.drain(seconds=30)
    assert [line["event"] for line in logs] == ["alert"]


def test_an_alerts_console_line_shows_its_figures_on_the_grid_and_its_json_line_keeps_them_exact() -> None:
    console = io.StringIO()
    configure_logging(fmt="console", stream=console)
    Alerter(Metrics()).raise_alert(
        AlertKind.FILL_RISK_EXCEEDED, "over R", *FIGURES, symbol=SOL, filters=SOL_GRID
    )
    line = console.getvalue()
    assert "risk=81.52" in line and "liquidation_price=120.60" in line and "excess_qty=1 " in line, line
    assert "price_tick" not in line and "amount_step" not in line

    lines = io.StringIO()
    configure_logging(fmt="json", stream=lines)
    Alerter(Metrics()).raise_alert(
        AlertKind.FILL_RISK_EXCEEDED, "over R", *FIGURES, symbol=SOL, filters=SOL_GRID
    )
    exact = json.loads(lines.getvalue())
    assert {key: exact[key] for key in ("risk", "liquidation_price", "excess_qty", "symbol")} == {
        "risk": "81.52025",
        "liquidation_price": "120.60301508",
        "excess_qty": "1.0",
        "symbol": SOL,
    }
    assert (exact["price_tick"], exact["amount_step"]) == ("0.010", "1")


async def test_the_webhook_body_keeps_an_alerts_figures_exact_with_its_symbol() -> None:
    async with webhook(delay=0) as hook:
        alerter = Alerter(Metrics(), hook.url, "main")
        alerter.raise_alert(AlertKind.FILL_RISK_EXCEEDED, "over R", *FIGURES, symbol=SOL, filters=SOL_GRID)
        await alerter.drain(seconds=5)
    [body] = hook.answered
    assert body["details"] == {
        "symbol": SOL,
        "risk": "81.52025",
        "liquidation_price": "120.60301508",
        "excess_qty": "1.0",
    }
