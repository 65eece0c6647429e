"""What an exchange's private (user data) stream tells the daemon, whatever the exchange.

An adapter turns each exchange message into these, from the exchange's own strings (Decimal via str),
and hands them to the daemon's sink in arrival order (executor/ports/exchange.py `UserEventSink`). The
daemon treats an event as news, never as the whole truth: each one is idempotent against what REST and
earlier events have told it (trade ids are unique per symbol; an order's state only moves forward), and
a `StreamGap` means events were or may have been lost, so nothing from the stream is trusted again until
a full REST resync has run (docs/daemon.md "User data stream", /work/notes/user-events.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum

from executor.domain.enums import Side
from executor.domain.orders import Fill, Order


@dataclass(frozen=True, slots=True)
class OrderUpdate:
    """An order's state as the exchange reported it at ``at``: the port's own `Order`.

    `order.kind` comes from the client id when it is one of ours; `order.conditional` marks a stop or
    take-profit (Binance algo order); a CLOSED conditional order's `executed_order_id` names the order its
    trigger created, whose fills carry that id. `filled`/`average_price` are cumulative for the order.
    """

    order: Order
    at: datetime


@dataclass(frozen=True, slots=True)
class TradeUpdate:
    """One execution: the port's `Fill` (trade id, order id, symbol, side, qty, price, fee, fee asset,
    time) and what the stream adds to it."""

    fill: Fill
    client_id: str | None
    reduce_only: bool | None
    """None when the exchange did not say."""
    realized_pnl: Decimal | None
    """The exchange's realized profit of this trade (before fees), None when it did not say."""


@dataclass(frozen=True, slots=True)
class PositionUpdate:
    """A position as the exchange reports it after a change: ``qty`` 0 (``side`` None) is flat."""

    symbol: str
    side: Side | None
    qty: Decimal
    entry_price: Decimal | None
    at: datetime


class GapReason(StrEnum):
    """Why events may have been missed: each one asks for a full REST resync before events count again."""

    CONNECTED = "connected"
    """A (re)connection: whatever happened before it was not streamed to us."""
    DISCONNECTED = "disconnected"
    STALLED = "stalled"
    """The connection looked open but nothing (not even a pong) came back in time."""
    LISTEN_KEY_EXPIRED = "listen_key_expired"
    """Binance ended the stream's listen key; a new one is made before reconnecting."""
    SEQUENCE = "sequence"
    """A sequence number or timestamp went backwards or skipped (the exchange's own numbering)."""


@dataclass(frozen=True, slots=True)
class StreamGap:
    reason: GapReason
    detail: str
    at: datetime


UserEvent = OrderUpdate | TradeUpdate | PositionUpdate | StreamGap
