"""Ingress fixtures: a migrated store (SQLite and PostgreSQL) and inboxes with and without a secret."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from signal_helpers import ACCOUNT, NOW, SECRET

from executor.signals.auth import Authenticator
from executor.signals.inbox import Inbox
from executor.store.store import Store


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[Store]:
    store = Store.open(database_url)
    await store.upgrade()
    try:
        yield store
    finally:
        await store.close()


@pytest.fixture
def open_inbox(store: Store) -> Inbox:
    return Inbox(store, ACCOUNT, lambda: NOW)


@pytest.fixture
def secured_inbox(store: Store) -> Inbox:
    return Inbox(store, ACCOUNT, lambda: NOW, Authenticator(SECRET, replay_window_seconds=300))
