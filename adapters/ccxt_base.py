"""What both ccxt adapters share: request pacing and retries, write resolution, caches, parsing.

The exchange classes supply only what differs (how a stop is placed, where the insurance fund and
the tiers come from, how the account is read). Every ccxt call goes through :meth:`_request`, and
every order-creating call through :meth:`_submit`, so retry and ambiguity rules live in one place.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar, Protocol, TypeVar

import structlog

from adapters.cache import FreshnessCache, utc_now
from adapters.errors import TRANSPORT_ERRORS, malformed, to_port_error
from adapters.parsing import (
    from_ms,
    is_linear_perpetual,
    parse_fill,
    parse_funding_payment,
    parse_market,
    parse_order,
    positive,
    to_ms,
    unique_fills,
)
from adapters.ratelimit import (
    READ_SHARE,
    ROLLING_WINDOW_MS,
    URGENT_SHARE,
    BackoffGate,
    BackoffPolicy,
    retry_after,
    window_use,
)
from adapters.streams import MarketStreams, StreamSettings
from executor.domain.account import AccountSnapshot, MarginMode
from executor.domain.enums import EntryType, ExchangeFamily, ExchangeId, Side
from executor.domain.key_setup import KeyPermissions, RateBudget, SymbolSetup
from executor.domain.market import (
    FundingInfo,
    LeverageTier,
    Market,
    MarketDataItem,
    MarketSnapshot,
)
from executor.domain.orders import (
    EntryRequest,
    Fill,
    FundingPayment,
    Order,
    OrderSide,
    OrderStatus,
    OrderType,
    ProtectedEntry,
)
from executor.ports.errors import (
    AmbiguousWriteError,
    Classification,
    ErrorClass,
    ErrorReason,
    ExchangeBannedError,
    ExchangeError,
    OrderNotFoundError,
)
from executor.ports.exchange import (
    ORDER_DEPARTURES,
    URGENT_READS,
    EntryObserver,
    EntryStep,
    ServerTime,
    StreamName,
    StreamStatus,
    UserEventSink,
)

T = TypeVar("T")
MARK_MAX_AGE = timedelta(seconds=5)
"""How old a mark may be beside a known book top: the polling interval of the REST-only daemon before the
streams (issue #11), and five of Binance's `markPrice@1s` pushes."""
WALL_CLOCK_SLACK = timedelta(seconds=2)
"""Host and exchange clocks differ a little: fills are read from this much before a request left."""
log = structlog.get_logger(__name__)


def _departing() -> None:
    """An order request leaves now: tell the task that asked (`ORDER_DEPARTURES`)."""
    departures = ORDER_DEPARTURES.get()
    if departures is not None:
        departures.append(time.time())


@dataclass(frozen=True)
class Credentials:
    """API credentials; never printed (repr hides both values)."""

    api_key: str = field(repr=False)
    secret: str = field(repr=False)

    def __repr__(self) -> str:
        return "Credentials(api_key=***, secret=***)"


@dataclass(frozen=True, slots=True)
class AdapterSettings:
    """Freshness limits and retry budgets; defaults suit a live daemon, tests shrink them."""

    market_max_age: timedelta = timedelta(hours=1)
    tiers_max_age: timedelta = timedelta(hours=1)
    funding_max_age: timedelta = timedelta(minutes=5)
    mark_max_age: timedelta = MARK_MAX_AGE
    """The mark beside a known book (the price band, the liquidation distance, the stop checks): not the
    price a decision stands on, so a stream's last push (every 1 s on Binance's `markPrice@1s`) is enough."""
    price_max_age: timedelta = timedelta(seconds=1)
    """The price a decision stands on (execution.max_price_age_ms): the book top, or the mark where no book
    is known; older is read again on the path. Never longer than ``mark_max_age``."""
    insurance_max_age: timedelta = timedelta(minutes=30)
    refresh_interval: timedelta = timedelta(seconds=15)
    request_attempts: int = 5
    write_attempts: int = 3
    read_retry_delay: timedelta = timedelta(milliseconds=200)
    fill_readback_attempts: int = 20
    fill_readback_delay: timedelta = timedelta(milliseconds=100)
    timeout_ms: int = 10_000
    request_window_ms: int = 5_000
    """How long a signed request stays executable: Binance `recvWindow`, Phemex `x-phemex-request-expiry`
    (rounded up to whole seconds). ccxt's defaults are 10 s and 60 s; a short window bounds how long the
    original of an unanswered write can still execute, and so how long a resend must wait."""
    window_margin: timedelta = timedelta(seconds=1)
    """Clock-offset error allowed for when deciding that an unanswered write can no longer execute."""
    not_found_grace: timedelta = timedelta(seconds=15)
    """Binance answers "does not exist" for orders that do, for a while after placement: one miss is no
    proof. An unanswered write is taken as not executed only when lookups still miss it this long after
    it was sent (and its window has passed)."""
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    streams: StreamSettings | None = None
    """Follow marks and book tops, and the account's user data stream, over the exchange's streams (Binance
    for now); None: REST only."""


class UserStreamFollower(Protocol):
    """An exchange's user data stream as the adapter runs it (adapters/user_stream.py for Binance)."""

    def start(self) -> None: ...

    def status(self) -> StreamStatus: ...

    async def aclose(self) -> None: ...


MakeUserStream = Callable[[UserEventSink, Callable[[], Awaitable[Mapping[str, Any]]]], UserStreamFollower]


@dataclass(frozen=True, slots=True)
class _MarkAndFunding:
    mark: Decimal | None
    funding: FundingInfo


class CcxtAdapter(ABC):
    """The port implemented over one ccxt exchange instance (one instance per API key)."""

    family: ClassVar[ExchangeFamily]
    immediate_or_cancel: ClassVar[Mapping[str, str]]
    """The order parameter for IOC in this exchange's own words (ccxt passes it through)."""

    def __init__(
        self,
        exchange: Any,
        *,
        name: ExchangeId,
        credentials: Credentials | None,
        gate: BackoffGate,
        settings: AdapterSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
        observer: EntryObserver | None = None,
    ) -> None:
        self._exchange = exchange
        self._observer = observer
        self._name = name
        self._secrets = (credentials.api_key, credentials.secret) if credentials else ()
        self._gate = gate
        self._reads_in_flight = 0
        self._settings = settings or AdapterSettings()
        self._clock = clock
        s = self._settings
        self._markets: FreshnessCache[str, dict[str, Market]] = FreshnessCache(s.market_max_age, clock)
        self._tiers: FreshnessCache[str, tuple[LeverageTier, ...]] = FreshnessCache(s.tiers_max_age, clock)
        self._funding: FreshnessCache[str, _MarkAndFunding] = FreshnessCache(s.funding_max_age, clock)
        self._marks: FreshnessCache[str, Decimal] = FreshnessCache(s.mark_max_age, clock)
        self._books: FreshnessCache[str, tuple[Decimal, Decimal]] = FreshnessCache(s.price_max_age, clock)
        self._insurance: FreshnessCache[str, Decimal] = FreshnessCache(s.insurance_max_age, clock)
        self._leverage_set: dict[str, tuple[int, MarginMode]] = {}
        self._margin_set: dict[str, MarginMode] = {}
        self._watched: set[str] = set()
        self._refresh_task: asyncio.Task[None] | None = None
        self._markets_lock = asyncio.Lock()
        self._streams: MarketStreams | None = None
        self._make_user_stream: MakeUserStream | None = None
        self._user_stream: UserStreamFollower | None = None

    def attach_streams(self, build: Callable[[], Mapping[StreamName, Any]]) -> None:
        """Follow the streams of the ccxt.pro instances `build` makes into the price caches (built and started
        with the background refresh; adapters/streams.py)."""
        self._streams = MarketStreams(
            build,
            self,
            lambda: self._watched,
            self._raw_markets,
            self._settings.streams,
            self._clock,
            self._name.family,
        )

    async def _raw_markets(self) -> Mapping[str, Any]:
        """ccxt's market structures, loaded through the throttled REST client, for the stream instances."""
        await self.markets()
        markets: Mapping[str, Any] = self._exchange.markets
        return markets

    def record_mark(self, symbol: str, mark: Decimal) -> None:
        """A mark from a stream, fresh from now as a REST read would be."""
        self._marks.put(symbol, mark)

    def record_book(self, symbol: str, bid: Decimal, ask: Decimal) -> None:
        self._books.put(symbol, (bid, ask))

    def stream_statuses(self) -> tuple[StreamStatus, ...]:
        market = self._streams.statuses() if self._streams is not None else ()
        return market if self._user_stream is None else (*market, self._user_stream.status())

    def attach_user_stream(self, make: MakeUserStream) -> None:
        """Follow the account's user data stream with what `make` builds once the daemon gives its sink (and
        ccxt's market structures, loaded through the throttled REST client, for its instance)."""
        self._make_user_stream = make

    def follow_user_events(self, sink: UserEventSink) -> bool:
        """Starts following at once; False without an attached user stream: the daemon learns fills, orders
        and positions by polling."""
        if self._make_user_stream is None:
            return False
        if self._user_stream is None:
            self._user_stream = self._make_user_stream(sink, self._raw_markets)
        self._user_stream.start()
        return True

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self._name.value!r})"

    def _observe(self, step: EntryStep) -> None:
        if self._observer is not None:
            self._observer(step)

    # ------------------------------------------------------------------ identity and state

    @property
    def name(self) -> ExchangeId:
        return self._name

    @property
    def banned_until(self) -> datetime | None:
        return self._gate.banned_until

    @property
    def exchange(self) -> Any:
        """The underlying ccxt instance, for tests and diagnostics inside ``adapters`` only."""
        return self._exchange

    # ------------------------------------------------------------------ requests

    @contextlib.asynccontextmanager
    async def _read_lane(self) -> AsyncIterator[None]:
        """Reads wait while their share of the window is spent; urgent ones (a signal waits for the execution
        lock their task holds, `URGENT_READS`) only while the writes' last tenth is reached (`URGENT_SHARE`);
        writes never wait here.

        ccxt records a request in its window only when its throttler task admits it, a suspension after this
        check, so a read admitted here counts as pending until it finishes: concurrent pollers cannot all
        pass on the same last slot."""
        urgent = URGENT_READS.get()
        waited = 0.0
        while window_use(self._exchange, self._reads_in_flight) >= (URGENT_SHARE if urgent() else READ_SHARE):
            await asyncio.sleep(0.25)
            waited += 0.25
            if waited in (1.0, 10.0, 60.0):
                log.warning("exchange_reads_throttled", exchange=self._name, waited_s=waited)
        self._reads_in_flight += 1
        try:
            yield
        finally:
            self._reads_in_flight -= 1

    async def _request(
        self, call: Callable[[], Awaitable[T]], *, write: bool, priority: bool | None = None
    ) -> T:
        """One logical request: waits out backoff, retries what is safe to retry, classifies the rest.

        Rate limits and clock skew are rejections before execution, so they are retried for writes
        too; network failures are retried only for reads (for writes they are ambiguous).
        """
        last: ExchangeError | None = None
        for attempt in range(self._settings.request_attempts):
            banned = self._gate.banned_until
            if banned is not None:
                raise ExchangeBannedError(
                    f"{self._name}: requests halted, IP banned until {banned.isoformat()}",
                    Classification(ErrorReason.IP_BANNED, ErrorClass.RETRYABLE, None, banned),
                    banned,
                )
            await self._gate.wait()
            reading = not (write if priority is None else priority)
            try:
                async with self._read_lane() if reading else contextlib.nullcontext():
                    result = await call()
            except TRANSPORT_ERRORS as exc:
                error = to_port_error(exc, self.family, write=write, secrets=self._secrets, now=self._clock())
                last = error
                hint = retry_after(getattr(self._exchange, "last_response_headers", None))
                if isinstance(error, ExchangeBannedError):
                    if hint is not None and self._clock() + hint > error.until:
                        error.until = self._clock() + hint
                    self._gate.on_banned(error.until)
                    log.error("exchange_ip_banned", exchange=self._name, until=error.until.isoformat())
                    raise error from None
                if error.reason is ErrorReason.RATE_LIMITED:
                    pause = self._gate.on_rate_limited(hint)
                    log.warning("exchange_rate_limited", exchange=self._name, pause_s=pause.total_seconds())
                    continue
                if error.reason is ErrorReason.CLOCK_SKEW:
                    await self._resync_clock()
                    continue
                if error.error_class is ErrorClass.RETRYABLE:
                    log.warning("exchange_read_retry", exchange=self._name, attempt=attempt, error=str(error))
                    await asyncio.sleep(self._settings.read_retry_delay.total_seconds() * (attempt + 1))
                    continue
                raise error from None
            self._gate.on_success()
            return result
        assert last is not None
        raise last

    async def _resync_clock(self) -> None:
        """Binance signs with a timestamp; after -1021 measure the server clock offset again."""
        log.warning("exchange_clock_resync", exchange=self._name)
        with contextlib.suppress(Exception):
            await self._exchange.load_time_difference()

    async def _submit(
        self,
        symbol: str,
        client_id: str,
        *,
        conditional: bool,
        send: Callable[[], Awaitable[Any]],
        opening: bool = False,
    ) -> Order:
        """Send an order-creating request exactly once in effect.

        An ambiguous answer is resolved by looking the client id up. Found: that is the order. Not found:
        the original may still be in flight (exchanges keep a signed request executable until its window
        ends, and client ids are unique only among *open* orders, so a filled original would not even
        block a resend), so the resend waits until the original can no longer execute and a second
        lookup still misses it. A duplicate-id rejection proves an earlier attempt is open.
        An `opening` order is not resent when the symbol has fills since it was sent: the original may
        have filled and still be hidden from lookups (held up past the grace), and a resend would open a
        second position; its outcome stays unknown for reconciliation to settle.
        """
        last: ExchangeError | None = None
        sent = time.monotonic()
        sent_at = self._clock()

        async def timed_send() -> Any:
            nonlocal sent, sent_at
            sent = time.monotonic()  # the last attempt's departure: _request may resend after a 429
            sent_at = self._clock()
            _departing()
            return await send()

        for _ in range(self._settings.write_attempts):
            try:
                raw = await self._request(timed_send, write=True)
                return self._order_from_raw(raw, conditional=conditional)
            except ExchangeError as error:
                if error.reason is ErrorReason.DUPLICATE_CLIENT_ID:
                    found = await self._lookup(symbol, client_id, conditional=conditional)
                    if found is not None:
                        log.info("exchange_duplicate_id_resolved", exchange=self._name, client_id=client_id)
                        return found
                    raise AmbiguousWriteError(
                        f"{self._name}: {client_id} rejected as duplicate but not found by lookup",
                        error.classification,
                    ) from None
                if error.error_class is not ErrorClass.AMBIGUOUS:
                    raise
                last = error
                log.warning(
                    "exchange_ambiguous_write", exchange=self._name, client_id=client_id, error=str(error)
                )
                found = await self._lookup(symbol, client_id, conditional=conditional)
                if found is not None:
                    return found
                await self._until_unexecutable(sent, client_id)
                found = await self._lookup_within_grace(symbol, client_id, conditional, sent)
                if found is not None:
                    return found
                if opening and await self.fills_since(symbol, sent_at - WALL_CLOCK_SLACK):
                    raise AmbiguousWriteError(
                        f"{self._name}: {client_id} not found, but {symbol} has fills since it was sent: "
                        "not resent (the original may have filled unseen)",
                        error.classification,
                    ) from None
        assert last is not None
        raise AmbiguousWriteError(
            f"{self._name}: {client_id} unresolved after {self._settings.write_attempts} attempts: {last}",
            last.classification,
        )

    async def _lookup_within_grace(
        self, symbol: str, client_id: str, conditional: bool, sent: float
    ) -> Order | None:
        """Look the id up until found or until `not_found_grace` after `sent` (one miss is no proof)."""
        deadline = sent + self._settings.not_found_grace.total_seconds()
        while True:
            found = await self._lookup(symbol, client_id, conditional=conditional)
            remaining = deadline - time.monotonic()
            if found is not None or remaining <= 0:
                return found
            log.info("exchange_lookup_miss_not_proof", exchange=self._name, client_id=client_id)
            await asyncio.sleep(min(1.0, remaining))

    async def _until_unexecutable(self, sent: float, client_id: str) -> None:
        """Wait until a request sent at monotonic `sent` can no longer execute anywhere.

        The window in whole seconds plus one: Binance accepts a timestamp up to 1 s ahead of its clock,
        and Phemex's expiry is whole epoch seconds (valid through the second it names); plus the margin.
        """
        s = self._settings
        window = -(-s.request_window_ms // 1000) + 1
        deadline = sent + window + s.window_margin.total_seconds()
        pause = deadline - time.monotonic()
        if pause > 0:
            log.info("exchange_write_window_wait", exchange=self._name, client_id=client_id, wait_s=pause)
            await asyncio.sleep(pause)

    def _order_from_raw(self, raw: Any, *, conditional: bool | None = None) -> Order:
        return parse_order(raw, conditional=conditional)

    # ------------------------------------------------------------------ order lookups

    async def _lookup(self, symbol: str, client_id: str, *, conditional: bool) -> Order | None:
        """One kind of order by client id; None when the exchange does not know it."""
        try:
            raw = await self._request(
                lambda: self._fetch_order_raw(None, symbol, self._lookup_params(client_id, conditional)),
                write=False,
                priority=True,
            )
        except OrderNotFoundError:
            return None
        return self._order_from_raw(raw, conditional=conditional)

    async def _lookup_by_id(self, order: Order) -> Order | None:
        try:
            raw = await self._request(
                lambda: self._fetch_order_raw(order.exchange_id, order.symbol, self._cancel_params(order)),
                write=False,
            )
        except OrderNotFoundError:
            return None
        return self._order_from_raw(raw, conditional=order.conditional)

    async def _fetch_order_raw(self, order_id: str | None, symbol: str, params: dict[str, Any]) -> Any:
        """ccxt's fetch_order; an exchange whose answer ccxt misreads unwraps it here."""
        return await self._exchange.fetch_order(order_id, symbol, params)

    def _lookup_params(self, client_id: str, conditional: bool) -> dict[str, Any]:
        return {"clientOrderId": client_id}

    async def fetch_order(self, symbol: str, client_id: str) -> Order | None:
        found = await self._lookup(symbol, client_id, conditional=False)
        if found is None and self._has_separate_conditional_orders():
            found = await self._lookup(symbol, client_id, conditional=True)
        return found

    def _has_separate_conditional_orders(self) -> bool:
        return False

    async def open_orders(self, symbol: str) -> list[Order]:
        raws = await self._request(lambda: self._exchange.fetch_open_orders(symbol), write=False)
        orders = [self._order_from_raw(raw) for raw in raws]
        if self._has_separate_conditional_orders():
            algo = await self._request(
                lambda: self._exchange.fetch_open_orders(symbol, None, None, {"trigger": True}), write=False
            )
            orders.extend(self._order_from_raw(raw, conditional=True) for raw in algo)
        return orders

    async def _await_fill(self, order: Order) -> Order:
        """A market order's answer may be only an acknowledgement: read the fill back."""
        current = order
        for _ in range(self._settings.fill_readback_attempts):
            if current.status.is_final or current.filled >= current.qty > 0:
                return current
            await asyncio.sleep(self._settings.fill_readback_delay.total_seconds())
            if current.client_id is None:
                return current
            found = await self._lookup(current.symbol, current.client_id, conditional=False)
            if found is not None:
                current = found
        return current

    # ------------------------------------------------------------------ orders

    @abstractmethod
    async def open_with_stop(self, request: EntryRequest) -> ProtectedEntry: ...

    @abstractmethod
    async def _send_trigger_order(
        self,
        symbol: str,
        position_side: Side,
        qty: Decimal,
        trigger_price: Decimal,
        client_id: str,
        order_type: OrderType,
    ) -> Order: ...

    async def place_stop(
        self, symbol: str, position_side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> Order:
        return await self._send_trigger_order(
            symbol, position_side, qty, trigger_price, client_id, OrderType.STOP_MARKET
        )

    async def place_take_profit(
        self, symbol: str, position_side: Side, qty: Decimal, trigger_price: Decimal, client_id: str
    ) -> Order:
        return await self._send_trigger_order(
            symbol, position_side, qty, trigger_price, client_id, OrderType.TAKE_PROFIT_MARKET
        )

    async def cancel_order(self, order: Order) -> Order:
        """Cancel, then read the order back: only the exchange's own record says it is gone.

        Cancelling twice is safe: "unknown order" on the cancel is settled by the read-back.
        """
        try:
            await self._request(lambda: self._send_cancel(order), write=False, priority=True)
        except OrderNotFoundError:
            if order.client_id is None:
                raise
            # Already gone (an earlier cancel landed, or it filled): the read-back says which.
        if order.client_id is None:
            return replace(order, status=OrderStatus.CANCELED)
        current = await self._lookup(order.symbol, order.client_id, conditional=order.conditional)
        if current is None and order.exchange_id:
            # An order the exchange created for us (Phemex's attached stop) has no client id of ours.
            current = await self._lookup_by_id(order)
        if current is None:
            raise OrderNotFoundError(
                f"{self._name}: {order.client_id} not found after cancel",
                Classification(ErrorReason.ORDER_NOT_FOUND, ErrorClass.FINAL, None),
            )
        return current

    async def _send_cancel(self, order: Order) -> Any:
        return await self._exchange.cancel_order(order.exchange_id, order.symbol, self._cancel_params(order))

    def _cancel_params(self, order: Order) -> dict[str, Any]:
        return {}

    @abstractmethod
    async def cancel_all(self, symbol: str) -> None: ...

    async def close_position(self, symbol: str, position_side: Side, qty: Decimal, client_id: str) -> Order:
        params = {"clientOrderId": client_id, "reduceOnly": True}
        side = OrderSide.closing(position_side).value
        order = await self._submit(
            symbol,
            client_id,
            conditional=False,
            send=lambda: self._exchange.create_order(symbol, "market", side, float(qty), None, dict(params)),
        )
        return await self._await_fill(order)

    async def _stop_after_entry(self, request: EntryRequest, entry: Order) -> ProtectedEntry:
        """The stop as its own reduce-only order once the entry answered: for what a market entry filled,
        for the whole quantity of a limit one."""
        if entry.status.is_final and entry.filled == 0:
            return ProtectedEntry(entry, None, f"entry {entry.status.value} without a fill; no stop needed")
        qty = entry.filled if request.entry_type is EntryType.MARKET and entry.filled > 0 else request.qty
        self._observe(EntryStep.ENTRY_ANSWERED)
        try:
            stop = await self.place_stop(
                request.symbol, request.side, qty, request.stop_price, request.stop_client_id
            )
        except ExchangeError as error:
            return ProtectedEntry(entry, None, f"stop not placed: {error}")
        self._observe(EntryStep.STOP_ANSWERED)
        if not stop.is_open:
            return ProtectedEntry(entry, None, f"stop is {stop.status.value}, not resting")
        return ProtectedEntry(entry, stop, None)

    async def _send_entry(self, request: EntryRequest, extra: Mapping[str, Any]) -> Order:
        """A market entry with a price bound is a marketable limit, immediate-or-cancel, at the bound."""
        side = OrderSide.opening(request.side).value
        order_type = "market" if request.entry_type is EntryType.MARKET else "limit"
        price = float(request.limit_price) if request.limit_price is not None else None
        params = {"clientOrderId": request.entry_client_id, **extra}
        if request.price_bound is not None:
            order_type, price = "limit", float(request.price_bound)
            params |= self.immediate_or_cancel
        order = await self._submit(
            request.symbol,
            request.entry_client_id,
            conditional=False,
            send=lambda: self._exchange.create_order(
                request.symbol, order_type, side, float(request.qty), price, dict(params)
            ),
            opening=True,
        )
        if request.entry_type is EntryType.MARKET:
            order = await self._await_fill(order)
        return order

    # ------------------------------------------------------------------ leverage

    async def server_time(self) -> ServerTime:
        """The exchange's clock: trading days and signal expiry follow the venue, not the host. The round
        trip is timed inside the read lane, so a wait there does not move the clock (`ServerTime`)."""
        trip = timedelta(0)

        async def timed() -> Any:
            nonlocal trip
            sent = time.monotonic()
            raw = await self._fetch_server_ms()
            trip = timedelta(seconds=time.monotonic() - sent)
            return raw

        moment = from_ms(await self._request(timed, write=False))
        if moment is None:
            raise malformed("server time answer without a time")
        return ServerTime(moment, trip)

    @abstractmethod
    async def _fetch_server_ms(self) -> Any: ...

    async def ensure_leverage(self, symbol: str, leverage: int, margin_mode: MarginMode) -> None:
        if leverage < 1:
            raise ValueError("leverage must be at least 1")
        if self._leverage_set.get(symbol) == (leverage, margin_mode):
            return
        await self._apply_leverage(symbol, leverage, margin_mode, self._margin_set.get(symbol) is margin_mode)
        self._leverage_set[symbol] = (leverage, margin_mode)
        self._margin_set[symbol] = margin_mode

    @abstractmethod
    async def _apply_leverage(
        self, symbol: str, leverage: int, margin_mode: MarginMode, margin_set: bool
    ) -> None:
        """Set the leverage, and the margin mode with it unless `margin_set` (set already)."""

    async def prepare_symbols(
        self, symbols: Sequence[str], margin_mode: MarginMode, *, switch: bool = True
    ) -> list[str]:
        setups = await self.symbol_setups(symbols)
        left = []
        for symbol in symbols:
            setup = setups.get(symbol)
            leverage = setup.leverage if setup is not None else None
            if setup is None or setup.margin_mode is not margin_mode:
                if not switch:
                    continue
                try:
                    if not await self._apply_margin_mode(symbol, margin_mode, leverage):
                        left.append(f"{symbol}: margin mode unknown until a leverage is set")
                        continue
                except ExchangeError as error:
                    left.append(f"{symbol}: margin mode not set: {error}")
                    continue
            self._margin_set[symbol] = margin_mode
            if leverage is not None:
                self._leverage_set[symbol] = (leverage, margin_mode)
        return left

    @abstractmethod
    async def _apply_margin_mode(self, symbol: str, margin_mode: MarginMode, leverage: int | None) -> bool:
        """Set the margin mode alone (`leverage`: the symbol's current one, if known); False when this
        exchange cannot without a leverage and none is known."""

    async def ensure_one_way(self, symbols: Sequence[str]) -> list[str]:
        """The position mode is the exchange adapter's to read and switch (Phemex: per symbol); an adapter
        that does not override this trusts the account to be one-way."""
        return []

    async def _idempotent(self, call: Callable[[], Awaitable[Any]]) -> None:
        """Settings calls are idempotent: resending is safe and 'no change needed' is success. They are
        writes on the way to an order, so they take the writes' lane (priority), not the reads'."""
        try:
            await self._request(call, write=False, priority=True)
        except ExchangeError as error:
            if error.reason is not ErrorReason.NO_CHANGE:
                raise

    # ------------------------------------------------------------------ fills and funding

    async def fills_since(self, symbol: str, since: datetime) -> list[Fill]:
        raws = await self._request(lambda: self._exchange.fetch_my_trades(symbol, to_ms(since)), write=False)
        return unique_fills([fill for fill in map(parse_fill, raws) if fill.timestamp >= since])

    async def funding_payments_since(self, symbol: str, since: datetime) -> list[FundingPayment]:
        raws = await self._request(
            lambda: self._exchange.fetch_funding_history(symbol, to_ms(since)), write=False
        )
        payments = {p.payment_id: p for p in map(self._funding_from_raw, raws) if p.timestamp >= since}
        return sorted(payments.values(), key=lambda p: (p.timestamp, p.payment_id))

    def funding_schedule(self, symbol: str) -> FundingInfo | None:
        cached = self._funding.get(symbol)
        return cached.funding if cached is not None else None

    def _funding_from_raw(self, raw: Any) -> FundingPayment:
        return parse_funding_payment(raw)

    # ------------------------------------------------------------------ market data

    async def markets(self) -> Mapping[str, Market]:
        cached = self._markets.get("all")
        if cached is None:
            await self._refresh_markets()
            cached = self._markets.get("all")
        assert cached is not None
        return cached

    async def _refresh_markets(self) -> None:
        async with self._markets_lock:
            raw = await self._request(lambda: self._exchange.load_markets(True), write=False)
            markets = {
                symbol: self._market_from_raw(market)
                for symbol, market in raw.items()
                if is_linear_perpetual(market)
            }
            self._markets.put("all", markets)
            for symbol in markets:
                tiers = self._tiers_from_market(symbol)
                if tiers:
                    self._tiers.put(symbol, tiers)

    def _market_from_raw(self, raw: Any) -> Market:
        """ccxt's market; an exchange whose filters ccxt leaves out fills them in (Phemex)."""
        return parse_market(raw)

    def _tiers_from_market(self, symbol: str) -> tuple[LeverageTier, ...]:
        """Tiers some exchanges ship with the market list (Phemex); empty when they come separately."""
        return ()

    @abstractmethod
    async def _fetch_tiers(self, symbol: str) -> tuple[LeverageTier, ...]: ...

    @abstractmethod
    async def _fetch_mark_and_funding(self, symbol: str) -> tuple[Decimal | None, FundingInfo]: ...

    @abstractmethod
    async def _fetch_book_top(self, symbol: str) -> tuple[Any, Any]:
        """The best bid and ask prices as the exchange wrote them (checked by the caller)."""

    async def _fetch_insurance_fund(self, symbol: str, settle: str) -> Decimal | None:
        """None: this exchange publishes no insurance-fund balance."""
        return None

    @property
    def _has_insurance_fund(self) -> bool:
        return False

    async def _refresh_tiers(self, symbol: str) -> None:
        tiers = await self._fetch_tiers(symbol)
        if tiers:
            self._tiers.put(symbol, tiers)

    async def _refresh_mark_and_funding(self, symbol: str) -> None:
        mark, funding = await self._fetch_mark_and_funding(symbol)
        self._funding.put(symbol, _MarkAndFunding(mark, funding))
        if mark is not None:
            self._marks.put(symbol, mark)

    async def _refresh_book(self, symbol: str) -> None:
        """Read on the path only, when a snapshot asks (the background loop does not spend weight on it)."""
        raw_bid, raw_ask = await self._fetch_book_top(symbol)
        bid, ask = positive(raw_bid), positive(raw_ask)
        if bid is None or ask is None or bid > ask:
            raise malformed(
                f"book top for {symbol} is not a bid at or under an ask: {raw_bid!r} / {raw_ask!r}"
            )
        self._books.put(symbol, (bid, ask))

    async def _refresh_insurance(self, symbol: str, settle: str) -> None:
        balance = await self._fetch_insurance_fund(symbol, settle)
        if balance is not None:
            self._insurance.put(symbol, balance)

    async def market_snapshot(self, symbol: str) -> MarketSnapshot:
        """Cached parts as they are (flagged when too old); only a stale book top or mark is fetched now.

        The book top is the decision's price and is read when older than ``price_max_age``; the mark only
        when older than ``mark_max_age``, or than ``price_max_age`` where no book top could be had (then
        the mark is the price).
        """
        self._watched.add(symbol)
        market = await self._market_or_none(symbol)
        if not self._books.is_fresh(symbol):
            await self._best_effort(self._refresh_book(symbol), "book", symbol)
        priced_by_mark = not self._books.is_fresh(symbol)
        if not self._marks.is_fresh(symbol, self._settings.price_max_age if priced_by_mark else None):
            await self._best_effort(self._refresh_mark_and_funding(symbol), "mark_and_funding", symbol)
        if self._tiers.entry(symbol) is None:
            await self._best_effort(self._refresh_tiers(symbol), "tiers", symbol)
        settle = market.settle if market is not None else "USDT"
        if self._has_insurance_fund and self._insurance.entry(symbol) is None:
            await self._best_effort(self._refresh_insurance(symbol, settle), "insurance_fund", symbol)
        return self._snapshot_from_cache(symbol, market, settle)

    def _snapshot_from_cache(self, symbol: str, market: Market | None, settle: str) -> MarketSnapshot:
        stale: set[MarketDataItem] = set()
        if not self._markets.is_fresh("all"):
            stale.add(MarketDataItem.MARKET)
        if not self._tiers.is_fresh(symbol):
            stale.add(MarketDataItem.TIERS)
        if not self._marks.is_fresh(symbol):
            stale.add(MarketDataItem.MARK_PRICE)
        if not self._funding.is_fresh(symbol):
            stale.add(MarketDataItem.FUNDING)
        insurance = None
        if self._has_insurance_fund:
            if self._insurance.is_fresh(symbol):
                insurance = self._insurance.get(symbol)
            else:
                stale.add(MarketDataItem.INSURANCE_FUND)
        funding = self._funding.get(symbol)
        mark = self._marks.entry(symbol)
        book = self._books.entry(symbol) if self._books.is_fresh(symbol) else None
        return MarketSnapshot(
            symbol=symbol,
            as_of=self._clock(),
            mark_price=mark.value if mark is not None else None,
            mark_at=mark.fetched_at if mark is not None else None,
            bid=book.value[0] if book is not None else None,
            ask=book.value[1] if book is not None else None,
            book_at=book.fetched_at if book is not None else None,
            filters=market.filters if market is not None else None,
            tiers=self._tiers.get(symbol) or (),
            taker_fee=market.taker_fee if market is not None else None,
            funding=funding.funding if funding is not None else None,
            settle_asset=settle,
            insurance_fund=insurance,
            stale=frozenset(stale),
        )

    async def _market_or_none(self, symbol: str) -> Market | None:
        try:
            markets = await self.markets()
        except ExchangeError as error:
            log.warning("exchange_markets_unavailable", exchange=self._name, error=str(error))
            return None
        market = markets.get(symbol)
        if market is None:
            raise ExchangeError(
                f"{self._name}: {symbol} is not a listed linear perpetual",
                Classification(ErrorReason.BAD_SYMBOL, ErrorClass.FINAL, None),
            )
        return market

    async def _best_effort(self, refresh: Awaitable[None], item: str, symbol: str) -> None:
        """A failed refresh leaves the old value, which the snapshot then reports as stale."""
        try:
            await refresh
        except ExchangeError as error:
            log.warning(
                "exchange_refresh_failed", exchange=self._name, item=item, symbol=symbol, error=str(error)
            )

    # ------------------------------------------------------------------ account

    @abstractmethod
    async def account_snapshot(self) -> AccountSnapshot: ...

    @abstractmethod
    async def key_permissions(self) -> KeyPermissions: ...

    @abstractmethod
    async def symbol_setups(self, symbols: Sequence[str]) -> dict[str, SymbolSetup]: ...

    def rate_budget(self) -> RateBudget:
        """ccxt's rolling window (units per minute = 60000 / rateLimit) against the venue's limit."""
        units = ROLLING_WINDOW_MS / float(self._exchange.rateLimit)
        limit, per_minute = self._venue_limit()
        return RateBudget(units, limit, units <= per_minute, window_use(self._exchange))

    @abstractmethod
    def _venue_limit(self) -> tuple[str, float]:
        """The venue's published limit in words, and as ccxt cost units per minute."""

    # ------------------------------------------------------------------ lifecycle

    async def start_background_refresh(self) -> None:
        if self._refresh_task is None or self._refresh_task.done():
            self._refresh_task = asyncio.create_task(
                self._refresh_loop(), name=f"{self._name}-market-refresh"
            )
        if self._streams is not None:
            self._streams.start()
        if self._user_stream is not None:
            self._user_stream.start()

    async def refresh_once(self) -> None:
        """Refresh everything that is due; the background loop calls this every interval."""
        if self._markets.needs_refresh("all"):
            await self._best_effort(self._refresh_markets(), "markets", "*")
        markets = self._markets.get("all") or {}
        for symbol in sorted(self._watched):
            if self._tiers.needs_refresh(symbol):
                await self._best_effort(self._refresh_tiers(symbol), "tiers", symbol)
            mark_due = self._marks.needs_refresh(symbol) and not self._mark_streamed()
            if self._funding.needs_refresh(symbol) or mark_due:
                await self._best_effort(self._refresh_mark_and_funding(symbol), "mark_and_funding", symbol)
            market = markets.get(symbol)
            if self._has_insurance_fund and market is not None and self._insurance.needs_refresh(symbol):
                await self._best_effort(
                    self._refresh_insurance(symbol, market.settle), "insurance_fund", symbol
                )

    def _mark_streamed(self) -> bool:
        return self._streams is not None and self._streams.is_live(StreamName.MARK_PRICE)

    async def _refresh_loop(self) -> None:
        while True:
            try:
                await self.refresh_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("exchange_refresh_loop_error", exchange=self._name)
            await asyncio.sleep(self._settings.refresh_interval.total_seconds())

    def watch(self, symbol: str) -> None:
        """Keep this symbol's data fresh in the background before the first snapshot asks for it."""
        self._watched.add(symbol)

    async def aclose(self) -> None:
        task, self._refresh_task = self._refresh_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._streams is not None:
            await self._streams.aclose()
        if self._user_stream is not None:
            await self._user_stream.aclose()
        await self._exchange.close()
