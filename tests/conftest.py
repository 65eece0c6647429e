"""Fixtures shared by every test package: real SQLite files and real PostgreSQL databases.

PostgreSQL and Redis tests read EXECUTOR_TEST_POSTGRES_URL / EXECUTOR_TEST_REDIS_URL. They skip only when
the URL is unset, and never when CI=true: there, a missing service is a failure, not a skip.

The schema is migrated once per session (per xdist worker) into a template: a test that wants a migrated
database gets a copy of the SQLite file, or a PostgreSQL database created from the template
(`CREATE DATABASE … TEMPLATE`), instead of running every migration again.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from executor.store.store import Store
from tests.support.databases import (
    create_postgres_database,
    drop_postgres_database,
    postgres_admin_url,
    redis_test_url,
)


@pytest.fixture
def redis_url() -> str:
    return redis_test_url()


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = postgres_admin_url()
    url = await create_postgres_database(admin)
    try:
        yield url
    finally:
        await drop_postgres_database(admin, url)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A fresh, empty SQLite file for one test."""
    return f"sqlite+aiosqlite:///{tmp_path / 'executor.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on an empty SQLite file and once on an empty PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


async def _migrate(url: str) -> None:
    store = Store.open(url)
    try:
        await store.upgrade()
    finally:
        await store.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to the head revision, once per session."""
    path = tmp_path_factory.mktemp("template") / "executor.db"
    asyncio.run(_migrate(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    """A PostgreSQL database migrated to the head revision, once per session; its name."""
    admin = postgres_admin_url()
    url = asyncio.run(create_postgres_database(admin, prefix="executor_template"))
    try:
        asyncio.run(_migrate(url))
        yield url.rsplit("/", 1)[1]
    finally:
        asyncio.run(drop_postgres_database(admin, url))


@pytest.fixture
def migrated_sqlite_url(sqlite_template: Path, tmp_path: Path) -> str:
    """A SQLite file already at the head revision (a copy of the session's template)."""
    path = tmp_path / "executor.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite+aiosqlite:///{path}"


@pytest.fixture
async def migrated_postgres_url(postgres_template: str) -> AsyncIterator[str]:
    """A PostgreSQL database already at the head revision (created from the template), dropped after."""
    admin = postgres_admin_url()
    url = await create_postgres_database(admin, template=postgres_template)
    try:
        yield url
    finally:
        await drop_postgres_database(admin, url)


@pytest.fixture(params=["sqlite", "postgresql"])
def migrated_database_url(request: pytest.FixtureRequest) -> str:
    """Run the test once on a migrated SQLite file and once on a migrated PostgreSQL database."""
    name = "migrated_sqlite_url" if request.param == "sqlite" else "migrated_postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
async def store(migrated_database_url: str) -> AsyncIterator[Store]:
    """The project's Store on a migrated database: SQLite and PostgreSQL."""
    store = Store.open(migrated_database_url)
    try:
        yield store
    finally:
        await store.close()
