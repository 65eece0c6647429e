"""The one narrow interface the daemon uses to talk to an exchange.

It lives on the daemon's side because it states what the daemon needs; the adapters conform to it
(each adapter module carries a typed assignment that mypy checks). Domain types in and out (Decimal
money, the project's own orders and positions), never ccxt dicts; failures come out as
:mod:`adapters.errors` exceptions with a classification.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Protocol, runtime_checkable

from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.enums import ExchangeId, Side
from executor.domain.key_setup import KeyPermissions, RateBudget, SymbolSetup
from executor.domain.market import FundingInfo, Market, MarketSnapshot
from executor.domain.orders import EntryRequest, Fill, FundingPayment, Order, ProtectedEntry
from executor.domain.user_events import UserEvent


@dataclass(frozen=True, slots=True)
class ServerTime:
    """The exchange's clock as it answered, and the request's round trip: from the request leaving the
    daemon's read lane to its answer, so a wait behind polling is not in it; a wait in ccxt's own throttle,
    once its window is full, is. The answer was written about the middle of the round trip."""

    at: datetime
    round_trip: timedelta


def _never() -> bool:
    return False


def _always() -> bool:
    return True


URGENT_READS: ContextVar[Callable[[], bool]] = ContextVar("urgent_reads", default=_never)
"""Whether the current task's reads are urgent now: a signal's own reads always (`urgent_reads`), and while
the task holds the account's execution lock and a signal (a close, a stop, a cancel) waits for that lock,
its reads stand between the signal and the exchange; an adapter must not hold them back behind polling in
the read share."""


@contextlib.contextmanager
def urgent_reads() -> Iterator[None]:
    """The reads made inside are urgent: a signal decided and executed (its path: a price or account read on
    it that waited for polling's share of the budget to drain, tens of seconds on a busy window, would
    leave an entry's stop, a close or a new stop that long behind the signal), and resting entries looked
    at for their expiry (a cancel due now). Such a task waiting for the execution lock makes its holders'
    reads urgent too; a poller waiting does not."""
    token = URGENT_READS.set(_always)
    try:
        yield
    finally:
        URGENT_READS.reset(token)


ORDER_DEPARTURES: ContextVar[list[float] | None] = ContextVar("order_departures", default=None)
"""Where the current task wants to learn when its order requests leave: an adapter appends the wall time
(`time.time()`) at which it hands each order-creating request to the transport, after any throttle wait.
The signal path measures `signal_to_wire` to its entry's departure."""


class EntryStep(StrEnum):
    """The steps inside :meth:`ExchangePort.open_with_stop` that the caller may observe."""

    ENTRY_ANSWERED = "entry_answered"
    """The exchange answered the entry; its stop is not yet sent (Binance) or not yet read back."""
    STOP_ANSWERED = "stop_answered"
    """The exchange answered the separate stop (Binance)."""


class StreamName(StrEnum):
    """The streams an adapter may follow (issue #11): market data (Binance markPrice@1s and bookTicker) and
    the account's private user data stream."""

    MARK_PRICE = "mark_price"
    BOOK_TICKER = "book_ticker"
    USER_DATA = "user_data"


MARKET_STREAMS = (StreamName.MARK_PRICE, StreamName.BOOK_TICKER)


class StreamState(StrEnum):
    CONNECTING = "connecting"
    """Before its first message."""
    LIVE = "live"
    DOWN = "down"
    """Disconnected, failing, or stalled (open but silent past the limit): prices come from REST."""


@dataclass(frozen=True, slots=True)
class StreamStatus:
    name: StreamName
    state: StreamState
    last_message_at: datetime | None
    reconnects: int
    problem: str | None

    def age_seconds(self, now: datetime) -> float | None:
        """Seconds since the last message, None before the first."""
        return None if self.last_message_at is None else (now - self.last_message_at).total_seconds()


UserEventSink = Callable[[UserEvent], None]
"""Where an adapter hands each user-stream event, in arrival order, from its stream task: it must not block
(the daemon's sink queues the event and applies it in its own task)."""

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

    async def server_time(self) -> ServerTime:
        """The exchange's clock (trading days and expiries follow it), with the request's own round trip."""
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

    async def prepare_symbols(
        self, symbols: Sequence[str], margin_mode: MarginMode, *, switch: bool = True
    ) -> list[str]:
        """Ahead of the first signal: each symbol's margin mode set once (only remembered where already so,
        without `switch`), and the leverage the account holds remembered, so `ensure_leverage` writes only
        when a decision's leverage differs. One line per symbol left to `ensure_leverage`."""
        ...

    async def ensure_one_way(self, symbols: Sequence[str]) -> list[str]:
        """Put these symbols in one-way position mode where nothing is open on them; one line per symbol
        that cannot be switched, naming the fix (empty: every one is one-way now)."""
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

    def funding_schedule(self, symbol: str) -> FundingInfo | None:
        """The symbol's funding rate and schedule as last read (whatever its age: settlements keep their
        times), without a request; None when never read."""
        ...

    async def key_permissions(self) -> KeyPermissions:
        """What the API key may do, as far as the exchange reports it (`executor exchange check`)."""
        ...

    async def symbol_setups(self, symbols: Sequence[str]) -> dict[str, SymbolSetup]:
        """Position mode, margin mode and leverage of each symbol as the account has them now."""
        ...

    def rate_budget(self) -> RateBudget:
        """The request budget this client keeps to, against the venue's published limit."""
        ...

    async def start_background_refresh(self) -> None:
        """Keep markets, tiers, funding and insurance fund fresh off the critical path (and start the
        market streams, where the adapter follows them)."""
        ...

    def watch(self, symbol: str) -> None:
        """Keep this symbol's prices fresh (background refresh, streams) before a decision asks."""
        ...

    def stream_statuses(self) -> tuple[StreamStatus, ...]:
        """The streams followed (market and user data), each with its state; empty when streams are off."""
        ...

    def follow_user_events(self, sink: UserEventSink) -> bool:
        """From now on (it connects at once) hand every user-stream event to `sink`, beginning with a
        `StreamGap` (CONNECTED) at each (re)connection. False: this adapter follows no user stream (REST
        only), and `sink` is never called."""
        ...

    async def aclose(self) -> None:
        """Stop the background task and release the HTTP session."""
        ...
