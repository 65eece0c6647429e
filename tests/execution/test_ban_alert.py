"""An exchange ban (HTTP 418) is alerted once, as soon as the tracker meets it, not on every pass."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from structlog.testing import capture_logs

from executor.ports.errors import ExchangeError
from tests.support.flow import flow


def ban_alerts(logs: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    return [line for line in logs if line["event"] == "alert" and line["alert"] == "exchange_banned"]


async def test_an_exchange_ban_is_alerted_once_while_it_lasts(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url) as f:
        await f.control("POST", "faults", {"action": "ban", "method": "GET", "path": "*", "count": 1})
        with capture_logs() as logs:
            for _ in range(3):
                with pytest.raises(ExchangeError):
                    await f.keeper.track()
        [alert] = ban_alerts(logs)
        assert f.adapter.banned_until is not None
        assert alert["banned_until"] == f.adapter.banned_until.isoformat()


async def test_no_ban_no_alert(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url) as f:
        with capture_logs() as logs:
            await f.keeper.track()
        assert ban_alerts(logs) == []
