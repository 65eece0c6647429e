"""The risk engine of RISK_SPEC.md: pure functions and small state machines over snapshots.

No database, no exchange client, no clock: time is an argument, so the daemon, `executor size` and
the tests all run the very same code.
"""

from executor.risk._schema import ProfileError
from executor.risk.breaker import BreakerVerdict, daily_loss_limit, evaluate_daily_loss
from executor.risk.decision import Decision, Step
from executor.risk.inputs import (
    AccountSnapshot,
    ClosedTrade,
    Entry,
    LeverageTier,
    MarketSnapshot,
    OpenPosition,
    Signal,
)
from executor.risk.liquidation import liquidation_price, tier_for
from executor.risk.pipeline import decide
from executor.risk.profile import BreakerAction, HeatPolicy, LossBasis, RiskMode, RiskProfile, SizerKind
from executor.risk.reasons import ReasonCode
from executor.risk.state import (
    CarriedState,
    TradingMode,
    on_day_rollover,
    on_trade_closed,
    reset,
    resume,
    roll_to,
    set_mode,
    trip,
)

__all__ = [
    "AccountSnapshot",
    "BreakerAction",
    "BreakerVerdict",
    "CarriedState",
    "ClosedTrade",
    "Decision",
    "Entry",
    "HeatPolicy",
    "LeverageTier",
    "LossBasis",
    "MarketSnapshot",
    "OpenPosition",
    "ProfileError",
    "ReasonCode",
    "RiskMode",
    "RiskProfile",
    "Signal",
    "SizerKind",
    "Step",
    "TradingMode",
    "daily_loss_limit",
    "decide",
    "evaluate_daily_loss",
    "liquidation_price",
    "on_day_rollover",
    "on_trade_closed",
    "reset",
    "resume",
    "roll_to",
    "set_mode",
    "tier_for",
    "trip",
]
