from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from executor.domain.enums import EntryType, OrderKind, Side
from executor.domain.market import (
    FundingInfo,
    LeverageTier,
    MarketDataItem,
    MarketFilters,
    MarketSnapshot,
)
from executor.domain.orders import EntryRequest, Order, OrderSide, OrderStatus, OrderType, ProtectedEntry

D = Decimal
NOW = datetime(2025, 1, 1, tzinfo=UTC)
TIERS = (
    LeverageTier(D(0), D(50000), D(125), D("0.004"), D(0)),
    LeverageTier(D(50000), None, D(100), D("0.005"), D(50)),
)
FILTERS = MarketFilters(D("0.001"), D("0.1"), D("0.001"), D(5), D(125))


def snapshot(**changes: object) -> MarketSnapshot:
    base: dict[str, object] = {
        "symbol": "BTC/USDT:USDT",
        "as_of": NOW,
        "mark_price": D(60000),
        "filters": FILTERS,
        "tiers": TIERS,
        "taker_fee": D("0.0005"),
        "funding": FundingInfo(D("0.0001"), NOW + timedelta(hours=1), timedelta(hours=8)),
        "settle_asset": "USDT",
        "insurance_fund": None,
    }
    base.update(changes)
    return MarketSnapshot(**base)  # type: ignore[arg-type]


def test_unknown_insurance_fund_does_not_make_the_snapshot_incomplete() -> None:
    assert snapshot().is_complete


def test_stale_required_item_makes_the_snapshot_incomplete() -> None:
    stale = snapshot(stale=frozenset({MarketDataItem.FUNDING}))
    assert stale.missing_required == {MarketDataItem.FUNDING}
    assert not snapshot(stale=frozenset({MarketDataItem.INSURANCE_FUND})).missing_required


def test_absent_data_is_missing_even_without_a_stale_flag() -> None:
    missing = snapshot(mark_price=None, tiers=(), funding=None).missing_required
    assert missing == {MarketDataItem.MARK_PRICE, MarketDataItem.TIERS, MarketDataItem.FUNDING}


def test_tier_lookup_by_notional() -> None:
    assert snapshot().tier_for(D(49999)) == TIERS[0]
    assert snapshot().tier_for(D(50000)) == TIERS[1]
    assert snapshot(tiers=TIERS[:1]).tier_for(D(60000)) is None


def entry(**changes: object) -> EntryRequest:
    base: dict[str, object] = {
        "symbol": "BTC/USDT:USDT",
        "side": Side.LONG,
        "qty": D("0.01"),
        "entry_type": EntryType.LIMIT,
        "limit_price": D(60000),
        "stop_price": D(59000),
        "entry_client_id": "e",
        "stop_client_id": "s",
    }
    base.update(changes)
    return EntryRequest(**base)  # type: ignore[arg-type]


def test_entry_request_refuses_a_stop_on_the_winning_side() -> None:
    entry()
    with pytest.raises(ValueError, match="losing side"):
        entry(stop_price=D(61000))
    with pytest.raises(ValueError, match="losing side"):
        entry(side=Side.SHORT)


def test_entry_request_needs_a_price_exactly_for_limits() -> None:
    with pytest.raises(ValueError, match="a market entry must not have one"):
        entry(entry_type=EntryType.MARKET)
    entry(entry_type=EntryType.MARKET, limit_price=None)
    with pytest.raises(ValueError, match="qty must be positive"):
        entry(qty=D(0))


def test_order_sides_for_opening_and_closing() -> None:
    assert OrderSide.opening(Side.LONG) is OrderSide.BUY
    assert OrderSide.closing(Side.LONG) is OrderSide.SELL
    assert OrderSide.closing(Side.SHORT) is OrderSide.BUY


def order(status: OrderStatus) -> Order:
    return Order(
        "BTC/USDT:USDT",
        "1",
        "s",
        OrderKind.STOP,
        OrderType.STOP_MARKET,
        OrderSide.SELL,
        status,
        D(1),
        D(0),
        None,
        None,
        D(59000),
        True,
        True,
        NOW,
    )


def test_protected_only_with_an_open_stop() -> None:
    filled = order(OrderStatus.CLOSED)
    assert ProtectedEntry(filled, order(OrderStatus.OPEN), None).protected
    assert not ProtectedEntry(filled, None, "rejected").protected
    assert not ProtectedEntry(filled, order(OrderStatus.CANCELED), None).protected
