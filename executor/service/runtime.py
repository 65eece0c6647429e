"""The execution rooms of one account wired to each other: built here once, for the daemon and for the
in-process tests, so a test exercises exactly the wiring the daemon runs."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from executor.config.settings import ExecutionSettings, ReportSettings
from executor.domain.notices import daily_summary
from executor.execution.alerts import Alerter
from executor.execution.breaker_guard import BreakerGuard
from executor.execution.clock import ExchangeClock
from executor.execution.context import AccountCache, AccountContext
from executor.execution.positions import PositionKeeper
from executor.execution.reconcile import Reconciler
from executor.execution.riskbook import DayLedger, RiskBook
from executor.execution.trader import Trader
from executor.observability.metrics import Metrics
from executor.ports.exchange import ExchangePort
from executor.reports.rollover import DailyReporter
from executor.risk import RiskProfile
from executor.store.store import Store


@dataclass(frozen=True)
class Runtime:
    ctx: AccountContext
    keeper: PositionKeeper
    guard: BreakerGuard
    reconciler: Reconciler
    trader: Trader
    reporter: DailyReporter | None


async def build_runtime(
    *,
    account: str,
    store: Store,
    exchange: ExchangePort,
    profile: RiskProfile,
    settings: ExecutionSettings,
    metrics: Metrics,
    alerter: Alerter,
    reports: ReportSettings | None = None,
    report_command: Sequence[str] = (),
) -> Runtime:
    """The account's risk book loaded from the store, and the trader, position keeper, breaker guard and
    reconciler sharing one context; nothing runs until the caller schedules it. With `reports`, each
    ended day's report is written by `report_command` (`executor report`) and linked from its daily
    summary."""
    book = RiskBook(store, account, profile)
    await book.load()
    ctx = AccountContext(
        account=account,
        store=store,
        exchange=exchange,
        profile=profile,
        book=book,
        clock=ExchangeClock(),
        metrics=metrics,
        settings=settings,
        accounts=AccountCache(exchange, settings.account_max_age_seconds, settings.streamed_account_seconds),
    )
    keeper = PositionKeeper(ctx, alerter)
    guard = BreakerGuard(ctx, keeper, alerter)
    keeper.booking.on_booked = guard.on_booked
    reporter = None
    if reports is not None:
        reporter = DailyReporter(reports, alerter.notify, report_command, markets=exchange.markets)

    def day_ended(day: DayLedger, equity: Decimal) -> None:
        summary = daily_summary(
            day.trading_day, day.start_of_day_equity, equity, day.net, day.fees, day.funding
        )
        if reporter is None:
            alerter.notify(summary)
        else:
            reporter.day_ended(day.trading_day, summary)

    book.on_day_ended = day_ended
    reconciler = Reconciler(ctx, keeper, alerter)
    trader = Trader(ctx, keeper, alerter, settle=reconciler.run)
    return Runtime(ctx, keeper, guard, reconciler, trader, reporter)
