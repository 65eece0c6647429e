"""The store tells its owner when the database answers again after a failure (the daemon then ends its
loops' restart pauses), once per failure, and never while nothing failed."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError

from executor.store.health import StoreHealth
from executor.store.store import Store


async def test_a_success_after_a_failed_transaction_is_told_once(store: Store) -> None:
    told: list[str] = []
    store.on_recovered = lambda: told.append("recovered")
    async with store.read() as tx:
        await tx.signals.queued("main", 1)
    assert told == []
    with pytest.raises(DBAPIError):
        async with store.transaction() as tx:
            await tx.session.execute(text("SELECT * FROM no_such_table"))
    assert told == []
    async with store.transaction() as tx:
        await tx.signals.queued("main", 1)
    async with store.read() as tx:
        await tx.signals.queued("main", 1)
    assert told == ["recovered"]


async def test_an_exception_of_the_callers_own_is_not_a_database_failure(store: Store) -> None:
    told: list[str] = []
    store.on_recovered = lambda: told.append("recovered")

    async def own_failure() -> None:
        async with store.transaction() as tx:
            await tx.signals.queued("main", 1)
            raise KeyError("not the database")

    with pytest.raises(KeyError):
        await own_failure()
    async with store.transaction() as tx:
        await tx.signals.queued("main", 1)
    assert told == []


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_the_probe_finding_the_database_writable_again_tells_it(store: Store) -> None:
    database = store.engine.url.database
    assert database is not None
    told: list[str] = []
    store.on_recovered = lambda: told.append("recovered")
    health = StoreHealth(store, min_free_bytes=0, timeout=0.2)
    holder = sqlite3.connect(database, isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        with pytest.raises(OperationalError):  # as a statement fails in an outage
            async with store.read() as tx:
                await tx.session.execute(text("SELECT * FROM no_such_table"))
        await health.probe()
        assert health.problem is not None
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert told == []
    await health.probe()
    assert health.problem is None
    assert told == ["recovered"]
