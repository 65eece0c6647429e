"""Schema upgrades through Alembic on the daemon's own async engine (usable inside a running loop)."""

from __future__ import annotations

import re
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from executor.config.paths import migrations_dir
from executor.store.engine import READ_ONLY

_STEPS_DOWN = re.compile(r"-[1-9][0-9]*")


class MigrationError(ValueError):
    """A migration that cannot be run as asked; the message names the revision and what to give instead."""


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


async def _with_connection(
    engine: AsyncEngine, action: Any, *, migration: bool = False, read_only: bool = False
) -> Any:
    async with engine.connect() as connection:
        if read_only:
            await connection.execution_options(**READ_ONLY)
        if not migration or connection.dialect.name != "sqlite":
            result = await connection.run_sync(action)
            await connection.commit()
            return result
        # SQLite's table rebuild (Alembic's batch mode) with rows in the tables: foreign keys off while
        # it runs, as SQLite's ALTER TABLE procedure requires (dropping a table that others reference
        # fails otherwise), every reference checked before the commit, and on again afterwards. The
        # pragma is ignored inside a transaction, so it is set before the first statement and after
        # the commit or rollback.
        await connection.run_sync(_pragma, "foreign_keys=OFF")
        try:
            result = await connection.run_sync(_checked(action))
            await connection.commit()
            return result
        finally:
            if connection.in_transaction():
                await connection.rollback()
            await connection.run_sync(_pragma, "foreign_keys=ON")


def _checked(action: Any) -> Any:
    """`action`, then a failure (rolling the migration back whole) if it left a reference broken."""

    def run(connection: Connection) -> Any:
        connection.begin()  # ours, so Alembic does not commit before the check
        result = action(connection)
        broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
        if broken:
            raise MigrationError(f"the migration would break references (table, row, parent): {broken[:5]}")
        return result

    return run


def _pragma(connection: Connection, pragma: str) -> None:
    cursor = connection.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _run_command(name: str, revision: str) -> Any:
    def action(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        getattr(command, name)(config, revision)

    return action


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    await _with_connection(engine, _run_command("upgrade", revision), migration=True)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    await _with_connection(engine, _run_command("downgrade", revision), migration=True)


async def current_revision(engine: AsyncEngine) -> str | None:
    def action(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    result: str | None = await _with_connection(engine, action, read_only=True)
    return result


def revisions() -> list[str]:
    """Every revision, newest first (the history is linear)."""
    return [script.revision for script in ScriptDirectory.from_config(alembic_config()).walk_revisions()]


def downgrade_target(current: str | None, revision: str) -> str | None:
    """Where `executor db downgrade REVISION` ends from `current` (None: base, every table gone).

    REVISION is `base`, `-N` (N revisions down) or a revision id at or below the current one.
    """
    below = revisions()
    below = below[below.index(current) :] if current is not None else []
    if revision == "base":
        return None
    if _STEPS_DOWN.fullmatch(revision):
        steps = int(revision[1:])
        if steps > len(below):
            raise MigrationError(
                f"cannot go {steps} revisions down from {current or 'base'}: "
                f"only {len(below)} lie below it, base included"
            )
        return below[steps] if steps < len(below) else None
    if revision not in revisions():
        raise MigrationError(
            f"no revision {revision!r}: give base, -N (N revisions down) or one of {', '.join(revisions())}"
        )
    if revision not in below:
        raise MigrationError(
            f"revision {revision} is not below the database's revision {current or 'base'}; "
            "use `executor db upgrade` to go up"
        )
    return revision


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "migrations/ has no revisions"
    return head


async def is_at_head(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
