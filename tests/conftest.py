"""Fixtures shared by every test package: real SQLite files and real PostgreSQL databases.

PostgreSQL and Redis tests read EXECUTOR_TEST_POSTGRES_URL / EXECUTOR_TEST_REDIS_URL. They skip only when
the URL is unset, and never when CI=true: there, a missing service is a failure, not a skip.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

POSTGRES_ENV = "EXECUTOR_TEST_POSTGRES_URL"
REDIS_ENV = "EXECUTOR_TEST_REDIS_URL"


def _service_url(variable: str) -> str:
    url = os.environ.get(variable, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{variable} is unset under CI=true; .ci/run must export it")
        pytest.skip(f"{variable} is unset")
    return url


@pytest.fixture
def redis_url() -> str:
    return _service_url(REDIS_ENV)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    import asyncpg  # only the PostgreSQL tests need it

    admin = _service_url(POSTGRES_ENV)
    plain = admin.replace("postgresql+asyncpg://", "postgresql://", 1)
    name = f"executor_test_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(plain)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    base = admin.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        connection = await asyncpg.connect(plain)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite+aiosqlite:///{tmp_path / 'executor.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """Run the test once on a SQLite file and once on a fresh PostgreSQL database."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    yield request.getfixturevalue(name)
