from __future__ import annotations

import asyncio
import contextlib
import io
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from redis.asyncio import Redis

from executor.config.settings import IngressSettings
from executor.domain.enums import SignalSource
from executor.observability.logging import configure_logging
from executor.service.state import ServiceState
from executor.signals.inbox import Inbox
from executor.signals.redis_stream import RedisStreamIngress
from executor.store.engine import create_engine
from executor.store.repositories import Repositories
from executor.store.store import Store
from tests.support.signals import ACCOUNT, NOW, SECRET, SQLITE_ONLY, counts, signal_body

pytestmark = pytest.mark.redis
GROUP = "executor"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = Redis.from_url(redis_url)
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
async def stream(redis: Redis) -> AsyncIterator[str]:
    name = f"test:signals:{uuid.uuid4().hex[:12]}"
    try:
        yield name
    finally:
        await redis.delete(name, name + ":dead")


def consumer(inbox: Inbox, redis_url: str, stream: str, name: str, **options: Any) -> RedisStreamIngress:
    defaults: dict[str, Any] = {"block_ms": 50, "claim_idle_ms": 60_000, "retry_delay": 0.05}
    return RedisStreamIngress(inbox, redis_url, stream, GROUP, consumer=name, **{**defaults, **options})


class WatchedStore(Store):
    """The project's store, with an event set once a transaction is asked for: the ingress is inside the
    store (then blocked on the SQLite lock the test holds), which a test waits for instead of sleeping.
    `writer` is the task that asked, so a test can wait until that task's cancellation is requested."""

    entered: asyncio.Event
    writer: asyncio.Task[Any] | None = None

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        self.writer = asyncio.current_task()
        self.entered.set()
        async with super().transaction() as tx:
            yield tx

    def cancel_requested(self) -> bool:
        """The blocked write's task is being cancelled: the cancellation lands once its statement returns."""
        return self.writer is not None and self.writer.cancelling() > 0


def watched(url: str) -> WatchedStore:
    store = WatchedStore(create_engine(url))
    store.entered = asyncio.Event()
    return store


async def eventually(check: Callable[[], Awaitable[bool]], within: float = 8.0) -> None:
    for _ in range(int(within / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{check} did not become true within {within} s")


async def pending(redis: Redis, stream: str) -> dict[str, int]:
    summary = await redis.xpending(stream, GROUP)
    return {c["name"].decode(): int(c["pending"]) for c in summary["consumers"]}


async def test_an_entry_is_stored_then_acknowledged(
    open_inbox: Inbox, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    ingress = consumer(open_inbox, redis_url, stream, "c1")
    await ingress.start()
    try:
        await redis.xadd(stream, {"signal": signal_body("r-1")})
        await eventually(lambda: _stored(store, "r-1"))
        await eventually(lambda: _no_pending(redis, stream))
    finally:
        await ingress.stop()
    async with store.transaction() as tx:
        row = await tx.signals.get(ACCOUNT, "r-1")
    assert row is not None and row.source is SignalSource.REDIS and row.payload["stop"] == "74.10"


@SQLITE_ONLY
async def test_the_group_is_created_from_the_start_of_an_existing_stream_and_a_restart_keeps_it(
    open_inbox: Inbox, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    await redis.xadd(stream, {"signal": signal_body("before-group")})
    for _ in range(2):
        ingress = consumer(open_inbox, redis_url, stream, "c1")
        await ingress.start()
        await eventually(lambda: _stored(store, "before-group"))
        await ingress.stop()
    groups = await redis.xinfo_groups(stream)
    assert [g["name"] for g in groups] == [GROUP.encode()]


@SQLITE_ONLY
async def test_a_missing_stream_is_created(
    open_inbox: Inbox, redis: Redis, redis_url: str, stream: str
) -> None:
    ingress = consumer(open_inbox, redis_url, stream, "c1")
    await ingress.start()
    try:
        assert await redis.exists(stream) == 1
    finally:
        await ingress.stop()


@SQLITE_ONLY
async def test_a_duplicate_entry_is_acknowledged_and_stored_once(
    open_inbox: Inbox, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    await redis.xadd(stream, {"signal": signal_body("twice")})
    await redis.xadd(stream, {"signal": signal_body("twice")})
    ingress = consumer(open_inbox, redis_url, stream, "c1")
    await ingress.start()
    try:
        await eventually(lambda: _acked(redis, stream, 2))
    finally:
        await ingress.stop()
    assert await counts(store) == (1, 0)
    assert await redis.xlen(stream + ":dead") == 0


async def test_invalid_entries_go_to_the_dead_letter_stream_with_their_errors_then_are_acked(
    open_inbox: Inbox, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    bad = signal_body("bad-r", side="sideways")
    await redis.xadd(stream, {"signal": bad})
    await redis.xadd(stream, {"payload": b"{}"})
    await redis.xadd(stream, {"signal": signal_body("good-r")})
    ingress = consumer(open_inbox, redis_url, stream, "c1")
    await ingress.start()
    try:
        await eventually(lambda: _acked(redis, stream, 3))
    finally:
        await ingress.stop()
    dead: Any = await redis.xrange(stream + ":dead")
    assert len(dead) == 2
    first, second = dead[0][1], dead[1][1]
    assert first[b"signal"] == bad and first[b"status"] == b"invalid"
    assert json.loads(first[b"errors"]) == [
        {"field": "side", "message": 'must be "long" or "short" (lower case)'}
    ]
    assert json.loads(second[b"errors"])[0]["field"] == "signal" and second[b"signal"] == b""
    entries: Any = await redis.xrange(stream)
    assert first[b"entry"] == entries[0][0]
    assert await counts(store) == (1, 1)


@SQLITE_ONLY
async def test_a_dead_letter_keeps_no_credential_of_the_entry(
    secured_inbox: Inbox, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    bad = signal_body("bad-s", side="sideways", token=SECRET, api_key="exchange-key-123")
    await redis.xadd(stream, {"signal": bad})
    ingress = consumer(secured_inbox, redis_url, stream, "c1")
    await ingress.start()
    try:
        await eventually(lambda: _acked(redis, stream, 1))
    finally:
        await ingress.stop()
    letters: Any = await redis.xrange(stream + ":dead")
    [(_, fields)] = letters
    kept = json.loads(fields[b"signal"])
    assert (kept["token"], kept["api_key"], kept["side"]) == ("[REDACTED]", "[REDACTED]", "sideways")
    assert SECRET.encode() not in b"".join(fields.values()) and b"exchange-key-123" not in fields[b"signal"]


@SQLITE_ONLY
async def test_a_vanished_stream_gets_its_group_back_and_consumption_resumes(
    open_inbox: Inbox, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    """A Redis restarted without persistence (or FLUSHDB, DEL) takes the stream and its group with it."""
    ingress = consumer(open_inbox, redis_url, stream, "c1")
    await ingress.start()
    try:
        await redis.xadd(stream, {"signal": signal_body("before")})
        await eventually(lambda: _acked(redis, stream, 1))
        await redis.delete(stream)
        await redis.xadd(stream, {"signal": signal_body("after")})
        await eventually(lambda: _acked(redis, stream, 1))
        assert ingress.problem is None
    finally:
        await ingress.stop()
    assert await counts(store) == (2, 0)
    groups = await redis.xinfo_groups(stream)
    assert [group["name"] for group in groups] == [GROUP.encode()]


@SQLITE_ONLY
async def test_while_the_stream_cannot_be_read_the_problem_keeps_the_service_not_ready(
    open_inbox: Inbox, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    ingress = consumer(open_inbox, redis_url, stream, "c1")
    state = ServiceState()
    state.watch("ingress.redis", lambda: ingress.problem)
    state.mark_ready()
    assert not state.ready and state.not_ready_reason == "ingress.redis: not started"
    await ingress.start()
    try:
        assert state.ready and state.components() == {"ingress.redis": "ok"}
        await redis.delete(stream)
        await redis.set(stream, "not a stream")
        await eventually(
            lambda: _true(str(state.not_ready_reason).startswith("ingress.redis: retrying: WRONGTYPE"))
        )
        assert not state.ready and state.components()["ingress.redis"].startswith("retrying: WRONGTYPE")
        await redis.delete(stream)
        await redis.xadd(stream, {"signal": signal_body("back")})
        await eventually(lambda: _acked(redis, stream, 1))
        assert state.ready
    finally:
        await ingress.stop()
    assert ingress.problem == "stopped"
    assert await counts(store) == (1, 0)


async def _true(value: bool) -> bool:
    return value


@SQLITE_ONLY
async def test_a_consumer_killed_between_read_and_store_leaves_the_entry_pending_for_another_to_reclaim(
    migrated_sqlite_url: str, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    blocker = sqlite3.connect(migrated_sqlite_url.split("///", 1)[1], isolation_level=None)
    doomed_store = watched(migrated_sqlite_url)
    doomed = consumer(Inbox(doomed_store, ACCOUNT, lambda: NOW), redis_url, stream, "doomed", drain_seconds=0)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        await redis.xadd(stream, {"signal": signal_body("survivor")})
        await doomed.start()
        await eventually(lambda: _pending_for(redis, stream, "doomed"))
        async with asyncio.timeout(8):
            await doomed_store.entered.wait()  # inside the store, waiting for the lock
        crash = asyncio.create_task(doomed.stop())  # drain_seconds=0: cancelled mid-write, as by a crash
        await eventually(lambda: _true(doomed_store.cancel_requested()))
        blocker.execute("COMMIT")  # lets the cancelled write's rollback finish
        await crash
        assert await pending(redis, stream) == {"doomed": 1}
        assert await counts(store) == (0, 0)

        rescuer = consumer(
            Inbox(store, ACCOUNT, lambda: NOW), redis_url, stream, "rescuer", claim_idle_ms=200
        )
        await rescuer.start()
        try:
            await eventually(lambda: _stored(store, "survivor"))
            await eventually(lambda: _no_pending(redis, stream))
        finally:
            await rescuer.stop()
    finally:
        blocker.close()
        await doomed_store.close()
    assert await counts(store) == (1, 0)


@SQLITE_ONLY
async def test_a_restarted_consumer_of_the_same_name_reads_its_own_pending_entries_first(
    migrated_sqlite_url: str, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    blocker = sqlite3.connect(migrated_sqlite_url.split("///", 1)[1], isolation_level=None)
    first_store = watched(migrated_sqlite_url)
    first = consumer(Inbox(first_store, ACCOUNT, lambda: NOW), redis_url, stream, "worker-1", drain_seconds=0)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        await redis.xadd(stream, {"signal": signal_body("mine")})
        await first.start()
        await eventually(lambda: _pending_for(redis, stream, "worker-1"))
        async with asyncio.timeout(8):
            await first_store.entered.wait()  # inside the store, waiting for the lock
        crash = asyncio.create_task(first.stop())
        await eventually(lambda: _true(first_store.cancel_requested()))
        blocker.execute("COMMIT")
        await crash
        assert await counts(store) == (0, 0)
    finally:
        blocker.close()
        await first_store.close()
    again = consumer(Inbox(store, ACCOUNT, lambda: NOW), redis_url, stream, "worker-1")
    await again.start()
    try:
        await eventually(lambda: _stored(store, "mine"))
        await eventually(lambda: _no_pending(redis, stream))
    finally:
        await again.stop()


@SQLITE_ONLY
async def test_an_unavailable_store_leaves_the_entry_pending_and_it_is_retried(
    migrated_sqlite_url: str, store: Store, redis: Redis, redis_url: str, stream: str
) -> None:
    """The lock is held until the ingress has failed to store the entry and said it retries (the busy
    timeout runs out after 5 s); only then is it released, so the entry can only be stored by a retry."""
    await redis.xadd(stream, {"signal": signal_body("retry-me")})
    blocker = sqlite3.connect(migrated_sqlite_url.split("///", 1)[1], isolation_level=None)
    ingress = consumer(Inbox(store, ACCOUNT, lambda: NOW), redis_url, stream, "c1")
    log = io.StringIO()
    configure_logging(fmt="json", stream=log)

    async def store_failure_retried() -> bool:
        lines = [json.loads(line) for line in log.getvalue().splitlines() if line.startswith("{")]
        return any(
            line["event"] == "redis ingress retrying" and "could not be stored" in line.get("error", "")
            for line in lines
        )

    try:
        blocker.execute("BEGIN EXCLUSIVE")
        await ingress.start()
        await eventually(lambda: _pending_for(redis, stream, "c1"))
        await eventually(store_failure_retried, within=15)
        blocker.execute("COMMIT")
        await eventually(lambda: _stored(store, "retry-me"), within=15)
        await eventually(lambda: _no_pending(redis, stream))
    finally:
        blocker.close()
        await ingress.stop()


@SQLITE_ONLY
def test_from_settings_uses_the_configured_stream_group_and_dead_letter_name(open_inbox: Inbox) -> None:
    settings = IngressSettings(redis_url="redis://127.0.0.1:6379/0", redis_stream="sig", redis_group="grp")
    ingress = RedisStreamIngress.from_settings(open_inbox, settings, consumer="me")
    assert (ingress.stream, ingress.group, ingress.consumer, ingress.dead_letter_stream) == (
        "sig",
        "grp",
        "me",
        "sig:dead",
    )


async def _stored(store: Store, signal_id: str) -> bool:
    async with store.transaction() as tx:
        return await tx.signals.get(ACCOUNT, signal_id) is not None


async def _no_pending(redis: Redis, stream: str) -> bool:
    return int((await redis.xpending(stream, GROUP))["pending"]) == 0


async def _pending_for(redis: Redis, stream: str, name: str) -> bool:
    return (await pending(redis, stream)).get(name, 0) > 0


async def _acked(redis: Redis, stream: str, delivered: int) -> bool:
    groups = await redis.xinfo_groups(stream)
    return (
        bool(groups) and int(groups[0]["entries-read"] or 0) >= delivered and await _no_pending(redis, stream)
    )
