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
from functools import partial
from pathlib import Path
from typing import Any

from executor import crashpoints
from executor.config.settings import AlertTarget, Settings
from executor.domain.market import Market
from executor.execution.alerts import Alerter
from executor.execution.clock import ExchangeClock, sync_clock
from executor.execution.context import AccountContext
from executor.execution.notifier import Notifier, Target
from executor.execution.reconcile import Reconciler
from executor.execution.stream_watch import INTERVAL_SECONDS, StreamWatch
from executor.execution.trader import MARGIN_MODE, Trader
from executor.execution.user_stream import UserStreamApplier
from executor.observability.logging import get_logger
from executor.observability.metrics import Metrics
from executor.ports.errors import ErrorReason, ExchangeError
from executor.ports.exchange import ExchangePort, StreamName, StreamState
from executor.reports.rollover import DailyReporter, report_command
from executor.risk.clock import zone
from executor.service.access import LOGIN_PATH
from executor.service.connections import ConnectionLimits
from executor.service.controls import controls_router
from executor.service.dashboard.routes import LOGOUT_PATH, dashboard_router
from executor.service.dashboard.session import Sessions
from executor.service.dashboard.view import (
    Dashboard,
    Health,
    RequestsView,
    StatusProvider,
    gather,
    stream_views,
)
from executor.service.exchange import open_exchange
from executor.service.explanation import Finished, wait_for_outcome
from executor.service.history import history_router, with_markets
from executor.service.http import HttpServer, build_app
from executor.service.runtime import build_runtime
from executor.service.signal_route import signal_view_router
from executor.service.state import Check, ServiceState
from executor.service.status import status_report
from executor.service.supervisor import Supervisor
from executor.signals.inbox import Inbox
from executor.signals.webhook import PATH as WEBHOOK_PATH
from executor.signals.webhook import signals_router
from executor.signals.websocket import OutcomePush, WebSocketIngress
from executor.store.health import MIB, StoreHealth
from executor.store.leader import AccountLock
from executor.store.models import SignalRow
from executor.store.store import Store

log = get_logger("executor.service")

ALERT_DRAIN_SHARE = 0.2
"""Alert webhook posts in flight when a shutdown begins may hold it up for this share of its time limit;
what is still undelivered then is logged."""

MAX_CONSUMER_PAUSE = 8.0
"""The longest pause of the signal consumer after failing passes, in seconds."""
MAX_EXCHANGE_WAIT = 30.0
POSITION_MODE_RECHECK = 60.0
"""The longest pause between start-up attempts to reach the exchange, in seconds."""
AUTHENTICATION_FIX = (
    "check exchange.api_key and exchange.api_secret (EXECUTOR__EXCHANGE__API_KEY / _API_SECRET or their "
    "_FILE variants): the pair must belong together, be enabled for futures trading, allow this IP, and "
    "match exchange.mode (paper keys for Demo Trading/testnet, live keys for live)"
)


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


def _outcome_push(store: Store, account: str, seconds: float, finished: Finished) -> OutcomePush | None:
    """The WebSocket's pushed outcomes, through the lookup `?wait=` uses; at 0, acknowledgements only."""
    if seconds <= 0:
        return None
    return OutcomePush(
        lambda signal_id, wait: wait_for_outcome(store, account, signal_id, wait, finished), seconds
    )


def _queued(finished: Finished, trader: Trader, row: SignalRow) -> None:
    """A signal the inbox stored: handed to the consumer; its outcome is waited for until the consumer is
    done with it."""
    finished.queued(row.signal_id)
    trader.hand(row)


def _queued_by_operator(trader: Trader, inbox: Inbox) -> None:
    """An operator's control queued a signal without the inbox: the consumer reads the queue next."""
    trader.queued_elsewhere()
    inbox.wakeup.set()


class Daemon:
    def __init__(self, settings: Settings, config_path: Path | None = None) -> None:
        """`config_path`: the file the settings were read from, for the commands the daemon starts."""
        self.settings = settings
        self._config_path = config_path
        self.state = ServiceState()
        self.metrics = Metrics()
        self.metrics.ready.set_function(lambda: float(self.state.ready))
        self._stop = asyncio.Event()
        self._closers: list[Callable[[], Awaitable[None]]] = []
        self._alerter: Alerter | None = None
        self._reporter: DailyReporter | None = None

    def _watch(self, name: str, check: Check) -> None:
        """A part that keeps the daemon not ready while it fails, shown in /ready and /metrics."""
        self.state.watch(name, check)
        self.metrics.component_up.labels(component=name).set_function(lambda: 0.0 if check() else 1.0)

    async def _follow_prices(self, exchange: ExchangePort, symbols: Sequence[str]) -> None:
        """Background refresh, market streams for the allowed symbols and the user data stream from now on;
        each stream's state and age in /ready (shown, not judged: REST stands in) and /metrics."""
        for symbol in symbols:
            exchange.watch(symbol)
        await exchange.start_background_refresh()

        def report() -> dict[str, dict[str, Any]]:
            now = datetime.now(UTC)
            return {
                status.name.value: {
                    "state": status.state.value,
                    "age_seconds": status.age_seconds(now),
                    "reconnects": status.reconnects,
                    "problem": status.problem,
                }
                for status in exchange.stream_statuses()
            }

        def live(name: StreamName) -> float:
            status = next((s for s in exchange.stream_statuses() if s.name is name), None)
            return 1.0 if status is not None and status.state is StreamState.LIVE else 0.0

        def age(name: StreamName) -> float:
            status = next((s for s in exchange.stream_statuses() if s.name is name), None)
            seconds = status.age_seconds(datetime.now(UTC)) if status is not None else None
            return -1.0 if seconds is None else seconds

        self.state.streams = report
        for status in exchange.stream_statuses():
            label = status.name.value
            self.metrics.stream_live.labels(stream=label).set_function(partial(live, status.name))
            self.metrics.stream_age.labels(stream=label).set_function(partial(age, status.name))

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
        store.on_recovered = supervisor.resume
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
                reports=settings.reports,
                report_command=report_command(self._config_path),
            )
            self._reporter = runtime.reporter
            ctx, keeper, guard, reconciler = runtime.ctx, runtime.keeper, runtime.guard, runtime.reconciler
            trader, clock = runtime.trader, runtime.ctx.clock
            finished = Finished()
            trader.on_done = finished.done

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
                on_queued=partial(_queued, finished, trader),
            )

            async def report() -> dict[str, Any]:
                latest = ctx.accounts.latest
                found = await status_report(
                    store,
                    account,
                    profile,
                    ctx.now(),
                    equity=latest.equity if latest else None,
                    exchange_positions=latest.positions if latest else None,
                )
                named = [*found["positions"], *found["orders"], *found.get("untracked_positions", [])]
                await with_markets(found, exchange.markets, (row["symbol"] for row in named))
                return found

            host, port = _split(settings.ingress.http)
            app = build_app(
                self.state,
                routers=[
                    signals_router(
                        inbox,
                        wait_for_outcome=lambda signal_id, seconds: wait_for_outcome(
                            store, account, signal_id, seconds, finished
                        ),
                    ),
                    signal_view_router(store, account),
                    controls_router(
                        store, account, lambda: datetime.now(UTC), partial(_queued_by_operator, trader, inbox)
                    ),
                    dashboard_router(
                        self._dashboard(ctx, report),
                        inbox.authenticator,
                        lambda: datetime.now(UTC),
                        settings.reports.dir,
                    ),
                    history_router(
                        store,
                        account,
                        zone(profile.daily_loss.timezone),
                        lambda: datetime.now(UTC),
                        exchange.markets,
                    ),
                ],
                metrics=self.metrics,
                status=report,
                authenticator=inbox.authenticator,
                open_paths=[f"POST {WEBHOOK_PATH}", LOGIN_PATH, LOGOUT_PATH],
                sessions=Sessions.for_secrets(inbox.authenticator.secrets),
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
            if not await self._exchange_settled(exchange, clock, profile.allowed_symbols):
                return
            # The user data stream connects before the first reconciliation, so that one covers its gap; its
            # events queue until then and are applied from then on (each later gap: a reconciliation first).
            applier = UserStreamApplier(ctx, keeper, reconciler.run, lambda: reconciler.covers_since)
            following = await self._follow_user_events(exchange, applier)
            if not await self._reconciled(reconciler, guard.tick):
                return
            if following:
                supervisor.every("user-events", 1.0, applier.run)
                ctx.accounts.followed = applier.follows
            await self._follow_prices(exchange, profile.allowed_symbols)
            ws_host, ws_port = _split(settings.ingress.websocket)
            websocket = WebSocketIngress(
                inbox,
                ws_host,
                ws_port,
                max_connections=limits.max_connections,
                handshake_timeout=limits.header_timeout,
                outcomes=_outcome_push(store, account, ingress_settings.websocket_outcome_seconds, finished),
            )
            await websocket.start()
            ingress.append(websocket)
            self._watch("ingress.websocket", lambda: websocket.problem)
            if settings.ingress.redis_url:
                from executor.signals.redis_stream import RedisStreamIngress  # redis only when configured

                redis = RedisStreamIngress.from_settings(inbox, settings.ingress)
                await redis.start()
                ingress.append(redis)
                self._watch("ingress.redis", lambda: redis.problem)

            execution = settings.execution
            supervisor.every("tracker", execution.poll_interval_seconds, keeper.track)
            supervisor.every("entries", execution.poll_interval_seconds, keeper.sync_entries)
            supervisor.every("breaker", execution.breaker_interval_seconds, guard.tick)
            supervisor.every("reconcile", execution.reconcile_interval_seconds, reconciler.run)
            supervisor.every("clock", execution.clock_sync_seconds, lambda: sync_clock(exchange, clock))
            streams = StreamWatch(exchange.stream_statuses, alerter, lambda: datetime.now(UTC))
            supervisor.every("streams", INTERVAL_SECONDS, streams.tick)
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
                async with asyncio.timeout(timeout * 0.8):
                    await self._drain(ingress, consumer, supervisor, http)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(deadline):
                    for close in self._closers:
                        await close()

    def _dashboard(self, ctx: AccountContext, report: StatusProvider) -> Callable[[], Awaitable[Dashboard]]:
        """The page's content on demand: the status report, health of the moment (the streams as /ready
        shows them, the exchange's request window and ban), the recent signals."""
        exchange, settings = ctx.exchange, self.settings.exchange

        def page() -> Awaitable[Dashboard]:
            health = Health(
                ready=self.state.ready,
                reason=self.state.not_ready_reason,
                components=self.state.components(),
                exchange=f"{settings.name.value} ({settings.mode.value})",
                account_age_seconds=ctx.accounts.age_seconds,
                banned_until=exchange.banned_until,
                requests=RequestsView.of(exchange.rate_budget()),
                streams=stream_views(exchange.stream_statuses(), datetime.now(UTC)),
            )
            now = ctx.now()
            return gather(
                ctx.store,
                ctx.account,
                ctx.profile,
                now,
                status=report,
                health=health,
                markets=exchange.markets,
            )

        return page

    def _arm_crash_points(self) -> None:
        specs = self.settings.testing.crash_at
        crashpoints.arm(specs)
        if specs:
            log.warning(
                "crash_points_armed",
                points=[str(spec) for spec in specs],
                detail="testing.crash_at is set: this daemon will SIGKILL itself at these points",
            )

    async def _follow_user_events(self, exchange: ExchangePort, applier: UserStreamApplier) -> bool:
        """The user data stream followed into `applier` (False: the exchange has none), given a moment to
        connect, so the first reconciliation covers its gap; one that connects later gets its own."""
        if not exchange.follow_user_events(applier.sink):
            return False
        loop = asyncio.get_running_loop()
        until = loop.time() + self.settings.exchange.stream_stall_ms / 1000
        while loop.time() < until and not self._stop.is_set():
            statuses = exchange.stream_statuses()
            if any(s.name is StreamName.USER_DATA and s.state is StreamState.LIVE for s in statuses):
                break
            await asyncio.sleep(0.02)
        return True

    async def _reconciled(self, reconciler: Reconciler, breaker: Callable[[], Awaitable[None]]) -> bool:
        """The first reconciliation, then the breaker evaluated on what it found (False when told to stop)."""
        self.state.mark_not_ready("reconciling with the exchange")
        if not await self._first_reconciliation(reconciler):
            return False
        return await self._until_exchange_answers("breaker", breaker)

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
                    async with asyncio.timeout(pause):
                        await self._stop.wait()
                pause = min(MAX_EXCHANGE_WAIT, pause * 2)
        return False

    async def _exchange_settled(
        self, exchange: ExchangePort, clock: ExchangeClock, allowed: Sequence[str]
    ) -> bool:
        """The exchange's clock is read, the position mode is one-way and the margin mode set ahead (False
        when told to stop)."""
        if not await self._until_exchange_answers("clock", lambda: sync_clock(exchange, clock)):
            return False
        if not await self._until_one_way(exchange, allowed):
            return False
        return await self._until_exchange_answers("margin mode", lambda: _prepare(exchange, allowed))

    async def _until_one_way(self, exchange: ExchangePort, allowed: Sequence[str]) -> bool:
        """The executor trades in one-way position mode: the tradable symbols (the profile's allowed ones,
        else every market) are switched to it where nothing is open. Where something is, trading does not
        start: not ready with the fix named, checked again every minute. False when told to stop."""
        problems: list[str] = []

        async def check() -> None:
            problems[:] = await exchange.ensure_one_way(await _tradable(exchange, allowed))

        while await self._until_exchange_answers("position mode", check):
            if not problems:
                return True
            self.state.mark_not_ready("position mode: " + "; ".join(problems))
            for problem in problems:
                log.error("position_mode_refused", detail=problem)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(POSITION_MODE_RECHECK):
                    await self._stop.wait()
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

    async def _consume(self, inbox: Inbox, trader: Trader) -> None:
        """Decide stored signals in order; woken by the inbox, and every second for anything missed.

        The inbox hands each stored row over in memory, so a woken pass decides it without reading the
        queue; the first pass, a pass after a second without a wake-up, and any pass after a failure read
        the queue from the database (the record, and the fallback). On shutdown the signal in flight
        finishes; the rest stay queued for the next start. A failing pass (the database or the exchange
        away) is retried after a pause that doubles from 1 s to 8 s, so a long outage does not spend the
        exchange's read budget on settlement attempts.
        """
        pause = 1.0
        poll = True
        while not self._stop.is_set():
            inbox.wakeup.clear()
            try:
                processed = await trader.process_queued(keep_going=lambda: not self._stop.is_set(), poll=poll)
                pause = 1.0
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("consumer_failed", retry_in_s=pause)
                processed = 0
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(pause):
                        await self._stop.wait()
                pause = min(MAX_CONSUMER_PAUSE, pause * 2)
            poll = False
            if not processed:
                try:
                    async with asyncio.timeout(1.0):
                        await inbox.wakeup.wait()
                except TimeoutError:
                    poll = True

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
        if self._reporter is not None:
            # The day's report under way gets what is left of the alerts' share; its summary goes out anyway.
            await self._reporter.flush(max(0.0, drain_until - loop.time()) / 2)
        if self._alerter is not None:
            # Nothing raises alerts any more; the posts have been under way meanwhile.
            await self._alerter.drain(max(0.0, drain_until - loop.time()))


async def _tradable(exchange: ExchangePort, allowed: Sequence[str]) -> list[str]:
    """The unified symbols the profile allows (every market when it names none)."""
    markets = await exchange.markets()
    return [
        m.symbol
        for m in markets.values()
        if not allowed or m.symbol in allowed or m.exchange_symbol in allowed
    ]


async def _prepare(exchange: ExchangePort, allowed: Sequence[str]) -> None:
    """Margin mode set once, ahead of the signals, and the leverage the account holds remembered, so the
    signal path writes only a changed leverage. Only the symbols a profile names are switched (every market
    would be hundreds of writes at each start); the others keep what they have until their first signal."""
    symbols = await _tradable(exchange, allowed)
    for problem in await exchange.prepare_symbols(symbols, MARGIN_MODE, switch=bool(allowed)):
        log.warning("margin_mode_left_to_the_path", detail=problem)


def build_notifier(urls: Sequence[AlertTarget], exchange: ExchangePort) -> Notifier:
    """The Apprise notifier for `alerts.urls`, started; it reads markets (tick, step) from the exchange."""

    async def market(symbol: str) -> Market | None:
        return (await exchange.markets()).get(symbol)

    notifier = Notifier([Target(target.url, target.accepted()) for target in urls], market)
    notifier.start()
    return notifier
