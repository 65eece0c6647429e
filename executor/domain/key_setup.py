"""How an account and its API key are set up on the exchange: what the key may do, the position mode,
each symbol's margin mode and leverage, and the request budget the client keeps to.

Read by `executor exchange check` through the port; None wherever the exchange does not say.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from executor.domain.account import MarginMode


class PositionMode(StrEnum):
    ONE_WAY = "one_way"
    HEDGE = "hedge"


@dataclass(frozen=True, slots=True)
class KeyPermissions:
    """None: the exchange does not report it (`unknown_why` says so)."""

    trading: bool | None
    withdrawals: bool | None
    ip_restricted: bool | None = None
    unknown_why: str = ""


@dataclass(frozen=True, slots=True)
class SymbolSetup:
    symbol: str
    position_mode: PositionMode | None
    margin_mode: MarginMode | None
    leverage: int | None


@dataclass(frozen=True, slots=True)
class RateBudget:
    """The client's rolling-window budget against the exchange's published limit for this venue."""

    units_per_minute: float
    exchange_limit: str
    """The venue's limit in its own words, e.g. '2,400 request weight per minute per IP'."""
    within_limit: bool
    """False when the client's budget can send more than the venue allows (expect 429s)."""
    window_use: float
    """How full the rolling window is now, 0 to 1."""
