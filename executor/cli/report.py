"""`executor report [--day DATE]`: one trading day's report, written from the database.

Prices and quantities are shown on each market's tick and step: the daemon passes its markets on stdin
(`--markets -`) when it writes the report at the rollover; run by hand, the command asks the running
daemon (`GET /trades`, whose answer carries them) and, with no daemon, shows them as stored.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import IO

import click

from executor.cli.access import fail, with_store
from executor.cli.common import EXIT_BAD_INPUT, config_option, configure_cli_logging, settings_or_exit
from executor.cli.history import ask_history
from executor.config.settings import Settings
from executor.domain.market import MarketFilters, grid_filters
from executor.reports.daily import day_report
from executor.reports.render import text, write
from executor.risk.clock import trading_day


def _day(value: str | None, timezone: str, now: datetime) -> date:
    if value is None:
        return trading_day(now, timezone) - timedelta(days=1)
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"--day {value!r} is not a date: give the trading day as YYYY-MM-DD", EXIT_BAD_INPUT)


def _given_markets(stream: IO[str]) -> dict[str, MarketFilters]:
    try:
        return grid_filters(json.load(stream))
    except (ValueError, TypeError, KeyError, ArithmeticError, AttributeError):
        fail(
            "--markets: not a JSON object of symbol → {price_tick, amount_step} (as GET /trades answers)",
            EXIT_BAD_INPUT,
        )


def _daemons_markets(settings: Settings, since: datetime) -> tuple[dict[str, MarketFilters], str]:
    """The running daemon's ticks and steps of the markets traded since `since`, and where they came from."""
    answer, problem = ask_history(settings, "/trades", {"since": since.isoformat()}, expect="closed")
    if answer is None:
        return {}, f"prices and quantities as stored ({problem})"
    return grid_filters(answer.get("markets") or {}), "prices and quantities on the daemon's markets"


@click.command()
@click.option(
    "--day",
    "day_text",
    metavar="YYYY-MM-DD",
    default=None,
    help="The trading day (default: the last one ended).",
)
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the files here instead of reports.dir.",
)
@click.option(
    "--markets",
    "markets_file",
    type=click.File("r"),
    default=None,
    help="Symbol → {price_tick, amount_step} as JSON ('-': stdin); default: asked of the running daemon.",
)
@config_option
def report(
    day_text: str | None, directory: Path | None, markets_file: IO[str] | None, config_path: Path | None
) -> None:
    """Write a trading day's report (trades, PnL, R, fees, funding, rejections, breaker) as HTML and PNG."""
    settings = settings_or_exit(config_path, logs=False)
    # Log lines to stderr: stdout is the four lines scripts and the daemon's rollover read, and
    # matplotlib logs when it builds its font cache (a first run; a warning if that takes over 5 s).
    configure_cli_logging(settings, stream=sys.stderr)
    profile, account, now = settings.risk_profile(), settings.exchange.account, datetime.now(UTC)
    day = _day(day_text, profile.daily_loss.timezone, now)
    found = with_store(settings, lambda store: day_report(store, account, profile, day, now))
    if markets_file is not None:
        markets, source = _given_markets(markets_file), "prices and quantities on the markets given"
    else:
        markets, source = _daemons_markets(settings, found.start)
    written = write(found, directory or settings.reports.dir, markets)
    pnl = text(found.performance.pnl, "pnl")
    click.echo(
        f"trading day {day.isoformat()}: {len(found.trades)} trades, {pnl} after fees and funding, "
        f"{sum(found.rejections.values())} rejected"
    )
    click.echo(source)
    click.echo(str(written.html))
    click.echo(str(written.png))
