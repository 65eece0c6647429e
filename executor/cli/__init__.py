"""The `executor` command: one click group, each sub-command in its own module, imported only when run.

`executor --help` and `--version` import nothing beyond click; a sub-command imports only its own module
(the daemon's, with ccxt and SQLAlchemy, only for `executor run`). The one-line summaries are kept here so
the listing needs no import; a test holds them equal to each command's own docstring.
"""

from __future__ import annotations

import importlib
from typing import Final

import click

COMMANDS: Final = {
    "close": (
        "executor.cli.controls:close",
        "Close SYMBOL's position (or --all) at market: its stop and take-profit cancelled, the trade booked.",
    ),
    "config": ("executor.cli.config:config", "Inspect the configuration."),
    "db": ("executor.cli.db:db", "Manage the database schema."),
    "exchange": ("executor.cli.exchange_check:exchange", "Check the configured exchange and API key."),
    "explain": (
        "executor.cli.explain:explain",
        "Show SIGNAL_ID's decision and its step log in words, with the orders it produced.",
    ),
    "health": (
        "executor.cli.health:health",
        "Exit 0 when the daemon's /health answers 200 on ingress.http, else 1 with the reason.",
    ),
    "halt": (
        "executor.cli.breaker:halt",
        "Trip the daily-loss breaker by hand: no new entries until resumed or the trading day ends.",
    ),
    "pause": (
        "executor.cli.controls:pause",
        "Pause new entries: signals that would open are refused (PAUSED); open positions are still managed.",
    ),
    "pnl": (
        "executor.cli.history:pnl",
        "PnL, fees, funding, win rate, average win and loss, profit factor, average R, expectancy, drawdown.",
    ),
    "report": (
        "executor.cli.report:report",
        "Write a trading day's report (trades, PnL, R, fees, funding, rejections, breaker) as HTML and PNG.",
    ),
    "resume": (
        "executor.cli.breaker:resume_command",
        "Reset a tripped daily-loss breaker by hand (a deliberate override; needs --force).",
    ),
    "unpause": (
        "executor.cli.controls:unpause",
        "End a pause: signals may open positions again (the breaker and the risk rules still apply).",
    ),
    "run": ("executor.cli.run:run", "Run the daemon in the foreground."),
    "signal": ("executor.cli.send:signal_group", "Send signals to the running daemon."),
    "signals": (
        "executor.cli.history:signals",
        "Recent signals, newest first, with their outcome: status, accepted, reason code, message, size.",
    ),
    "sim": ("executor.cli.sim:sim", "Run the local exchange simulator; prints its base URL on one line."),
    "size": (
        "executor.cli.size:size",
        "What would the risk engine do with this signal? Prints the decision and its step log.",
    ),
    "status": (
        "executor.cli.status:status",
        "State, breaker with the day's loss and limit, equity, positions with their stops, open orders.",
    ),
    "trades": (
        "executor.cli.history:trades",
        "Closed trades with entry, exit, size, leverage, fees, funding, PnL and R multiple, then open ones.",
    ),
}
"""Sub-command name → (module:attribute, its one-line summary for the listing)."""


class LazyGroup(click.Group):
    """A group whose sub-commands are imported when one is run (or asked for its own help)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module, _, attribute = COMMANDS[cmd_name][0].partition(":")
        command = getattr(importlib.import_module(module), attribute)
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perp-executor")
def main() -> None:
    """Live execution daemon for crypto perpetual futures.

    Shell completion (commands, options, files) for bash, zsh or fish:

    \b
      eval "$(_EXECUTOR_COMPLETE=bash_source executor)"    # in ~/.bashrc
      eval "$(_EXECUTOR_COMPLETE=zsh_source executor)"     # in ~/.zshrc
      _EXECUTOR_COMPLETE=fish_source executor > ~/.config/fish/completions/executor.fish
    """
