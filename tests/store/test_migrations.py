from __future__ import annotations

import sqlite3
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import JSON, Boolean, Column, Date, Enum, Integer, String, insert, inspect, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from executor.domain.enums import PositionStatus, SignalStatus
from executor.store import migrate
from executor.store.engine import create_engine
from executor.store.models import Base
from executor.store.store import Store
from executor.store.types import Money, UTCDateTime
from tests.support.cli import NOW
from tests.support.history import OPEN, accepted, add_signal, add_trade, payload

TABLES = set(Base.metadata.tables)
INTRODUCED = {"controls": "0004"}
"""Tables created after the first revision, by the revision that creates them (downgrading below it drops
the table with its rows: a pause is lost with it, stated in docs/operations.md)."""


def tables_at(revision: str) -> set[str]:
    order = migrate.revisions()  # newest first
    return {
        name
        for name in TABLES
        if name not in INTRODUCED or order.index(INTRODUCED[name]) >= order.index(revision)
    }


async def test_upgrade_to_head_then_downgrade_to_base_leaves_no_table(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert tables >= TABLES

        await migrate.downgrade(engine, "base")
        assert await migrate.current_revision(engine) is None
        async with engine.connect() as connection:
            tables = await connection.run_sync(lambda c: set(inspect(c).get_table_names()))
        assert not tables & TABLES
    finally:
        await engine.dispose()


async def test_models_match_migrations_with_no_autogenerate_difference(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        async with engine.connect() as connection:
            diff = await connection.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
        assert diff == []
    finally:
        await engine.dispose()


async def test_sqlite_runs_in_wal_mode_with_foreign_keys_on(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    try:
        async with engine.connect() as connection:
            journal = (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar()
            foreign_keys = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
        assert (journal, foreign_keys) == ("wal", 1)
    finally:
        await engine.dispose()


def _value(column: Column[Any], refs: dict[str, int]) -> Any:
    """A value of the column's type (an enum's first member, a reference to the row already written)."""
    kind = column.type
    if column.foreign_keys:
        (key,) = column.foreign_keys
        return refs[key.column.table.name]
    if isinstance(kind, Enum) and kind.enum_class is not None:
        return next(iter(kind.enum_class))  # type: ignore[call-overload]
    if isinstance(kind, Money):
        return Decimal("12.345678901234567891")
    if isinstance(kind, UTCDateTime):
        return datetime(2026, 6, 2, 14, 0, 30, 123456, tzinfo=UTC)
    if isinstance(kind, Date):
        return date(2026, 6, 2)
    if isinstance(kind, Boolean):
        return True
    if isinstance(kind, JSON):
        return {"kept": ["through", 3, "revisions"]}
    if isinstance(kind, Integer):
        return 7
    assert isinstance(kind, String), f"no test value for {column} ({kind!r})"
    text = f"{column.table.name}.{column.name}"
    return text[: kind.length] if kind.length else text


async def _fill_every_table(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    """One row in every table, every column set (references to the rows written before it)."""
    refs: dict[str, int] = {}
    written: dict[str, dict[str, Any]] = {}
    async with engine.begin() as connection:
        for table in Base.metadata.sorted_tables:
            row = {
                column.name: _value(column, refs)
                for column in table.columns
                if not (column.primary_key and column.autoincrement is True)
            }
            (pk,) = table.primary_key.columns
            inserted = await connection.execute(insert(table).values(row).returning(pk))
            key = inserted.scalar_one()
            if isinstance(key, int):
                refs[table.name] = key
            written[table.name] = row
    return written


async def _rows(engine: AsyncEngine) -> dict[str, list[dict[str, Any]]]:
    """Every table that exists now, its rows with the columns it has now (read with the models' types)."""
    async with engine.connect() as connection:
        existing = await connection.run_sync(
            lambda c: {t: inspect(c).get_columns(t) for t in inspect(c).get_table_names()}
        )
        found: dict[str, Any] = {}
        for name, columns in existing.items():
            if name not in Base.metadata.tables:
                found[name] = [{}]  # a table the models do not know (an _alembic_tmp_ leftover) fails below
                continue
            table = Base.metadata.tables[name]
            present = [table.c[column["name"]] for column in columns]
            result = await connection.execute(select(*present))
            found[name] = [dict(row._mapping) for row in result]
    return found


async def test_every_revision_downgrades_and_upgrades_again_with_a_row_in_every_table(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        written = await _fill_every_table(engine)
        assert set(written) == TABLES

        steps = migrate.revisions()[1:]
        for revision in steps:
            await migrate.downgrade(engine, revision)
            assert await migrate.current_revision(engine) == revision
            rows = await _rows(engine)
            assert set(rows) == tables_at(revision) | {"alembic_version"}, revision
            for name in tables_at(revision):
                (row,) = rows[name]
                kept = {key: value for key, value in row.items() if key in written[name]}
                assert kept == {key: written[name][key] for key in kept}, (revision, name)
        oldest = await _rows(engine)
        assert set(oldest) == tables_at(steps[-1]) | {"alembic_version"}

        await migrate.upgrade(engine)
        again = await _rows(engine)
        for name in set(oldest) - {"alembic_version"}:
            (row,) = again[name]
            assert {key: row[key] for key in oldest[name][0]} == oldest[name][0], name
        if engine.dialect.name == "sqlite":
            async with engine.connect() as connection:
                broken = (await connection.exec_driver_sql("PRAGMA foreign_key_check")).fetchall()
                enforced = (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar()
            assert (broken, enforced) == ([], 1)

        await migrate.downgrade(engine, "base")
        assert set(await _rows(engine)) == {"alembic_version"}
        await migrate.upgrade(engine)
        assert await migrate.current_revision(engine) == migrate.head_revision()
    finally:
        await engine.dispose()


async def test_a_sqlite_migration_that_would_break_a_reference_fails_and_rolls_back_whole(
    sqlite_url: str,
) -> None:
    engine = create_engine(sqlite_url)
    try:
        await migrate.upgrade(engine)
        await _fill_every_table(engine)
        # A reference already broken behind the daemon's back (plain sqlite3 leaves foreign keys off).
        with sqlite3.connect(make_url(sqlite_url).database or "") as raw:
            raw.execute("UPDATE funding_payments SET position_pk = 999")
        before = await _rows(engine)

        with pytest.raises(migrate.MigrationError, match="would break references"):
            await migrate.downgrade(engine, "-1")

        assert await migrate.current_revision(engine) == migrate.head_revision()
        assert await _rows(engine) == before  # no _alembic_tmp_ table, no column gone
    finally:
        await engine.dispose()


async def test_revision_0006_fills_the_risk_at_entry_of_earlier_positions_from_their_decision(
    database_url: str,
) -> None:
    engine = create_engine(database_url)
    try:
        await migrate.upgrade(engine)
        store = Store(engine)
        decision = accepted(OPEN)
        # the decision sized with a 0.04 % taker fee (its `data` step says so); the fill was 60,010
        steps = [
            {"step": "data", "before": {}, "after": {"taker_fee": "0.0004"}, "binding": False, "note": ""}
        ]
        signal_pk = await add_signal(store, payload(OPEN), decision, NOW, SignalStatus.DECIDED)
        async with store.transaction() as tx:
            (await tx.decisions.for_signal(signal_pk)).steps = steps  # type: ignore[union-attr]
        await add_trade(store, replace(OPEN, entry="60010"), signal_pk)
        await add_trade(store, replace(OPEN, symbol="ETH/USDT:USDT"), None)  # no decision: stays unknown

        await migrate.downgrade(engine, "0005")
        await migrate.upgrade(engine)

        async with store.transaction() as tx:
            with_decision, without = await tx.positions.with_status("main", PositionStatus.OPEN)
        expected = Decimal("0.010") * (
            Decimal("60010") - Decimal("59000") + Decimal("0.0004") * Decimal("119010")
        )
        assert with_decision.risk_at_entry == expected
        assert without.risk_at_entry is None
    finally:
        await engine.dispose()
