"""The trading day's report at the rollover, end to end: a trade opened and closed on the simulator, the
exchange's clock moved past midnight, and the daily summary reaching a local Apprise JSON receiver with a
link the daemon serves: the day's HTML report with the trade, and its PNG chart."""

from __future__ import annotations

from typing import Any

import aiohttp
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


async def closed_db(daemon: Daemon) -> Any:
    db = await daemon.db()
    return db if db.closed_positions() and not db.open_positions() else None


async def fetch(url: str) -> tuple[int, str, bytes]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session,
        session.get(url) as got,
    ):
        return got.status, got.content_type, await got.read()


async def test_the_daily_summary_links_the_ended_days_report_which_the_daemon_serves(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    async with AlertSink() as sink:
        daemon = daemons(
            sqlite_url, EXECUTOR__ALERTS__URLS=f'[{{url = "{sink.apprise_url}", events = ["daily_summary"]}}]'
        )
        await daemon.start(EXECUTOR__REPORTS__LINK_URL=daemon.http_url)
        await daemon.ws_send([market_signal("report-day-1")])
        await eventually(lambda: protected_view(sim), what="the position with its stop")
        async with (
            aiohttp.ClientSession() as session,
            session.post(f"{daemon.http_url}/positions/{SYMBOL}/close") as answer,
        ):
            assert answer.status == 202, await answer.text()
        await eventually(lambda: flat_view(sim), what="the position closed")
        db = await eventually(lambda: closed_db(daemon), what="the close booked")
        day = db.closed_positions()[0].closed_at.date().isoformat()

        clock = await sim.advance(0)
        await sim.advance(seconds_past_next_utc_midnight(clock["now_ms"]))

        async def summary() -> dict[str, Any] | None:
            return next((body for body in sink.answered if "report:" in str(body.get("message"))), None)

        body = await eventually(summary, within=90, what="the daily summary with its report link")

    link = f"{daemon.http_url}/reports/{day}.html"
    assert f"report: {link}" in body["message"], body
    assert body["title"] == "[main] daily_summary"
    status, kind, html = await fetch(link)
    assert (status, kind) == (200, "text/html")
    text = html.decode()
    assert f"trading day {day}" in text and 'id="trade-count">1<' in text
    assert 'class="num r">' in text
    status, kind, png = await fetch(f"{daemon.http_url}/reports/{day}.png")
    assert (status, kind, png[:8]) == (200, "image/png", b"\x89PNG\r\n\x1a\n")
    assert daemon.logged("daily_report_written") and not daemon.logged("daily_report_failed")
    assert error_lines(daemon) == []
