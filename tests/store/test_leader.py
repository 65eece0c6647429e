from __future__ import annotations

import asyncio

from executor.store.engine import create_engine
from executor.store.leader import AccountLock
from tests.support.adapter_sim import eventually


async def test_only_one_daemon_holds_an_account_and_the_standby_takes_over_on_release(
    database_url: str,
) -> None:
    first_engine, second_engine = create_engine(database_url), create_engine(database_url)
    first, second = AccountLock(first_engine, "main"), AccountLock(second_engine, "main")
    other_account = AccountLock(second_engine, "other")
    try:
        assert await first.try_acquire() is True
        assert await second.try_acquire() is False
        assert await other_account.try_acquire() is True

        refused: list[bool] = []
        try_acquire = second.try_acquire

        async def counted() -> bool:
            held = await try_acquire()
            refused.append(not held)
            return held

        second.try_acquire = counted  # type: ignore[method-assign]
        stop = asyncio.Event()
        standby = asyncio.create_task(second.acquire(stop, poll_seconds=0.05))
        await eventually(lambda: refused.count(True) >= 3)  # asked three times while the account was held
        assert not standby.done()
        await first.release()
        async with asyncio.timeout(5):
            assert await standby is True
    finally:
        for lock in (first, second, other_account):
            await lock.release()
        await first_engine.dispose()
        await second_engine.dispose()


async def test_a_standby_told_to_stop_gives_up_waiting(sqlite_url: str) -> None:
    engine = create_engine(sqlite_url)
    holder, standby = AccountLock(engine, "main"), AccountLock(engine, "main")
    try:
        assert await holder.try_acquire()
        stop = asyncio.Event()
        waiting = asyncio.create_task(standby.acquire(stop, poll_seconds=0.05))
        stop.set()
        async with asyncio.timeout(5):
            assert await waiting is False
    finally:
        await holder.release()
        await standby.release()
        await engine.dispose()
