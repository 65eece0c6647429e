"""Long-running loops that survive their own failures: each is restarted with capped exponential backoff.

A restart pause ends early when what the loops failed on is back (`resume`: the database takes writes
again). The pause grows to `MAX_BACKOFF` through a long outage, and a loop waiting it out does nothing
meanwhile: after a database outage the breaker's confirming reading of a breach found as the outage ended
waited out its loop's pause (crash trial seed 99102: confirmed seconds after the last close was booked).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from executor.observability.logging import get_logger

log = get_logger("executor.supervisor")

MAX_BACKOFF = 30.0


class Supervisor:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._resumed = asyncio.Event()
        """Set (and replaced) by `resume`: the pauses under way wait for it."""

    def every(self, name: str, interval: float, step: Callable[[], Awaitable[object]]) -> None:
        """Run `step` every `interval` seconds; a failing step is retried after a growing pause, or as soon
        as `resume` is called."""

        async def loop() -> None:
            failures = 0
            while True:
                try:
                    await step()
                    failures = 0
                    await asyncio.sleep(interval)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    failures += 1
                    pause = min(MAX_BACKOFF, interval * 2**failures)
                    log.exception("task_failed", task=name, failures=failures, retry_in_s=pause)
                    resumed = self._resumed
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(pause):
                            await resumed.wait()

        self._tasks.append(asyncio.create_task(loop(), name=name))

    def resume(self) -> None:
        """End every restart pause under way: the loops retry now (a loop that fails again pauses again,
        longer). The daemon calls it when the database takes writes again."""
        resumed, self._resumed = self._resumed, asyncio.Event()
        resumed.set()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
