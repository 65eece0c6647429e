"""The Binance USDⓈ-M user data stream through unmodified ccxt.pro, turned into the daemon's user events.

ccxt.pro makes the listen key and keeps it alive (`authenticate`, `keep_alive_listen_key`); three watches
share its one private connection (`watch_orders`, `watch_my_trades`, `watch_positions`). Each time any of
them wakes, ccxt's caches are read whole and what is new is handed on (trades by id, orders by state and
filled quantity, positions by amount and entry), so an event that arrived while no watch was waiting is not
left behind. Every number comes from the exchange's own strings in the message (`info`), Decimal via str.

ccxt.pro ignores `listenKeyExpired` (its event table has no entry) and would reconnect on the dead key until
its own 20-minute refresh: so before every reconnection the key is checked with a keepalive (`PUT`), and a
key the exchange no longer knows is dropped, so `authenticate` makes a new one. A silent connection is found
by ccxt's ping-pong keepalive, set here to `stall_after` / 2 (a user stream sends nothing while nothing
happens, so silence alone proves nothing). docs/adapters.md "User data stream".
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

import structlog
from ccxt.base.errors import RequestTimeout  # type: ignore[import-untyped]

from adapters.cache import utc_now
from adapters.ccxt_target import target_simulator
from adapters.parsing import dec, from_ms, positive
from adapters.streams import STREAM_ERRORS, StreamSettings
from executor.domain.client_ids import kind_of
from executor.domain.enums import ExchangeId, ExchangeMode, Side
from executor.domain.orders import Fill, Order, OrderSide, OrderStatus, OrderType
from executor.domain.user_events import (
    GapReason,
    OrderUpdate,
    PositionUpdate,
    StreamGap,
    TradeUpdate,
    UserEvent,
)
from executor.ports.exchange import StreamName, StreamState, StreamStatus, UserEventSink

log = structlog.get_logger(__name__)

ACCOUNT_TYPE = "linear"
"""ccxt.pro's bucket for the USDⓈ-M listen key (`options['linear']`)."""
SEEN_TRADES = 10_000
"""Trade ids remembered to pass each trade on once (ccxt keeps 1000, `tradesLimit`)."""
_ORDER_STATUS = {
    "NEW": OrderStatus.OPEN,
    "PARTIALLY_FILLED": OrderStatus.OPEN,
    "FILLED": OrderStatus.CLOSED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}
_ALGO_STATUS = {
    "NEW": OrderStatus.OPEN,
    # fired and on its way to the matching engine, or placed there and executing: still working
    "TRIGGERING": OrderStatus.OPEN,
    "TRIGGERED": OrderStatus.OPEN,
    "FINISHED": OrderStatus.CLOSED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}
_TYPES = {
    "MARKET": OrderType.MARKET,
    "LIMIT": OrderType.LIMIT,
    "STOP_MARKET": OrderType.STOP_MARKET,
    "TAKE_PROFIT_MARKET": OrderType.TAKE_PROFIT_MARKET,
}


def build_binance_user_stream(
    exchange: ExchangeId,
    mode: ExchangeMode,
    api_key: str,
    secret: str,
    *,
    sim_base_url: str | None,
    settings: StreamSettings,
) -> Any:
    """The ccxt.pro `binanceusdm` for the account's user data stream (built when the stream starts)."""
    import ccxt.pro as ccxtpro  # type: ignore[import-untyped]

    instance = ccxtpro.binanceusdm(
        {
            "apiKey": api_key,
            "secret": secret,
            "options": {
                "defaultType": "swap",
                "fetchCurrencies": False,
                "watchPositions": {"fetchPositionsSnapshot": False},  # REST resyncs, not ccxt
            },
        }
    )
    instance.streaming = {**instance.streaming, "keepAlive": int(settings.stall_after.total_seconds() * 500)}
    if mode is ExchangeMode.PAPER and not exchange.simulated:
        instance.enable_demo_trading(True)
    if exchange.simulated:
        if not sim_base_url:
            raise ValueError(f"{exchange.value} needs the simulator's base URL")
        target_simulator(instance, sim_base_url)
    return instance


class BinanceUserStream:
    """Follows the account's user data stream into `sink`; reconnects with backoff, each gap announced."""

    def __init__(
        self,
        build: Callable[[], Any],
        sink: UserEventSink,
        markets: Callable[[], Awaitable[Mapping[str, Any]]],
        settings: StreamSettings | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self._build = build
        self._sink = sink
        self._markets = markets
        self._settings = settings or StreamSettings()
        self._clock = clock
        self._exchange: Any = None
        self._task: asyncio.Task[None] | None = None
        self.state = StreamState.CONNECTING
        self.reconnects = 0
        self.problem: str | None = None
        self._connected_at: datetime | None = None
        self._key: str | None = None
        self._trades: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._orders: dict[tuple[str, str], tuple[str, str]] = {}
        self._positions: dict[str, tuple[str, str]] = {}

    @property
    def exchange(self) -> Any:
        """The ccxt.pro instance, for tests inside `adapters` only."""
        return self._exchange

    def start(self) -> None:
        if self._exchange is None:
            self._exchange = self._build()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._follow(), name="stream-user_data")

    def status(self) -> StreamStatus:
        return StreamStatus(
            StreamName.USER_DATA, self.state, self._last_frame_at(), self.reconnects, self.problem
        )

    async def aclose(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._exchange is not None:
            await self._exchange.close()

    # ----------------------------------------------------------------- following

    async def _follow(self) -> None:
        delay = self._settings.backoff_first.total_seconds()
        while True:
            try:
                if not self._exchange.markets:
                    self._exchange.set_markets(await self._markets())
                await self._renew_key()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # ccxt, network, the keepalive, a malformed message: a gap
                self._down(error)
            else:
                delay = self._settings.backoff_first.total_seconds()
            with contextlib.suppress(*STREAM_ERRORS):
                await self._exchange.close_ws_clients()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._settings.backoff_max.total_seconds())
            self.reconnects += 1

    async def _renew_key(self) -> None:
        """A key ccxt holds is checked with a keepalive first: one the exchange ended (`listenKeyExpired`,
        which ccxt drops) is forgotten, so `authenticate` makes a new one instead of reconnecting on it."""
        bucket = self._exchange.options.get(ACCOUNT_TYPE) or {}
        if bucket.get("listenKey") is None:
            return
        try:
            await self._exchange.fapiPrivatePutListenKey()
        except STREAM_ERRORS as error:
            log.warning("exchange_user_stream_key_renewed", error=str(error)[:200])
            self._exchange.options[ACCOUNT_TYPE] = {**bucket, "listenKey": None, "lastAuthenticatedTime": 0}

    async def _watch(self) -> None:
        """The three watches on one connection; announced once connected, read until one of them fails."""
        watches = {
            "orders": self._exchange.watch_orders,
            "trades": self._exchange.watch_my_trades,
            "positions": self._exchange.watch_positions,
        }
        tasks = {asyncio.ensure_future(watch()): name for name, watch in watches.items()}
        try:
            await self._connected(tasks)
            while True:
                done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    name = tasks.pop(task)
                    task.result()  # a failed watch ends the connection
                    tasks[asyncio.ensure_future(watches[name]())] = name
                await asyncio.sleep(0)  # the new watches wait before the caches are read
                self._scan()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _connected(self, tasks: Mapping[asyncio.Future[Any], str]) -> None:
        """Wait for the private connection to open, then announce the gap before anything it carries."""
        async with asyncio.timeout(self._settings.stall_after.total_seconds() * 2):
            while (client := self._client()) is None:
                if any(task.done() for task in tasks):
                    next(task for task in tasks if task.done()).result()
                await asyncio.sleep(0.01)
            await client.connected
        self._note_key()
        self._connected_at = self._clock()
        self._emit(StreamGap(GapReason.CONNECTED, f"reconnects: {self.reconnects}", self._clock()))
        if self.state is not StreamState.LIVE:
            log.info("exchange_stream_live", stream=StreamName.USER_DATA.value, reconnects=self.reconnects)
        self.state, self.problem = StreamState.LIVE, None
        self._scan()

    def _note_key(self) -> None:
        """A listen key other than the last connection's is announced as a gap."""
        key = self._exchange.options[ACCOUNT_TYPE]["listenKey"]
        if self._key is not None and key != self._key:
            self._emit(StreamGap(GapReason.LISTEN_KEY_EXPIRED, "the listen key was replaced", self._clock()))
        self._key = key

    def _client(self) -> Any:
        return next((c for url, c in self._exchange.clients.items() if "listenKey=" in url), None)

    def _last_frame_at(self) -> datetime | None:
        client = self._client() if self._exchange is not None else None
        at = from_ms(getattr(client, "last_message_at", None)) if client is not None else None
        return at or self._connected_at

    def _down(self, error: BaseException) -> None:
        reason = GapReason.STALLED if isinstance(error, RequestTimeout) else GapReason.DISCONNECTED
        problem = f"{type(error).__name__}: {error}"[:200]
        if reason is GapReason.STALLED:
            problem = f"stalled: {problem}"
        if self.state is not StreamState.DOWN:
            log.warning("exchange_stream_down", stream=StreamName.USER_DATA.value, problem=problem)
        self.state, self.problem = StreamState.DOWN, problem
        self._emit(StreamGap(reason, problem, self._clock()))

    def _emit(self, event: UserEvent) -> None:
        try:
            self._sink(event)
        except Exception:  # the daemon's sink must not end the stream
            log.exception("user_event_sink_failed", event=type(event).__name__)

    # ----------------------------------------------------------------- reading ccxt's caches

    def _scan(self) -> None:
        """New trades, changed orders and positions since the last look, in that order."""
        for raw in list(self._exchange.myTrades or []):
            key = self._trade_key(raw)
            if key is None or key in self._trades:
                continue
            self._trades[key] = None
            if len(self._trades) > SEEN_TRADES:
                self._trades.popitem(last=False)
            self._emit(self._trade_update(raw))
        for raw in list(self._exchange.orders or []):
            key, state = self._order_state(raw)
            if self._orders.get(key) == state:
                continue
            self._orders[key] = state
            self._emit(self._order_update(raw, self._clock()))
        latest = {str(raw.get("symbol")): raw for raw in self._cached_positions()}
        for symbol, raw in latest.items():
            state = self._position_state(raw.get("info") or {})
            if self._positions.get(symbol) == state:
                continue
            self._positions[symbol] = state
            self._emit(self._position_update(raw, self._clock()))

    # The exchange's fields: what identifies a trade (None: not a trade), an order's key and state, a
    # position's state, and the events built from each.

    def _trade_key(self, raw: Mapping[str, Any]) -> tuple[str, str] | None:
        return (str(raw.get("symbol")), str(raw.get("id")))

    def _order_state(self, raw: Mapping[str, Any]) -> tuple[tuple[str, str], tuple[str, str]]:
        info = raw.get("info") or {}
        key = (str(raw.get("symbol")), str(raw.get("id")))
        return key, (str(info.get("X")), str(info.get("z") or info.get("aq") or ""))

    def _cached_positions(self) -> list[Any]:
        positions: list[Any] = (self._exchange.positions or {}).get(ACCOUNT_TYPE) or []
        return positions

    def _position_state(self, info: Mapping[str, Any]) -> tuple[str, str]:
        return (str(info.get("pa")), str(info.get("ep")))

    def _trade_update(self, raw: Mapping[str, Any]) -> TradeUpdate:
        return trade_update(raw)

    def _order_update(self, raw: Mapping[str, Any], now: datetime) -> OrderUpdate:
        return order_update(raw, now)

    def _position_update(self, raw: Mapping[str, Any], now: datetime) -> PositionUpdate:
        return position_update(raw, now)


def order_update(raw: Mapping[str, Any], now: datetime) -> OrderUpdate:
    """`ORDER_TRADE_UPDATE`'s or `ALGO_UPDATE`'s order (`info` is its `o` object), as ccxt.pro cached it."""
    info: Mapping[str, Any] = raw.get("info") or {}
    algo = "aid" in info
    client_id = str(info.get("caid" if algo else "c") or "") or None
    status_text = str(info.get("X"))
    status = (_ALGO_STATUS if algo else _ORDER_STATUS).get(status_text)
    if status is None:
        raise ValueError(f"order status {status_text!r} is unknown: {dict(info)!r}"[:300])
    executed = str(info.get("ai") or "") or None
    at = from_ms(info.get("T")) or now
    order = Order(
        symbol=str(raw.get("symbol")),
        exchange_id=str(info.get("aid") if algo else info.get("i")),
        client_id=client_id,
        kind=kind_of(client_id),
        type=_TYPES.get(str(info.get("o")), OrderType.OTHER),
        side=OrderSide(str(info.get("S")).lower()),
        status=status,
        qty=dec(info.get("q")) or Decimal(0),
        filled=dec(info.get("aq" if algo else "z")) or Decimal(0),
        average_price=positive(info.get("ap")),
        price=positive(info.get("p")),
        trigger_price=positive(info.get("tp" if algo else "sp")),
        reduce_only=info.get("R") is True,
        conditional=algo,
        timestamp=at,
        executed_order_id=executed if algo else None,
    )
    return OrderUpdate(order, at)


@dataclass(frozen=True, slots=True)
class TradeFields:
    """An exchange's names for a streamed trade's fields in its message (`info`)."""

    trade_id: str
    order_id: str
    side: str
    qty: str
    price: str
    fee: str
    client_id: str
    realized_pnl: str


TRADE_FIELDS = TradeFields(
    trade_id="t", order_id="i", side="S", qty="l", price="L", fee="n", client_id="c", realized_pnl="rp"
)
"""`ORDER_TRADE_UPDATE`'s: `t` the trade id REST `userTrades` gives too, `l`/`L` the last fill."""


def stream_trade(
    raw: Mapping[str, Any],
    fields: TradeFields,
    at: datetime | None,
    *,
    fee_asset: str | None,
    reduce_only: bool | None,
) -> TradeUpdate:
    """A streamed trade as ccxt.pro cached it, by the exchange's field names (both dialects: what differs
    is the names, the time, the fee asset and how reduce-only is told); a trade without id, quantity, price
    or time is malformed."""
    info: Mapping[str, Any] = raw.get("info") or {}
    qty, price = dec(info.get(fields.qty)), dec(info.get(fields.price))
    if qty is None or price is None or at is None or not info.get(fields.trade_id):
        raise ValueError(f"a trade without id, quantity, price or time: {dict(info)!r}"[:300])
    fill = Fill(
        trade_id=str(info.get(fields.trade_id)),
        order_id=str(info.get(fields.order_id)),
        symbol=str(raw.get("symbol")),
        side=OrderSide(str(info.get(fields.side)).lower()),
        qty=qty,
        price=price,
        fee=dec(info.get(fields.fee)) or Decimal(0),
        fee_asset=fee_asset,
        timestamp=at,
    )
    client_id = str(info.get(fields.client_id) or "") or None
    return TradeUpdate(fill, client_id, reduce_only, dec(info.get(fields.realized_pnl)))


def trade_update(raw: Mapping[str, Any]) -> TradeUpdate:
    """An `ORDER_TRADE_UPDATE` with `x=TRADE`; `N` the fee asset, `R` reduce-only."""
    info: Mapping[str, Any] = raw.get("info") or {}
    reduce_only = info.get("R")
    return stream_trade(
        raw,
        TRADE_FIELDS,
        from_ms(info.get("T")),
        fee_asset=str(info["N"]) if info.get("N") else None,
        reduce_only=reduce_only if isinstance(reduce_only, bool) else None,
    )


def position_update(raw: Mapping[str, Any], now: datetime) -> PositionUpdate:
    """`ACCOUNT_UPDATE`'s position (`info` is one of its `P` entries): `pa` signed, one-way mode."""
    info: Mapping[str, Any] = raw.get("info") or {}
    amount = dec(info.get("pa"))
    if amount is None:
        raise ValueError(f"a position without an amount: {dict(info)!r}"[:300])
    side = None if amount == 0 else Side.LONG if amount > 0 else Side.SHORT
    at = from_ms(raw.get("timestamp")) or now
    return PositionUpdate(str(raw.get("symbol")), side, abs(amount), positive(info.get("ep")), at)
