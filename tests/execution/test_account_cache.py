"""The account snapshot a decision stands on after a booked close: read again at once, off the signal's
path; a signal arriving meanwhile waits for that read instead of making its own, and a read begun before
the close is not kept as fresh."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from typing import cast

from executor.domain.account import AccountSnapshot
from executor.execution.context import AccountCache
from executor.ports.exchange import ExchangePort

NOW = datetime(2026, 6, 2, 14, tzinfo=UTC)


def snapshot(equity: str) -> AccountSnapshot:
    value = Decimal(equity)
    return AccountSnapshot("USDT", NOW, value, value, value, ())


class SlowAccount:
    """An exchange whose account reads each answer when released, in the order they were made."""

    def __init__(self) -> None:
        self.reads = 0
        self.pending: list[asyncio.Future[AccountSnapshot]] = []
        self.asked = asyncio.Condition()

    async def account_snapshot(self) -> AccountSnapshot:
        self.reads += 1
        answer: asyncio.Future[AccountSnapshot] = asyncio.get_running_loop().create_future()
        self.pending.append(answer)
        async with self.asked:
            self.asked.notify_all()
        return await answer

    async def answer(self, index: int, equity: str) -> None:
        async with asyncio.timeout(1), self.asked:
            await self.asked.wait_for(lambda: len(self.pending) > index)
        self.pending[index].set_result(snapshot(equity))
        await asyncio.sleep(0)


def cache(exchange: SlowAccount) -> AccountCache:
    return AccountCache(cast(ExchangePort, exchange), max_age_seconds=10, streamed_seconds=5)


async def test_a_decision_after_a_close_waits_for_the_read_the_close_started_and_makes_none() -> None:
    exchange = SlowAccount()
    accounts = cache(exchange)
    accounts.outdate()
    decision = asyncio.create_task(accounts.for_decision())
    await exchange.answer(0, "1000")
    assert (await decision).equity == Decimal("1000")
    assert exchange.reads == 1
    assert accounts.fresh() is not None


async def test_a_read_begun_before_the_close_is_not_kept_as_fresh() -> None:
    exchange = SlowAccount()
    accounts = cache(exchange)
    before = asyncio.create_task(accounts.refresh())
    await asyncio.sleep(0)
    accounts.outdate()
    await exchange.answer(0, "1100")  # it still showed the position
    assert (await before).equity == Decimal("1100")
    assert accounts.fresh() is None
    await exchange.answer(1, "1000")
    assert (await accounts.for_decision()).equity == Decimal("1000")
    assert exchange.reads == 2


async def test_a_fresh_snapshot_is_decided_on_without_a_read() -> None:
    exchange = SlowAccount()
    accounts = cache(exchange)
    first = asyncio.create_task(accounts.refresh())
    await exchange.answer(0, "1000")
    await first
    assert (await accounts.for_decision()).equity == Decimal("1000")
    assert exchange.reads == 1
