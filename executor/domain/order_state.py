"""The life of a write-ahead order row, as an explicit state machine.

A row is PENDING from the moment it is written (before its request leaves) until the exchange's
answer is known. An ambiguous answer makes it UNKNOWN: only a lookup by client order id moves it on,
never a blind resend. NOT_SENT records an intent that was provably never placed (found absent on the
exchange after a restart), so it is never sent late into a market that has moved.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from executor.domain.orders import Order, OrderStatus


class OrderState(StrEnum):
    PENDING = "pending"
    UNKNOWN = "unknown"
    OPEN = "open"
    FILLED = "filled"
    CANCELED = "canceled"
    REJECTED = "rejected"
    NOT_SENT = "not_sent"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def may_be_live(self) -> bool:
        """The exchange may hold this order: reconciliation must look at it."""
        return self in (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)


_FINAL = frozenset({OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.NOT_SENT})

_ALLOWED: dict[OrderState, frozenset[OrderState]] = {
    OrderState.PENDING: frozenset(
        {
            OrderState.UNKNOWN,
            OrderState.OPEN,
            OrderState.FILLED,
            OrderState.CANCELED,
            OrderState.REJECTED,
            OrderState.NOT_SENT,
        }
    ),
    OrderState.UNKNOWN: frozenset(
        {OrderState.OPEN, OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED, OrderState.NOT_SENT}
    ),
    # REJECTED: a resting conditional order the matching engine refuses when it triggers (Binance algo
    # REJECTED, e.g. a margin check; docs/exchange-facts.md §4).
    OrderState.OPEN: frozenset(
        {OrderState.OPEN, OrderState.FILLED, OrderState.CANCELED, OrderState.REJECTED}
    ),
    OrderState.FILLED: frozenset(),
    OrderState.CANCELED: frozenset(),
    OrderState.REJECTED: frozenset(),
    OrderState.NOT_SENT: frozenset(),
}


_EXCHANGE_OVERRIDES: dict[OrderState, frozenset[OrderState]] = {
    OrderState.NOT_SENT: frozenset({OrderState.OPEN, OrderState.FILLED, OrderState.CANCELED}),
    OrderState.CANCELED: frozenset({OrderState.FILLED}),
}
"""The exchange is the truth: an order settled as never placed (it was not found) or cancelled (the cancel
seemed to land) that the exchange later reports open or filled takes that state, with an audit note.
Binance answers "does not exist" for orders that do, for a while after placement (issue #10 item 5)."""


class IllegalTransition(RuntimeError):
    """A state change the order's life does not allow: a bug or an exchange report out of order."""


def can_move(current: OrderState, target: OrderState) -> bool:
    return current == target or target in _ALLOWED[current]


def history_entry(state: OrderState, at: datetime, note: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"state": state.value, "at": at.isoformat()}
    if note:
        entry["note"] = note
    return entry


def advance(
    current: OrderState, target: OrderState, history: list[Any], at: datetime, note: str | None = None
) -> tuple[OrderState, list[Any]]:
    """The new state and history; a repeated report of the same state changes nothing."""
    if current == target:
        return current, history
    if target in _EXCHANGE_OVERRIDES.get(current, frozenset()):
        audit = f"the exchange reports it {target.value} after it was settled {current.value}"
        return target, [*history, history_entry(target, at, f"{audit}: {note}" if note else audit)]
    if not can_move(current, target):
        raise IllegalTransition(f"order cannot go from {current.value} to {target.value}")
    return target, [*history, history_entry(target, at, note)]


_STATE_OF_STATUS: dict[OrderStatus, OrderState] = {
    OrderStatus.OPEN: OrderState.OPEN,
    OrderStatus.CLOSED: OrderState.FILLED,
    OrderStatus.CANCELED: OrderState.CANCELED,
    OrderStatus.EXPIRED: OrderState.CANCELED,
    OrderStatus.REJECTED: OrderState.REJECTED,
}

FAILURE_STATES = frozenset({OrderState.REJECTED, OrderState.UNKNOWN, OrderState.NOT_SENT})
"""States whose note is the row's error."""


def reported_state(order: Order) -> tuple[OrderState, str | None]:
    """The state the exchange's report of an order means, with a note when it is not the obvious one:
    a closed order that never traded ended without a fill, it is not "filled"."""
    target = _STATE_OF_STATUS[order.status]
    if target is OrderState.FILLED and order.filled == 0:
        return OrderState.CANCELED, "ended without a fill"
    return target, None
