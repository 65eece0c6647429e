"""The daemon's life: start-up in order, serve until told to stop, shut down within the time limit.

Start-up order is the safety argument: database schema, exchange, risk state, reconciliation with
the exchange, and only then ingress and the signal consumer. `/ready` turns true after the first
reconciliation. On SIGTERM ingress stops first, the signal in flight finishes, and the exchange-side
stops are left in place.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from executor import crashpoints
from executor.config.settings import AlertTarget, Settings
from executor.domain.market import Market
from executor.execution.alerts import Alerter
from executor.execution.clock import ExchangeClock
from executor.execution.notifier import Notifier, Target
from executor.execution.reconcile import Reconciler
from executor.execution.trader import Trader
from executor.observability.logging import get_logger
from executor.observability.metrics import Metrics
from executor.ports.errors import ErrorReason, ExchangeError
from executor.ports.exchange import ExchangePort
from executor.service.connections import ConnectionLimits
from executor.service.controls import controls_router
from executor.service.exchange import open_exchange
from executor.service.explanation import signal_view_router, wait_for_outcome
from executor.service.http import HttpServer, build_app
from executor.service.runtime import build_runtime
from executor.service.state import Check, ServiceState
from executor.service.status import status_report
from executor.service.supervisor import Supervisor
from executor.signals.inbox import Inbox
from executor.signals.redis_stream import RedisStreamIngress
from executor.signals.webhook import PATH as WEBHOOK_PATH
from executor.signals.webhook import signals_router
from executor.signals.websocket import WebSocketIngress
from executor.store.health import MIB, StoreHealth
from executor.store.leader import AccountLock
from executor.store.store import Store

log = get_logger("executor.service")

ALERT_DRAIN_SHARE = 0.2
"""Alert webhook posts in flight when a shutdown begins may hold it up for this share of its time limit;
what is still undelivered then is logged."""

MAX_CONSUMER_PAUSE = 8.0
"""The longest pause of the signal consumer after failing passes, in seconds."""
MAX_EXCHANGE_WAIT = 30.0
"""The longest pause between start-up attempts to reach the exchange, in seconds."""
AUTHENTICATION_FIX = (
    "check exchange.api_key and exchange.api_secret (EXECUTOR__EXCHANGE__API_KEY / _API_SECRET or their "
    "_FILE variants): the pair must belong together, be enabled for futures trading, allow this IP, and "
    "match exchange.mode (paper keys for Demo Trading/testnet, live keys for live)"
)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.state = ServiceState()
        self.metrics = Metrics()
        self.metrics.ready.set_function(lambda: float(self.state.ready))
        self._stop = asyncio.Event()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._alerter: Alerter | None = None

    def _watch(self, name: str, check: Check) -> None:
        """A part that keeps the daemon not ready while it fails, shown in /ready and /metrics."""
        self.state.watch(name, check)
        self.metrics.component_up.labels(component=name).set_function(lambda: 0.0 if check() else 1.0)

    def request_stop(self) -> None:
        self._stop.set()

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        try:
            await self._serve()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log.info("stopped")

    async def _serve(self) -> None:
        settings = self.settings
        self._arm_crash_points()
        account = settings.exchange.account
        profile = settings.risk_profile()
        supervisor = Supervisor()
        store = Store.open(settings.database.url, on_order_moved=self.metrics.order_moved)
        self._closers.append(store.close)
        http: HttpServer | None = None
        ingress: list[Any] = []
        consumer: asyncio.Task[None] | None = None
        leader = AccountLock(store.engine, account)
        self._closers.insert(0, leader.release)
        try:
            await store.upgrade()
            database = settings.database
            health = StoreHealth(
                store, min_free_bytes=database.min_free_mib * MIB, timeout=database.probe_timeout_seconds
            )
            self._watch("database", lambda: health.problem)
            supervisor.every("database-probe", database.probe_interval_seconds, health.probe)
            self.state.mark_not_ready("standby: waiting for the account lock")
            if not await leader.try_acquire():
                log.warning("standby", detail=f"another executor holds account {account!r}; waiting for it")
                if not await leader.acquire(self._stop):
                    return
            exchange = await self._exchange()
            notifier = build_notifier(settings.alerts.urls, exchange)
            alerter = self._alerter = Alerter(self.metrics, settings.alerts.webhook_url, account, notifier)
            runtime = await build_runtime(
                account=account,
                store=store,
                exchange=exchange,
                profile=profile,
                settings=settings.execution,
                metrics=self.metrics,
                alerter=alerter,
            )
            ctx, keeper, guard, reconciler = runtime.ctx, runtime.keeper, runtime.guard, runtime.reconciler
            trader, clock = runtime.trader, runtime.ctx.clock

            # Settings refuse a bind beyond loopback without a secret, before anything starts.
            if not settings.ingress.has_secret:
                log.warning("ingress_unauthenticated", detail="no ingress.secret: listening on loopback only")
            inbox = Inbox.from_settings(
                store,
                account,
                settings.ingress,
                lambda: datetime.now(UTC),
                on_result=lambda result: self.metrics.signals.labels(status=result.status.value).inc(),
                store_problem=lambda: health.problem,
            )

            async def report() -> dict[str, Any]:
                latest = ctx.accounts.latest
                return await status_report(
                    store,
                    account,
                    profile,
                    ctx.now(),
                    equity=latest.equity if latest else None,
                    exchange_positions=latest.positions if latest else None,
                )

            host, port = _split(settings.ingress.http)
            app = build_app(
                self.state,
                routers=[
                    signals_router(
                        inbox,
                        wait_for_outcome=lambda signal_id, seconds: wait_for_outcome(
                            store, account, signal_id, seconds
                        ),
                    ),
                    signal_view_router(store, account),
                    controls_router(store, account, lambda: datetime.now(UTC), inbox.wakeup.set),
                ],
                metrics=self.metrics,
                status=report,
                authenticator=inbox.authenticator,
                open_paths=[WEBHOOK_PATH],
            )
            ingress_settings = settings.ingress
            limits = ConnectionLimits(
                max_connections=ingress_settings.max_connections,
                header_timeout=ingress_settings.header_timeout_seconds,
                body_timeout=ingress_settings.body_timeout_seconds,
            )
            http = HttpServer(app, host, port, limits)
            await http.start()
            self.state.mark_not_ready("waiting for the exchange (clock)")
            if not await self._until_exchange_answers("clock", lambda: self._sync_clock(exchange, clock)):
                return
            self.state.mark_not_ready("reconciling with the exchange")
            if not await self._first_reconciliation(reconciler):
                return
            if not await self._until_exchange_answers("breaker", guard.tick):
                return
            await exchange.start_background_refresh()
            ws_host, ws_port = _split(settings.ingress.websocket)
            websocket = WebSocketIngress(
                inbox,
                ws_host,
                ws_port,
                max_connections=limits.max_connections,
                handshake_timeout=limits.header_timeout,
            )
            await websocket.start()
            ingress.append(websocket)
            self._watch("ingress.websocket", lambda: websocket.problem)
            if settings.ingress.redis_url:
                redis = RedisStreamIngress.from_settings(inbox, settings.ingress)
                await redis.start()
                ingress.append(redis)
                self._watch("ingress.redis", lambda: redis.problem)

            execution = settings.execution
            supervisor.every("tracker", execution.poll_interval_seconds, keeper.track)
            supervisor.every("breaker", execution.breaker_interval_seconds, guard.tick)
            supervisor.every("reconcile", execution.reconcile_interval_seconds, reconciler.run)
            supervisor.every("clock", execution.clock_sync_seconds, lambda: self._sync_clock(exchange, clock))
            consumer = asyncio.create_task(self._consume(inbox, trader), name="consumer")

            self.state.mark_ready()
            log.info(
                "ready",
                http=http.url,
                websocket=websocket.url,
                redis=bool(settings.ingress.redis_url),
                exchange=settings.exchange.name.value,
                mode=settings.exchange.mode.value,
                account=account,
                database=store.dialect,
                profile=profile.name,
                breaker=ctx.book.state.breaker.value,
            )
            await self._stop.wait()
            log.info("stopping", reason="signal")
        finally:
            self.state.mark_not_ready("stopping")
            # The budget runs from the signal: most of it for the work in flight, the rest to close the
            # database and exchange connections even when that work overran.
            timeout = self.settings.service.shutdown_timeout_seconds
            deadline = asyncio.get_running_loop().time() + timeout
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drain(ingress, consumer, supervisor, http), timeout * 0.8)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    for close in self._closers:
                        await close()

    def _arm_crash_points(self) -> None:
        specs = self.settings.testing.crash_at
        crashpoints.arm(specs)
        if specs:
            log.warning(
                "crash_points_armed",
                points=[str(spec) for spec in specs],
                detail="testing.crash_at is set: this daemon will SIGKILL itself at these points",
            )

    async def _first_reconciliation(self, reconciler: Reconciler) -> bool:
        """Until it succeeds nothing is read from ingress. An exchange that does not answer is waited for;
        anything else is a state the daemon cannot explain: trading halts with the reason (fail closed)
        rather than the daemon exiting into a restart loop. False when told to stop meanwhile."""
        try:
            return await self._until_exchange_answers("reconciliation", reconciler.run)
        except Exception as exc:
            log.exception("reconciliation_failed")
            await reconciler.halt([f"start-up reconciliation failed: {type(exc).__name__}: {exc}"])
            return not self._stop.is_set()

    async def _until_exchange_answers(self, step: str, attempt: Callable[[], Awaitable[object]]) -> bool:
        """Start-up steps that need the exchange: retried with a growing pause (1 s doubling to 30 s)
        while it cannot be reached or refuses the API key, not ready meanwhile. A stop request ends the
        wait at once, even in the middle of a request: False then, and the daemon exits cleanly."""
        pause = 1.0
        while not self._stop.is_set():
            try:
                return await self._unless_stopped(attempt())
            except ExchangeError as exc:
                if exc.reason is ErrorReason.AUTHENTICATION:
                    self.state.mark_not_ready("the exchange refused the API key")
                    log.error(
                        "exchange_authentication_failed",
                        step=step,
                        error=str(exc),
                        fix=AUTHENTICATION_FIX,
                        retry_in_s=pause,
                    )
                else:
                    self.state.mark_not_ready(f"waiting for the exchange ({step})")
                    log.warning(
                        "waiting_for_exchange",
                        step=step,
                        error=str(exc),
                        retry_in_s=pause,
                        detail="the exchange did not answer; retrying, not ready meanwhile",
                    )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
                pause = min(MAX_EXCHANGE_WAIT, pause * 2)
        return False

    async def _unless_stopped(self, work: Awaitable[object]) -> bool:
        """Await `work` unless a stop comes first (then it is cancelled): True when it finished."""
        task = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
            return False
        task.result()
        return True

    async def _exchange(self) -> ExchangePort:
        return await open_exchange(self.settings, self._closers)

    @staticmethod
    async def _sync_clock(exchange: ExchangePort, clock: ExchangeClock) -> None:
        sent = datetime.now(UTC)
        server = await exchange.server_time()
        clock.sync(server, sent, datetime.now(UTC))

    async def _consume(self, inbox: Inbox, trader: Trader) -> None:
        """Decide stored signals in order; woken by the inbox, and every second for anything missed.

        On shutdown the signal in flight finishes; the rest stay queued for the next start. A failing pass
        (the database or the exchange away) is retried after a pause that doubles from 1 s to 8 s, so a
        long outage does not spend the exchange's read budget on settlement attempts.
        """
        pause = 1.0
        while not self._stop.is_set():
            inbox.wakeup.clear()
            try:
                processed = await trader.process_queued(keep_going=lambda: not self._stop.is_set())
                pause = 1.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consumer_failed", retry_in_s=pause)
                processed = 0
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), pause)
                pause = min(MAX_CONSUMER_PAUSE, pause * 2)
            if not processed:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(inbox.wakeup.wait(), 1.0)

    async def _drain(
        self,
        ingress: list[Any],
        consumer: asyncio.Task[None] | None,
        supervisor: Supervisor,
        http: HttpServer | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        drain_until = loop.time() + self.settings.service.shutdown_timeout_seconds * ALERT_DRAIN_SHARE
        for source in ingress:
            await source.stop()
        if consumer is not None:
            await asyncio.gather(consumer, return_exceptions=True)
        await supervisor.stop()
        if http is not None:
            await http.stop()
        if self._alerter is not None:
            # Nothing raises alerts any more; the posts have been under way meanwhile.
            await self._alerter.drain(max(0.0, drain_until - loop.time()))


def build_notifier(urls: Sequence[AlertTarget], exchange: ExchangePort) -> Notifier:
    """The Apprise notifier for `alerts.urls`, started; it reads markets (tick, step) from the exchange."""

    async def market(symbol: str) -> Market | None:
        return (await exchange.markets()).get(symbol)

    notifier = Notifier([Target(target.url, target.accepted()) for target in urls], market)
    notifier.start()
    return notifier
