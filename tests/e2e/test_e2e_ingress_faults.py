"""Ingress under faults, against the real daemon: a Redis that lost the stream, a database that cannot
take a write, and clients that hold connections open. Each must show in /ready and /metrics, and no
signal may be acknowledged that was not stored."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from executor.service.connections import REQUEST_TIMEOUT
from harness.e2e import (
    Daemon,
    DaemonFactory,
    Sim,
    creating_requests,
    eventually,
    market_signal,
    protected_view,
    redis_stream,
)

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
    async with redis_stream(redis_url) as (client, stream, env):
        daemon = daemons(sqlite_url, **env)
        await daemon.start()
        code, body = await readiness(daemon)
        assert code == 200
        assert body["components"] == {"database": "ok", "ingress.websocket": "ok", "ingress.redis": "ok"}
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


FAST_PROBE = {
    "EXECUTOR__DATABASE__PROBE_INTERVAL_SECONDS": "0.2",
    "EXECUTOR__DATABASE__PROBE_TIMEOUT_SECONDS": "0.5",
}


def database_file(sqlite_url: str) -> Path:
    return Path(sqlite_url.removeprefix("sqlite+aiosqlite:///"))


async def database_problem(daemon: Daemon, kind: str) -> str:
    """Wait for /ready to be 503 because of the database, with a problem of this kind; the problem."""

    async def probe() -> str | None:
        code, body = await readiness(daemon)
        components: Any = body.get("components", {})
        problem = str(components.get("database", ""))
        return problem if code == 503 and problem.startswith(kind) else None

    problem = await eventually(probe, within=10, what=f"/ready 503 with a {kind!r} database")
    assert await component_up(daemon, "database") == 0.0
    return problem


async def assert_every_ingress_refuses(daemon: Daemon, signal_id: str) -> None:
    code, answer = await daemon.post(market_signal(f"{signal_id}-hook"))
    assert code == 503 and answer["status"] == "unavailable", answer
    assert answer["errors"][0]["message"].startswith("not stored: the database cannot take writes now")
    [frame] = await daemon.ws_send([market_signal(f"{signal_id}-ws")])
    assert frame["status"] == "unavailable" and frame["signal_id"] is None, frame


@pytest.mark.redis
async def test_a_database_file_deleted_under_the_daemon_is_not_ready_and_nothing_is_acknowledged(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, redis_url: str
) -> None:
    async with redis_stream(redis_url) as (client, stream, env):
        daemon = daemons(sqlite_url, **FAST_PROBE, **env)
        await daemon.start()
        path = database_file(sqlite_url)
        path.unlink()

        problem = await database_problem(daemon, "deleted:")
        assert str(path) in problem
        await assert_every_ingress_refuses(daemon, "after-delete")
        await client.xadd(stream, {"signal": json.dumps(market_signal("after-delete-redis"))})

        async def refused_twice() -> bool:
            """Read again after a refusal: the first reading was done with it and did not acknowledge it."""
            refusals = [
                line
                for line in daemon.logged("redis ingress retrying")
                if line.get("stream") == stream and str(line.get("error")).startswith("not stored")
            ]
            return len(refusals) >= 2

        await eventually(refused_twice, what="the Redis entry refused, then read and refused again")
        assert (await client.xpending(stream, "executor"))["pending"] == 1  # read, never acknowledged
        assert await client.xlen(f"{stream}:dead") == 0
        assert creating_requests(await sim.requests(), sim.family) == {}
        assert daemon.logged("database cannot take writes: not ready, signals refused")
        assert not path.exists()  # no connection the daemon opened since made a new, empty file there


async def test_a_database_file_replaced_under_the_daemon_is_not_ready_until_restarted(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, **FAST_PROBE)
    await daemon.start()
    path = database_file(sqlite_url)
    copy = path.with_name("copy.db")
    shutil.copyfile(path, copy)
    os.replace(copy, path)

    await database_problem(daemon, "replaced:")
    await assert_every_ingress_refuses(daemon, "after-replace")
    await asyncio.sleep(0.5)  # the assertion: nothing clears it in 2.5 probe intervals (FAST_PROBE)
    assert (await readiness(daemon))[0] == 503  # it does not pass by itself
    assert creating_requests(await sim.requests(), sim.family) == {}


async def test_a_locked_database_is_not_ready_and_refuses_signals_until_the_lock_goes(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, **FAST_PROBE)
    await daemon.start()
    holder = sqlite3.connect(database_file(sqlite_url), isolation_level=None)
    try:
        holder.execute("BEGIN EXCLUSIVE")
        await database_problem(daemon, "locked:")
        await assert_every_ingress_refuses(daemon, "while-locked")
    finally:
        holder.execute("ROLLBACK")
        holder.close()

    async def ready_again() -> bool:
        return (await readiness(daemon))[0] == 200

    await eventually(ready_again, what="/ready 200 once the lock is gone")
    code, answer = await daemon.post(market_signal("after-lock-1"))
    assert (code, answer["status"]) == (202, "queued")
    await eventually(lambda: protected_view(sim), what="the signal sent after the lock traded")


async def test_hundreds_of_slow_http_clients_neither_block_the_websocket_nor_flood_the_log(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(
        sqlite_url,
        EXECUTOR__INGRESS__MAX_CONNECTIONS="50",
        EXECUTOR__INGRESS__HEADER_TIMEOUT_SECONDS="2",
    )
    await daemon.start()
    slow = [await asyncio.open_connection("127.0.0.1", daemon.http_port) for _ in range(600)]
    for _, writer in slow:
        writer.write(b"GET /status HTTP/1.1\r\nX-Slow: ")
    await asyncio.gather(*(writer.drain() for _, writer in slow), return_exceptions=True)

    answers = await daemon.ws_send([market_signal("during-slowloris-1")])
    assert answers[0]["status"] == "queued"
    await eventually(lambda: protected_view(sim), what="the signal sent during the attack traded")

    for reader, writer in slow:
        try:
            async with asyncio.timeout(4):  # the 2 s header deadline and 2 s more: TimeoutError, still held
                last = await reader.read(65536)
        except ConnectionResetError:
            last = b""  # refused at once: aborted
        assert last in (b"", REQUEST_TIMEOUT)
        writer.close()
    assert (await readiness(daemon))[0] == 200
    refused = daemon.logged("connection refused: too many open")
    assert 1 <= len(refused) <= 10, len(refused)
    assert len(daemon.logged("request headers too slow: closed")) <= 10
