"""What every sub-command shares: the --config option and turning a bad configuration into exit 2."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from executor.config.settings import ConfigError, Settings, load_settings
from executor.domain.redaction import redact_urls
from executor.observability.logging import configure_logging

EXIT_BAD_INPUT = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="EXECUTOR_CONFIG",
    help="A TOML file applied on top of config/default.toml (or $EXECUTOR_CONFIG).",
)


def settings_or_exit(config_path: Path | None) -> Settings:
    """Load the configuration; on any problem print one line per problem to stderr and exit 2."""
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        click.echo(redact_urls(str(exc)), err=True)
        sys.exit(EXIT_BAD_INPUT)
    configure_logging(
        level=settings.logging.level.value, fmt=settings.logging.format.value, secrets=settings.secrets()
    )
    return settings
