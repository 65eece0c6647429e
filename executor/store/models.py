"""Tables of the daemon. Every row that crosses a process boundary is written before the next step acts.

One database can hold several exchange accounts; every table is keyed by `account`.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from executor.domain.enums import (
    BreakerStatus,
    EventKind,
    OrderKind,
    PositionStatus,
    RiskStep,
    Setup,
    Side,
    SignalSource,
    SignalStatus,
)
from executor.domain.order_state import OrderState
from executor.domain.orders import OrderSide, OrderType
from executor.domain.reasons import ReasonCode
from executor.store.types import Money, UTCDateTime, text_enum

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a BIGINT identity.
Id = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        Decimal: Money(),
        datetime: UTCDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
    }


class SignalRow(Base):
    """The durable inbox: a signal is here before any source acknowledges it."""

    __tablename__ = "signals"
    __table_args__ = (
        UniqueConstraint("account", "signal_id"),
        Index(None, "account", "status", "id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    signal_id: Mapped[str] = mapped_column(String(64))
    source: Mapped[SignalSource] = mapped_column(text_enum(SignalSource, 16))
    payload: Mapped[dict[str, Any]]
    status: Mapped[SignalStatus] = mapped_column(text_enum(SignalStatus, 16), default=SignalStatus.QUEUED)
    error: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime]
    decided_at: Mapped[datetime | None]


class RejectedSignalRow(Base):
    """A message that was not a valid signal: kept (truncated) so the sender can be told and audited."""

    __tablename__ = "rejected_signals"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    source: Mapped[SignalSource] = mapped_column(text_enum(SignalSource, 16))
    signal_id: Mapped[str | None] = mapped_column(String(64))
    raw: Mapped[str] = mapped_column(Text)
    errors: Mapped[list[Any]]
    received_at: Mapped[datetime]


class DecisionRow(Base):
    """The risk engine's answer to one signal, with the step log `executor explain` prints."""

    __tablename__ = "decisions"

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    signal_pk: Mapped[int] = mapped_column(ForeignKey("signals.id", ondelete="RESTRICT"), unique=True)
    account: Mapped[str] = mapped_column(String(32))
    accepted: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[ReasonCode | None] = mapped_column(text_enum(ReasonCode, 32))
    message: Mapped[str] = mapped_column(Text)
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[Side] = mapped_column(text_enum(Side, 8))
    qty: Mapped[Decimal | None]
    leverage: Mapped[int | None]
    entry: Mapped[Decimal | None]
    stop: Mapped[Decimal | None]
    take_profit: Mapped[Decimal | None]
    notional: Mapped[Decimal | None]
    margin: Mapped[Decimal | None]
    risk: Mapped[Decimal | None]
    risk_pct: Mapped[Decimal | None]
    liquidation_price: Mapped[Decimal | None]
    binding: Mapped[RiskStep | None] = mapped_column(text_enum(RiskStep, 40))
    risk_budget: Mapped[Decimal | None]
    """R: the most the trade may lose at its stop, fees included; the fill is checked against it."""
    order_price: Mapped[Decimal | None]
    """The price the entry was sent with: a taking entry's IOC bound (the allowance), else its limit."""
    steps: Mapped[list[Any]]
    decided_at: Mapped[datetime]


class OrderRow(Base):
    """Write-ahead order: the row and its deterministic client id exist before the request leaves."""

    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("account", "client_order_id"),
        Index(None, "account", "state"),
        Index(None, "account", "exchange_order_id"),
    )

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    client_order_id: Mapped[str] = mapped_column(String(40))
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    executed_order_id: Mapped[str | None] = mapped_column(String(64))
    """For a triggered conditional order, the order its trigger executed (whose fills carry its id)."""
    signal_pk: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="RESTRICT"))
    position_pk: Mapped[int | None] = mapped_column(ForeignKey("positions.id", ondelete="RESTRICT"))
    kind: Mapped[OrderKind] = mapped_column(text_enum(OrderKind, 16))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[OrderSide] = mapped_column(text_enum(OrderSide, 8))
    order_type: Mapped[OrderType] = mapped_column(text_enum(OrderType, 24))
    qty: Mapped[Decimal]
    price: Mapped[Decimal | None]
    trigger_price: Mapped[Decimal | None]
    reduce_only: Mapped[bool] = mapped_column(Boolean, default=False)
    conditional: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[OrderState] = mapped_column(text_enum(OrderState, 16))
    state_history: Mapped[list[Any]]
    filled_qty: Mapped[Decimal] = mapped_column(default=Decimal(0))
    average_price: Mapped[Decimal | None]
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class FillRow(Base):
    """An execution, unique by the exchange's trade id so a replayed or duplicated report books once."""

    __tablename__ = "fills"
    __table_args__ = (UniqueConstraint("account", "trade_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    trade_id: Mapped[str] = mapped_column(String(64))
    order_pk: Mapped[int | None] = mapped_column(ForeignKey("orders.id", ondelete="RESTRICT"))
    client_order_id: Mapped[str | None] = mapped_column(String(40))
    exchange_order_id: Mapped[str | None] = mapped_column(String(64))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[OrderSide] = mapped_column(text_enum(OrderSide, 8))
    qty: Mapped[Decimal]
    price: Mapped[Decimal]
    fee: Mapped[Decimal]
    fee_asset: Mapped[str] = mapped_column(String(16))
    realized_pnl: Mapped[Decimal | None]
    executed_at: Mapped[datetime]


class PositionRow(Base):
    """A position the daemon opened, from first fill to close, with what it earned and cost."""

    __tablename__ = "positions"
    __table_args__ = (Index(None, "account", "status"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    signal_pk: Mapped[int | None] = mapped_column(ForeignKey("signals.id", ondelete="RESTRICT"))
    symbol: Mapped[str] = mapped_column(String(40))
    side: Mapped[Side] = mapped_column(text_enum(Side, 8))
    status: Mapped[PositionStatus] = mapped_column(text_enum(PositionStatus, 16))
    qty: Mapped[Decimal]
    entry_price: Mapped[Decimal]
    stop_price: Mapped[Decimal | None]
    take_profit: Mapped[Decimal | None]
    leverage: Mapped[int]
    setup: Mapped[Setup] = mapped_column(text_enum(Setup, 16))
    equity_before: Mapped[Decimal | None]
    risk_at_entry: Mapped[Decimal | None]
    """The loss the filled quantity takes at the first stop, fees in and out (RISK_SPEC §0): the 1 R of the
    trade's R multiple; a moved stop does not change it."""
    exit_price: Mapped[Decimal | None]
    close_requested: Mapped[str | None] = mapped_column(Text)
    """Why the position must be closed (a close signal); the tracker retries until it is."""
    realized_pnl: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    funding: Mapped[Decimal] = mapped_column(default=Decimal(0))
    slippage_allowed: Mapped[Decimal | None]
    """Per unit: how far past the reference price the entry's order could fill (0 for a resting limit)."""
    slippage: Mapped[Decimal | None]
    """Per unit: the fill against the reference price on the paying side (positive: a worse fill)."""
    opened_at: Mapped[datetime]
    closed_at: Mapped[datetime | None]


class FundingPaymentRow(Base):
    """Funding as its own ledger rows from the exchange's income history: never netted into PnL twice."""

    __tablename__ = "funding_payments"
    __table_args__ = (UniqueConstraint("account", "payment_id"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    payment_id: Mapped[str] = mapped_column(String(64))
    position_pk: Mapped[int | None] = mapped_column(ForeignKey("positions.id", ondelete="RESTRICT"))
    symbol: Mapped[str] = mapped_column(String(40))
    amount: Mapped[Decimal]
    asset: Mapped[str] = mapped_column(String(16))
    rate: Mapped[Decimal | None]
    paid_at: Mapped[datetime]


class DailyLossRow(Base):
    """The day's loss ledger and breaker per account and trading day; a restart reads it back."""

    __tablename__ = "daily_loss"
    __table_args__ = (UniqueConstraint("account", "trading_day"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    trading_day: Mapped[date] = mapped_column(Date)
    start_of_day_equity: Mapped[Decimal]
    realized_pnl: Mapped[Decimal] = mapped_column(default=Decimal(0))
    fees: Mapped[Decimal] = mapped_column(default=Decimal(0))
    funding: Mapped[Decimal] = mapped_column(default=Decimal(0))
    breaker: Mapped[BreakerStatus] = mapped_column(text_enum(BreakerStatus, 16))
    tripped_at: Mapped[datetime | None]
    trip_reason: Mapped[str | None] = mapped_column(Text)
    resumed_at: Mapped[datetime | None]
    resumed_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime]


class RiskStateRow(Base):
    """The risk engine's carried state (streaks, recovery, caps, peak equity) as its own JSON form."""

    __tablename__ = "risk_state"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    state: Mapped[dict[str, Any]]
    peak_equity: Mapped[Decimal | None]
    version: Mapped[int] = mapped_column(Integer, default=1)
    updated_at: Mapped[datetime]


class EventRow(Base):
    """Append-only audit log: what happened, when, and to which signal."""

    __tablename__ = "events"
    __table_args__ = (Index(None, "account", "at"),)

    id: Mapped[int] = mapped_column(Id, primary_key=True, autoincrement=True)
    account: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime]
    kind: Mapped[EventKind] = mapped_column(text_enum(EventKind, 40))
    signal_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]]


class ControlRow(Base):
    """The operator's standing controls per account: a pause survives restarts until unpaused."""

    __tablename__ = "controls"

    account: Mapped[str] = mapped_column(String(32), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean)
    changed_at: Mapped[datetime]
    changed_by: Mapped[str] = mapped_column(String(64))
    note: Mapped[str | None] = mapped_column(Text)
