"""`executor status`: the running daemon's own report, or the database's when no daemon answers."""

from __future__ import annotations

import json
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import click

from executor.cli.common import config_option, configure_cli_logging, settings_or_exit
from executor.domain.display import money, pnl_words, price, quantity
from executor.domain.market import MarketFilters, grid_filters

DAEMON_TIMEOUT_SECONDS = 2.0
EXIT_NO_DAEMON = 3
"""The report was printed, but from the database: no daemon answered (scripts can tell it is down)."""
_ANY_HOST = {"0.0.0.0": "127.0.0.1", "::": "::1", "[::]": "::1", "": "127.0.0.1"}


def local_url(scheme: str, address: str, path: str) -> str:
    """The URL of one of the daemon's listeners at HOST:PORT (a wildcard bind is reached on loopback)."""
    host, _, port = address.rpartition(":")
    host = _ANY_HOST.get(host, host).strip("[]")
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}:{port}{path}"


def ask_daemon(
    url: str, secret: str | None = None, timeout: float = DAEMON_TIMEOUT_SECONDS, *, expect: str = "breaker"
) -> tuple[dict[str, Any] | None, str | None]:
    """The daemon's report (a JSON object with the key `expect`) and None, or None and why it could not be
    had (with a secret, sent as Bearer).

    The standard library's client: one GET does not need httpx, whose import would double the command's
    start-up.
    """
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {secret}"} if secret else {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 401:
            return None, f"{url} answered HTTP 401: set EXECUTOR__INGRESS__SECRET to the daemon's secret"
        return None, f"{url} answered HTTP {exc.code}"
    except (OSError, ValueError) as exc:
        reason = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        return None, f"no answer at {url} ({type(reason).__name__})"
    try:
        report = json.loads(body)
    except ValueError:
        return None, f"{url} did not answer JSON"
    if not isinstance(report, dict) or expect not in report:
        return None, f"{url} did not answer a {'status' if expect == 'breaker' else 'history'} report"
    return report, None


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print the report as one JSON object.")
@config_option
def status(as_json: bool, config_path: Path | None) -> None:
    """State, breaker with the day's loss and limit, equity, positions with their stops, open orders.

    Exits 0 with the running daemon's report; 3 when no daemon answered and the report was read from
    the database; 1 when the database cannot be read either.
    """
    settings = settings_or_exit(config_path, logs=False)
    url = local_url("http", settings.ingress.http, "/status")
    secret = None if settings.ingress.secret is None else settings.ingress.secret.get_secret_value()
    report, problem = ask_daemon(url, secret)
    if report is None:
        # Only now: the database and its models are what a running daemon's answer spares.
        from executor.cli.access import with_store
        from executor.service.status import status_report

        configure_cli_logging(settings)
        profile = settings.risk_profile()
        account = settings.exchange.account
        report = with_store(settings, lambda store: status_report(store, account, profile, datetime.now(UTC)))
    report["daemon"] = {
        "url": url,
        "running": problem is None,
        "source": "database" if problem else "daemon",
        "note": problem,
    }
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    else:
        click.echo("\n".join(render(report)))
    if problem is not None:
        sys.exit(EXIT_NO_DAEMON)


def when(value: str | datetime | None) -> str:
    """A report's ISO time (or a datetime) as a UTC wall-clock time for people."""
    if value is None:
        return "?"
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _or(value: Any, default: str = "?") -> str:
    return default if value is None else str(value)


def _amount(value: str | None, default: str = "?") -> str:
    """Money from a report (an exact decimal string) as people read it: 2 decimals, a loss with its minus."""
    return default if value is None else money(Decimal(value))


def market_grids(report: dict[str, Any]) -> dict[str, MarketFilters]:
    """The tick and step of each market the daemon's report names (`markets`); none from the database."""
    return grid_filters(report.get("markets") or {})


def _price(value: str | None, filters: MarketFilters | None, default: str = "?") -> str:
    """To the tick with the market known; as stored (with its own decimals) without."""
    if value is None:
        return default
    return value if filters is None else price(Decimal(value), filters)


def _qty(value: str | None, filters: MarketFilters | None) -> str:
    if value is None:
        return "?"
    return value if filters is None else quantity(Decimal(value), filters)


def render(report: dict[str, Any]) -> list[str]:
    """The report for a terminal: one labelled line per part, positions and orders indented below; money
    with 2 decimals, prices to the tick and quantities to the step where the daemon gave the markets."""
    daemon = report.get("daemon") or {}
    grids = market_grids(report)
    lines = [
        f"daemon     running at {daemon.get('url')}"
        if daemon.get("running")
        else f"daemon     NOT RUNNING: {daemon.get('note')}; read from the database",
        f"account    {report.get('account')} · profile {report.get('profile')} · {when(report.get('now'))}",
        *_breaker_lines(report.get("breaker") or {}),
        *_pause_lines(report.get("pause") or {}),
        _day_line(report.get("day") or {}),
        "equity     "
        + (
            _amount(report.get("equity"))
            if report.get("equity") is not None
            else "unknown (only the running daemon reads it from the exchange)"
        ),
    ]
    positions = report.get("positions") or []
    lines.append(f"positions  {len(positions)} open" if positions else "positions  none")
    lines += [
        f"  {_position_line(position, grids.get(position.get('symbol', '')))}" for position in positions
    ]
    lines += [
        f"  UNTRACKED {_exchange_line(p, grids.get(p.get('symbol', '')))}"
        for p in report.get("untracked_positions") or []
    ]
    orders = report.get("orders") or []
    lines.append(f"orders     {len(orders)} live" if orders else "orders     none")
    lines += [f"  {order_line(order, grids.get(order.get('symbol', '')))}" for order in orders]
    queued = report.get("queued_signals")
    if queued:
        lines.append(f"inbox      {queued} signal(s) waiting to be decided")
    return lines


def _breaker_lines(breaker: dict[str, Any]) -> list[str]:
    if breaker.get("status") == "tripped":
        line = f"breaker    TRIPPED since {when(breaker.get('tripped_at'))}: {_or(breaker.get('reason'))}"
        if breaker.get("resets_at"):
            line += f"; resets {when(breaker['resets_at'])} unless resumed by hand"
    else:
        line = f"breaker    {str(breaker.get('status', '?')).upper()}"
        if breaker.get("resumed_at"):
            line += f" (resumed by hand {when(breaker['resumed_at'])}: {_or(breaker.get('resume_note'), '')})"
    lines = [line]
    if breaker.get("mode") not in (None, "active"):
        lines.append(f"mode       {str(breaker['mode']).upper()}: nothing may open or add")
    return lines


def _pause_lines(pause: dict[str, Any]) -> list[str]:
    if not pause.get("paused"):
        return []
    note = f": {pause['note']}" if pause.get("note") else ""
    return [
        f"paused     PAUSED by {_or(pause.get('by'))} since {when(pause.get('since'))}{note};"
        " no new entries, open positions still managed (`executor unpause`)"
    ]


def _day_line(day: dict[str, Any]) -> str:
    head = f"day        {day.get('trading_day')}"
    if not day.get("breaker_enabled", True):
        return f"{head} · daily-loss breaker disabled"
    limit = _amount(day.get("limit"), _configured_limit(day))
    if day.get("start_of_day_equity") is None:
        return f"{head} · nothing booked yet (the daemon opens the day's ledger) · limit {limit}"
    return (
        f"{head} · {_day_result(day.get('loss'))} against a loss limit of {limit}"
        f" ({day.get('loss_basis')} basis)"
        f" · realized {_amount(day.get('realized_pnl'))}, fees {_amount(day.get('fees'))},"
        f" funding {_amount(day.get('funding'))}"
        f" · start-of-day equity {_amount(day.get('start_of_day_equity'))}"
    )


def _day_result(loss: str | None) -> str:
    """The day's loss (positive: lost) in words: `loss 125.00`, or `profit 3.46` on a day that gained."""
    return "loss ?" if loss is None else pnl_words(-Decimal(loss))


def _configured_limit(day: dict[str, Any]) -> str:
    """The limit as configured, for a day whose start-of-day equity is not known yet."""
    parts = []
    if day.get("limit_pct") is not None:
        parts.append(f"{(Decimal(day['limit_pct']) * 100).normalize():f}% of the start-of-day equity")
    if day.get("limit_amount") is not None:
        parts.append(_amount(day["limit_amount"]))
    if len(parts) == 2:
        return f"the smaller of {parts[0]} and {parts[1]}"
    return parts[0] if parts else "none"


def _leg(order: dict[str, Any] | None) -> str:
    return "no live order" if order is None else f"order {order.get('state')}"


def _position_line(position: dict[str, Any], grid: MarketFilters | None) -> str:
    stop = position.get("stop_order")
    stop_text = f"stop {_price(position.get('stop_price'), grid, 'none')} ({_leg(stop)})"
    if stop is None:
        stop_text += " — NO STOP ON THE EXCHANGE"
    line = (
        f"#{position.get('id')} {position.get('symbol')} {position.get('side')}"
        f" {_qty(position.get('qty'), grid)} @ {_price(position.get('entry_price'), grid)}"
        f" · {position.get('leverage')}x · {stop_text}"
    )
    if position.get("signal_id"):
        line += f" · signal {position['signal_id']}"
    if position.get("take_profit") is not None:
        take_profit = _price(position["take_profit"], grid)
        line += f" · take-profit {take_profit} ({_leg(position.get('take_profit_order'))})"
    exchange = position.get("exchange")
    if exchange:
        mark, unrealized = _price(exchange.get("mark_price"), grid), _amount(exchange.get("unrealized_pnl"))
        line += f" · mark {mark}, unrealized {unrealized}"
    return line


def _exchange_line(position: dict[str, Any], grid: MarketFilters | None) -> str:
    return (
        f"{position.get('symbol')} {position.get('side')} {_qty(position.get('qty'), grid)}"
        f" @ {_price(position.get('entry_price'), grid)} on the exchange, not opened by the daemon"
    )


def order_line(order: dict[str, Any], grid: MarketFilters | None = None) -> str:
    """One order on one line: client id, leg, what it does, its state and fill."""
    at = ""
    if order.get("trigger_price") is not None:
        at = f" trigger {_price(order['trigger_price'], grid)}"
    elif order.get("price") is not None:
        at = f" at {_price(order['price'], grid)}"
    line = (
        f"{order.get('client_order_id')} · {order.get('kind')} · {order.get('symbol')} {order.get('type')}"
        f" {order.get('side')} {_qty(order.get('qty'), grid)}{at} · {order.get('state')}"
    )
    if order.get("filled_qty") not in (None, "0") and order.get("average_price") is not None:
        line += f" (filled {_qty(order['filled_qty'], grid)} @ {_price(order['average_price'], grid)})"
    if order.get("error"):
        line += f" · {order['error']}"
    return line
