"""`executor run`: the daemon in the foreground until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from executor.cli.common import config_option, settings_or_exit
from executor.service.daemon import Daemon


@click.command()
@config_option
def run(config_path: Path | None) -> None:
    """Run the daemon in the foreground."""
    settings = settings_or_exit(config_path)
    asyncio.run(Daemon(settings).run())
