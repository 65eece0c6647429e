"""The account's execution lock: per symbol for a symbol's work, whole for the account's (context.py)."""

from __future__ import annotations

import asyncio

import pytest

from executor.execution.context import ExecutionLock
from executor.ports.exchange import URGENT_READS, urgent_reads


async def hold(
    lock: ExecutionLock, symbol: str | None, log: list[str], name: str, release: asyncio.Event
) -> None:
    async with lock.symbol(symbol) if symbol is not None else lock:
        log.append(f"{name} in")
        await release.wait()
        log.append(f"{name} out")


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_sections_of_two_symbols_run_together_and_of_one_symbol_one_after_the_other() -> None:
    lock, log, release = ExecutionLock(), list[str](), asyncio.Event()
    tasks = [
        asyncio.create_task(hold(lock, "SOL", log, "sol", release)),
        asyncio.create_task(hold(lock, "ETH", log, "eth", release)),
        asyncio.create_task(hold(lock, "SOL", log, "sol2", release)),
    ]
    await settle()
    assert log == ["sol in", "eth in"]
    release.set()
    await asyncio.gather(*tasks)
    assert log.index("sol2 in") > log.index("sol out")


async def test_the_whole_account_waits_for_every_symbol_and_goes_before_symbols_that_came_after_it() -> None:
    lock, log = ExecutionLock(), list[str]()
    first, account, later = asyncio.Event(), asyncio.Event(), asyncio.Event()
    symbol = asyncio.create_task(hold(lock, "SOL", log, "sol", first))
    await settle()
    whole = asyncio.create_task(hold(lock, None, log, "account", account))
    await settle()
    other = asyncio.create_task(hold(lock, "ETH", log, "eth", later))
    await settle()
    assert log == ["sol in"]
    first.set()
    await settle()
    assert log == ["sol in", "sol out", "account in"]
    account.set()
    later.set()
    await asyncio.gather(symbol, whole, other)
    assert log[-2:] == ["eth in", "eth out"]


async def test_work_for_the_whole_account_from_a_symbol_section_runs_when_the_symbol_is_released() -> None:
    lock, log = ExecutionLock(), list[str]()
    blocker = asyncio.Event()

    async def check() -> None:
        log.append("check")

    async def booking() -> None:
        async with lock.symbol("SOL"):
            await lock.with_account(check)
            log.append("booked")
        log.append("after")

    eth = asyncio.create_task(hold(lock, "ETH", log, "eth", blocker))
    await settle()
    task = asyncio.create_task(booking())
    await settle()
    assert log == ["eth in", "booked"]  # the check waits for the account: ETH still holds its symbol
    blocker.set()
    await asyncio.gather(eth, task)
    assert log == ["eth in", "booked", "eth out", "check", "after"]


async def test_work_deferred_in_a_nested_section_runs_in_the_whole_account_or_at_its_symbols_end() -> None:
    """It was dropped: a close booked within a whole-account pass never had the breaker's check after it."""
    lock, log = ExecutionLock(), list[str]()

    async def check() -> None:
        log.append("check")

    async with lock:
        async with lock.symbol("SOL"):
            await lock.with_account(check)
            log.append("booked")
        log.append("after SOL")
    assert log == ["booked", "check", "after SOL"]
    log.clear()
    async with lock.symbol("SOL"):
        async with lock.symbol("SOL"):
            await lock.with_account(check)
        log.append("inner left")
    assert log == ["inner left", "check"]


async def test_inside_the_whole_account_a_symbol_section_is_part_of_it_and_a_symbol_takes_no_other() -> None:
    lock = ExecutionLock()
    async with lock, lock.symbol("SOL"):
        pass
    async with lock.symbol("SOL"):
        async with lock.symbol("SOL"):
            pass
        with pytest.raises(RuntimeError):
            async with lock.symbol("ETH"):
                pass
        with pytest.raises(RuntimeError):
            async with lock:
                pass
    async with lock:  # nothing left held
        pass


async def signal_waiting(lock: ExecutionLock, log: list[str]) -> None:
    with urgent_reads():
        await hold(lock, None, log, "signal", asyncio.Event())


@pytest.mark.parametrize("waiter_is_a_signal", [True, False])
async def test_a_holders_reads_are_urgent_while_a_signal_waits_and_only_then(
    waiter_is_a_signal: bool,
) -> None:
    """A poller (the breaker, a reconciliation) waiting makes nothing urgent: the tracker's reads would then
    pass their share of the rate window whenever two loops met (the Phemex testnet e2e saw 3 in 3 s)."""
    lock, log, release, probe = ExecutionLock(), list[str](), asyncio.Event(), asyncio.Event()
    seen: list[bool] = []

    async def holder() -> None:
        async with lock.symbol("SOL"):
            seen.append(URGENT_READS.get()())
            await probe.wait()
            seen.append(URGENT_READS.get()())
            await release.wait()

    task = asyncio.create_task(holder())
    await settle()
    waiting = (
        signal_waiting(lock, log) if waiter_is_a_signal else hold(lock, None, log, "poller", asyncio.Event())
    )
    waiter = asyncio.create_task(waiting)
    await settle()
    probe.set()
    await settle()
    release.set()
    await task
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert seen == [False, waiter_is_a_signal]


async def test_symbols_held_back_for_a_whole_account_waiter_go_on_when_it_gives_up() -> None:
    lock, log = ExecutionLock(), list[str]()
    first, later = asyncio.Event(), asyncio.Event()
    symbol = asyncio.create_task(hold(lock, "SOL", log, "sol", first))
    await settle()
    whole = asyncio.create_task(hold(lock, None, log, "account", asyncio.Event()))
    await settle()
    other = asyncio.create_task(hold(lock, "ETH", log, "eth", later))
    await settle()
    whole.cancel()
    await settle()
    assert log == ["sol in", "eth in"]
    first.set()
    later.set()
    await asyncio.gather(symbol, other)
    with pytest.raises(asyncio.CancelledError):
        await whole
