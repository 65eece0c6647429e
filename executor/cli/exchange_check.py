"""`executor exchange check`: the configured exchange and key as a checklist.

The checks are in executor/service/exchange_check.py; this module prints them and sets the exit code.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from executor.cli.common import EXIT_BAD_INPUT, config_option, settings_or_exit

if TYPE_CHECKING:
    from executor.config.settings import Settings
    from executor.service.exchange_check import CheckResult

EXIT_FAILED = 1
WIDTH = 4


@click.group("exchange")
def exchange() -> None:
    """Check the configured exchange and API key."""


@exchange.command("check")
@config_option
@click.option(
    "--orders",
    is_flag=True,
    help="Also place a far limit and a far stop, read them back by client id and cancel them (paper only).",
)
def check(config_path: Path | None, orders: bool) -> None:
    """Check the configured exchange and key: each line OK, WARN or FAIL with the fix; exit 1 on a FAIL."""
    settings = settings_or_exit(config_path, logs=False)
    from executor.domain.enums import ExchangeMode
    from executor.observability.logging import configure_logging

    # The checklist is stdout; the adapters' warnings go to stderr, redacted as the daemon's are.
    configure_logging(
        level="warning", fmt=settings.logging.format.value, secrets=settings.secrets(), stream=sys.stderr
    )

    if orders and settings.exchange.mode is ExchangeMode.LIVE:
        click.echo(
            "exchange check: --orders places real orders and is refused in live mode (exchange.mode = live); "
            "run it in paper mode, or without --orders",
            err=True,
        )
        sys.exit(EXIT_BAD_INPUT)
    results = asyncio.run(_run(settings, orders))
    for result in results:
        click.echo(_line(result))
    from executor.service.exchange_check import passed

    sys.exit(0 if passed(results) else EXIT_FAILED)


async def _run(settings: Settings, orders: bool) -> list[CheckResult]:
    from executor.service.exchange import open_exchange
    from executor.service.exchange_check import CheckTarget, run_checks

    exchange = settings.exchange
    click.echo(f"exchange {exchange.name.value}, {exchange.mode.value} mode, account {exchange.account!r}")
    closers: list = []  # type: ignore[type-arg]
    try:
        port = await open_exchange(settings, closers, keep_state=False)
        target = CheckTarget(
            exchange.name,
            exchange.mode,
            settings.risk_profile().allowed_symbols,
            timedelta(milliseconds=exchange.request_window_ms),
        )
        return await run_checks(port, target, orders=orders)
    finally:
        for close in closers:
            await close()


def _line(result: CheckResult) -> str:
    fix = f" — fix: {result.fix}" if result.fix else ""
    return f"{result.status.value:<{WIDTH}}  {result.name}: {result.detail}{fix}"
