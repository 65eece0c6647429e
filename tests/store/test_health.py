"""The database probe: a SQLite file deleted or replaced under the daemon, a write lock held elsewhere,
a full disk, and PostgreSQL answering or not."""

from __future__ import annotations

import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from executor.store.health import MIB, StoreHealth
from executor.store.store import Store


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
