"""The store's SQLite driver (executor/store/sqlite_driver.py): a read-only transaction's statement is one
trip to the driver's thread; a write transaction runs on the loop without a trip, and waits for another
connection's write lock on the thread, never on the loop; results, counts and errors are the driver's."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from executor.store.engine import READ_ONLY, create_engine


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}")
    async with engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)"))
    yield engine
    await engine.dispose()


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The functions queued for aiosqlite's thread, by name, as they are queued."""
    queued: list[str] = []
    original: Callable[..., Any] = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        queued.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return queued


async def test_a_query_that_only_reads_is_one_trip_to_the_drivers_thread(
    engine: AsyncEngine, trips: list[str]
) -> None:
    async with engine.connect() as connection:
        await connection.execution_options(**READ_ONLY)
        await connection.execute(text("SELECT 1"))  # the connection's own set-up trips happen here
        trips.clear()
        rows = (await connection.execute(text("SELECT :a, :b"), {"a": 1, "b": "x"})).all()
        assert trips == ["run"]  # SQLAlchemy's own cursor: cursor, execute, fetchall, close
    assert [tuple(row) for row in rows] == [(1, "x")]


async def test_a_write_transaction_runs_on_the_loop_without_a_trip(
    engine: AsyncEngine, trips: list[str], tmp_path: Path
) -> None:
    async with engine.begin() as connection:  # a pooled connection, set up
        await connection.execute(text("SELECT 1"))
    trips.clear()
    async with engine.begin() as connection:
        await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        names = (await connection.execute(text("SELECT name FROM t"))).scalars().all()
    assert trips == []  # BEGIN IMMEDIATE, the insert, the select, the commit and the pool's reset
    assert names == ["a"]
    other = sqlite3.connect(tmp_path / "driver.db")
    try:
        assert other.execute("SELECT name FROM t").fetchall() == [("a",)]  # committed
    finally:
        other.close()


async def test_a_write_lock_held_elsewhere_is_waited_for_on_the_thread_not_on_the_loop(
    engine: AsyncEngine, trips: list[str], tmp_path: Path
) -> None:
    async with engine.begin() as connection:
        await connection.execute(text("SELECT 1"))
    holder = sqlite3.connect(tmp_path / "driver.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def ticking() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.01)

    async def write() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('late')"))

    ticker = asyncio.create_task(ticking())
    trips.clear()
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.3)
    try:
        assert not writer.done()
        assert ticks >= 10, "the loop was held while the write lock was waited for"
        assert trips == ["run"]  # BEGIN IMMEDIATE, waiting on the thread
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    async with asyncio.timeout(5):
        await writer
    ticker.cancel()
    assert trips == ["run"]  # the insert and the commit ran on the loop
    async with engine.connect() as connection:
        await connection.execution_options(**READ_ONLY)
        assert (await connection.execute(text("SELECT name FROM t"))).scalars().all() == ["late"]


async def test_writes_report_their_row_count_last_row_id_and_returned_rows(engine: AsyncEngine) -> None:
    async with engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        many = await connection.execute(
            text("INSERT INTO t (name) VALUES (:name)"), [{"name": "b"}, {"name": "c"}]
        )
        assert many.rowcount == 2
        returned = await connection.execute(text("INSERT INTO t (name) VALUES ('d') RETURNING id, name"))
        assert [tuple(row) for row in returned] == [(4, "d")]
        updated = await connection.execute(text("UPDATE t SET name = name || '!' WHERE id < 3"))
        assert updated.rowcount == 2
        names = (await connection.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["a!", "b!", "c", "d"]


async def test_a_constraint_error_is_the_drivers_and_the_transaction_rolls_back(engine: AsyncEngine) -> None:
    async def twice() -> None:
        async with engine.begin() as connection:
            await connection.execute(text("INSERT INTO t (name) VALUES ('x')"))
            await connection.execute(text("INSERT INTO t (name) VALUES ('x')"))

    with pytest.raises(IntegrityError, match="UNIQUE constraint failed"):
        await twice()
    async with engine.connect() as connection:
        assert (await connection.execute(text("SELECT count(*) FROM t"))).scalar_one() == 0
