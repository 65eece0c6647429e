"""Orders, fills and funding payments as the daemon sees them, whatever the exchange."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from executor.domain.enums import EntryType, OrderKind, Side


class OrderSide(StrEnum):
    BUY = "buy"
    SELL = "sell"

    @classmethod
    def opening(cls, side: Side) -> OrderSide:
        """The order side that opens a position of this side."""
        return cls.BUY if side is Side.LONG else cls.SELL

    @classmethod
    def closing(cls, side: Side) -> OrderSide:
        """The order side that reduces a position of this side (its stop, take-profit, close)."""
        return cls.SELL if side is Side.LONG else cls.BUY


class OrderStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"
    CANCELED = "canceled"
    EXPIRED = "expired"
    REJECTED = "rejected"

    @property
    def is_final(self) -> bool:
        return self is not OrderStatus.OPEN


class OrderType(StrEnum):
    MARKET = "market"
    LIMIT = "limit"
    STOP_MARKET = "stop_market"
    TAKE_PROFIT_MARKET = "take_profit_market"
    OTHER = "other"
    """Types this daemon never places (e.g. a manual trailing stop); listed so reconciliation sees them."""


@dataclass(frozen=True, slots=True)
class Order:
    """One order on the exchange; ``conditional`` marks stops/take-profits (Binance algo orders).

    ``kind`` is the leg it plays for a signal, known when its client id is one of ours.
    A CLOSED conditional order has triggered; ``executed_order_id`` is the order its trigger created
    and executed (Binance's ``actualOrderId``), whose fills carry that id rather than the algo id.
    A conditional order deactivated without ever trading is EXPIRED, not CLOSED.
    """

    symbol: str
    exchange_id: str
    client_id: str | None
    kind: OrderKind | None
    type: OrderType
    side: OrderSide
    status: OrderStatus
    qty: Decimal
    filled: Decimal
    average_price: Decimal | None
    price: Decimal | None
    trigger_price: Decimal | None
    reduce_only: bool
    conditional: bool
    timestamp: datetime | None
    executed_order_id: str | None = None

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def is_open(self) -> bool:
        return self.status is OrderStatus.OPEN


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution; ``trade_id`` is the exchange's and unique per symbol, so fills deduplicate on it."""

    trade_id: str
    order_id: str | None
    symbol: str
    side: OrderSide
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_asset: str | None
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class FundingPayment:
    """Funding booked on the account: ``amount`` > 0 received, < 0 paid."""

    payment_id: str
    symbol: str
    amount: Decimal
    asset: str
    timestamp: datetime


@dataclass(frozen=True, slots=True)
class EntryRequest:
    """An entry with its mandatory exchange-side stop (RISK_SPEC §0: no position without a stop)."""

    symbol: str
    side: Side
    qty: Decimal
    entry_type: EntryType
    limit_price: Decimal | None
    stop_price: Decimal
    entry_client_id: str
    stop_client_id: str
    price_bound: Decimal | None = None
    """A market entry's worst price: it goes out as a limit IOC there, so it cannot fill beyond the
    slippage allowance the risk engine counted (docs/risk.md); None sends a plain market order."""

    def __post_init__(self) -> None:
        if self.qty <= 0:
            raise ValueError("qty must be positive")
        if (self.entry_type is EntryType.LIMIT) != (self.limit_price is not None):
            raise ValueError("a limit entry needs a limit price, a market entry must not have one")
        if self.price_bound is not None and self.entry_type is not EntryType.MARKET:
            raise ValueError("only a market entry has a price bound; a limit has its own price")
        reference = self.limit_price if self.price_bound is None else self.price_bound
        if reference is not None and (self.stop_price - reference) * self.side.sign >= 0:
            raise ValueError("the stop must be on the losing side of the entry")


@dataclass(frozen=True, slots=True)
class ProtectedEntry:
    """The two legs of open-with-stop.

    ``stop`` is None when the stop could not be confirmed on the exchange; ``stop_error`` then says
    why, and the caller must close the position (RISK_SPEC §0).
    """

    entry: Order
    stop: Order | None
    stop_error: str | None
    stop_attached: bool = False
    """The stop rides on a resting entry (Phemex's attached stop-loss): no order of its own was sent under
    the stop's client id, so an entry that ends unfilled leaves nothing there to look up or cancel."""

    @property
    def protected(self) -> bool:
        return self.stop is not None and self.stop.is_open
