"""One trading day read back from the store: its trades with PnL and R, fees and funding, the rejections
by reason, and the breaker's day (its ledger, limit and the events that moved it).

The day runs from midnight to midnight in the breaker's time zone (`daily_loss.timezone`), as the daily
ledger does; a trade belongs to the day it was closed in.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Final

from executor.domain.enums import EventKind, PositionStatus
from executor.domain.performance import ClosedTrade, Performance, summarize
from executor.domain.reasons import ReasonCode
from executor.reports.equity import Point, day_start, intraday
from executor.reports.trades import closed_trade
from executor.risk import RiskProfile, daily_loss_limit
from executor.store.models import DailyLossRow, EventRow, PositionRow, SignalRow
from executor.store.store import Store

BREAKER_EVENTS: Final = (
    EventKind.DAY_STARTED,
    EventKind.BREAKER_TRIPPED,
    EventKind.RECONCILE_HALTED,
    EventKind.OPERATOR_HALT,
    EventKind.OPERATOR_RESUME,
    EventKind.OPERATOR_PAUSE,
    EventKind.OPERATOR_UNPAUSE,
)
INVALID: Final = ReasonCode.INVALID_MESSAGE.value
"""The rejections' name for messages refused before they were signals (malformed, not the schema)."""


@dataclass(frozen=True, slots=True)
class Trade:
    """One closed trade as the report lists it; its numbers are the performance module's."""

    symbol: str
    side: str
    qty: Decimal
    entry: Decimal
    exit: Decimal | None
    closed: ClosedTrade


@dataclass(frozen=True, slots=True)
class DayReport:
    account: str
    day: date
    timezone: str
    start: datetime
    end: datetime
    ledger: DailyLossRow | None
    limit: Decimal | None
    trades: list[Trade]
    performance: Performance
    """The day's trades summed by executor/domain/performance.py, as `executor pnl --daily` sums them."""
    rejections: dict[str, int]
    breaker_events: list[EventRow]
    curve: list[Point]


def trade(position: PositionRow, signal: SignalRow | None) -> Trade:
    assert position.closed_at is not None
    return Trade(
        symbol=position.symbol,
        side=position.side.value,
        qty=position.qty,
        entry=position.entry_price,
        exit=position.exit_price,
        closed=closed_trade(position, signal),
    )


def _rejections(decided: dict[str | None, int], invalid: int) -> dict[str, int]:
    counts: Counter[str] = Counter({str(reason or "UNKNOWN"): count for reason, count in decided.items()})
    if invalid:
        counts[INVALID] += invalid
    return dict(counts.most_common())


async def day_report(store: Store, account: str, profile: RiskProfile, day: date, now: datetime) -> DayReport:
    """The report of trading day `day` as the store holds it at `now` (a day not over yet: so far)."""
    timezone = profile.daily_loss.timezone
    start, end = day_start(day, timezone), day_start(day + timedelta(days=1), timezone)
    async with store.read() as tx:
        ledger = await tx.daily_loss.get(account, day)
        following = await tx.daily_loss.get(account, day + timedelta(days=1))
        trades = await tx.positions.trades(account, PositionStatus.CLOSED, closed_since=start)
        decided = await tx.decisions.rejections_between(account, start, end)
        invalid = await tx.rejected.count_between(account, start, end)
        events = await tx.events.between(account, start, end, BREAKER_EVENTS)
    closed = [
        trade(row, signal) for row, signal in trades if row.closed_at is not None and row.closed_at < end
    ]
    curve: list[Point] = []
    if ledger is not None:
        # The next day's opening equity, when there is one, closes the curve with what was unrealised.
        closing = None if following is None else following.start_of_day_equity
        steps = [(item.closed.closed_at, item.closed.pnl) for item in closed]
        curve = intraday(Point(start, ledger.start_of_day_equity), steps, min(end, now), closing)
    config = profile.daily_loss
    return DayReport(
        account=account,
        day=day,
        timezone=timezone,
        start=start,
        end=end,
        ledger=ledger,
        limit=daily_loss_limit(config, ledger.start_of_day_equity) if ledger and config.enabled else None,
        trades=closed,
        performance=summarize(item.closed for item in closed),
        rejections=_rejections(
            {reason and reason.value: count for reason, count in decided.items()}, invalid
        ),
        breaker_events=list(events),
        curve=curve,
    )
