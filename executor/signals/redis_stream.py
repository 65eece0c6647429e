"""Redis Streams ingress: a consumer group on the configured stream, acknowledged only once stored.

Producers `XADD <stream> * signal '<json>'`. An entry is XACKed after the inbox has committed it
(queued or duplicate); if the consumer dies in between, the entry stays pending and is read again
by the same consumer name on restart, or claimed by another consumer (XAUTOCLAIM) once it has been
idle long enough. Redelivery is harmless because the inbox is idempotent by signal id. An entry
that is not a valid signal goes to `<stream>:dead` with its errors, and is then acknowledged in the
same MULTI, so a poison message neither blocks the stream nor disappears; what is kept of it has
its credentials stripped, like a rejected row. Access to Redis is the
authentication here: entries are trusted like the Redis password that let them in.

When the stream disappears under the consumer (a Redis restarted without persistence, FLUSHDB, a
DEL), its group goes with it and every read answers NOGROUP: the group is recreated with MKSTREAM
from the start of the stream, and the consumer carries on. `problem` says what is wrong while it
cannot consume, for /ready and /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from typing import Any, Final

from redis.asyncio import Redis
from redis.exceptions import RedisError, ResponseError

from executor.config.settings import IngressSettings
from executor.domain.enums import SignalSource
from executor.domain.redaction import redact_url, redact_urls
from executor.observability.logging import get_logger
from executor.signals.auth import Credentials
from executor.signals.inbox import Inbox, InboxUnavailable
from executor.signals.result import IngressResult, IngressStatus
from executor.signals.schema import FieldError

log = get_logger("executor.signals.redis")

SIGNAL_FIELD: Final = b"signal"
DEAD_LETTER_SUFFIX: Final = ":dead"
DEAD_LETTER_MAXLEN: Final = 100_000
_TRUSTED = Credentials(trusted=True)
_VANISHED = ("NOGROUP", "UNBLOCKED")
"""Redis's answers when the stream or its group is gone (UNBLOCKED: while a read was waiting on it)."""


class RedisStreamIngress:
    def __init__(
        self,
        inbox: Inbox,
        redis_url: str,
        stream: str,
        group: str,
        *,
        consumer: str | None = None,
        block_ms: int = 1000,
        claim_idle_ms: int = 30_000,
        batch: int = 16,
        retry_delay: float = 1.0,
        drain_seconds: float = 5.0,
    ) -> None:
        self._inbox = inbox
        self._url = redis_url
        self.stream = stream
        self.group = group
        self.consumer = consumer or socket.gethostname()
        self.dead_letter_stream = stream + DEAD_LETTER_SUFFIX
        self._block_ms = block_ms
        self._claim_idle_ms = claim_idle_ms
        self._batch = batch
        self._retry_delay = retry_delay
        self._drain_seconds = drain_seconds
        self._redis: Redis | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._waiting = False
        self.problem: str | None = "not started"
        """Why the stream is not being consumed right now; None while it is."""

    @classmethod
    def from_settings(
        cls, inbox: Inbox, settings: IngressSettings, consumer: str | None = None
    ) -> RedisStreamIngress:
        return cls(inbox, settings.redis_url, settings.redis_stream, settings.redis_group, consumer=consumer)

    async def start(self) -> None:
        """Connect and make sure the group exists (creating the stream if needed), then consume."""
        self._redis = Redis.from_url(self._url)
        try:
            await self._ensure_group(self._redis)
        except RedisError:
            await self._redis.aclose()
            raise
        self._stopping.clear()
        self.problem = None
        self._task = asyncio.create_task(self._run(), name=f"redis-ingress:{self.stream}")
        log.info(
            "redis ingress consuming",
            url=redact_url(self._url),
            stream=self.stream,
            group=self.group,
            consumer=self.consumer,
        )

    async def _ensure_group(self, redis: Redis) -> bool:
        """Create the group from the start of the stream (and the stream); False if it already existed."""
        try:
            await redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise
            return False
        return True

    async def _recreate_group(self, redis: Redis) -> None:
        if await self._ensure_group(redis):
            log.warning(
                "redis consumer group recreated",
                stream=self.stream,
                group=self.group,
                detail="the stream or its group vanished (Redis restarted without persistence, FLUSHDB, "
                "DEL); entries added before that are gone unless the producer resends them",
            )

    async def stop(self) -> None:
        """Finish the entry in flight (up to drain_seconds), then stop; an interrupted one stays pending."""
        if self._task is None:
            return
        self._stopping.set()
        if self._waiting:
            self._task.cancel()
        done, _ = await asyncio.wait({self._task}, timeout=self._drain_seconds)
        if not done:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None
        self.problem = "stopped"
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None
        log.info("redis ingress stopped", stream=self.stream)

    async def _run(self) -> None:  # noqa: C901 - the consumer loop names each failure it recovers from in one place
        assert self._redis is not None
        redis = self._redis
        own_pending = True
        next_claim = 0.0
        while not self._stopping.is_set():
            try:
                if time.monotonic() >= next_claim:
                    await self._reclaim(redis)
                    next_claim = time.monotonic() + self._claim_idle_ms / 2000
                if own_pending:
                    entries = await self._read(redis, "0", block=None)
                    own_pending = bool(entries)
                else:
                    entries = await self._read(redis, ">", block=self._block_ms)
                self.problem = None
                for entry_id, fields in entries:
                    if self._stopping.is_set():
                        break
                    await self._process(redis, entry_id, fields)
            except ResponseError as exc:
                own_pending = True
                if not str(exc).startswith(_VANISHED):
                    self._failed(exc)
                elif await self._recovered(redis):
                    continue
            except (InboxUnavailable, RedisError, OSError) as exc:
                self._failed(exc)
                own_pending = True
            except Exception as exc:
                log.exception("redis ingress failed; retrying", stream=self.stream)
                self.problem = f"failed: {type(exc).__name__}"
                own_pending = True
            else:
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._retry_delay):
                    await self._stopping.wait()

    async def _recovered(self, redis: Redis) -> bool:
        """The group recreated after NOGROUP; False (with the problem noted) when Redis refused that too."""
        try:
            await self._recreate_group(redis)
        except (RedisError, OSError) as exc:
            self._failed(exc)
            return False
        return True

    def _failed(self, exc: BaseException) -> None:
        self.problem = f"retrying: {redact_urls(str(exc))}"
        log.warning("redis ingress retrying", stream=self.stream, error=str(exc))

    async def _read(self, redis: Redis, start: str, block: int | None) -> list[tuple[bytes, Any]]:
        """Entries of this consumer: its own pending ones from "0", new ones from ">"."""
        self._waiting = True
        try:
            answer: Any = await redis.xreadgroup(
                self.group, self.consumer, {self.stream: start}, count=self._batch, block=block
            )
        finally:
            self._waiting = False
        per_stream = answer.values() if isinstance(answer, dict) else [entries for _, entries in answer or []]
        return [entry for entries in per_stream for entry in entries]

    async def _reclaim(self, redis: Redis) -> None:
        """Take over entries another consumer read and never acknowledged (it crashed or hangs)."""
        start: bytes | str = "0-0"
        while not self._stopping.is_set():
            answer = await redis.xautoclaim(
                self.stream, self.group, self.consumer, self._claim_idle_ms, start_id=start, count=self._batch
            )
            start, entries = answer[0], answer[1]
            for entry_id, fields in entries:
                log.info("redis entry reclaimed", stream=self.stream, entry=entry_id.decode())
                await self._process(redis, entry_id, fields)
            if start in (b"0-0", "0-0"):
                return

    async def _process(self, redis: Redis, entry_id: bytes, fields: dict[bytes, bytes] | None) -> None:
        if not fields:
            await redis.xack(self.stream, self.group, entry_id)
            return
        raw = fields.get(SIGNAL_FIELD)
        if raw is None:
            missing = FieldError(
                SIGNAL_FIELD.decode(),
                f"the stream entry has no \"signal\" field; add it with XADD {self.stream} * signal '<json>'",
            )
            result = IngressResult(None, IngressStatus.INVALID, (missing,))
            raw = b""
        else:
            result = await self._inbox.submit(raw, SignalSource.REDIS, _TRUSTED)
        if result.status is IngressStatus.UNAVAILABLE:
            raise InboxUnavailable(result.errors[0].message)  # left pending, read again after the pause
        if result.status in (IngressStatus.QUEUED, IngressStatus.DUPLICATE):
            await redis.xack(self.stream, self.group, entry_id)
        else:
            await self._dead_letter(redis, entry_id, raw, result)

    async def _dead_letter(self, redis: Redis, entry_id: bytes, raw: bytes, result: IngressResult) -> None:
        errors = json.dumps([error.as_dict() for error in result.errors])
        async with redis.pipeline(transaction=True) as multi:
            multi.xadd(
                self.dead_letter_stream,
                {
                    "signal": self._inbox.strip_credentials(raw),
                    "errors": errors,
                    "entry": entry_id,
                    "status": result.status.value,
                },
                maxlen=DEAD_LETTER_MAXLEN,
            )
            multi.xack(self.stream, self.group, entry_id)
            await multi.execute()
        log.warning(
            "redis entry dead-lettered",
            signal_id=result.signal_id,
            stream=self.stream,
            entry=entry_id.decode(),
            dead_letter=self.dead_letter_stream,
        )
