"""`Store.read()`: a transaction that only reads takes no write lock (a reader held open must not stop
the daemon's writes or its health probe), and a write inside it is refused, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy.exc import DBAPIError

from executor.domain.enums import EventKind, SignalSource
from executor.store.health import StoreHealth
from executor.store.store import Store

NOW = datetime(2026, 6, 2, 14, tzinfo=UTC)
ACCOUNT = "main"


async def store_signal(store: Store, signal_id: str) -> None:
    async with store.transaction() as tx:
        await tx.signals.store(
            account=ACCOUNT,
            signal_id=signal_id,
            source=SignalSource.WEBSOCKET,
            payload={"id": signal_id},
            received_at=NOW,
        )


async def test_a_reader_held_open_does_not_stop_a_writer(store: Store) -> None:
    await store_signal(store, "before")
    async with store.read() as tx:
        assert await tx.signals.get(ACCOUNT, "before") is not None  # its snapshot taken
        async with asyncio.timeout(3):  # SQLite's busy timeout is 5 s: a blocked writer would wait it out
            await store_signal(store, "while-reading")
    async with store.read() as tx:
        assert await tx.signals.get(ACCOUNT, "while-reading") is not None


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_reader_held_open_leaves_the_health_probe_its_write_lock(store: Store) -> None:
    health = StoreHealth(store, min_free_bytes=0, timeout=0.2)
    async with store.read() as tx:
        await tx.signals.queued(ACCOUNT)
        await health.probe()
        assert health.problem is None
    async with store.transaction() as tx:  # what every reader did before: the probe finds no lock
        await tx.signals.queued(ACCOUNT)
        await health.probe()
        assert health.problem is not None and health.problem.startswith("locked: no write lock")


async def test_a_write_inside_a_read_transaction_is_refused_and_writes_go_on_afterwards(store: Store) -> None:
    with pytest.raises(DBAPIError, match=r"read-?only"):
        async with store.read() as tx:
            await tx.signals.store(
                account=ACCOUNT,
                signal_id="in-read",
                source=SignalSource.WEBSOCKET,
                payload={},
                received_at=NOW,
            )
    await store_signal(store, "after")  # the pooled connection takes writes again
    async with store.read() as tx:
        assert await tx.signals.get(ACCOUNT, "in-read") is None
        assert await tx.signals.get(ACCOUNT, "after") is not None
    with pytest.raises(DBAPIError, match=r"read-?only"):  # and a reader on it is refused again
        async with store.read() as tx:
            await tx.events.append(account=ACCOUNT, at=NOW, kind=EventKind.OPERATOR_PAUSE, data={})
