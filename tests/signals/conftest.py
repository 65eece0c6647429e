"""Ingress fixtures: a migrated store (SQLite and PostgreSQL) and inboxes with and without a secret."""

from __future__ import annotations

import pytest

from executor.signals.auth import Authenticator
from executor.signals.inbox import Inbox
from executor.store.store import Store
from tests.support.signals import ACCOUNT, NOW, SECRET


@pytest.fixture
def open_inbox(store: Store) -> Inbox:
    return Inbox(store, ACCOUNT, lambda: NOW)


@pytest.fixture
def secured_inbox(store: Store) -> Inbox:
    return Inbox(store, ACCOUNT, lambda: NOW, Authenticator(SECRET, replay_window_seconds=300))
