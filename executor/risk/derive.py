"""The carried state as `executor size` and the daemon derive it from an account snapshot."""

from __future__ import annotations

from datetime import datetime

from executor.domain.enums import BreakerStatus
from executor.risk.breaker import evaluate_daily_loss, realized_today
from executor.risk.inputs import RiskAccount
from executor.risk.profile import RiskProfile
from executor.risk.state import CarriedState, fold_trades, roll_to, trip

REPORTED = "tripped as reported by the account snapshot"


def derive_state(account: RiskAccount, profile: RiskProfile, now: datetime) -> CarriedState:
    """Fold the closed trades (oldest first), roll to today, then apply the reported breaker and the
    breaker's own verdict on today's numbers. Unknown numbers do not trip here: the pipeline's data
    step rejects them as DATA_MISSING with a clearer reason."""
    state = roll_to(fold_trades(CarriedState.initial(), account.history, profile), now, profile)
    if account.breaker is BreakerStatus.TRIPPED:
        state = trip(state, now, REPORTED)
    realized = account.realized_pnl_today
    if realized is None:
        realized = realized_today(account.history, now, profile.daily_loss.timezone)
    verdict = evaluate_daily_loss(
        profile.daily_loss,
        start_of_day_equity=account.start_of_day_equity,
        equity=account.equity,
        realized_today=realized,
    )
    if verdict.trips and verdict.loss is not None:
        state = trip(state, now, verdict.reason)
    return state
