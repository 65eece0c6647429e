"""What every sub-command shares: the --config option and turning a bad configuration into exit 2."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import click

from executor.config.settings import ConfigError, Settings, load_settings
from executor.domain.redaction import redact_urls

EXIT_BAD_INPUT = 2

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    envvar="EXECUTOR_CONFIG",
    help="A TOML file applied on top of config/default.toml (or $EXECUTOR_CONFIG).",
)


def settings_or_exit(config_path: Path | None, *, logs: bool = True) -> Settings:
    """Load the configuration; on any problem print one line per problem to stderr and exit 2.

    `logs=False` for a command that logs nothing on its usual path (`status`, `health`): it skips
    structlog's import (a tenth of a second of start-up) and calls `configure_cli_logging` itself if
    it turns to work that logs.
    """
    try:
        settings = load_settings(config_path)
    except ConfigError as exc:
        click.echo(redact_urls(str(exc)), err=True)
        sys.exit(EXIT_BAD_INPUT)
    if logs:
        configure_cli_logging(settings)
    return settings


def configure_cli_logging(settings: Settings, stream: TextIO | None = None) -> None:
    """The configured log level and format, with every configured secret redacted (on stdout unless
    `stream` says otherwise)."""
    from executor.observability.logging import configure_logging

    configure_logging(
        level=settings.logging.level.value,
        fmt=settings.logging.format.value,
        secrets=settings.secrets(),
        stream=stream,
    )
