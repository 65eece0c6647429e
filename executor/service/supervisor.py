"""Long-running loops that survive their own failures: each is restarted with capped exponential backoff."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from executor.observability.logging import get_logger

log = get_logger("executor.supervisor")

MAX_BACKOFF = 30.0


class Supervisor:
    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []

    def every(self, name: str, interval: float, step: Callable[[], Awaitable[object]]) -> None:
        """Run `step` every `interval` seconds; a failing step is retried after a growing pause."""

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
                    await asyncio.sleep(pause)

        self._tasks.append(asyncio.create_task(loop(), name=name))

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
