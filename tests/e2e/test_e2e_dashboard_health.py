"""The dashboard's health panel against a running daemon: each exchange stream with its state, the age of
its last message and its reconnections, as /ready has them (a stalled one down with its problem), and the
exchange client's request window."""

from __future__ import annotations

import re

import pytest

from harness.e2e import SYMBOL, Daemon, DaemonFactory, Sim, eventually

pytestmark = pytest.mark.slow

ROW = re.compile(
    r'<tr class="stream" data-stream="(?P<name>\w+)" data-state="(?P<state>\w+)">(?P<cells>.*?)</tr>', re.S
)


async def page_streams(daemon: Daemon) -> dict[str, tuple[str, str]]:
    """Each stream row of the page: its state and its cells' text."""
    code, page = await daemon.get("/", headers={"Accept": "text/html"})
    assert code == 200 and isinstance(page, str), page
    return {
        row["name"]: (row["state"], " ".join(re.sub(r"<[^>]+>", " ", row["cells"]).split()))
        for row in ROW.finditer(page)
    }


async def ready_streams(daemon: Daemon) -> dict[str, dict[str, object]]:
    _, body = await daemon.get("/ready")
    return dict(body.get("streams") or {})


async def test_the_health_panel_shows_each_stream_with_its_state_and_the_exchanges_request_window(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(
        sqlite_url,
        EXECUTOR__EXCHANGE__STREAM_STALL_MS="1000",
        EXECUTOR__RISK__OVERRIDES__ALLOWED_SYMBOLS=f'["{SYMBOL}"]',  # followed from start-up
    )
    await daemon.start()

    async def all_live() -> dict[str, tuple[str, str]] | None:
        shown = await page_streams(daemon)
        return shown if shown and all(state == "live" for state, _ in shown.values()) else None

    live = await eventually(all_live, what="every stream live on the page")
    assert set(live) == {"mark_price", "book_ticker", "user_data"}
    assert all(re.search(r"\d+\.\d s ago", text) for _, text in live.values()), live

    await sim.fault(
        action="ws_stall", method="WS", path="/market/*", match={"stream": "solusdt@markPrice@1s"}, count=None
    )

    async def mark_down() -> dict[str, tuple[str, str]] | None:
        shown = await page_streams(daemon)
        return shown if shown.get("mark_price", ("", ""))[0] == "down" else None

    shown = await eventually(mark_down, what="the stalled mark stream down on the page")
    _, text = shown["mark_price"]
    assert "no message for 1 s (stalled)" in text, text
    ready = (await ready_streams(daemon))["mark_price"]
    assert ready["state"] == "down"
    assert shown["user_data"][0] == "live"

    _, page = await daemon.get("/", headers={"Accept": "text/html"})
    requests = re.search(r'<tr id="requests">(.*?)</tr>', page, re.S)
    assert requests is not None, page
    assert re.search(r"\d+\.\d\d% of the window used", requests[1]), requests[1]
    assert "units a minute against" in requests[1], requests[1]
    await daemon.sigterm()
