"""`executor db upgrade|downgrade|current`: schema migrations on the configured database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from executor.cli.common import config_option, settings_or_exit
from executor.store import migrate
from executor.store.engine import create_engine

T = TypeVar("T")


def _on_engine(config_path: Path | None, action: Callable[..., Awaitable[T]], *args: str) -> T:
    settings = settings_or_exit(config_path)

    async def run() -> T:
        engine = create_engine(settings.database.url)
        try:
            return await action(engine, *args)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command()
@config_option
def upgrade(config_path: Path | None) -> None:
    """Upgrade the database to the newest schema."""
    _on_engine(config_path, migrate.upgrade)
    click.echo(f"database at {migrate.head_revision()}")


@db.command()
@click.argument("revision")
@config_option
def downgrade(revision: str, config_path: Path | None) -> None:
    """Downgrade the database to REVISION ('base' removes every table)."""
    _on_engine(config_path, migrate.downgrade, revision)
    click.echo(f"database at {revision}")


@db.command()
@config_option
def current(config_path: Path | None) -> None:
    """Print the database's schema revision."""
    revision = _on_engine(config_path, migrate.current_revision)
    click.echo(revision or "base (empty database)")
