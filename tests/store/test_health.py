"""The database probe: a SQLite file deleted or replaced under the daemon, a write lock held elsewhere,
a full disk, a file at its page limit, and PostgreSQL answering or not."""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from executor.domain.enums import EventKind
from executor.store.health import MIB, MIN_ROOM_PAGES, StoreHealth
from executor.store.store import Store

NOW = datetime(2026, 6, 2, 14, tzinfo=UTC)


def sqlite_path(store: Store) -> Path:
    database = store.engine.url.database
    assert database is not None
    return Path(database)


async def test_a_working_database_has_no_problem(store: Store) -> None:
    health = StoreHealth(store, min_free_bytes=0, timeout=1)
    await health.probe()
    assert health.problem is None


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_deleted_file_is_reported_and_stays_reported_when_a_new_one_appears(store: Store) -> None:
    health = StoreHealth(store, min_free_bytes=0, timeout=1)
    path = sqlite_path(store)
    keep = path.with_suffix(".kept")
    shutil.copyfile(path, keep)
    path.unlink()
    await health.probe()
    assert health.problem is not None and health.problem.startswith(f"deleted: {path} is gone")
    keep.rename(path)  # the operator puts a copy back: it is another file, the daemon must restart
    await health.probe()
    assert health.problem is not None and health.problem.startswith("deleted:")


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_connection_opened_after_the_file_was_deleted_fails_and_the_probe_says_deleted(
    store: Store,
) -> None:
    health = StoreHealth(store, min_free_bytes=0, timeout=1)
    path = sqlite_path(store)
    async with store.read() as tx:  # the pool's first connection, opened before the deletion
        await tx.signals.queued("main")
    path.unlink()
    async with store.read() as held:  # that connection goes on working on the deleted file
        await held.signals.queued("main")
        with pytest.raises(OperationalError, match="unable to open database file"):
            async with store.read() as tx:  # the pool opens a new connection: it must not make a file
                await tx.signals.queued("main")
    assert not path.exists()
    await health.probe()
    assert health.problem is not None and health.problem.startswith(f"deleted: {path} is gone")


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_file_replaced_under_the_daemon_is_reported(store: Store, tmp_path: Path) -> None:
    health = StoreHealth(store, min_free_bytes=0, timeout=1)
    path = sqlite_path(store)
    other = tmp_path / "other.db"
    shutil.copyfile(path, other)
    os.replace(other, path)
    await health.probe()
    assert (
        health.problem == f"replaced: {path} is not the file the daemon opened; restart the daemon to use it"
    )


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_write_lock_held_elsewhere_is_reported_until_released(store: Store) -> None:
    health = StoreHealth(store, min_free_bytes=0, timeout=0.2)
    holder = sqlite3.connect(sqlite_path(store), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        await health.probe()
        assert health.problem == f"locked: no write lock on {sqlite_path(store)} within 0.2 s"
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    await health.probe()
    assert health.problem is None


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_disk_with_less_free_space_than_the_floor_is_full(store: Store) -> None:
    usage = os.statvfs(sqlite_path(store).parent)
    free = usage.f_bavail * usage.f_frsize
    health = StoreHealth(store, min_free_bytes=free + 1024 * MIB, timeout=1)
    await health.probe()
    assert health.problem is not None and health.problem.startswith("full: ")
    assert "under database.min_free_mib" in health.problem


@pytest.mark.parametrize("migrated_database_url", ["postgresql"], indirect=True)
async def test_postgresql_that_stops_answering_is_reported(store: Store) -> None:
    health = StoreHealth(store, timeout=1)
    await health.probe()
    assert health.problem is None
    unreachable = Store.open("postgresql+asyncpg://postgres:pw@127.0.0.1:1/none")
    try:
        down = StoreHealth(unreachable, timeout=1)
        await down.probe()
        assert down.problem is not None and down.problem.startswith("unreachable: ")
        assert "pw" not in down.problem
    finally:
        await unreachable.close()


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_directory_moved_away_counts_as_the_file_deleted(store: Store, tmp_path: Path) -> None:
    moved = tmp_path.parent / f"{tmp_path.name}-moved"
    health = StoreHealth(store, min_free_bytes=0, timeout=1)
    os.replace(tmp_path, moved)
    try:
        await health.probe()
    finally:
        os.replace(moved, tmp_path)
    assert health.problem is not None and health.problem.startswith("deleted:")


def page_count(path: Path) -> int:
    with contextlib.closing(sqlite3.connect(path)) as connection:
        return int(connection.execute("PRAGMA page_count").fetchone()[0])


async def write_until_refused(store: Store) -> str:
    """Write rows until SQLite refuses one (each insert needs a new page or two at most); its error."""
    for number in range(100_000):
        try:
            async with store.transaction() as tx:
                data = {"n": number, "note": "x" * 500}
                await tx.events.append(account="main", at=NOW, kind=EventKind.SIGNAL_FAILED, data=data)
        except OperationalError as exc:
            return str(exc)
    raise AssertionError("100,000 rows were written under the page limit")


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_database_at_its_page_limit_is_full_while_the_disk_has_room(store: Store) -> None:
    path = sqlite_path(store)
    limit = page_count(path) + MIN_ROOM_PAGES + 40

    def capped(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA max_page_count = {limit}")
        cursor.close()

    event.listen(store.engine.sync_engine, "connect", capped)
    await store.engine.dispose()  # the daemon's connections open again, each with the page limit
    health = StoreHealth(store, min_free_bytes=0, timeout=1)
    await health.probe()
    assert health.problem is None
    assert "database or disk is full" in await write_until_refused(store)
    await health.probe()
    assert health.problem is not None and health.problem.startswith(f"full: {path} has "), health.problem
    assert f"of max_page_count {limit} pages in use" in health.problem
    usage = os.statvfs(path.parent)
    assert usage.f_bavail * usage.f_frsize > 64 * MIB  # the disk itself is not what is full
