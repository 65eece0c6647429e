"""The `executor` command: one click group, each sub-command in its own module."""

from __future__ import annotations

import click


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="perp-executor")
def main() -> None:
    """Live execution daemon for crypto perpetual futures."""
