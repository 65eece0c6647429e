"""Ingress under faults, against the real daemon: a Redis that lost the stream, a database that cannot
take a write, and clients that hold connections open. Each must show in /ready and /metrics, and no
signal may be acknowledged that was not stored."""

from __future__ import annotations

import json
import uuid

import pytest
import redis.asyncio as aioredis
from prometheus_client.parser import text_string_to_metric_families

from harness.e2e import Daemon, DaemonFactory, Sim, eventually, market_signal, protected_view

pytestmark = pytest.mark.slow


async def component_up(daemon: Daemon, component: str) -> float | None:
    code, text = await daemon.get("/metrics")
    assert code == 200, text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "executor_component_up" and sample.labels.get("component") == component:
                return sample.value
    return None


async def readiness(daemon: Daemon) -> tuple[int, dict[str, object]]:
    code, body = await daemon.get("/ready")
    assert isinstance(body, dict), body
    return code, body


@pytest.mark.redis
async def test_a_redis_that_lost_the_stream_shows_in_ready_and_metrics_and_the_group_comes_back(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, redis_url: str
) -> None:
    stream = f"e2e:{uuid.uuid4().hex[:12]}"
    client = aioredis.from_url(redis_url)
    try:
        daemon = daemons(
            sqlite_url, EXECUTOR__INGRESS__REDIS_URL=redis_url, EXECUTOR__INGRESS__REDIS_STREAM=stream
        )
        await daemon.start()
        code, body = await readiness(daemon)
        assert code == 200 and body["components"] == {"ingress.websocket": "ok", "ingress.redis": "ok"}
        assert await component_up(daemon, "ingress.redis") == 1.0

        await client.delete(stream)  # what a restart without persistence or FLUSHDB does to it
        await client.set(stream, "in the way")  # and something else taking the key meanwhile

        async def not_ready() -> dict[str, object] | None:
            code, body = await readiness(daemon)
            return body if code == 503 else None

        body = await eventually(not_ready, what="/ready 503 while the stream cannot be read")
        assert str(body["reason"]).startswith("ingress.redis: retrying: WRONGTYPE"), body
        assert await component_up(daemon, "ingress.redis") == 0.0

        await client.delete(stream)
        await client.xadd(stream, {"signal": json.dumps(market_signal("redis-after-loss-1"))})
        await eventually(lambda: protected_view(sim), what="the signal sent after the loss traded")
        assert (await readiness(daemon))[0] == 200
        assert await component_up(daemon, "ingress.redis") == 1.0
        assert daemon.logged("redis consumer group recreated")
        assert (await client.xpending(stream, "executor"))["pending"] == 0
    finally:
        await client.delete(stream, f"{stream}:dead")
        await client.aclose()
