"""`executor config check`: the resolved configuration, secrets redacted."""

from __future__ import annotations

import json
from pathlib import Path

import click

from executor.cli.common import config_option, settings_or_exit


@click.group()
def config() -> None:
    """Inspect the configuration."""


@config.command()
@config_option
def check(config_path: Path | None) -> None:
    """Print the resolved configuration (secrets redacted); exit 2 when it is invalid."""
    settings = settings_or_exit(config_path)
    click.echo(json.dumps(settings.redacted(), indent=2, sort_keys=True))
