"""`executor run`: the daemon in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from pathlib import Path

import click

from executor.cli.common import EXIT_BAD_INPUT, config_option, settings_or_exit


@click.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the daemon in the foreground."""
    settings = settings_or_exit(config_path)
    # Imported here: the daemon pulls in ccxt, which every other sub-command can do without.
    from executor.service.daemon import Daemon
    from executor.service.exchange import SimulatorStateError

    try:
        asyncio.run(Daemon(settings, config_path).run())
    except SimulatorStateError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_BAD_INPUT)
    # Stopped, connections closed, logs written: skip tearing down the interpreter's heap (ccxt, the
    # markets, the simulator), which takes seconds on a busy machine and would overrun the promised stop.
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
