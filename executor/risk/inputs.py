"""The account and market views the engine decides on. Built by the daemon or by `executor size`.

Why the engine has its own input types rather than the domain's exchange snapshots
(executor/domain/account.py, market.py): each view joins several sources the exchange does not know —
``RiskAccount`` the exchange's equity with the risk book's day, peak, history and breaker and the
store's stops; ``RiskMarket`` the exchange's mark, filters and tiers with analytics the daemon may
add (volatility, correlations) — flattened to RISK_SPEC's own terms (a bracket's ``mmr`` and ``cum``,
inclusive upper bounds), so `executor size` can state a whole scenario in a file with no exchange at
all, and the engine stays pure. The names differ from the domain's on purpose: one name, one thing.
executor/execution/snapshots.py is the one translation. The signal is not duplicated: the engine
decides on the domain's ``Signal`` (executor/domain/signal.py).

A field that is None is unknown; the pipeline rejects with DATA_MISSING when a required one is
unknown or its view is flagged stale, so a failed fetch can never pass as a permissive default.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType

from executor.domain.enums import BreakerStatus, Setup, Side


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
        per_unit = self.entry - self.stop if self.side is Side.LONG else self.stop - self.entry
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
class RiskAccount:
    equity: Decimal | None
    free_margin: Decimal | None
    start_of_day_equity: Decimal | None
    peak_equity: Decimal | None
    positions: tuple[OpenPosition, ...] = ()
    history: tuple[ClosedTrade, ...] = ()
    realized_pnl_today: Decimal | None = None
    breaker: BreakerStatus = BreakerStatus.ACTIVE
    stale: bool = False
    # Symbols already taken, with why: a position row, an entry that may still fill, or the exchange's
    # own position. The daemon knows these from its rows and the exchange; the engine only refuses them.
    held: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class LeverageBracket:
    """One maintenance-margin bracket: applies to notionals up to and including max_notional."""

    max_notional: Decimal
    max_leverage: int
    mmr: Decimal
    cum: Decimal


_NO_CORRELATIONS: Mapping[str, Decimal] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class RiskMarket:
    """The market of the signal's symbol. `correlations` maps other symbols to their daily-return
    correlation with this one, where the daemon could compute it.

    `price` is the mark; `bid` and `ask` the best of the book where one is known. `quoted_at` is when
    the price an entry stands on (the book side it takes, else the mark) was read: older than
    `max_price_age_ms` (the daemon's execution.max_price_age_ms) at `now`, or unknown, refuses with
    DATA_MISSING. `price_band_down`/`price_band_up` are the exchange's limits on an order price as
    multiples of the mark (Binance PERCENT_PRICE), None where the exchange publishes none.
    """

    price: Decimal | None
    amount_step: Decimal | None
    price_tick: Decimal | None
    min_amount: Decimal | None
    min_notional: Decimal | None
    max_leverage: int | None
    leverage_tiers: tuple[LeverageBracket, ...] = ()
    taker_fee: Decimal | None = None
    funding_rate: Decimal | None = None
    funding_interval_hours: Decimal = Decimal(8)
    insurance_fund: Decimal | None = None
    avg_volatility: Decimal | None = None
    correlations: Mapping[str, Decimal] = field(default_factory=lambda: _NO_CORRELATIONS)
    stale: bool = False
    bid: Decimal | None = None
    ask: Decimal | None = None
    quoted_at: datetime | None = None
    max_price_age_ms: int = 1000
    price_band_down: Decimal | None = None
    price_band_up: Decimal | None = None
