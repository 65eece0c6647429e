"""Shared by the ingress tests: constants, a signal body, and row counts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from executor.store.store import Store

ACCOUNT = "main"
SECRET = "ingress-secret-0123456789"
NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
SQLITE_ONLY = pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
"""For tests of a transport or of auth, where the database makes no difference."""


def signal_body(signal_id: str = "sol-1", **fields: Any) -> bytes:
    data = {
        "id": signal_id,
        "symbol": "SOL/USDT:USDT",
        "side": "long",
        "entry": {"type": "market"},
        "stop": "74.10",
        **fields,
    }
    return json.dumps(data).encode()


async def counts(store: Store) -> tuple[int, int]:
    """(queued signals, rejected messages) of the account."""
    async with store.transaction() as tx:
        return len(await tx.signals.queued(ACCOUNT, limit=100_000)), await tx.rejected.count(ACCOUNT)
