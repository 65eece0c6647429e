"""Notifications through Apprise, off the trading path: a bounded queue and one worker task.

`submit` never waits: a full queue drops the new notice with a log line naming it. The worker renders a
notice (with the market's tick and step), sends it to every URL whose filter takes it with Apprise's
`async_notify` under a per-attempt timeout, and retries a failed URL with backoff. A slow or failing
receiver holds up only this worker. At shutdown `drain` sends what is queued within its budget and logs
each notice it could not deliver as `notification_undelivered`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

from executor.domain.market import Market
from executor.domain.notices import Event, Notice, render
from executor.domain.redaction import redact_notification_url
from executor.observability.logging import get_logger

if TYPE_CHECKING:
    import apprise

log = get_logger("executor.notifier")

QUEUE_SIZE: Final = 1000
ATTEMPTS: Final = 3
BACKOFF_SECONDS: Final = 1.0
TIMEOUT_SECONDS: Final = 10.0

MarketLookup = Callable[[str], Awaitable[Market | None]]


@dataclass(frozen=True, slots=True)
class Target:
    """One Apprise URL and the events it receives."""

    url: str
    events: frozenset[Event]


class Notifier:
    def __init__(
        self,
        targets: Sequence[Target],
        market: MarketLookup | None = None,
        *,
        queue_size: int = QUEUE_SIZE,
        attempts: int = ATTEMPTS,
        backoff_seconds: float = BACKOFF_SECONDS,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        self._targets = [(target, self._service(target.url)) for target in targets]
        self._market = market
        self._queue: asyncio.Queue[Notice] = asyncio.Queue(maxsize=queue_size)
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._timeout = timeout_seconds
        self._worker: asyncio.Task[None] | None = None
        self._current: Notice | None = None

    @staticmethod
    def _service(url: str) -> apprise.Apprise:
        import apprise  # only with alerts.urls: a large import, not a cost of every daemon start

        service = apprise.Apprise()
        if not service.add(url):
            # Settings validate every URL first; this is a guard, never a traceback with the URL in it.
            raise ValueError(f"alerts.urls: Apprise does not know the URL {redact_notification_url(url)}")
        return service

    @property
    def enabled(self) -> bool:
        return bool(self._targets)

    def start(self) -> None:
        if self._targets and self._worker is None:
            self._worker = asyncio.create_task(self._run(), name="notifier")

    def submit(self, notice: Notice) -> None:
        """Queue `notice` for every URL that takes its event; never blocks the caller."""
        if not any(notice.event in target.events for target, _ in self._targets):
            return
        try:
            self._queue.put_nowait(notice)
        except asyncio.QueueFull:
            log.error(
                "notification_dropped",
                notice_event=notice.event.value,
                headline=notice.headline,
                detail=f"{self._queue.maxsize} notifications queued already; the receivers lag behind",
            )

    async def _run(self) -> None:
        while True:
            notice = await self._queue.get()
            self._current = notice
            try:
                await self._deliver(notice)
            finally:
                self._current = None
                self._queue.task_done()

    async def _deliver(self, notice: Notice) -> None:
        market = await self._lookup(notice.symbol)
        title, body = render(notice, market.filters if market else None, market.settle if market else "")
        for target, service in self._targets:
            if notice.event in target.events:
                await self._send(target, service, notice, title, body)

    async def _lookup(self, symbol: str | None) -> Market | None:
        if symbol is None or self._market is None:
            return None
        try:
            return await self._market(symbol)
        except Exception as exc:  # the numbers then show as given; the notice still goes out
            log.warning("notification_market_unknown", symbol=symbol, error=str(exc))
            return None

    async def _send(
        self, target: Target, service: apprise.Apprise, notice: Notice, title: str, body: str
    ) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                async with asyncio.timeout(self._timeout):
                    result = await service.async_notify(
                        body=body, title=title, notify_type=notice.severity.value
                    )
                sent = bool(result)
            except TimeoutError:
                sent = False
            if sent:
                return
            if attempt < self._attempts:
                await asyncio.sleep(self._backoff * 2 ** (attempt - 1))
        log.error(
            "notification_failed",
            url=redact_notification_url(target.url),
            notice_event=notice.event.value,
            headline=notice.headline,
            attempts=self._attempts,
        )

    async def drain(self, seconds: float) -> None:
        """At shutdown: send what is queued within `seconds`, then log every notice left as undelivered."""
        worker, self._worker = self._worker, None
        if worker is None:
            return
        try:
            async with asyncio.timeout(seconds):
                await self._queue.join()
        except TimeoutError:
            pass
        finally:
            current = self._current
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)
            left = [current] if current is not None else []
            while not self._queue.empty():
                left.append(self._queue.get_nowait())
            for notice in left:
                log.error(
                    "notification_undelivered",
                    notice_event=notice.event.value,
                    headline=notice.headline,
                    detail="the receivers had not taken it when the daemon stopped",
                )
