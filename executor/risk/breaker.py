"""The daily-loss circuit breaker's verdict (RISK_SPEC section 3): pure arithmetic on the day's numbers.
The daemon acts on a trip (cancel entries, flatten, persist, notify); this only says whether and why.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from executor.risk.clock import trading_day
from executor.risk.decision import Text, words
from executor.risk.inputs import ClosedTrade
from executor.risk.profile import BreakerAction, DailyLoss, LossBasis


@dataclass(frozen=True, slots=True)
class BreakerVerdict:
    trips: bool
    loss: Decimal | None
    limit: Decimal | None
    basis: LossBasis
    action: BreakerAction
    flatten: bool
    text: Text
    """Why, as recorded (words only when read: the pipeline asks on every decision, reads it rarely)."""

    @property
    def reason(self) -> str:
        return words(self.text)


def daily_loss_limit(config: DailyLoss, start_of_day_equity: Decimal | None) -> Decimal | None:
    """The smaller of the absolute and percentage limits that are configured (and computable)."""
    limits = []
    if config.limit_amount is not None:
        limits.append(config.limit_amount)
    if config.limit_pct is not None and start_of_day_equity is not None:
        limits.append(start_of_day_equity * config.limit_pct)
    return min(limits) if limits else None


def evaluate_daily_loss(
    config: DailyLoss,
    *,
    start_of_day_equity: Decimal | None,
    equity: Decimal | None,
    realized_today: Decimal | None,
    loss_at_resume: Decimal | None = None,
) -> BreakerVerdict:
    """Trip at or past the limit. Missing numbers trip too (fail closed): a breaker that cannot see the
    day's loss must not assume it is fine.

    After `executor resume --force` the limit is measured from the day's loss at the resume
    (`loss_at_resume`; on the equity basis: from the equity at the resume), so the loss that tripped
    the breaker does not trip it again; only a new loss of the full limit does. `loss` stays the day's.
    """

    def verdict(trips: bool, loss: Decimal | None, limit: Decimal | None, reason: Text) -> BreakerVerdict:
        return BreakerVerdict(trips, loss, limit, config.basis, config.action, config.flatten, reason)

    if not config.enabled:
        return verdict(False, None, None, "daily loss breaker disabled")
    if config.limit_pct is not None and start_of_day_equity is None:
        return verdict(True, None, None, "start-of-day equity unknown: daily loss cannot be checked")
    limit = daily_loss_limit(config, start_of_day_equity)
    if config.basis is LossBasis.REALIZED:
        if realized_today is None:
            return verdict(True, None, limit, "today's realized PnL unknown: daily loss cannot be checked")
        loss = -realized_today
    else:
        if equity is None or start_of_day_equity is None:
            return verdict(True, None, limit, "equity unknown: daily loss cannot be checked")
        loss = start_of_day_equity - equity
    measured, what = (
        (loss, "daily loss") if loss_at_resume is None else (loss - loss_at_resume, "loss since the resume")
    )
    if limit is not None and measured >= limit:
        return verdict(
            True, loss, limit, ("{} {!m} ({}) reached the limit {!m}", (what, measured, config.basis, limit))
        )
    if measured < 0:  # a gain: said as one, never as a negative loss
        return verdict(
            False,
            loss,
            limit,
            ("{} none: a gain of {!m} ({}), under the limit {!m}", (what, -measured, config.basis, limit)),
        )
    return verdict(
        False, loss, limit, ("{} {!m} ({}) under the limit {!m}", (what, measured, config.basis, limit))
    )


def realized_today(history: Sequence[ClosedTrade], now: datetime, timezone: str) -> Decimal:
    """PnL of the trades closed on the trading day of `now` (history is oldest first)."""
    today = trading_day(now, timezone)
    total = Decimal(0)
    for trade in reversed(history):
        if trading_day(trade.closed_at, timezone) != today:
            break
        total += trade.pnl
    return total
