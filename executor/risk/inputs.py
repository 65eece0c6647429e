"""Snapshots the engine decides on. Built by the daemon or by `executor size`; never fetched here.

A field that is None is unknown; the pipeline rejects with DATA_MISSING when a required one is
unknown or its snapshot is flagged stale, so a failed fetch can never pass as a permissive default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from executor.domain.enums import BreakerStatus, EntryType, Regime, Setup, Side


@dataclass(frozen=True, slots=True)
class Entry:
    type: EntryType
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    id: str
    symbol: str
    side: Side
    entry: Entry
    stop: Decimal
    take_profits: tuple[Decimal, ...] = ()
    conviction: Decimal | None = None
    strength: Decimal | None = None
    setup: Setup = Setup.PRIMARY
    volatility: Decimal | None = None
    regime: Regime | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class OpenPosition:
    symbol: str
    side: Side
    qty: Decimal
    entry: Decimal
    stop: Decimal
    leverage: int
    opened_at: datetime | None = None

    @property
    def notional(self) -> Decimal:
        return self.qty * self.entry

    @property
    def open_risk(self) -> Decimal:
        """Money lost if the current stop fills; a stop already past entry locks profit and risks nothing."""
        per_unit = (self.entry - self.stop) * self.side.sign
        return self.qty * per_unit if per_unit > 0 else Decimal(0)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    opened_at: datetime
    closed_at: datetime
    pnl: Decimal
    equity_before: Decimal | None = None
    setup: Setup = Setup.PRIMARY
    symbol: str | None = None


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    equity: Decimal | None
    free_margin: Decimal | None
    start_of_day_equity: Decimal | None
    peak_equity: Decimal | None
    positions: tuple[OpenPosition, ...] = ()
    history: tuple[ClosedTrade, ...] = ()
    realized_pnl_today: Decimal | None = None
    breaker: BreakerStatus = BreakerStatus.ACTIVE
    stale: bool = False


@dataclass(frozen=True, slots=True)
class LeverageTier:
    """One maintenance-margin bracket: applies to notionals up to and including max_notional."""

    max_notional: Decimal
    max_leverage: int
    mmr: Decimal
    cum: Decimal


_NO_CORRELATIONS: Mapping[str, Decimal] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """The market of the signal's symbol. `correlations` maps other symbols to their daily-return
    correlation with this one, where the daemon could compute it."""

    price: Decimal | None
    amount_step: Decimal | None
    price_tick: Decimal | None
    min_amount: Decimal | None
    min_notional: Decimal | None
    max_leverage: int | None
    leverage_tiers: tuple[LeverageTier, ...] = ()
    taker_fee: Decimal | None = None
    funding_rate: Decimal | None = None
    funding_interval_hours: Decimal = Decimal(8)
    insurance_fund: Decimal | None = None
    avg_volatility: Decimal | None = None
    correlations: Mapping[str, Decimal] = field(default_factory=lambda: _NO_CORRELATIONS)
    stale: bool = False
