"""The store fixture of the store tests: a migrated store on each database, closed afterwards."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from executor.store.store import Store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store.open(database_url)
    await store.upgrade()
    try:
        yield store
    finally:
        await store.close()
