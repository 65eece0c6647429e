"""`executor db upgrade|downgrade|current`: schema migrations on the configured database."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import click

from executor.cli.access import fail
from executor.cli.common import EXIT_BAD_INPUT, config_option, settings_or_exit
from executor.domain.redaction import redact_url
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

    try:
        return asyncio.run(run())
    except migrate.MigrationError as exc:
        fail(str(exc))
    except Exception as exc:  # unreachable, refused, unwritable: one line naming the database, no traceback
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        fail(f"cannot use the database {redact_url(settings.database.url)}: {type(exc).__name__}: {first}")


@click.group()
def db() -> None:
    """Manage the database schema."""


@db.command()
@config_option
def upgrade(config_path: Path | None) -> None:
    """Upgrade the database to the newest schema."""
    _on_engine(config_path, migrate.upgrade)
    click.echo(f"database at {migrate.head_revision()}")


@db.command(context_settings={"ignore_unknown_options": True})  # -1 is a revision, not an option
@click.argument("revision")
@click.option("--yes", is_flag=True, help="Do not ask before a downgrade to base drops every table.")
@config_option
def downgrade(revision: str, yes: bool, config_path: Path | None) -> None:
    """Downgrade the database to REVISION: base (removes every table), -N (N revisions down) or a
    revision id. A downgrade to base asks first, unless --yes."""
    settings = settings_or_exit(config_path)
    current = _on_engine(config_path, migrate.current_revision)
    try:
        target = migrate.downgrade_target(current, revision)
    except migrate.MigrationError as exc:
        fail(str(exc), EXIT_BAD_INPUT)
    if target is None and current is not None and not yes:
        where = redact_url(settings.database.url)
        if not _confirmed(f"Drop every table and all their data in {where}?"):
            fail("not downgraded; pass --yes to downgrade to base without the question")
    _on_engine(config_path, migrate.downgrade, target or "base")
    click.echo(f"database at {target or 'base'}")


def _confirmed(question: str) -> bool:
    try:
        return click.confirm(question, err=True)
    except click.Abort:  # no answer: standard input closed
        click.echo(err=True)
        return False


@db.command()
@config_option
def current(config_path: Path | None) -> None:
    """Print the database's schema revision."""
    revision = _on_engine(config_path, migrate.current_revision)
    click.echo(revision or "base (empty database)")
