"""The state that carries from trade to trade (RISK_SPEC section 3), as a fold over closed trades,
day rollovers and breaker events. Every transition is a pure function returning a new value, so the
daemon can persist `to_dict()` after each event and get the same state back after a restart.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from executor.domain.enums import BreakerStatus
from executor.domain.money import ZERO
from executor.risk.clock import require_aware, trading_day
from executor.risk.inputs import ClosedTrade
from executor.risk.profile import RiskProfile


class TradingMode(StrEnum):
    """REDUCING is the operator's (or reconciliation's) reduce-only mode: nothing may open or add."""

    ACTIVE = "active"
    REDUCING = "reducing"


class Outcome(StrEnum):
    WIN = "win"
    LOSS = "loss"
    FLAT = "flat"


def outcome_of(pnl: Decimal) -> Outcome:
    if pnl > 0:
        return Outcome.WIN
    if pnl < 0:
        return Outcome.LOSS
    return Outcome.FLAT


@dataclass(frozen=True, slots=True)
class CarriedState:
    loss_streak: int = 0
    win_streak: int = 0
    big_loss_remaining: int = 0
    recovery_remaining: int = 0
    recent: tuple[Outcome, ...] = ()
    trades: int = 0
    wins: int = 0
    losses: int = 0
    win_total: Decimal = ZERO
    loss_total: Decimal = ZERO
    breaker: BreakerStatus = BreakerStatus.ACTIVE
    trading_day: date | None = None
    tripped_at: datetime | None = None
    trip_reason: str | None = None
    resumed_at: datetime | None = None
    resume_note: str | None = None
    resume_pending: bool = False
    """A resume whose baseline has not been read yet: the daemon anchors it at its next evaluation."""
    loss_at_resume: Decimal | None = None
    """The day's loss (on the breaker's basis) at the resume; the limit counts from it until the day ends."""
    mode: TradingMode = TradingMode.ACTIVE

    @classmethod
    def initial(cls) -> CarriedState:
        return cls()

    def to_dict(self) -> dict[str, Any]:
        return {
            "loss_streak": self.loss_streak,
            "win_streak": self.win_streak,
            "big_loss_remaining": self.big_loss_remaining,
            "recovery_remaining": self.recovery_remaining,
            "recent": [item.value for item in self.recent],
            "trades": self.trades,
            "wins": self.wins,
            "losses": self.losses,
            "win_total": str(self.win_total),
            "loss_total": str(self.loss_total),
            "breaker": self.breaker.value,
            "trading_day": None if self.trading_day is None else self.trading_day.isoformat(),
            "tripped_at": _iso(self.tripped_at),
            "trip_reason": self.trip_reason,
            "resumed_at": _iso(self.resumed_at),
            "resume_note": self.resume_note,
            "resume_pending": self.resume_pending,
            "loss_at_resume": None if self.loss_at_resume is None else str(self.loss_at_resume),
            "mode": self.mode.value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CarriedState:
        day = data.get("trading_day")
        return cls(
            loss_streak=int(data["loss_streak"]),
            win_streak=int(data["win_streak"]),
            big_loss_remaining=int(data["big_loss_remaining"]),
            recovery_remaining=int(data["recovery_remaining"]),
            recent=tuple(Outcome(item) for item in data["recent"]),
            trades=int(data["trades"]),
            wins=int(data["wins"]),
            losses=int(data["losses"]),
            win_total=Decimal(data["win_total"]),
            loss_total=Decimal(data["loss_total"]),
            breaker=BreakerStatus(data["breaker"]),
            trading_day=None if day is None else date.fromisoformat(day),
            tripped_at=_parse_time(data.get("tripped_at")),
            trip_reason=data.get("trip_reason"),
            resumed_at=_parse_time(data.get("resumed_at")),
            resume_note=data.get("resume_note"),
            resume_pending=bool(data.get("resume_pending", False)),
            loss_at_resume=None if data.get("loss_at_resume") is None else Decimal(data["loss_at_resume"]),
            mode=TradingMode(data.get("mode", TradingMode.ACTIVE.value)),
        )

    def win_scaled(self, profile: RiskProfile) -> bool:
        """Rule 4 of seed 000: a run of wins lifts the state caps (never the account caps)."""
        return profile.win_scaling.enabled and self.win_streak >= profile.win_scaling.wins

    def in_recovery(self, profile: RiskProfile) -> bool:
        return profile.recovery.enabled and self.recovery_remaining > 0 and not self.win_scaled(profile)

    def leverage_caps(self, profile: RiskProfile) -> dict[str, int]:
        """Leverage ceilings from the trade sequence by rule name (the breaker's are the pipeline's)."""
        caps: dict[str, int] = {}
        if not self.win_scaled(profile):
            if profile.loss_streak.enabled and self.loss_streak >= profile.loss_streak.losses:
                caps["loss_streak"] = profile.loss_streak.max_leverage
            if profile.big_loss.enabled and self.big_loss_remaining > 0:
                caps["big_loss"] = profile.big_loss.max_leverage
        return caps

    def streak_score(self, window: int) -> int:
        """Wins minus losses over the last `window` closed trades."""
        recent = self.recent[-window:] if window else ()
        return recent.count(Outcome.WIN) - recent.count(Outcome.LOSS)


def on_trade_closed(state: CarriedState, trade: ClosedTrade, profile: RiskProfile) -> CarriedState:
    """A closed trade consumes one of the 'next N trades' of any active cap, then may arm new ones."""
    result = outcome_of(trade.pnl)
    big_left = max(0, state.big_loss_remaining - 1)
    recovery_left = max(0, state.recovery_remaining - 1)
    loss_streak, win_streak = state.loss_streak, state.win_streak
    wins, losses = state.wins, state.losses
    win_total, loss_total = state.win_total, state.loss_total
    if result is Outcome.WIN:
        loss_streak, win_streak = 0, win_streak + 1
        wins, win_total = wins + 1, win_total + trade.pnl
        if profile.win_scaling.enabled and win_streak >= profile.win_scaling.wins:
            big_left, recovery_left = 0, 0
    elif result is Outcome.LOSS:
        loss_streak, win_streak = loss_streak + 1, 0
        losses, loss_total = losses + 1, loss_total - trade.pnl
        if _is_big_loss(trade, profile):
            big_left = profile.big_loss.trades
        if profile.recovery.enabled and loss_streak >= profile.recovery.losses:
            recovery_left = profile.recovery.trades
    keep = profile.streak_window
    return replace(
        state,
        loss_streak=loss_streak,
        win_streak=win_streak,
        big_loss_remaining=big_left,
        recovery_remaining=recovery_left,
        recent=(*state.recent, result)[-keep:],
        trades=state.trades + 1,
        wins=wins,
        losses=losses,
        win_total=win_total,
        loss_total=loss_total,
    )


def _is_big_loss(trade: ClosedTrade, profile: RiskProfile) -> bool:
    rule = profile.big_loss
    if not rule.enabled or trade.equity_before is None or trade.equity_before <= 0:
        return False
    return -trade.pnl > trade.equity_before * rule.threshold


def on_day_rollover(state: CarriedState, day: date) -> CarriedState:
    """A new trading day resets a tripped breaker and ends a resume's baseline (the new day's limit counts
    from its own start); nothing else about the trade sequence changes."""
    if state.trading_day is not None and day <= state.trading_day:
        return state
    state = replace(state, trading_day=day, resume_pending=False, loss_at_resume=None)
    if state.breaker is BreakerStatus.TRIPPED:
        return replace(state, breaker=BreakerStatus.ACTIVE, trip_reason=None, tripped_at=None)
    return state


def roll_to(state: CarriedState, now: datetime, profile: RiskProfile) -> CarriedState:
    """Apply the rollover to the trading day of `now` in the breaker's time zone, if it is a new one."""
    return on_day_rollover(state, trading_day(now, profile.daily_loss.timezone))


def trip(state: CarriedState, now: datetime, reason: str) -> CarriedState:
    """Trip the breaker; a second trip keeps the first reason and time (the day's record)."""
    if state.breaker is BreakerStatus.TRIPPED:
        return state
    return replace(
        state, breaker=BreakerStatus.TRIPPED, tripped_at=require_aware(now, "now"), trip_reason=reason
    )


def reset(state: CarriedState) -> CarriedState:
    return replace(state, breaker=BreakerStatus.ACTIVE, tripped_at=None, trip_reason=None)


def resume(state: CarriedState, now: datetime, note: str) -> CarriedState:
    """`executor resume --force`: an explicit, recorded operator decision to trade again today.

    The operator's command cannot see the account's equity, so the baseline is left pending for the
    daemon (`anchor_resume`); until then the loss that tripped the breaker must not trip it again.
    """
    return replace(
        reset(state),
        resumed_at=require_aware(now, "now"),
        resume_note=note,
        resume_pending=True,
        loss_at_resume=None,
    )


def anchor_resume(state: CarriedState, loss: Decimal | None) -> CarriedState:
    """Fix a pending resume's baseline at the day's `loss` now; unknown loss leaves it pending."""
    if not state.resume_pending or loss is None:
        return state
    return replace(state, resume_pending=False, loss_at_resume=loss)


def set_mode(state: CarriedState, mode: TradingMode) -> CarriedState:
    return replace(state, mode=mode)


def fold_trades(state: CarriedState, trades: Iterable[ClosedTrade], profile: RiskProfile) -> CarriedState:
    """Apply closed trades oldest first, rolling the trading day at each close time."""
    for trade in trades:
        state = on_trade_closed(roll_to(state, trade.closed_at, profile), trade, profile)
    return state


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _parse_time(text: Any) -> datetime | None:
    return None if text is None else datetime.fromisoformat(str(text))
