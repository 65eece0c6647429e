"""`executor signals`, `trades` and `pnl` through Click's runner on a real database: tables people read
(money with 2 decimals, a loss with its minus, prices on the market's tick when the daemon gives it) and
`--json` with the exact decimals."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from decimal import Decimal

import pytest

from executor.cli.history import render_trades
from executor.store.store import Store
from tests.support.cli import NOW, Ran, cli_env, run_cli
from tests.support.history import INGRESS_SECRET, TRADES, seed_history, send_invalid

D = Decimal


async def cli(*args: str, database: str) -> Ran:
    """The command in a worker thread: it runs its own event loop, as it does from a shell."""
    return await asyncio.to_thread(run_cli, *args, env=cli_env(database))


@pytest.fixture
async def database(store: Store, migrated_database_url: str) -> str:
    await seed_history(store)
    return migrated_database_url


async def test_signals_lists_the_refusal_with_its_reason_and_filters_by_reason_in_any_case(
    database: str,
) -> None:
    ran = await cli("signals", database=database)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split() == ["received", "signal", "action", "symbol", "side", "qty", "status", "outcome"]
    assert "h-queued" in lines[1] and "queued" in lines[1]
    assert "REJECTED HEAT_CAP: Portfolio heat 5.2% would exceed the cap of 5%." in lines[2]
    assert "ACCEPTED" in lines[3] and "0.010" in lines[3]

    ran = await cli("signals", "--reason", "heat_cap", "--json", database=database)
    listed = json.loads(ran.stdout)["signals"]
    assert [(s["signal_id"], s["reason"], s["accepted"]) for s in listed] == [
        ("h-sol-refused", "HEAT_CAP", False)
    ]


async def test_signals_lists_a_message_that_was_no_signal_as_invalid_with_its_error_and_no_secret(
    store: Store, database: str
) -> None:
    await send_invalid(store, NOW - timedelta(minutes=10))

    ran = await cli("signals", "--reason", "invalid_message", "--since", "2026-06-02", database=database)
    assert ran.returncode == 0, ran.stderr
    _, row, source = ran.stdout.splitlines()
    assert row.split()[3:6] == ["h-bad-side", "—", "SOL/USDT:USDT"]
    assert "failed" in row and "REJECTED INVALID_MESSAGE: side: " in row
    assert source.startswith("source: database")

    ran = await cli("signals", "--status", "failed", "--json", database=database)
    assert INGRESS_SECRET not in ran.stdout
    (listed,) = json.loads(ran.stdout)["signals"]
    assert (listed["signal_id"], listed["reason"]) == ("h-bad-side", "INVALID_MESSAGE")


@pytest.mark.parametrize(
    ("args", "complaint"),
    [
        (["signals", "--since", "last week"], "--since: 'last week' is not a time: give an ISO date or time"),
        (["signals", "--reason", "TOO_BIG"], "--reason: 'TOO_BIG' is no reason code; one of HALTED, PAUSED"),
        (["trades", "--since", "7 days"], "--since: '7 days' is not a time"),
        (["pnl", "--since", "x"], "--since: 'x' is not a time"),
    ],
)
def test_a_bad_filter_is_one_line_naming_the_option_and_exit_2(args: list[str], complaint: str) -> None:
    ran = run_cli(*args, env=cli_env("sqlite+aiosqlite:///never-opened.db"))
    assert ran.returncode == 2
    assert complaint in ran.stderr and len(ran.stderr.strip().splitlines()) == 1 and ran.stdout == ""


async def test_trades_without_a_daemon_reads_the_database_and_shows_pnl_and_r_for_people(
    database: str,
) -> None:
    ran = await cli("trades", database=database)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0] == "closed trades: 3"
    win, loss = lines[2].split(), lines[3].split()
    # 10 SOL 150.02 → 156: PnL 59.80 − 1.53 fees − 0.20 funding; R = 58.07 / 51.6751
    assert win[-4:] == ["-0.20", "58.07", "1.12", "breakout"]
    # the ETH short stopped out: the loss reads as a minus, never as a negative loss
    assert loss[-5:] == ["1.53", "0.10", "-32.18", "-1.02", "meanrev"]
    assert "open trades: 1" in lines and lines[-1].startswith(
        "source: database (no answer at http://127.0.0.1:"
    )

    ran = await cli("trades", "--strategy", "meanrev", "--json", database=database)
    report = json.loads(ran.stdout)
    (closed,) = report["closed"]
    assert D(closed["pnl"]) == TRADES[1].pnl and D(closed["r_multiple"]) == TRADES[1].pnl / TRADES[1].risk
    assert report["open"] == []


def test_with_the_daemons_markets_prices_show_on_the_tick_and_quantities_on_the_step() -> None:
    trade = {
        "symbol": "SOL/USDT:USDT",
        "side": "long",
        "qty": "10.0000",
        "leverage": 3,
        "entry_price": "150.0216667",
        "exit_price": "156",
        "stop_price": "145",
        "fees": "1.534",
        "funding": "-0.2",
        "pnl": "58.066",
        "r_multiple": "1.1237",
        "risk_at_entry": "51.6751",
        "strategy": None,
        "opened_at": "2026-06-02T10:00:00+00:00",
        "closed_at": "2026-06-02T12:00:00+00:00",
    }
    report = {
        "closed": [trade],
        "open": [trade],
        "markets": {"SOL/USDT:USDT": {"price_tick": "0.010", "amount_step": "1"}},
    }
    closed, still_open = render_trades(report)[2].split(), render_trades(report)[5].split()
    assert closed[5:] == ["10", "3x", "150.02", "156.00", "1.53", "-0.20", "58.07", "1.12", "—"]
    assert still_open[5:] == ["10", "3x", "150.02", "145.00", "51.68", "—"]


async def test_pnl_prints_the_total_and_one_row_per_strategy_an_average_loss_as_its_size_json_exact(
    database: str,
) -> None:
    ran = await cli("pnl", "--by", "strategy", database=database)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[1].split() == [
        "strategy", "trades", "win", "%", "PnL", "fees", "funding", "avg", "win", "avg", "loss", "PF",
        "avg", "R", "expectancy", "max", "DD",
    ]  # fmt: skip
    breakout, meanrev, total = (line.split() for line in lines[2:5])
    assert breakout[:4] == ["breakout", "2", "100.00%", "65.47"]
    assert meanrev[:4] == ["meanrev", "1", "0.00%", "-32.18"] and meanrev[6] == "—"  # no win to average
    # the average loss is the size of a loss under a column named as one, never a negative loss
    assert meanrev[7] == "32.18" and breakout[7] == "—"
    assert total[:4] == ["total", "3", "66.67%", "33.29"] and total[7] == "32.18" and total[-1] == "32.18"

    ran = await cli("pnl", "--daily", "--json", database=database)
    report = json.loads(ran.stdout)
    assert D(report["total"]["pnl"]) == sum((t.pnl for t in TRADES), D(0))
    assert D(report["total"]["average_loss"]) == TRADES[1].pnl < 0  # JSON: the exact, signed PnL
    assert [row["period"] for row in report["rows"]] == ["2026-06-01", "2026-06-02"]
