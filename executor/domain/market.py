"""Market data the risk engine reads: filters, leverage tiers and a point-in-time snapshot.

Every field that can be missing or old is explicit, so the risk engine can fail safe instead of
guessing: the snapshot names its stale items, and an unknown insurance fund is ``None``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum


class MarketDataItem(StrEnum):
    """A piece of market data with its own source and freshness limit."""

    MARKET = "market"
    TIERS = "tiers"
    MARK_PRICE = "mark_price"
    FUNDING = "funding"
    INSURANCE_FUND = "insurance_fund"


#: Items without which no order may be sized; the insurance fund is excluded because
#: RISK_SPEC.md treats an unknown fund as a low one (a leverage cap, not a rejection).
REQUIRED_ITEMS: frozenset[MarketDataItem] = frozenset(
    {MarketDataItem.MARKET, MarketDataItem.TIERS, MarketDataItem.MARK_PRICE, MarketDataItem.FUNDING}
)


@dataclass(frozen=True, slots=True)
class LeverageTier:
    """One notional bracket: maintenance margin = notional × rate − amount (ccxt 'cum')."""

    notional_floor: Decimal
    notional_cap: Decimal | None
    max_leverage: Decimal
    maintenance_margin_rate: Decimal
    maintenance_amount: Decimal

    def contains(self, notional: Decimal) -> bool:
        return notional >= self.notional_floor and (self.notional_cap is None or notional < self.notional_cap)


@dataclass(frozen=True, slots=True)
class MarketFilters:
    """Exchange limits an order must respect after rounding."""

    amount_step: Decimal
    price_tick: Decimal
    min_amount: Decimal
    min_notional: Decimal
    max_leverage: Decimal | None
    price_band_down: Decimal | None = None
    price_band_up: Decimal | None = None
    """An order price must lie within mark × [down, up] (Binance PERCENT_PRICE); None where not published."""


@dataclass(frozen=True, slots=True)
class Market:
    """A linear perpetual as the exchange lists it; a fee is None when the exchange does not say."""

    symbol: str
    exchange_symbol: str
    base: str
    quote: str
    settle: str
    contract_size: Decimal
    filters: MarketFilters
    taker_fee: Decimal | None
    maker_fee: Decimal | None
    active: bool


SETTLEMENT_MARGIN = timedelta(minutes=5)
"""How far outside a span a settlement still counts as inside it: host and exchange clocks differ, and a
payment may be stamped a little after its settlement."""


@dataclass(frozen=True, slots=True)
class FundingInfo:
    rate: Decimal
    next_funding_time: datetime | None
    interval: timedelta | None

    def may_settle_between(self, start: datetime, end: datetime) -> bool:
        """Whether a funding settlement can fall between `start` and `end`, each widened by SETTLEMENT_MARGIN.

        Settlements come at the next funding time plus or minus whole intervals, so a span holding none of
        them paid or received nothing; an unknown schedule may hold one."""
        if self.next_funding_time is None or not self.interval:
            return True
        first = start - SETTLEMENT_MARGIN
        steps = math.ceil((first - self.next_funding_time) / self.interval)
        return self.next_funding_time + steps * self.interval <= end + SETTLEMENT_MARGIN


def tier_for(tiers: tuple[LeverageTier, ...], notional: Decimal) -> LeverageTier | None:
    """The bracket holding this notional, or None when the tiers do not cover it."""
    for tier in tiers:
        if tier.contains(notional):
            return tier
    return None


@dataclass(frozen=True, slots=True)
class MarketSnapshot:
    """What the risk engine needs about one symbol at one moment.

    ``insurance_fund`` is the settlement asset's fund balance, or None when the exchange has no
    such data (Phemex) or it is stale: the risk engine then behaves as if the fund were low.
    ``taker_fee`` None means the exchange gave no rate; the risk engine uses its configured default.
    """

    symbol: str
    as_of: datetime
    mark_price: Decimal | None
    filters: MarketFilters | None
    tiers: tuple[LeverageTier, ...]
    taker_fee: Decimal | None
    funding: FundingInfo | None
    settle_asset: str
    insurance_fund: Decimal | None
    stale: frozenset[MarketDataItem] = field(default_factory=frozenset)
    mark_at: datetime | None = None
    """When the mark price was read, on the host's clock (the age of the price a decision stands on)."""
    bid: Decimal | None = None
    ask: Decimal | None = None
    book_at: datetime | None = None
    """The best bid and ask and when they were read (host clock); None where no fresh book is known, and
    the risk engine then stands on the mark."""

    @property
    def missing_required(self) -> frozenset[MarketDataItem]:
        """Required items that are stale or absent: any of them means reject with DATA_MISSING."""
        absent: set[MarketDataItem] = set()
        if self.mark_price is None:
            absent.add(MarketDataItem.MARK_PRICE)
        if self.filters is None:
            absent.add(MarketDataItem.MARKET)
        if not self.tiers:
            absent.add(MarketDataItem.TIERS)
        if self.funding is None:
            absent.add(MarketDataItem.FUNDING)
        return frozenset(absent | (self.stale & REQUIRED_ITEMS))

    @property
    def is_complete(self) -> bool:
        return not self.missing_required

    def tier_for(self, notional: Decimal) -> LeverageTier | None:
        return tier_for(self.tiers, notional)


def grid(filters: MarketFilters) -> dict[str, str]:
    """A market's price tick and amount step as JSON text: what human output needs to show its numbers."""
    return {"price_tick": format(filters.price_tick, "f"), "amount_step": format(filters.amount_step, "f")}


def grid_filters(grids: Mapping[str, Mapping[str, str]]) -> dict[str, MarketFilters]:
    """Each symbol's `grid` read back as filters for executor/domain/display.py (no limits: display only)."""
    return {
        symbol: MarketFilters(
            amount_step=Decimal(value["amount_step"]),
            price_tick=Decimal(value["price_tick"]),
            min_amount=Decimal(0),
            min_notional=Decimal(0),
            max_leverage=None,
        )
        for symbol, value in grids.items()
    }
