from __future__ import annotations

import asyncio

from executor.observability.metrics import Metrics


def gauge(metrics: Metrics, name: str) -> float:
    line = next(line for line in metrics.render().decode().splitlines() if line.startswith(f"{name} "))
    return float(line.split()[1])


async def test_asyncio_task_gauge_counts_the_tasks_alive_when_scraped() -> None:
    metrics = Metrics()
    before = gauge(metrics, "executor_asyncio_tasks")
    stop = asyncio.Event()
    tasks = [asyncio.create_task(stop.wait()) for _ in range(5)]
    await asyncio.sleep(0)
    assert gauge(metrics, "executor_asyncio_tasks") == before + 5
    stop.set()
    await asyncio.gather(*tasks)
    assert gauge(metrics, "executor_asyncio_tasks") == before
