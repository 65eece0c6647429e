"""`executor pause`, `unpause` and `close`: the operator's levers on the running daemon.

They write the database the daemon reads, so they work the same whether it runs or not: a pause is
read inside every open's decision (it holds from the next open signal on and across restarts); a close
is a close signal queued in the inbox, which the running daemon's consumer takes within a second.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from executor.cli.access import fail, with_store
from executor.cli.breaker import operator_name, text_option
from executor.cli.common import EXIT_BAD_INPUT, config_option, settings_or_exit
from executor.cli.status import when
from executor.domain.signal import InvalidSymbol
from executor.execution.operator import NothingToClose, queue_closes, set_pause


@click.command()
@click.option("--note", default=None, help="Why; shown by `executor status` and in the PAUSED rejections.")
@config_option
def pause(note: str | None, config_path: Path | None) -> None:
    """Pause new entries: signals that would open are refused (PAUSED); open positions are still managed."""
    text = None if note is None else text_option(note, "--note")
    settings = settings_or_exit(config_path)
    account, now = settings.exchange.account, datetime.now(UTC)
    change = with_store(settings, lambda store: set_pause(store, account, True, now, operator_name(), text))
    state = change.pause
    if not change.changed:
        click.echo(f"already paused since {when(state.since)} by {state.by}; nothing changed")
        return
    click.echo(
        f"paused at {when(now)}: no new entries from the next open signal on; open positions are still "
        "managed; `executor unpause` to end it"
    )


@click.command()
@config_option
def unpause(config_path: Path | None) -> None:
    """End a pause: signals may open positions again (the breaker and the risk rules still apply)."""
    settings = settings_or_exit(config_path)
    account, now = settings.exchange.account, datetime.now(UTC)
    change = with_store(settings, lambda store: set_pause(store, account, False, now, operator_name()))
    if not change.changed:
        click.echo("not paused; nothing changed")
        return
    click.echo(f"unpaused at {when(now)}: open signals are decided again from the next one on")


@click.command()
@click.argument("symbol", required=False)
@click.option("--all", "close_all", is_flag=True, help="Close every open position.")
@config_option
def close(symbol: str | None, close_all: bool, config_path: Path | None) -> None:
    """Close SYMBOL's position (or --all) at market: its stop and take-profit cancelled, the trade booked."""
    if (symbol is None) == (not close_all):
        fail("give a SYMBOL (e.g. BTC/USDT:USDT) or --all, not both and not neither", EXIT_BAD_INPUT)
    settings = settings_or_exit(config_path)
    account, now = settings.exchange.account, datetime.now(UTC)
    symbols = None if close_all else [symbol or ""]
    try:
        queued = with_store(
            settings, lambda store: queue_closes(store, account, symbols, now, operator_name())
        )
    except InvalidSymbol as exc:
        fail(f"SYMBOL {exc}", EXIT_BAD_INPUT)
    except NothingToClose as exc:
        click.echo(f"{exc}; nothing queued")
        return
    for item in queued:
        click.echo(
            f"close of {item.symbol} queued as signal {item.signal_id}: a running daemon closes it at market "
            f"within a second or two (`executor explain {item.signal_id}` shows the outcome)"
        )
