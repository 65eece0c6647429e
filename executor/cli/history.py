"""`executor signals`, `trades` and `pnl`: what happened, from the running daemon or the database.

`signals` and `trades` ask the running daemon first (`GET /signals`, `GET /trades`), whose answer carries
each market's tick and step so prices and quantities are shown on the market's grid; with no daemon they
read the database and show them as stored. `pnl` shows no prices and reads the database. The database
modules are imported only when one is read, so the commands start fast. `--json` prints the report with
exact decimals.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import click

from executor.cli.common import EXIT_BAD_INPUT, config_option, configure_cli_logging, settings_or_exit
from executor.cli.status import ask_daemon, local_url, market_grids, when
from executor.config.settings import Settings
from executor.domain.display import NONE, money, percent, price, quantity
from executor.domain.enums import SignalStatus
from executor.domain.market import MarketFilters
from executor.domain.performance import SINCE_HELP, GroupBy, Period, parse_since
from executor.domain.reasons import ReasonCode

json_option = click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
since_option = click.option("--since", default=None, metavar="WHEN", help=f"From then on: {SINCE_HELP}.")


def _since(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        return parse_since(text, datetime.now(UTC))
    except ValueError as exc:
        _bad_input(f"--since: {exc}")


def _bad_input(message: str) -> NoReturn:
    from executor.cli.access import fail

    fail(message, EXIT_BAD_INPUT)


def _from_database(settings: Settings, read: Callable[[Any], Any]) -> dict[str, Any]:
    # Only now: SQLAlchemy and the models are what the daemon's answer, or --help, spares.
    from executor.cli.access import with_store

    report: dict[str, Any] = with_store(settings, read)
    return report


def _echo_json(report: Mapping[str, Any]) -> None:
    click.echo(json.dumps(report, indent=2, ensure_ascii=False))


# ------------------------------------------------------------------ signals


@click.command()
@since_option
@click.option(
    "--status", "status", type=click.Choice([s.value for s in SignalStatus]), default=None, help="Only these."
)
@click.option(
    "--reason",
    default=None,
    metavar="CODE",
    help="Only signals refused with this reason code (PAUSED, HEAT_CAP…, INVALID_MESSAGE; any case).",
)
@click.option(
    "--limit", type=click.IntRange(1, 1000), default=50, show_default=True, help="At most this many."
)
@json_option
@config_option
def signals(
    since: str | None,
    status: str | None,
    reason: str | None,
    limit: int,
    as_json: bool,
    config_path: Path | None,
) -> None:
    """Recent signals, newest first, with their outcome: status, accepted, reason code, message, size.

    Messages that were no valid signal are listed as failed, INVALID_MESSAGE, with their errors."""
    start = _since(since)
    code = None
    if reason is not None:
        try:
            code = ReasonCode(reason.upper())
        except ValueError:
            _bad_input(f"--reason: {reason!r} is no reason code; one of {', '.join(ReasonCode)}")
    settings = settings_or_exit(config_path, logs=False)
    account = settings.exchange.account
    state = None if status is None else SignalStatus(status)
    query = {
        "since": None if start is None else start.isoformat(),
        "status": status,
        "reason": None if code is None else code.value,
        "limit": str(limit),
    }
    report, problem = ask_history(settings, "/signals", query, expect="signals")
    if report is None:
        configure_cli_logging(settings)

        async def read(store: Any) -> dict[str, Any]:
            from executor.service.history import signal_report

            return await signal_report(store, account, since=start, status=state, reason=code, limit=limit)

        report = _from_database(settings, read)
        report["source"] = f"database ({problem}); quantities as stored"
    else:
        report["source"] = "daemon"
    if as_json:
        _echo_json(report)
        return
    grids = market_grids(report)
    rows = [_signal_row(signal, grids.get(signal["symbol"] or "")) for signal in report["signals"]]
    header = ("received", "signal", "action", "symbol", "side", "qty", "status", "outcome")
    click.echo(
        "\n".join(
            [*(table(header, rows, right={5}) if rows else ["no signals"]), f"source: {report['source']}"]
        )
    )


def _signal_row(signal: Mapping[str, Any], grid: MarketFilters | None) -> list[str]:
    accepted = signal["accepted"]
    if accepted is None:
        outcome = signal["message"] or ""
    elif accepted:
        outcome = "ACCEPTED"
    else:
        outcome = f"REJECTED {signal['reason']}: {signal['message']}"
    return [
        when(signal["received_at"]),
        _text(signal["signal_id"]),
        _text(signal["action"]),
        _text(signal["symbol"]),
        _text(signal["side"]),
        NONE if signal["qty"] is None else _quantity(signal["qty"], grid),
        signal["status"],
        outcome,
    ]


# ------------------------------------------------------------------ trades


@click.command()
@since_option
@click.option("--symbol", default=None, help="Only this market (SOL/USDT:USDT or SOLUSDT).")
@click.option("--strategy", default=None, help="Only trades whose signal named this strategy.")
@json_option
@config_option
def trades(
    since: str | None, symbol: str | None, strategy: str | None, as_json: bool, config_path: Path | None
) -> None:
    """Closed trades with entry, exit, size, leverage, fees, funding, PnL and R multiple, then open ones."""
    start = _since(since)
    settings = settings_or_exit(config_path, logs=False)
    account = settings.exchange.account
    query = {"since": None if start is None else start.isoformat(), "symbol": symbol, "strategy": strategy}
    report, problem = ask_history(settings, "/trades", query, expect="closed")
    if report is None:
        configure_cli_logging(settings)

        async def read(store: Any) -> dict[str, Any]:
            from executor.service.history import trade_report

            return await trade_report(store, account, since=start, symbol=symbol, strategy=strategy)

        report = _from_database(settings, read)
        report["source"] = f"database ({problem}); prices and quantities as stored"
    else:
        report["source"] = "daemon"
    if as_json:
        _echo_json(report)
        return
    click.echo("\n".join(render_trades(report)))


def ask_history(
    settings: Settings, path: str, query: Mapping[str, str | None], *, expect: str
) -> tuple[dict[str, Any] | None, str | None]:
    params = urllib.parse.urlencode({key: value for key, value in query.items() if value is not None})
    url = local_url("http", settings.ingress.http, path) + (f"?{params}" if params else "")
    secret = None if settings.ingress.secret is None else settings.ingress.secret.get_secret_value()
    return ask_daemon(url, secret, expect=expect)


CLOSED_HEADER = (
    "closed",
    "symbol",
    "side",
    "qty",
    "lev",
    "entry",
    "exit",
    "fees",
    "funding",
    "PnL",
    "R",
    "strategy",
)
OPEN_HEADER = ("opened", "symbol", "side", "qty", "lev", "entry", "stop", "risk", "strategy")


def render_trades(report: Mapping[str, Any]) -> list[str]:
    """The closed trades' table, then the open ones', numbers as people read them."""
    markets = market_grids(dict(report))
    closed = report["closed"]
    lines = [f"closed trades: {len(closed)}" if closed else "closed trades: none"]
    if closed:
        rows = [_closed_row(trade, markets.get(trade["symbol"])) for trade in closed]
        lines += table(CLOSED_HEADER, rows, right=set(range(3, 11)))
    still_open = report["open"]
    lines.append(f"open trades: {len(still_open)}" if still_open else "open trades: none")
    if still_open:
        rows = [_open_row(trade, markets.get(trade["symbol"])) for trade in still_open]
        lines += table(OPEN_HEADER, rows, right=set(range(3, 8)))
    lines.append(f"source: {report.get('source', 'daemon')}")
    return lines


def _closed_row(trade: Mapping[str, Any], filters: MarketFilters | None) -> list[str]:
    return [
        when(trade["closed_at"]),
        trade["symbol"],
        trade["side"],
        quantity(Decimal(trade["qty"]), filters),
        f"{trade['leverage']}x",
        _price(trade["entry_price"], filters),
        _price(trade["exit_price"], filters),
        _money(trade["fees"]),
        _money(trade["funding"]),
        _money(trade["pnl"]),
        _money(trade["r_multiple"]),
        _text(trade["strategy"]),
    ]


def _open_row(trade: Mapping[str, Any], filters: MarketFilters | None) -> list[str]:
    return [
        when(trade["opened_at"]),
        trade["symbol"],
        trade["side"],
        quantity(Decimal(trade["qty"]), filters),
        f"{trade['leverage']}x",
        _price(trade["entry_price"], filters),
        _price(trade["stop_price"], filters),
        _money(trade["risk_at_entry"]),
        _text(trade["strategy"]),
    ]


# ------------------------------------------------------------------ pnl


@click.command()
@click.option("--daily", "period", flag_value=Period.DAILY.value, help="One row per trading day.")
@click.option("--weekly", "period", flag_value=Period.WEEKLY.value, help="One row per ISO week (Monday on).")
@click.option("--monthly", "period", flag_value=Period.MONTHLY.value, help="One row per calendar month.")
@click.option(
    "--by", "by", type=click.Choice([g.value for g in GroupBy]), default=None, help="One row per group."
)
@since_option
@json_option
@config_option
def pnl(
    period: str | None, by: str | None, since: str | None, as_json: bool, config_path: Path | None
) -> None:
    """PnL, fees, funding, win rate, average win and loss, profit factor, average R, expectancy, drawdown."""
    start = _since(since)
    settings = settings_or_exit(config_path)
    account = settings.exchange.account
    timezone = settings.risk_profile().daily_loss.timezone
    every = None if period is None else Period(period)
    group = None if by is None else GroupBy(by)

    async def read(store: Any) -> dict[str, Any]:
        from executor.risk.clock import zone
        from executor.service.history import pnl_report

        return await pnl_report(store, account, zone(timezone), since=start, period=every, by=group)

    report = _from_database(settings, read)
    if as_json:
        _echo_json(report)
        return
    click.echo("\n".join(render_pnl(report)))


PNL_COLUMNS: tuple[tuple[str, str, Callable[[Any], str]], ...] = (
    ("trades", "trades", str),
    ("win %", "win_rate", lambda v: percent(Decimal(v))),
    ("PnL", "pnl", lambda v: money(Decimal(v))),
    ("fees", "fees", lambda v: money(Decimal(v))),
    ("funding", "funding", lambda v: money(Decimal(v))),
    ("avg win", "average_win", lambda v: money(Decimal(v))),
    ("avg loss", "average_loss", lambda v: money(-Decimal(v))),  # the mean of losses: its size
    ("PF", "profit_factor", lambda v: money(Decimal(v))),
    ("avg R", "average_r", lambda v: money(Decimal(v))),
    ("expectancy", "expectancy", lambda v: money(Decimal(v))),
    ("max DD", "max_drawdown", lambda v: money(Decimal(v))),
)
"""(heading, key in the report, how a present value reads); an absent one reads as —."""


def render_pnl(report: Mapping[str, Any]) -> list[str]:
    """The total, then one row per period and group when asked for."""
    since = f" since {when(report['since'])}" if report.get("since") else ""
    lines = [f"closed trades of {report['account']}{since}"]
    keys: list[str] = []
    if report.get("period"):
        keys.append("period")
    if report.get("by"):
        keys.append("group")
    header = (*[report["by"] if key == "group" else key for key in keys], *[c[0] for c in PNL_COLUMNS])
    rows = [[_text(row[key]) for key in keys] + _figures(row) for row in report["rows"]]
    rows.append(
        ["total"] + [""] * (len(keys) - 1) + _figures(report["total"]) if keys else _figures(report["total"])
    )
    lines += table(header, rows, right=set(range(len(keys), len(header))))
    return lines


def _figures(values: Mapping[str, Any]) -> list[str]:
    return [NONE if values[key] is None else show(values[key]) for _, key, show in PNL_COLUMNS]


# ------------------------------------------------------------------ shared


def table(header: Sequence[str], rows: Sequence[Sequence[str]], *, right: set[int]) -> list[str]:
    """Columns as wide as their widest cell, numbers (the `right` columns) right-aligned."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=False)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(header), *(line(row) for row in rows)]


def _text(value: Any) -> str:
    return NONE if value is None or value == "" else str(value)


def _money(value: str | None) -> str:
    return NONE if value is None else money(Decimal(value))


def _quantity(value: str, filters: MarketFilters | None) -> str:
    return value if filters is None else quantity(Decimal(value), filters)


def _price(value: str | None, filters: MarketFilters | None) -> str:
    return NONE if value is None else price(Decimal(value), filters)
