"""What every part of execution shares for one exchange account."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime

from executor.config.settings import ExecutionSettings
from executor.domain.account import AccountSnapshot
from executor.execution.clock import ExchangeClock
from executor.execution.riskbook import RiskBook
from executor.observability.metrics import Metrics
from executor.ports.exchange import ExchangePort
from executor.risk import RiskProfile
from executor.store.store import Store


class AccountCache:
    """The latest account snapshot; the tracker refreshes it, the signal path reads it if fresh."""

    def __init__(self, exchange: ExchangePort, max_age_seconds: float) -> None:
        self._exchange = exchange
        self._max_age = max_age_seconds
        self._snapshot: AccountSnapshot | None = None
        self._fetched_at = 0.0

    @property
    def latest(self) -> AccountSnapshot | None:
        return self._snapshot

    def fresh(self, max_age_seconds: float | None = None) -> AccountSnapshot | None:
        limit = self._max_age if max_age_seconds is None else max_age_seconds
        if self._snapshot is None or time.monotonic() - self._fetched_at > limit:
            return None
        return self._snapshot

    async def refresh(self) -> AccountSnapshot:
        snapshot = await self._exchange.account_snapshot()
        self._snapshot, self._fetched_at = snapshot, time.monotonic()
        return snapshot

    async def get(self, max_age_seconds: float | None = None) -> AccountSnapshot:
        return self.fresh(max_age_seconds) or await self.refresh()


@dataclass
class AccountContext:
    account: str
    store: Store
    exchange: ExchangePort
    profile: RiskProfile
    book: RiskBook
    clock: ExchangeClock
    metrics: Metrics
    settings: ExecutionSettings
    accounts: AccountCache
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    """Serialises every sequence of exchange writes for this account (signals, tracker, breaker)."""

    def now(self) -> datetime:
        return self.clock.now()
