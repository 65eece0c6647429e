"""The test services: PostgreSQL databases made and dropped per test, and the Redis URL.

Names carry a random part, so pytest-xdist workers sharing one server never meet (the `test` database
named in EXECUTOR_TEST_POSTGRES_URL is only the door: every test works in a database of its own).
"""

from __future__ import annotations

import os
import uuid

import pytest

POSTGRES_ENV = "EXECUTOR_TEST_POSTGRES_URL"
REDIS_ENV = "EXECUTOR_TEST_REDIS_URL"


def service_url(variable: str) -> str:
    """The URL in `variable`; skips the test when unset, fails it when unset under CI=true."""
    url = os.environ.get(variable, "")
    if not url:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{variable} is unset under CI=true; .ci/run must export it")
        pytest.skip(f"{variable} is unset")
    return url


def postgres_admin_url() -> str:
    return service_url(POSTGRES_ENV)


def redis_test_url() -> str:
    return service_url(REDIS_ENV)


async def create_postgres_database(
    admin_url: str, prefix: str = "executor_test", template: str | None = None
) -> str:
    """A new database on the server of `admin_url` (a copy of `template` if given); its URL."""
    import asyncpg  # only the PostgreSQL tests need it

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    clause = f' TEMPLATE "{template}"' if template else ""
    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"{clause}')
    finally:
        await connection.close()
    return f"{admin_url.rsplit('/', 1)[0]}/{name}"


async def drop_postgres_database(admin_url: str, url: str) -> None:
    import asyncpg

    name = url.rsplit("/", 1)[1]
    connection = await asyncpg.connect(admin_url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()
