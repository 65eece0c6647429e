"""The equity curve from what the store holds: no equity history is stored, so the curve is rebuilt from
each trading day's opening equity (the daily ledger), the net PnL of each trade closed since, and the
exchange's equity of the moment (which includes what is still unrealised)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from executor.risk.clock import zone
from executor.store.models import DailyLossRow


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    equity: Decimal


def day_start(day: date, timezone: str) -> datetime:
    """The moment trading day `day` begins in the breaker's time zone."""
    return datetime.combine(day, time(0), tzinfo=zone(timezone))


def intraday(
    opening: Point, closed: Sequence[tuple[datetime, Decimal]], now: datetime, equity_now: Decimal | None
) -> list[Point]:
    """The day's curve: its opening equity, a step at each trade closed since (when, its net PnL) in
    close order, and the equity now."""
    points = [opening]
    running = opening.equity
    for closed_at, pnl in closed:
        if closed_at < opening.at:
            continue
        running += pnl
        points.append(Point(closed_at, running))
    points.append(Point(now, running if equity_now is None else equity_now))
    return points


def daily(
    ledgers: Sequence[DailyLossRow], timezone: str, now: datetime, equity_now: Decimal | None
) -> list[Point]:
    """Over days: each day's opening equity at its start, and the equity now (else the last day's
    opening plus what it booked since)."""
    points = [Point(day_start(row.trading_day, timezone), row.start_of_day_equity) for row in ledgers]
    if ledgers:
        last = ledgers[-1]
        booked = last.start_of_day_equity + last.realized_pnl - last.fees + last.funding
        points.append(Point(now, booked if equity_now is None else equity_now))
    return points
