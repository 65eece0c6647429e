"""The risk engine of RISK_SPEC.md: pure functions and small state machines over snapshots.

No database, no exchange client, no clock: time is an argument, so the daemon, `executor size` and
the tests all run the very same code.

Its names are loaded on first use (PEP 562): `executor.config` needs only the profile, and importing every
module of the engine would cost `executor status` a twentieth of a second of start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from executor.domain.signal import Entry, Signal
    from executor.risk.breaker import BreakerVerdict, daily_loss_limit, evaluate_daily_loss, realized_today
    from executor.risk.decision import Decision, Step
    from executor.risk.derive import derive_state
    from executor.risk.inputs import ClosedTrade, LeverageBracket, OpenPosition, RiskAccount, RiskMarket
    from executor.risk.liquidation import liquidation_price, liquidation_violation, tier_for
    from executor.risk.pipeline import decide
    from executor.risk.position_rule import PositionAction, PositionVerdict, position_drawdown_action
    from executor.risk.profile import (
        BreakerAction,
        HeatPolicy,
        LossBasis,
        ProfileError,
        RiskMode,
        RiskProfile,
        SizerKind,
    )
    from executor.risk.state import (
        CarriedState,
        TradingMode,
        anchor_resume,
        fold_trades,
        on_day_rollover,
        on_trade_closed,
        reset,
        resume,
        roll_to,
        set_mode,
        trip,
    )

_HOMES = (
    "executor.risk.profile",
    "executor.risk.decision",
    "executor.risk.pipeline",
    "executor.risk.derive",
    "executor.risk.inputs",
    "executor.risk.breaker",
    "executor.risk.state",
    "executor.risk.liquidation",
    "executor.risk.position_rule",
    "executor.domain.signal",
)
"""The modules the names below come from, searched in this order (the profile first: config asks for it)."""


def __getattr__(name: str) -> Any:
    if name in __all__:
        for home in _HOMES:
            module = importlib.import_module(home)
            if hasattr(module, name):
                value = getattr(module, name)
                globals()[name] = value
                return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "BreakerAction",
    "BreakerVerdict",
    "CarriedState",
    "ClosedTrade",
    "Decision",
    "Entry",
    "HeatPolicy",
    "LeverageBracket",
    "LossBasis",
    "OpenPosition",
    "PositionAction",
    "PositionVerdict",
    "ProfileError",
    "RiskAccount",
    "RiskMarket",
    "RiskMode",
    "RiskProfile",
    "Signal",
    "SizerKind",
    "Step",
    "TradingMode",
    "anchor_resume",
    "daily_loss_limit",
    "decide",
    "derive_state",
    "evaluate_daily_loss",
    "fold_trades",
    "liquidation_price",
    "liquidation_violation",
    "on_day_rollover",
    "on_trade_closed",
    "position_drawdown_action",
    "realized_today",
    "reset",
    "resume",
    "roll_to",
    "set_mode",
    "tier_for",
    "trip",
]
