"""Ingress fixtures: a migrated store (SQLite and PostgreSQL) and inboxes with and without a secret."""

from __future__ import annotations

import sys

import pytest

from executor.observability.logging import configure_logging
from executor.signals.auth import Authenticator
from executor.signals.inbox import Inbox
from executor.store.store import Store
from tests.support.signals import ACCOUNT, NOW, SECRET


@pytest.fixture(autouse=True)
def daemon_logging() -> None:
    """Log as the daemon does, in JSON lines: structlog's unconfigured console renders a traceback with
    every local of every frame, which takes seconds, longer than the transports' deadlines in these tests."""
    configure_logging(fmt="json", stream=sys.stderr)


@pytest.fixture
def open_inbox(store: Store) -> Inbox:
    return Inbox(store, ACCOUNT, lambda: NOW)


@pytest.fixture
def secured_inbox(store: Store) -> Inbox:
    return Inbox(store, ACCOUNT, lambda: NOW, Authenticator(SECRET, replay_window_seconds=300))
