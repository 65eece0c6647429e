"""Trading performance from closed trades: the arithmetic behind `executor pnl` and `GET /pnl`.

Pure: the store supplies the trades, the caller the time zone of the trading day; money is Decimal.
A trade's PnL here is net (realised, less fees, plus funding received), and its R multiple is that PnL
÷ the risk it took at entry. A trade at exactly zero is neither a win nor a loss but counts as a trade.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from decimal import Decimal
from enum import StrEnum

from executor.domain.money import ZERO

HUNDRED = Decimal(100)
_AGO = re.compile(r"([1-9][0-9]{0,5})([mhdw])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
SINCE_HELP = "an ISO date or time (UTC unless it names its offset), or a span back from now: 90m, 24h, 7d, 4w"


class Period(StrEnum):
    DAILY = "daily"
    WEEKLY = "weekly"
    """ISO weeks, Monday to Sunday."""
    MONTHLY = "monthly"


class GroupBy(StrEnum):
    STRATEGY = "strategy"
    SYMBOL = "symbol"
    SETUP = "setup"


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    closed_at: datetime
    realized_pnl: Decimal
    """Price PnL of the exit against the entry, before fees and funding."""
    fees: Decimal
    funding: Decimal
    """Funding received (negative: paid)."""
    risk_at_entry: Decimal | None
    strategy: str | None = None
    symbol: str = ""
    setup: str = ""

    @property
    def pnl(self) -> Decimal:
        return self.realized_pnl - self.fees + self.funding

    @property
    def r_multiple(self) -> Decimal | None:
        return r_multiple(self.pnl, self.risk_at_entry)


def r_multiple(pnl: Decimal, risk: Decimal | None) -> Decimal | None:
    """PnL ÷ the risk taken at entry; None when there was no risk to measure against."""
    if risk is None or risk <= 0:
        return None
    return pnl / risk


@dataclass(frozen=True, slots=True)
class Performance:
    trades: int
    pnl: Decimal
    """Net: realised less fees plus funding."""
    realized_pnl: Decimal
    fees: Decimal
    funding: Decimal
    wins: int
    losses: int
    win_rate: Decimal | None
    """Wins as a percentage of all trades (None without trades)."""
    average_win: Decimal | None
    average_loss: Decimal | None
    """Negative: the mean of the losing trades' PnL."""
    profit_factor: Decimal | None
    """Gross wins ÷ gross losses; None without a loss (it would be infinite)."""
    average_r: Decimal | None
    """Over the trades whose risk at entry is known."""
    expectancy: Decimal | None
    """Mean net PnL per trade = win rate × average win + loss rate × average loss."""
    max_drawdown: Decimal
    """The largest fall of cumulative net PnL from a running peak (starting at zero), in close order; ≥ 0."""


def summarize(trades: Iterable[ClosedTrade]) -> Performance:
    ordered = sorted(trades, key=lambda trade: trade.closed_at)
    pnls = [trade.pnl for trade in ordered]
    wins = [pnl for pnl in pnls if pnl > 0]
    losses = [pnl for pnl in pnls if pnl < 0]
    multiples = [m for m in (trade.r_multiple for trade in ordered) if m is not None]
    count = len(ordered)
    gross_win, gross_loss = sum(wins, ZERO), sum(losses, ZERO)
    return Performance(
        trades=count,
        pnl=sum(pnls, ZERO),
        realized_pnl=sum((trade.realized_pnl for trade in ordered), ZERO),
        fees=sum((trade.fees for trade in ordered), ZERO),
        funding=sum((trade.funding for trade in ordered), ZERO),
        wins=len(wins),
        losses=len(losses),
        win_rate=Decimal(len(wins)) * HUNDRED / count if count else None,
        average_win=_mean(wins),
        average_loss=_mean(losses),
        profit_factor=gross_win / -gross_loss if losses else None,
        average_r=_mean(multiples),
        expectancy=_mean(pnls),
        max_drawdown=max_drawdown(pnls),
    )


def max_drawdown(pnls: Sequence[Decimal]) -> Decimal:
    peak = equity = worst = ZERO
    for pnl in pnls:
        equity += pnl
        peak = max(peak, equity)
        worst = max(worst, peak - equity)
    return worst


def period_start(moment: datetime, period: Period, zone: tzinfo) -> date:
    """The first day of the period holding `moment`, in the trading day's time zone."""
    day = moment.astimezone(zone).date()
    if period is Period.WEEKLY:
        return day - timedelta(days=day.weekday())
    if period is Period.MONTHLY:
        return day.replace(day=1)
    return day


def parse_since(text: str, now: datetime) -> datetime:
    """`--since` / `?since=`: `2026-11-01` (its midnight UTC), `2026-11-01T08:00[+01:00]`, or `7d` before
    `now`. ValueError says what is accepted."""
    value = text.strip()
    ago = _AGO.fullmatch(value)
    if ago:
        return now - timedelta(**{_UNITS[ago.group(2)]: int(ago.group(1))})
    try:
        if len(value) == 10:
            return datetime.combine(date.fromisoformat(value), time(), UTC)
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{text!r} is not a time: give {SINCE_HELP}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def group_key(by: GroupBy) -> Callable[[ClosedTrade], str]:
    if by is GroupBy.STRATEGY:
        return lambda trade: trade.strategy or ""
    if by is GroupBy.SYMBOL:
        return lambda trade: trade.symbol
    return lambda trade: trade.setup


@dataclass(frozen=True, slots=True)
class Row:
    period: date | None
    group: str | None
    performance: Performance


def breakdown(
    trades: Sequence[ClosedTrade], *, period: Period | None, by: GroupBy | None, zone: tzinfo
) -> list[Row]:
    """One row per (period, group) present, in order; either may be None to not split by it."""
    key = group_key(by) if by is not None else None
    buckets: dict[tuple[date | None, str | None], list[ClosedTrade]] = {}
    for trade in trades:
        when = period_start(trade.closed_at, period, zone) if period is not None else None
        buckets.setdefault((when, key(trade) if key else None), []).append(trade)
    return [
        Row(when, group, summarize(bucket))
        for (when, group), bucket in sorted(
            buckets.items(), key=lambda item: (item[0][0] or date.min, item[0][1] or "")
        )
    ]


def _mean(values: Sequence[Decimal]) -> Decimal | None:
    return sum(values, ZERO) / len(values) if values else None
