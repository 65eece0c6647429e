"""The matching engine's vocabulary: orders, positions, fills, income rows and rejection reasons.

Exchange-neutral: the dialect modules translate these to Binance or Phemex shapes and error codes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from executor.domain.account import MarginMode

USDT_PLACES = Decimal("0.00000001")


def q8(value: Decimal) -> Decimal:
    """USDT amounts are booked to 8 decimals, as both exchanges report them."""
    return value.quantize(USDT_PLACES, rounding=ROUND_HALF_UP)


BOOK_DEPTH_QTY = Decimal(1000)
"""The size shown at the best bid and ask: the simulator keeps no depth, and fills are not limited by it."""


def fmt(value: Decimal | int | None) -> str:
    """A decimal as the exchanges print it: plain notation, no exponent, no trailing zeros."""
    if value is None:
        return "0"
    if isinstance(value, int):
        return str(value)
    text = format(value.normalize(), "f")
    return "0" if text in ("-0", "") else text


class OrderSide(StrEnum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        return 1 if self is OrderSide.BUY else -1

    @property
    def opposite(self) -> OrderSide:
        return OrderSide.SELL if self is OrderSide.BUY else OrderSide.BUY


class OrderType(StrEnum):
    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_MARKET = "STOP_MARKET"
    TAKE_PROFIT_MARKET = "TAKE_PROFIT_MARKET"

    @property
    def conditional(self) -> bool:
        return self in (OrderType.STOP_MARKET, OrderType.TAKE_PROFIT_MARKET)


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"
    GTX = "GTX"  # post-only
    GTE_GTC = "GTE_GTC"  # Binance conditional orders: good till the position is closed, then EXPIRED


class TriggerSource(StrEnum):
    MARK = "MARK_PRICE"
    LAST = "CONTRACT_PRICE"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    UNTRIGGERED = "UNTRIGGERED"
    # Binance algo TRIGGERING: fired, being forwarded to the matching engine (a `trigger_delay` fault). Not
    # open: it no longer rests and cannot be cancelled, yet it is still going to execute.
    TRIGGERING = "TRIGGERING"
    TRIGGERED = "TRIGGERED"
    # A triggered conditional order the matching engine refused (nothing left to reduce, margin).
    REJECTED = "REJECTED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.UNTRIGGERED)

    @property
    def is_closed(self) -> bool:
        """Done: neither open nor TRIGGERING (which no longer rests, yet is still going to execute)."""
        return not self.is_open and self is not OrderStatus.TRIGGERING


class IncomeType(StrEnum):
    REALIZED_PNL = "REALIZED_PNL"
    COMMISSION = "COMMISSION"
    FUNDING_FEE = "FUNDING_FEE"
    INSURANCE_CLEAR = "INSURANCE_CLEAR"


class Reject(StrEnum):
    """Why the engine refused a request; each dialect maps these to its own error code."""

    UNKNOWN_SYMBOL = "unknown_symbol"
    DUPLICATE_CLIENT_ID = "duplicate_client_id"
    ORDER_NOT_FOUND = "order_not_found"
    WOULD_TRIGGER_IMMEDIATELY = "would_trigger_immediately"
    INSUFFICIENT_MARGIN = "insufficient_margin"
    REDUCE_ONLY_REJECTED = "reduce_only_rejected"
    POST_ONLY_WOULD_TAKE = "post_only_would_take"
    QTY_INVALID = "qty_invalid"
    QTY_STEP = "qty_step"
    QTY_TOO_SMALL = "qty_too_small"
    QTY_TOO_LARGE = "qty_too_large"
    PRICE_TICK = "price_tick"
    PRICE_REQUIRED = "price_required"
    NOTIONAL_TOO_SMALL = "notional_too_small"
    LEVERAGE_INVALID = "leverage_invalid"
    POSITION_LIMIT = "position_limit"
    MARGIN_MODE_UNCHANGED = "margin_mode_unchanged"
    MARGIN_MODE_UNSUPPORTED = "margin_mode_unsupported"
    CLOSE_POSITION_WITH_QTY = "close_position_with_qty"
    CLOSE_POSITION_WITH_REDUCE_ONLY = "close_position_with_reduce_only"
    CLOSE_POSITION_NOT_CONDITIONAL = "close_position_not_conditional"
    STOP_LOSS_WRONG_SIDE = "stop_loss_wrong_side"
    TAKE_PROFIT_WRONG_SIDE = "take_profit_wrong_side"
    STOP_REJECTED = "stop_rejected"
    AMEND_NOT_LIMIT = "amend_not_limit"
    AMEND_UNCHANGED = "amend_unchanged"
    AMEND_LIMIT = "amend_limit"
    MARGIN_NO_POSITION = "margin_no_position"
    MARGIN_AMOUNT_INVALID = "margin_amount_invalid"
    MARGIN_ADD_INSUFFICIENT = "margin_add_insufficient"
    MARGIN_REDUCE_INSUFFICIENT = "margin_reduce_insufficient"


class EngineReject(Exception):
    def __init__(self, reason: Reject, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class AttachedTrigger:
    """A stop-loss or take-profit carried by an entry order (Phemex), armed when the entry fills."""

    trigger_price: Decimal
    source: TriggerSource = TriggerSource.MARK


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal | None
    client_id: str
    price: Decimal | None = None
    trigger_price: Decimal | None = None
    trigger_source: TriggerSource = TriggerSource.MARK
    time_in_force: TimeInForce = TimeInForce.GTC
    reduce_only: bool = False
    close_position: bool = False
    stop_loss: AttachedTrigger | None = None
    take_profit: AttachedTrigger | None = None


@dataclass
class Order:
    order_id: int
    account: str
    client_id: str
    symbol: str
    side: OrderSide
    type: OrderType
    qty: Decimal
    price: Decimal | None
    trigger_price: Decimal | None
    trigger_source: TriggerSource
    time_in_force: TimeInForce
    reduce_only: bool
    close_position: bool
    status: OrderStatus
    created_ms: int
    updated_ms: int
    filled_qty: Decimal = Decimal(0)
    cum_quote: Decimal = Decimal(0)
    fee: Decimal = Decimal(0)
    parent_id: int | None = None
    child_id: int | None = None
    triggered_ms: int | None = None
    stop_loss: AttachedTrigger | None = None
    take_profit: AttachedTrigger | None = None
    liquidation: bool = False
    hidden_until_ms: int = 0  # a `hide_order` fault: lookups, open-order lists and cancels miss it until then
    reject_on_trigger: bool = (
        False  # a `reject_after_trigger` fault: the matching engine refuses it on trigger
    )
    trigger_delay_ms: int = 0  # a `trigger_delay` fault: TRIGGERING this long before it executes
    amendments: int = 0  # Modify Order: how often its price and quantity were changed

    def hidden(self, now_ms: int) -> bool:
        return now_ms < self.hidden_until_ms

    @property
    def conditional(self) -> bool:
        return self.type.conditional

    @property
    def avg_price(self) -> Decimal:
        return self.cum_quote / self.filled_qty if self.filled_qty else Decimal(0)

    @property
    def remaining(self) -> Decimal:
        return max(self.qty - self.filled_qty, Decimal(0))

    def triggered_by(self, price: Decimal) -> bool:
        """Whether `price` of the trigger source satisfies this conditional order."""
        assert self.trigger_price is not None
        rising = (self.type is OrderType.STOP_MARKET) == (self.side is OrderSide.BUY)
        return price >= self.trigger_price if rising else price <= self.trigger_price


@dataclass
class Position:
    symbol: str
    qty: Decimal = Decimal(0)  # signed: > 0 long, < 0 short (one-way mode)
    entry_price: Decimal = Decimal(0)
    margin: Decimal = Decimal(0)  # isolated wallet of the position
    updated_ms: int = 0

    @property
    def side(self) -> int:
        return (self.qty > 0) - (self.qty < 0)

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.qty * (mark - self.entry_price)


@dataclass(frozen=True)
class Fill:
    trade_id: int
    order_id: int
    client_id: str
    account: str
    symbol: str
    side: OrderSide
    price: Decimal
    qty: Decimal
    fee: Decimal
    fee_rate: Decimal
    realized_pnl: Decimal
    maker: bool
    time_ms: int

    @property
    def quote_qty(self) -> Decimal:
        return self.price * self.qty


@dataclass(frozen=True)
class Income:
    tran_id: int
    account: str
    symbol: str
    type: IncomeType
    amount: Decimal
    time_ms: int
    info: str = ""


@dataclass(frozen=True)
class MarginChange:
    """Margin moved by hand into (`added`) or out of an isolated position (Binance `positionMargin`)."""

    symbol: str
    amount: Decimal
    added: bool
    time_ms: int


@dataclass(frozen=True)
class FundingEvent:
    symbol: str
    time_ms: int
    rate: Decimal
    mark: Decimal


@dataclass
class Account:
    api_key: str
    wallet: Decimal
    positions: dict[str, Position] = field(default_factory=dict)
    leverage: dict[str, int] = field(default_factory=dict)
    margin_mode: dict[str, MarginMode] = field(default_factory=dict)
    orders: dict[int, Order] = field(default_factory=dict)
    fills: list[Fill] = field(default_factory=list)
    income: list[Income] = field(default_factory=list)
    margin_changes: list[MarginChange] = field(default_factory=list)
    hedged: set[str] = field(default_factory=set)
    """Symbols in hedged position mode (Phemex: per symbol, `switch-pos-mode-sync`); the rest are one-way."""
    dual_side: bool = False  # Binance hedge mode (`dualSidePosition`); the engine trades one-way only

    def position(self, symbol: str) -> Position:
        return self.positions.setdefault(symbol, Position(symbol))
