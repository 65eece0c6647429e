"""The one narrow interface the daemon uses to talk to an exchange.

It lives on the daemon's side because it states what the daemon needs; the adapters conform to it
(each adapter module carries a typed assignment that mypy checks). Domain types in and out (Decimal
money, the project's own orders and positions), never ccxt dicts; failures come out as
:mod:`adapters.errors` exceptions with a classification.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.enums import ExchangeId, Side
from executor.domain.market import Market, MarketSnapshot
from executor.domain.orders import EntryRequest, Fill, FundingPayment, Order, ProtectedEntry


class EntryStep(StrEnum):
    """The steps inside :meth:`ExchangePort.open_with_stop` that the caller may observe."""

    ENTRY_ANSWERED = "entry_answered"
    """The exchange answered the entry; its stop is not yet sent (Binance) or not yet read back."""
    STOP_ANSWERED = "stop_answered"
    """The exchange answered the separate stop (Binance)."""


EntryObserver = Callable[[EntryStep], None]
"""Handed to an adapter by the daemon's wiring (the crash trials' crash points); live daemons pass none."""


@runtime_checkable
class ExchangePort(Protocol):
    @property
    def name(self) -> ExchangeId:
        """Which exchange (a simulated one is named as such); the mode is not part of it."""
        ...

    @property
    def banned_until(self) -> datetime | None:
        """While the exchange bans this IP/key: its expiry; entries must halt until then."""
        ...

    async def server_time(self) -> datetime:
        """The exchange's clock (trading days and expiries follow it)."""
        ...

    async def markets(self) -> Mapping[str, Market]:
        """Linear USDT perpetuals by unified symbol (cached)."""
        ...

    async def market_snapshot(self, symbol: str) -> MarketSnapshot:
        """Mark, filters, tiers, fee, funding and insurance fund; stale parts are named, not hidden."""
        ...

    async def account_snapshot(self) -> AccountSnapshot: ...

    async def ensure_leverage(self, symbol: str, leverage: int, margin_mode: MarginMode) -> None:
        """Idempotent and cached; 'already set' is success."""
        ...

    async def open_with_stop(self, request: EntryRequest) -> ProtectedEntry:
        """The entry and its reduce-only mark-price stop as one operation; see ProtectedEntry."""
        ...

    async def place_stop(
        self, symbol: str, position_side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> Order:
        """A reduce-only stop-market on mark price that closes ``qty`` of the position."""
        ...

    async def place_take_profit(
        self, symbol: str, position_side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> Order: ...

    async def cancel_order(self, order: Order) -> Order:
        """Cancel and return the order's final state (OrderNotFoundError if the exchange lost it)."""
        ...

    async def close_position(self, symbol: str, position_side: Side, qty: Decimal, client_id: str) -> Order:
        """Reduce-only market order; returns it with its fill read back."""
        ...

    async def fetch_order(self, symbol: str, client_id: str) -> Order | None:
        """Look up by client id across normal and conditional (algo) orders; None if unknown."""
        ...

    async def cancel_all(self, symbol: str) -> None:
        """Cancel every open order of the symbol, normal and conditional (breaker, post-close sweep)."""
        ...

    async def open_orders(self, symbol: str) -> list[Order]:
        """Open normal and conditional orders for one symbol."""
        ...

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        """Executions since ``since``, unique by trade id, oldest first."""
        ...

    async def funding_payments_since(self, symbol: str, since: datetime) -> list[FundingPayment]:
        """Funding paid or received on ``symbol`` since ``since``, oldest first."""
        ...

    async def start_background_refresh(self) -> None:
        """Keep markets, tiers, funding and insurance fund fresh off the critical path."""
        ...

    async def aclose(self) -> None:
        """Stop the background task and release the HTTP session."""
        ...
