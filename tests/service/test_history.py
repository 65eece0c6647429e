"""The history reports on real SQLite and PostgreSQL stores, and `GET /trades` and `GET /pnl` behind the
secret: signals with their outcome, trades with their R multiple, performance per period and group."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, timedelta
from decimal import Decimal

import httpx
import pytest
from fastapi import APIRouter

from executor.domain.enums import SignalStatus
from executor.domain.performance import GroupBy, Period
from executor.domain.reasons import ReasonCode
from executor.service.history import history_router, pnl_report, signal_report, trade_report
from executor.service.http import HttpServer, build_app
from executor.service.state import ServiceState
from executor.signals.auth import Authenticator
from executor.store.store import Store
from tests.support.cli import ACCOUNT, NOW
from tests.support.history import INGRESS_SECRET, OPEN, TRADES, seed_history, send_invalid

D = Decimal
SECRET = "history-secret-0123456789"


async def test_signals_come_newest_first_with_their_outcome_and_filter_by_status_reason_and_time(
    store: Store,
) -> None:
    await seed_history(store)

    listed = (await signal_report(store, ACCOUNT))["signals"]
    assert [s["signal_id"] for s in listed] == [
        "h-queued",
        "h-sol-refused",
        "h-btc-open",
        "h-sol-win-2",
        "h-eth-loss",
        "h-sol-win",
    ]
    refused = listed[1]
    assert (refused["status"], refused["accepted"], refused["reason"]) == ("decided", False, "HEAT_CAP")
    assert refused["message"].startswith("Portfolio heat") and refused["symbol"] == "SOL/USDT:USDT"
    assert (listed[0]["status"], listed[0]["accepted"], listed[0]["qty"]) == ("queued", None, None)
    assert (listed[2]["accepted"], D(listed[2]["qty"]), listed[2]["side"]) == (True, D("0.010"), "long")

    rejected = await signal_report(store, ACCOUNT, reason=ReasonCode.HEAT_CAP)
    assert [s["signal_id"] for s in rejected["signals"]] == ["h-sol-refused"]
    queued = await signal_report(store, ACCOUNT, status=SignalStatus.QUEUED)
    assert [s["signal_id"] for s in queued["signals"]] == ["h-queued"]
    recent = await signal_report(store, ACCOUNT, since=NOW - timedelta(hours=2), limit=2)
    assert [s["signal_id"] for s in recent["signals"]] == ["h-queued", "h-sol-refused"]


async def test_a_message_that_was_no_signal_is_listed_failed_with_invalid_message_and_no_secret(
    store: Store,
) -> None:
    await seed_history(store)
    await send_invalid(store, NOW - timedelta(minutes=10))
    await send_invalid(store, NOW - timedelta(days=2), signal_id="h-bad-old")

    listed = (await signal_report(store, ACCOUNT))["signals"]
    assert [s["signal_id"] for s in listed][:3] == ["h-queued", "h-bad-side", "h-sol-refused"]
    assert listed[-1]["signal_id"] == "h-bad-old"
    invalid = listed[1]
    assert (invalid["status"], invalid["accepted"], invalid["reason"]) == ("failed", False, "INVALID_MESSAGE")
    assert invalid["message"].startswith("side: ") and "\n" not in invalid["message"]
    assert (invalid["symbol"], invalid["side"], invalid["qty"]) == ("SOL/USDT:USDT", "[REDACTED]", None)
    assert INGRESS_SECRET not in repr(listed)

    async def ids(**filters: object) -> list[str]:
        report = await signal_report(store, ACCOUNT, **filters)  # type: ignore[arg-type]
        return [s["signal_id"] for s in report["signals"]]

    assert await ids(reason=ReasonCode.INVALID_MESSAGE) == ["h-bad-side", "h-bad-old"]
    assert await ids(reason=ReasonCode.INVALID_MESSAGE, since=NOW - timedelta(hours=1)) == ["h-bad-side"]
    assert await ids(status=SignalStatus.FAILED) == ["h-bad-side", "h-bad-old"]
    assert "h-bad-side" not in await ids(reason=ReasonCode.HEAT_CAP)
    assert "h-bad-side" not in await ids(status=SignalStatus.DECIDED)
    assert await ids(limit=2) == ["h-queued", "h-bad-side"]


async def test_closed_trades_carry_net_pnl_and_r_over_the_risk_at_entry_and_the_open_trade_is_listed(
    store: Store,
) -> None:
    await seed_history(store)

    report = await trade_report(store, ACCOUNT)

    closed = report["closed"]
    assert [t["signal_id"] for t in closed] == ["h-sol-win", "h-eth-loss", "h-sol-win-2"]
    for shown, trade in zip(closed, TRADES, strict=True):
        assert D(shown["pnl"]) == trade.pnl
        assert D(shown["risk_at_entry"]) == trade.risk
        assert D(shown["r_multiple"]) == trade.pnl / trade.risk
        assert (shown["strategy"], D(shown["exit_price"]), shown["leverage"]) == (
            trade.strategy,
            D(trade.exit or "NaN"),
            3,
        )
    # the ETH short stopped just past its stop: a little more than 1 R lost, fees included in the 1 R
    assert D("-1.03") < D(closed[1]["r_multiple"]) < D("-1.01")
    (still_open,) = report["open"]
    assert (still_open["signal_id"], still_open["pnl"], still_open["r_multiple"]) == (
        OPEN.signal_id,
        None,
        None,
    )


async def test_trades_filter_by_symbol_in_either_form_by_strategy_and_by_close_time(store: Store) -> None:
    await seed_history(store)

    async def ids(**filters: object) -> list[str | None]:
        report = await trade_report(store, ACCOUNT, **filters)  # type: ignore[arg-type]
        return [t["signal_id"] for t in [*report["closed"], *report["open"]]]

    assert await ids(symbol="SOL/USDT:USDT") == ["h-sol-win", "h-sol-win-2"]
    assert await ids(symbol="solusdt") == ["h-sol-win", "h-sol-win-2"]
    assert await ids(strategy="breakout") == ["h-sol-win", "h-sol-win-2", "h-btc-open"]
    assert await ids(since=NOW - timedelta(hours=6)) == ["h-eth-loss", "h-sol-win-2", "h-btc-open"]


async def test_pnl_totals_and_rows_per_strategy_and_day_agree_with_the_trades(store: Store) -> None:
    await seed_history(store)

    report = await pnl_report(store, ACCOUNT, UTC)
    total = report["total"]
    assert (total["trades"], total["wins"], total["losses"]) == (3, 2, 1)
    assert D(total["pnl"]) == sum((t.pnl for t in TRADES), D(0))
    assert D(total["fees"]) == D("3.66") and D(total["funding"]) == D("-0.1")
    assert D(total["profit_factor"]) == (TRADES[0].pnl + TRADES[2].pnl) / -TRADES[1].pnl
    assert D(total["max_drawdown"]) == -TRADES[1].pnl
    assert report["rows"] == []

    by_strategy = await pnl_report(store, ACCOUNT, UTC, by=GroupBy.STRATEGY)
    rows = {row["group"]: row for row in by_strategy["rows"]}
    assert set(rows) == {"breakout", "meanrev"}
    assert D(rows["breakout"]["pnl"]) == TRADES[0].pnl + TRADES[2].pnl and rows["breakout"]["trades"] == 2
    assert D(rows["meanrev"]["win_rate"]) == 0 and D(rows["meanrev"]["profit_factor"]) == 0

    daily = await pnl_report(store, ACCOUNT, UTC, period=Period.DAILY, since=NOW - timedelta(hours=10))
    assert [(row["period"], row["trades"]) for row in daily["rows"]] == [("2026-06-02", 2)]
    assert daily["total"]["trades"] == 2


@pytest.fixture
async def client(store: Store) -> AsyncIterator[httpx.AsyncClient]:
    await seed_history(store)
    await send_invalid(store, NOW - timedelta(minutes=10))
    router = history_router(store, ACCOUNT, UTC, lambda: NOW, None)
    webhook = APIRouter()

    @webhook.post("/signals")
    async def self_authenticating() -> dict[str, str]:
        return {"status": "queued"}

    app = build_app(
        ServiceState(),
        routers=[webhook, router],
        authenticator=Authenticator(SECRET),
        open_paths=["POST /signals"],
    )
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            yield http
    finally:
        await server.stop()


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_get_signals_trades_and_pnl_need_the_secret_and_serve_the_reports(
    client: httpx.AsyncClient,
) -> None:
    for path in ("/signals", "/trades", "/pnl"):
        assert (await client.get(path)).status_code == 401
    # the webhook's POST /signals authenticates itself, so the middleware lets it through; GET does not
    assert (await client.post("/signals")).json() == {"status": "queued"}
    auth = {"Authorization": f"Bearer {SECRET}"}

    signals = await client.get("/signals", params={"reason": "HEAT_CAP", "since": "2026-06-01"}, headers=auth)
    assert signals.status_code == 200
    assert [s["signal_id"] for s in signals.json()["signals"]] == ["h-sol-refused"]
    assert (await client.get("/signals", params={"limit": 0}, headers=auth)).status_code == 422
    invalid = await client.get("/signals", params={"reason": "INVALID_MESSAGE"}, headers=auth)
    assert [(s["signal_id"], s["status"]) for s in invalid.json()["signals"]] == [("h-bad-side", "failed")]

    trades = await client.get("/trades", params={"symbol": "SOLUSDT", "since": "30h"}, headers=auth)
    assert trades.status_code == 200
    assert [t["signal_id"] for t in trades.json()["closed"]] == ["h-sol-win", "h-sol-win-2"]

    pnl = await client.get("/pnl", params={"by": "symbol", "period": "weekly"}, headers=auth)
    assert pnl.status_code == 200
    assert {row["group"] for row in pnl.json()["rows"]} == {"SOL/USDT:USDT", "ETH/USDT:USDT"}

    bad = await client.get("/pnl", params={"since": "last week"}, headers=auth)
    assert bad.status_code == 400
    assert bad.json()["errors"][0]["field"] == "since"
    assert (await client.get("/pnl", params={"by": "colour"}, headers=auth)).status_code == 422
