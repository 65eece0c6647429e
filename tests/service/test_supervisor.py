"""The supervisor's loops: a failing step is retried after a growing pause, or at once on `resume`."""

from __future__ import annotations

import asyncio

from executor.service.supervisor import Supervisor


async def test_a_failed_loop_retries_when_resumed_not_after_its_pause() -> None:
    supervisor = Supervisor()
    calls = 0
    failed = asyncio.Event()
    retried = asyncio.Event()

    async def step() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            failed.set()
            raise RuntimeError("database away")
        retried.set()

    supervisor.every("breaker", 10.0, step)  # a restart pause of 20 s
    try:
        async with asyncio.timeout(1):
            await failed.wait()
        await asyncio.sleep(0.2)
        assert calls == 1, "retried before its pause ended or it was resumed"
        supervisor.resume()
        async with asyncio.timeout(1):
            await retried.wait()
    finally:
        await supervisor.stop()
    assert calls == 2


async def test_resume_does_not_shorten_a_healthy_loops_interval() -> None:
    supervisor = Supervisor()
    calls = 0

    async def step() -> None:
        nonlocal calls
        calls += 1

    supervisor.every("tracker", 10.0, step)
    try:
        await asyncio.sleep(0.1)
        supervisor.resume()
        await asyncio.sleep(0.2)
    finally:
        await supervisor.stop()
    assert calls == 1
