"""Marks and best bid/ask followed over the exchange's WebSocket streams (ccxt.pro); REST is the fallback.

Each stream writes what arrives into the adapter's price caches (`record_mark`, `record_book`), stamped
with the time of arrival: a decision reads the cache, fresh when the stream is live, and the adapter reads
REST on the path when the cached value is older than `execution.max_price_age_ms` (a stalled or broken
stream), so missing or stale data still fails closed. A stream with no message past `stall_after` counts
as down: its connections are closed and it reconnects with exponential backoff. Binance USDⓈ-M only for
now (`<symbol>@markPrice@1s`, `<symbol>@bookTicker`); docs/adapters.md "Market streams".
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, Protocol

import structlog
from ccxt.base.errors import BaseError  # type: ignore[import-untyped]

from adapters.cache import utc_now
from adapters.ccxt_target import target_simulator
from adapters.parsing import positive
from executor.domain.enums import ExchangeFamily, ExchangeId, ExchangeMode
from executor.ports.exchange import MARKET_STREAMS, StreamName, StreamState, StreamStatus

log = structlog.get_logger(__name__)

STREAM_ERRORS = (BaseError, OSError, asyncio.TimeoutError)


@dataclass(frozen=True, slots=True)
class StreamSettings:
    stall_after: timedelta = timedelta(seconds=5)
    """No message for this long on an open connection: a silent stall, counted as down."""
    backoff_first: timedelta = timedelta(milliseconds=250)
    backoff_max: timedelta = timedelta(seconds=30)
    pong_within: timedelta = timedelta(seconds=2)
    """A live book stream silent past `stall_after` is pinged; a pong within this keeps it live (quiet)."""


class PriceSink(Protocol):
    """Where the streams put what they read: the adapter's caches (adapters/ccxt_base.py)."""

    def record_mark(self, symbol: str, mark: Decimal) -> None: ...

    def record_book(self, symbol: str, bid: Decimal, ask: Decimal) -> None: ...


def build_binance_streams(
    exchange: ExchangeId, mode: ExchangeMode, *, sim_base_url: str | None
) -> dict[StreamName, Any]:
    """One ccxt.pro `binanceusdm` per stream, so a stall's reset closes only that stream's connections.

    Called when the streams start: a command that only looks at the exchange never imports ccxt.pro."""
    import ccxt.pro as ccxtpro  # type: ignore[import-untyped]

    instances: dict[StreamName, Any] = {}
    for name in MARKET_STREAMS:
        instance = ccxtpro.binanceusdm({"options": {"defaultType": "swap", "fetchCurrencies": False}})
        if mode is ExchangeMode.PAPER and not exchange.simulated:
            instance.enable_demo_trading(True)
        instances[name] = _targeted(instance, exchange, sim_base_url)
    return instances


def build_phemex_streams(
    exchange: ExchangeId, mode: ExchangeMode, *, sim_base_url: str | None
) -> dict[StreamName, Any]:
    """One ccxt.pro `phemex` per stream (the ticker pack for marks, the order book for its top)."""
    import ccxt.pro as ccxtpro

    instances: dict[StreamName, Any] = {}
    for name in MARKET_STREAMS:
        instance = ccxtpro.phemex({"options": {"defaultType": "swap"}})
        if mode is ExchangeMode.PAPER and not exchange.simulated:
            instance.set_sandbox_mode(True)
        instances[name] = _targeted(instance, exchange, sim_base_url)
    return instances


def _targeted(instance: Any, exchange: ExchangeId, sim_base_url: str | None) -> Any:
    if exchange.simulated:
        if not sim_base_url:
            raise ValueError(f"{exchange.value} needs the simulator's base URL")
        target_simulator(instance, sim_base_url)
    return instance


Prices = tuple[Decimal | None, ...]
"""A symbol's prices from one message: `(mark,)` on the mark stream, `(bid, ask)` on the book stream."""

PACK_MARK = 9
"""`markRp`'s place in a `perp_market24h_pack_p` row (its `fields`, ph-docs Public-Hedged-Perpetual-API
"Subscribe 24 Hours Ticker"); ccxt.pro keeps the row as the ticker's `info` and reads no mark from it
(ccxt/pro/phemex.py:142-197)."""


def _pack_mark(exchange: Any, symbol: str, ticker: Mapping[str, Any]) -> Decimal | None:
    row = ticker.get("info")
    if not isinstance(row, list) or len(row) <= PACK_MARK or row[0] != exchange.market(symbol)["id"]:
        return None
    return positive(row[PACK_MARK])


def _book_top(book: Mapping[str, Any]) -> Prices:
    """ccxt.pro's order book holds floats (parsed from Phemex's strings): str() gives the shortest digits
    that read back as the same float, the exchange's own for a price of up to 15 significant digits."""
    bids, asks = book.get("bids") or [], book.get("asks") or []
    return (positive(str(bids[0][0])) if bids else None, positive(str(asks[0][0])) if asks else None)


def _news(follower: _Follower, cache: Mapping[str, Any], symbols: list[str]) -> dict[str, Any]:
    """The symbols whose entry in ccxt.pro's cache is new since the last look. A watch returns with the first
    message of a burst only (ccxt/pro/binance.py `handle_tickers_and_bids_asks` resolves each message's own
    future, and the next watch is not yet waiting): the rest of a frame (every symbol's markPrice@1s each
    second, the bookTickers of one read) reach the cache alone, and were lost until the symbol's next push."""
    news = {
        symbol: cache[symbol]
        for symbol in symbols
        if symbol in cache and cache[symbol] is not follower.seen.get(symbol)
    }
    follower.seen.update(news)
    return news


class _PerSymbol:
    """Watches of one symbol each (ccxt.pro's Phemex has no multi-symbol ticker or book watch): each runs on
    across calls, and a call returns what the first to finish brought."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task[Any]] = {}

    async def next(
        self, watch: Callable[[str], Coroutine[Any, Any, Any]], symbols: list[str]
    ) -> dict[str, Any]:
        for symbol in symbols:
            if symbol not in self._tasks:
                self._tasks[symbol] = asyncio.create_task(watch(symbol), name=f"stream-watch-{symbol}")
        await asyncio.wait(self._tasks.values(), return_when=asyncio.FIRST_COMPLETED)
        done = {symbol: task for symbol, task in self._tasks.items() if task.done()}
        for symbol in done:
            del self._tasks[symbol]
        errors = [_failure(task) for task in done.values()]
        for error in errors:
            if error is not None:
                raise error
        return {symbol: task.result() for symbol, task in done.items()}

    def cancel(self) -> None:
        for task in self._tasks.values():
            task.cancel()
        self._tasks.clear()


def _failure(task: asyncio.Task[Any]) -> BaseException | None:
    """A watch's error; one cancelled under it (ccxt cancels its futures as a connection closes) is one too,
    never a cancellation of the stream's own task."""
    if task.cancelled():
        return ConnectionError("the watch was cancelled (connection closed)")
    return task.exception()


class _Follower:
    """One stream: its ccxt.pro instance, its loop, what it last saw."""

    def __init__(self, name: StreamName, exchange: Any) -> None:
        self.name = name
        self.exchange = exchange
        self.state = StreamState.CONNECTING
        self.last_message_at: datetime | None = None
        self.reconnects = 0
        self.problem: str | None = None
        self.task: asyncio.Task[None] | None = None
        self.watches = _PerSymbol()
        self.seen: dict[str, object] = {}
        """The ccxt.pro cache entry last recorded per symbol (Binance): what a wake-up finds newer is news."""
        self._pending: asyncio.Task[Mapping[str, Prices]] | None = None
        self._pending_symbols: list[str] = []

    def status(self) -> StreamStatus:
        return StreamStatus(self.name, self.state, self.last_message_at, self.reconnects, self.problem)

    async def next_batch(
        self,
        watch: Callable[[list[str]], Coroutine[Any, Any, Mapping[str, Prices]]],
        symbols: list[str],
        within: float,
    ) -> Mapping[str, Prices]:
        """The next message's prices; TimeoutError after `within` s with the watch left running, so that a
        message arriving while the connection is probed is not lost (a new symbol restarts the watch)."""
        if self._pending is not None and self._pending_symbols != symbols:
            self.cancel_watch()
        if self._pending is None:
            self._pending, self._pending_symbols = asyncio.create_task(watch(symbols)), symbols
        done, _ = await asyncio.wait({self._pending}, timeout=within)
        if not done:
            raise TimeoutError
        task, self._pending = self._pending, None
        error = _failure(task)
        if error is not None:
            raise error
        return task.result()

    def cancel_watch(self) -> None:
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
        self.watches.cancel()


class MarketStreams:
    """Follows marks and book tops of `symbols()` (read again on every message, so new symbols join)."""

    def __init__(
        self,
        build: Callable[[], Mapping[StreamName, Any]],
        sink: PriceSink,
        symbols: Callable[[], Collection[str]],
        markets: Callable[[], Awaitable[Mapping[str, Any]]],
        settings: StreamSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
        family: ExchangeFamily = ExchangeFamily.BINANCE,
    ) -> None:
        self._build = build
        self._family = family
        self._followers: dict[StreamName, _Follower] = {}
        self._sink = sink
        self._symbols = symbols
        self._markets = markets
        self._settings = settings or StreamSettings()
        self._clock = clock

    def start(self) -> None:
        """Build the ccxt.pro instances (first time) and follow each stream in its own task."""
        if not self._followers:
            self._followers = {name: _Follower(name, exchange) for name, exchange in self._build().items()}
        for follower in self._followers.values():
            if follower.task is None or follower.task.done():
                follower.task = asyncio.create_task(self._follow(follower), name=f"stream-{follower.name}")

    def statuses(self) -> tuple[StreamStatus, ...]:
        return tuple(follower.status() for follower in self._followers.values())

    def is_live(self, name: StreamName) -> bool:
        follower = self._followers.get(name)
        return follower is not None and follower.state is StreamState.LIVE

    async def aclose(self) -> None:
        """Stop the tasks; close the instances together (each close waits ccxt's timeout_on_exit, 250 ms)."""
        for follower in self._followers.values():
            task, follower.task = follower.task, None
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            follower.cancel_watch()
        await asyncio.gather(*(f.exchange.close() for f in self._followers.values()), return_exceptions=True)

    async def _follow(self, follower: _Follower) -> None:
        """Watch until a stall or an error, then close the connections, wait (doubling) and watch again."""
        stall = self._settings.stall_after.total_seconds()
        delay = self._settings.backoff_first.total_seconds()
        while True:
            try:
                symbols = sorted(self._symbols())
                if not symbols:
                    await asyncio.sleep(stall / 4)
                    continue
                if not follower.exchange.markets:
                    follower.exchange.set_markets(await self._markets())
                # asyncio.wait, not wait_for: 3.11's wait_for returns a message that completes as the
                # shutdown cancels, losing the cancellation, and the stream runs on past the daemon's stop
                batch = await follower.next_batch(partial(self._watch, follower), symbols, stall)
            except asyncio.CancelledError:
                raise
            except TimeoutError:
                if await self._answers_ping(follower):
                    continue
                self._down(follower, f"no message for {stall:g} s (stalled)")
            except Exception as error:  # ccxt, network, or a malformed message: the stream is down
                self._down(follower, f"{type(error).__name__}: {error}"[:200])
            else:
                if self._apply(follower, batch):
                    delay = self._settings.backoff_first.total_seconds()
                continue
            follower.cancel_watch()
            with contextlib.suppress(*STREAM_ERRORS):
                await follower.exchange.close_ws_clients()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.backoff_max.total_seconds())
            follower.reconnects += 1

    async def _answers_ping(self, follower: _Follower) -> bool:
        """Whether a silent live book stream is only quiet: both exchanges send its messages on a change of
        the book only (Binance bookTicker "real-time" updates; Phemex orderbook_p increments, and a snapshot
        only every 60 s), and Binance's own ping comes every 3 minutes (USDⓈ-M "Websocket Market Streams"),
        so silence proves nothing there. Each of its connections is pinged (RFC 6455 5.5.2: a ping must be
        answered with a pong); all answering within `pong_within` (ccxt's client stamps `lastPong` on every
        pong, ccxt/async_support/base/ws/client.py:359-360) keeps the stream live, its age showing the
        silence. A dead socket answers nothing and is a stall. Prices stay fail-closed either way: a book
        top older than execution.max_price_age_ms is read from REST on the decision's path."""
        if follower.name is not StreamName.BOOK_TICKER or follower.state is not StreamState.LIVE:
            return False
        clients = [c for c in (getattr(follower.exchange, "clients", None) or {}).values() if not c.closed()]
        if not clients:
            return False
        sent_ms = int(time.time() * 1000)  # ccxt's lastPong clock (Exchange.milliseconds)
        try:
            async with asyncio.timeout(self._settings.pong_within.total_seconds()):
                for client in clients:
                    await client.connection.ping()
                # ccxt's client has no event for a pong, only its lastPong stamp to poll (ASYNC110)
                while not all((client.lastPong or 0) >= sent_ms for client in clients):  # noqa: ASYNC110
                    await asyncio.sleep(0.02)
        except (TimeoutError, ConnectionError, RuntimeError):
            return False
        return True

    async def _watch(self, follower: _Follower, symbols: list[str]) -> Mapping[str, Prices]:
        """The next message's prices by symbol: `(mark,)` or `(bid, ask)`, each None where unusable."""
        exchange, mark = follower.exchange, follower.name is StreamName.MARK_PRICE
        if self._family is ExchangeFamily.PHEMEX:
            if mark:
                tickers = await follower.watches.next(exchange.watch_ticker, symbols)
                return {symbol: (_pack_mark(exchange, symbol, t),) for symbol, t in tickers.items()}
            books = await follower.watches.next(exchange.watch_order_book, symbols)
            return {symbol: _book_top(book) for symbol, book in books.items()}
        if mark:
            await exchange.watch_mark_prices(symbols)
            marks = _news(follower, exchange.tickers, symbols)
            return {symbol: (positive((t.get("info") or {}).get("p")),) for symbol, t in marks.items()}
        await exchange.watch_bids_asks(symbols)
        tops = _news(follower, exchange.bidsasks, symbols)
        return {
            symbol: (positive((t.get("info") or {}).get("b")), positive((t.get("info") or {}).get("a")))
            for symbol, t in tops.items()
        }

    def _apply(self, follower: _Follower, batch: Mapping[str, Prices]) -> bool:
        """Record each symbol's prices; a message that is no price keeps the stream down."""
        recorded = False
        for symbol, prices in batch.items():
            if follower.name is StreamName.MARK_PRICE:
                (mark,) = prices
                if mark is not None:
                    self._sink.record_mark(symbol, mark)
                    recorded = True
            else:
                bid, ask = prices
                if bid is not None and ask is not None and bid <= ask:
                    self._sink.record_book(symbol, bid, ask)
                    recorded = True
        if not recorded:
            self._down(follower, f"a message without a usable price: {dict(batch)!r}"[:200])
            return False
        if follower.state is not StreamState.LIVE:
            log.info("exchange_stream_live", stream=follower.name.value, reconnects=follower.reconnects)
        follower.state, follower.problem = StreamState.LIVE, None
        follower.last_message_at = self._clock()
        return True

    def _down(self, follower: _Follower, problem: str) -> None:
        if follower.state is not StreamState.DOWN:
            log.warning("exchange_stream_down", stream=follower.name.value, problem=problem)
        follower.state, follower.problem = StreamState.DOWN, problem
