"""`status_report` and `executor status`: from the running daemon when it answers, else from the database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from fastapi import FastAPI

from executor.domain.account import MarginMode, Position
from executor.domain.enums import BreakerStatus, Side
from executor.risk import CarriedState, trip
from executor.risk.clock import trading_day
from executor.service.http import HttpServer, build_app
from executor.service.state import ServiceState
from executor.service.status import status_report
from executor.signals.auth import Authenticator
from executor.store.models import DailyLossRow, OrderRow, PositionRow, RiskStateRow
from executor.store.store import Store
from tests.support.cli import (
    ACCOUNT,
    HANDBOOK,
    NOW,
    SOL_LONG,
    cli_env,
    decide_scenario,
    run_executor,
    scenario,
    store_decided_signal,
    store_position_with_orders,
)

SQLITE_ONLY = pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)


async def seed(store: Store, now: datetime) -> int:
    """A day with a losing trade booked, a tripped breaker, one open protected position and a stray order."""
    decision = decide_scenario(scenario(SOL_LONG, now))
    signal_pk = await store_decided_signal(store, SOL_LONG, decision, now)
    position_pk = await store_position_with_orders(store, signal_pk, SOL_LONG["id"], decision, now)
    state = trip(CarriedState.initial(), now, "daily loss 310 (equity) reached the limit 300")
    async with store.transaction() as tx:
        await tx.daily_loss.add(
            DailyLossRow(
                account=ACCOUNT,
                trading_day=trading_day(now, "UTC"),
                start_of_day_equity=Decimal("10000"),
                realized_pnl=Decimal("-120.5"),
                fees=Decimal("4.25"),
                funding=Decimal("-0.25"),
                breaker=BreakerStatus.TRIPPED.value,
                tripped_at=now,
                trip_reason=state.trip_reason,
                updated_at=now,
            )
        )
        tx.session.add(RiskStateRow(account=ACCOUNT, state=state.to_dict(), version=4, updated_at=now))
        await tx.positions.add(
            PositionRow(
                account=ACCOUNT,
                symbol="ETH/USDT:USDT",
                side="short",
                status="closed",
                qty=Decimal("0.5"),
                entry_price=Decimal("3000"),
                exit_price=Decimal("3100"),
                stop_price=Decimal("3100"),
                leverage=2,
                setup="primary",
                realized_pnl=Decimal("-50"),
                opened_at=now - timedelta(hours=2),
                closed_at=now - timedelta(hours=1),
            )
        )
        await tx.orders.add(
            OrderRow(
                account=ACCOUNT,
                client_order_id="px-stray-en0",
                kind="entry",
                symbol="BTC/USDT:USDT",
                side="buy",
                order_type="limit",
                qty=Decimal("0.010"),
                price=Decimal("59000.0"),
                state="unknown",
                state_history=[],
                created_at=now,
                updated_at=now,
            )
        )
    return position_pk


def exchange_position(symbol: str, side: Side, qty: str, mark: str) -> Position:
    return Position(
        symbol=symbol,
        side=side,
        qty=Decimal(qty),
        entry_price=Decimal("150.02"),
        mark_price=Decimal(mark),
        liquidation_price=Decimal("120.61"),
        leverage=Decimal(5),
        margin_mode=MarginMode.ISOLATED,
        unrealized_pnl=Decimal("-7.28"),
        notional=Decimal("2100"),
    )


async def test_the_report_holds_breaker_day_positions_with_their_stops_and_live_orders(store: Store) -> None:
    position_pk = await seed(store, NOW)
    on_exchange = [
        exchange_position("SOL/USDT:USDT", Side.LONG, "14", "149.50"),
        exchange_position("ETH/USDT:USDT", Side.LONG, "1", "3000"),
    ]

    report = await status_report(
        store, ACCOUNT, HANDBOOK, NOW, equity=Decimal("9690"), exchange_positions=on_exchange
    )

    assert json.loads(json.dumps(report)) == report
    assert report["account"] == ACCOUNT and report["now"] == NOW.isoformat()
    assert report["breaker"] | {"resets_at": None} == {
        "status": "tripped",
        "reason": "daily loss 310 (equity) reached the limit 300",
        "tripped_at": NOW.isoformat(),
        "resets_at": None,
        "resumed_at": None,
        "resume_note": None,
        "mode": "active",
        "version": 4,
    }
    assert report["breaker"]["resets_at"] == "2026-06-03T00:00:00+00:00"
    day = report["day"]
    assert (day["trading_day"], day["loss_basis"]) == ("2026-06-02", "equity")
    assert [Decimal(day[key]) for key in ("start_of_day_equity", "net", "loss", "limit")] == [
        Decimal("10000"),
        Decimal("-125"),
        Decimal("310"),
        Decimal("300"),
    ]
    assert report["equity"] == "9690"
    [position] = report["positions"]
    assert position["id"] == position_pk and position["stop_price"] == "145.00"
    assert position["stop_resting"] is True
    assert position["stop_order"]["kind"] == "stop" and position["stop_order"]["trigger_price"] == "145.00"
    assert position["take_profit_order"]["trigger_price"] == "162.00"
    assert position["exchange"]["mark_price"] == "149.50"
    assert [(o["kind"], o["state"]) for o in report["orders"]] == [
        ("stop", "open"),
        ("take_profit", "open"),
        ("entry", "unknown"),
    ]
    assert [p["symbol"] for p in report["untracked_positions"]] == ["ETH/USDT:USDT"]


async def test_without_equity_the_loss_is_the_days_booked_net(store: Store) -> None:
    await seed(store, NOW)

    report = await status_report(store, ACCOUNT, HANDBOOK, NOW)

    assert (Decimal(report["day"]["loss"]), report["day"]["loss_basis"]) == (Decimal(125), "realized")
    assert report["equity"] is None and "untracked_positions" not in report


async def test_an_empty_account_reports_an_active_breaker_and_no_day_yet(store: Store) -> None:
    report = await status_report(store, ACCOUNT, HANDBOOK, NOW)

    assert report["breaker"]["status"] == "active" and report["breaker"]["version"] == 0
    assert report["day"]["start_of_day_equity"] is None and report["day"]["limit"] is None
    assert report["day"]["limit_pct"] == "0.03"
    assert report["positions"] == [] and report["orders"] == [] and report["queued_signals"] == 0


@SQLITE_ONLY
async def test_status_reads_the_database_when_no_daemon_answers(
    store: Store, migrated_database_url: str
) -> None:
    await seed(store, datetime.now(UTC))

    code, out, err = await run_executor("status", env=cli_env(migrated_database_url))

    assert code == 3, err  # the report is printed; the code tells a script no daemon answered
    assert "daemon     NOT RUNNING: no answer at http://127.0.0.1:" in out
    assert "breaker    TRIPPED since" in out and "daily loss 310 (equity) reached the limit 300" in out
    assert "loss 125.00 against a loss limit of 300.00 (realized basis)" in out
    assert "realized -120.50, fees 4.25, funding -0.25 · start-of-day equity 10,000.00" in out
    assert "equity     unknown" in out
    assert "SOL/USDT:USDT long 14 @ 150.02 · 5x · stop 145.00 (order open)" in out
    assert "take-profit 162.00 (order open)" in out
    assert (
        "orders     3 live" in out
        and "px-stray-en0 · entry · BTC/USDT:USDT limit buy 0.010 at 59000.0" in out
    )


async def serve(app: FastAPI) -> HttpServer:
    server = HttpServer(app, "127.0.0.1", 0)
    await server.start()
    return server


@SQLITE_ONLY
async def test_status_asks_the_running_daemon_first(store: Store, migrated_database_url: str) -> None:
    await seed(store, datetime.now(UTC))

    async def daemon_status() -> dict[str, Any]:
        return await status_report(store, ACCOUNT, HANDBOOK, datetime.now(UTC), equity=Decimal("9690"))

    app = build_app(ServiceState(), status=daemon_status)
    server = await serve(app)
    try:
        env = cli_env(migrated_database_url, EXECUTOR__INGRESS__HTTP=f"127.0.0.1:{server.port}")
        code, out, err = await run_executor("status", "--json", env=env)
        human = await run_executor("status", env=env)
    finally:
        await server.stop()

    assert code == 0, err
    report = json.loads(out)
    assert report["daemon"] == {
        "url": f"{server.url}/status",
        "running": True,
        "source": "daemon",
        "note": None,
    }
    assert report["equity"] == "9690" and report["day"]["loss"] == "310"
    assert human[0] == 0 and f"daemon     running at {server.url}/status" in human[1]
    assert "equity     9,690.00" in human[1]
    assert "loss 310.00 against a loss limit of 300.00 (equity basis)" in human[1]


@SQLITE_ONLY
async def test_a_daemon_without_a_status_route_falls_back_to_the_database(
    store: Store, migrated_database_url: str
) -> None:
    server = await serve(FastAPI())
    try:
        env = cli_env(migrated_database_url, EXECUTOR__INGRESS__HTTP=f"127.0.0.1:{server.port}")
        code, out, err = await run_executor("status", "--json", env=env)
    finally:
        await server.stop()

    assert code == 3, err
    daemon = json.loads(out)["daemon"]
    assert daemon["source"] == "database" and daemon["note"] == f"{server.url}/status answered HTTP 404"


@SQLITE_ONLY
async def test_status_sends_the_configured_secret_to_a_daemon_that_requires_it(
    store: Store, migrated_database_url: str
) -> None:
    await seed(store, datetime.now(UTC))

    async def daemon_status() -> dict[str, Any]:
        return await status_report(store, ACCOUNT, HANDBOOK, datetime.now(UTC), equity=Decimal("9690"))

    secret = "status-secret-0123456789"
    app = build_app(ServiceState(), status=daemon_status, authenticator=Authenticator(secret))
    server = await serve(app)
    try:
        env = cli_env(migrated_database_url, EXECUTOR__INGRESS__HTTP=f"127.0.0.1:{server.port}")
        with_secret = await run_executor("status", "--json", env=env | {"EXECUTOR__INGRESS__SECRET": secret})
        without = await run_executor("status", "--json", env=env)
    finally:
        await server.stop()

    assert with_secret[0] == 0, with_secret[2]
    assert json.loads(with_secret[1])["daemon"]["source"] == "daemon"
    assert without[0] == 3, without[2]
    daemon = json.loads(without[1])["daemon"]
    assert daemon["source"] == "database" and "HTTP 401: set EXECUTOR__INGRESS__SECRET" in daemon["note"]


def test_status_shows_prices_to_the_tick_quantities_to_the_step_money_to_cents_and_a_gain_as_a_profit() -> (
    None
):
    from executor.cli.status import render

    report: dict[str, Any] = {
        "daemon": {"running": True, "url": "http://127.0.0.1:8080/status"},
        "day": {
            "trading_day": "2026-06-02",
            "start_of_day_equity": "10000",
            "loss": "-3.456",
            "limit": "300",
        },
        "equity": "10003.456",
        "positions": [
            {
                "id": 1,
                "symbol": "SOL/USDT:USDT",
                "side": "long",
                "qty": "14.0000",
                "entry_price": "149.9812",
                "stop_price": "145",
                "leverage": 5,
                "stop_order": {"state": "open"},
                "exchange": {"mark_price": "150.0", "unrealized_pnl": "-0.255"},
            }
        ],
        "orders": [
            {
                "client_order_id": "px-1-sl0",
                "kind": "stop",
                "symbol": "SOL/USDT:USDT",
                "type": "stop_market",
                "side": "sell",
                "qty": "14",
                "trigger_price": "145",
                "state": "open",
            }
        ],
        "markets": {"SOL/USDT:USDT": {"price_tick": "0.010", "amount_step": "1"}},
    }
    out = "\n".join(render(report))
    # the day's loss is -3.456: a gain, said as a profit, never as a negative loss
    assert "profit 3.46 against a loss limit of 300.00" in out and "loss -" not in out
    assert "equity     10,003.46" in out
    assert "#1 SOL/USDT:USDT long 14 @ 149.98 · 5x · stop 145.00 (order open)" in out
    assert "mark 150.00, unrealized -0.26" in out  # half up, a loss with its minus
    assert "stop_market sell 14 trigger 145.00 · open" in out
