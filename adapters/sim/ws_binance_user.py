"""Binance USDⓈ-M user data stream: listen keys over REST, `ORDER_TRADE_UPDATE`, `ALGO_UPDATE` and
`ACCOUNT_UPDATE` over WebSocket, with the stream faults.

Listen keys (`POST/PUT/DELETE /fapi/v1/listenKey`, API key only, no signature): one per account, valid
60 minutes on the simulated clock from its creation or last keepalive; a create while one is valid returns
it and extends it. At expiry every connection on it gets `listenKeyExpired` and is closed. Connections at
`/private/ws?listenKey=<key>` (where ccxt.pro 4.5.90 `binanceusdm` connects: ccxt/pro/binance.py:284-292),
`/private/ws/<key>` and `/ws/<key>` (the documented raw endpoint).

Events are found by comparing the engine's state with what was last published (orders by id and status,
fills and income by position in their append-only lists), after every request the simulator answers and
every price step (`poke`), so an event leaves within the request that caused it. Shapes and sources in
docs/simulator.md ("Binance user data stream").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import string
from collections.abc import Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from adapters.sim.engine import LIQUIDATION_CLIENT_PREFIX, Engine
from adapters.sim.faults import USER_STREAM_FAULTS, FaultAction, FaultBook, send_event, send_late
from adapters.sim.model import Account, Fill, IncomeType, Order, OrderStatus, fmt
from adapters.sim.wire import ApiError, WireRequest
from executor.domain.money import ZERO

LISTEN_KEY_PATH = "/fapi/v1/listenKey"
LISTEN_KEY_VALIDITY_MS = 60 * 60 * 1000
"""USDⓈ-M Start/Keepalive User Data Stream: "The stream will close after 60 minutes unless a keepalive is
sent"; a create with a valid key returns it and extends it by 60 minutes."""
KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 64
EXPIRY_CHECK_SECONDS = 0.5
SETTLE = "USDT"
REJECT_REASON = "Reduce Only reject"
"""The algo event's `rm` for a stop the matching engine refused (ccxt pro/binance.py:4455)."""

_ALGO_STATUS = {
    OrderStatus.UNTRIGGERED: "NEW",
    OrderStatus.TRIGGERING: "TRIGGERING",
    OrderStatus.TRIGGERED: "TRIGGERED",
    OrderStatus.CANCELED: "CANCELED",
    OrderStatus.EXPIRED: "EXPIRED",
    OrderStatus.REJECTED: "REJECTED",
}


def algo_status(order: Order) -> str:
    """As REST serves it (adapters/sim/binance.py): TRIGGERED until its order fills, FINISHED then."""
    if order.status is OrderStatus.TRIGGERED and order.filled_qty:
        return "FINISHED"
    return _ALGO_STATUS.get(order.status, order.status.value)


@dataclass
class _Key:
    key: str
    api_key: str
    expires_ms: int
    connections: list[_Connection] = field(default_factory=list)


@dataclass
class _Published:
    """What the account's stream has said so far, to tell what is new."""

    account: Account
    fills: int
    income: int
    orders: dict[int, tuple[str, Decimal, Decimal]]
    """order id → (status as published: X for orders, algo status for conditional ones; filled; quote)"""
    positions: dict[str, tuple[Decimal, Decimal]]


class BinanceUserStreams:
    """One per simulator: listen keys, open user-stream connections, and what each account was told."""

    def __init__(self, engine: Engine, faults: FaultBook, secrets_by_key: dict[str, str]) -> None:
        self.engine = engine
        self.faults = faults
        self._api_keys = secrets_by_key
        self._keys: dict[str, _Key] = {}
        self._published: dict[str, _Published] = {}
        self._expiry_task: asyncio.Task[None] | None = None

    def add_routes(self, app: web.Application) -> None:
        """The REST routes (through the simulator's middleware: recorded, faults apply) and the WebSocket
        routes; `/ws/<key>` is added before the market streams' `/ws/<stream>` so a key is matched first."""
        app.router.add_post(LISTEN_KEY_PATH, self._create)
        app.router.add_put(LISTEN_KEY_PATH, self._keepalive)
        app.router.add_delete(LISTEN_KEY_PATH, self._close)
        app.router.add_get("/private/ws", self.connect)
        app.router.add_get("/private/ws/{listenKey}", self.connect)
        app.router.add_get("/ws/{listenKey:[A-Za-z0-9]{64}}", self.connect)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._shutdown)

    # ----------------------------------------------------------------- listen keys

    def _account_key(self, request: web.Request) -> str:
        api_key = request.headers.get("X-MBX-APIKEY")
        if not api_key:
            raise ApiError(401, {"code": -2014, "msg": "API-key format invalid."})
        if api_key not in self._api_keys:
            raise ApiError(401, {"code": -2015, "msg": "Invalid API-key, IP, or permissions for action."})
        return api_key

    def _valid_key_of(self, api_key: str) -> _Key | None:
        now = self.engine.clock.now_ms()
        return next((k for k in self._keys.values() if k.api_key == api_key and k.expires_ms > now), None)

    async def _create(self, request: web.Request) -> web.Response:
        try:
            api_key = self._account_key(request)
        except ApiError as exc:
            return exc.response()
        key = self._valid_key_of(api_key)
        if key is None:
            key = _Key("".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH)), api_key, 0)
            self._keys[key.key] = key
        key.expires_ms = self.engine.clock.now_ms() + LISTEN_KEY_VALIDITY_MS
        return web.json_response({"listenKey": key.key})

    async def _keepalive(self, request: web.Request) -> web.Response:
        try:
            key = self._existing(request)
        except ApiError as exc:
            return exc.response()
        key.expires_ms = self.engine.clock.now_ms() + LISTEN_KEY_VALIDITY_MS
        return web.json_response({"listenKey": key.key})

    async def _close(self, request: web.Request) -> web.Response:
        try:
            key = self._existing(request)
        except ApiError as exc:
            return exc.response()
        self._keys.pop(key.key, None)
        for connection in list(key.connections):
            await connection.close(1000, b"listen key closed")
        return web.json_response({})

    def _existing(self, request: web.Request) -> _Key:
        key = self._valid_key_of(self._account_key(request))
        if key is None:
            raise ApiError(400, {"code": -1125, "msg": "This listenKey does not exist."})
        return key

    def expire(self, api_key: str | None = None) -> None:
        """End listen keys now (all, or the account's): `listenKeyExpired` to each connection, then close."""
        now = self.engine.clock.now_ms()
        for key in list(self._keys.values()):
            if api_key is None or key.api_key == api_key:
                key.expires_ms = min(key.expires_ms, now)
        self._expire_due()

    def _expire_due(self) -> None:
        now = self.engine.clock.now_ms()
        for key in [k for k in self._keys.values() if k.expires_ms <= now]:
            del self._keys[key.key]
            expired = {"e": "listenKeyExpired", "E": str(now), "listenKey": key.key}
            for connection in list(key.connections):
                connection.expire(expired)

    async def _start(self, app: web.Application) -> None:
        self._expiry_task = asyncio.get_running_loop().create_task(self._expire_forever())

    async def _expire_forever(self) -> None:
        while True:
            await asyncio.sleep(EXPIRY_CHECK_SECONDS)
            self._expire_due()

    async def _shutdown(self, app: web.Application) -> None:
        if self._expiry_task is not None:
            self._expiry_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._expiry_task
        for key in self._keys.values():
            for connection in list(key.connections):
                await connection.close(1001, b"server shutdown")

    # ----------------------------------------------------------------- connections

    async def connect(self, request: web.Request) -> web.WebSocketResponse:
        """A connection on an unknown or expired key is accepted and closed at once (the harsher reading:
        Binance does not document it)."""
        ws = web.WebSocketResponse(autoping=False)  # pongs by hand: a stalled connection answers none
        await ws.prepare(request)
        name = request.match_info.get("listenKey") or request.query.get("listenKey", "")
        key = self._keys.get(name)
        if key is None or key.expires_ms <= self.engine.clock.now_ms():
            await ws.close(code=1008, message=b"invalid listen key")
            return ws
        self.poke()  # what happened before this connection is not sent on it
        connection = _Connection(self, ws, request.path, key.api_key)
        key.connections.append(connection)
        sender = asyncio.get_running_loop().create_task(connection.send_forever())
        try:
            await connection.read_forever()
        finally:
            with contextlib.suppress(ValueError):
                key.connections.remove(connection)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            await ws.close()
        return ws

    def _connections_of(self, api_key: str) -> list[_Connection]:
        return [c for k in self._keys.values() if k.api_key == api_key for c in k.connections]

    def open_connections(self, api_key: str) -> int:
        """How many user-stream connections the account has open: an event is sent only on those open
        when it happens, so a test waits on this before acting."""
        return len(self._connections_of(api_key))

    # ----------------------------------------------------------------- events

    def poke(self) -> None:
        """Publish what changed since the last look, to every connection of the account it concerns."""
        for api_key, account in self.engine.accounts.items():
            published = self._published.get(api_key)
            if published is None or published.account is not account:  # new, or the engine was reset
                self._published[api_key] = _snapshot(account)
                continue
            events = self._changes(published)
            if not events:
                continue
            for connection in self._connections_of(api_key):
                connection.queue(events)

    def _changes(self, seen: _Published) -> list[dict[str, Any]]:
        """In the order Binance sends them: new orders and fired algo orders, each trade, final states, then
        the account and position changes."""
        now = self.engine.clock.now_ms()
        first: list[dict[str, Any]] = []
        last: list[dict[str, Any]] = []
        self._order_changes(seen, now, first, last)
        traded = self._trades(seen, now, first)
        self._endings(seen, last)
        return [*first, *last, *self._account_updates(seen, traded, now)]

    def _order_changes(
        self, seen: _Published, now: int, first: list[dict[str, Any]], last: list[dict[str, Any]]
    ) -> None:
        for order in sorted(seen.account.orders.values(), key=lambda o: o.order_id):
            before = seen.orders.get(order.order_id)
            if not order.conditional:
                if before is None:
                    first.append(self._order_update(order, "NEW", "NEW", None, ZERO, ZERO, now))
                    seen.orders[order.order_id] = ("NEW", ZERO, ZERO)
                continue
            status = algo_status(order)
            if before is not None and before[0] == status:
                continue
            if before is None and status != "NEW":
                first.append(self._algo_update(order, "NEW", now))
            if status == "FINISHED" and (before is None or before[0] in ("NEW", "TRIGGERING")):
                first.append(self._algo_update(order, "TRIGGERED", now))
            placed = first if status in ("NEW", "TRIGGERING", "TRIGGERED") else last
            placed.append(self._algo_update(order, status, now))
            if status == "REJECTED":
                last.append(self._trigger_reject(order, now))
            seen.orders[order.order_id] = (status, order.filled_qty, order.cum_quote)

    def _trades(self, seen: _Published, now: int, first: list[dict[str, Any]]) -> bool:
        """One ORDER_TRADE_UPDATE per fill, cumulative quantity and average as of that fill."""
        account = seen.account
        trades = account.fills[seen.fills :]
        seen.fills = len(account.fills)
        for fill in trades:
            order = account.orders.get(fill.order_id)
            if order is None or order.order_id not in seen.orders:
                continue
            _, qty, quote = seen.orders[order.order_id]
            qty, quote = qty + fill.qty, quote + fill.qty * fill.price
            status = "FILLED" if qty >= order.qty else "PARTIALLY_FILLED"
            execution = "CALCULATED" if order.client_id.startswith(LIQUIDATION_CLIENT_PREFIX) else "TRADE"
            first.append(self._order_update(order, execution, status, fill, qty, quote, now))
            seen.orders[order.order_id] = (status, qty, quote)
        return bool(trades)

    def _endings(self, seen: _Published, last: list[dict[str, Any]]) -> None:
        """Orders cancelled or expired since last published (a fill's FILLED went out with its trade)."""
        for order in seen.account.orders.values():
            published = seen.orders.get(order.order_id)
            ended = order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED)
            if order.conditional or published is None or not ended or published[0] == order.status.value:
                continue
            status = order.status.value
            _, qty, quote = published
            last.append(self._order_update(order, status, status, None, qty, quote, order.updated_ms))
            seen.orders[order.order_id] = (status, qty, quote)

    def _account_updates(self, seen: _Published, traded: bool, now: int) -> list[dict[str, Any]]:
        account = seen.account
        events: list[dict[str, Any]] = []
        changed = [
            symbol
            for symbol, position in account.positions.items()
            if seen.positions.get(symbol, (Decimal(0), Decimal(0))) != (position.qty, position.entry_price)
        ]
        if traded or changed:
            events.append(self._account_update("ORDER", Decimal(0), changed, account, now))
        for income in account.income[seen.income :]:
            if income.type is IncomeType.FUNDING_FEE:
                # an isolated position's funding names the position (cross: balance only)
                events.append(
                    self._account_update("FUNDING_FEE", income.amount, [income.symbol], account, now)
                )
            elif income.type is IncomeType.INSURANCE_CLEAR:
                events.append(self._account_update("INSURANCE_CLEAR", income.amount, [], account, now))
        seen.income = len(account.income)
        for symbol in changed:
            position = account.positions[symbol]
            seen.positions[symbol] = (position.qty, position.entry_price)
        return events

    def _order_update(
        self,
        order: Order,
        execution: str,
        status: str,
        fill: Fill | None,
        filled: Decimal,
        quote: Decimal,
        now: int,
    ) -> dict[str, Any]:
        """Event: Order Update (USDⓈ-M user data streams), every field of its `o` object."""
        parent = self.engine.accounts[order.account].orders.get(order.parent_id or 0)
        original = (
            "LIQUIDATION"
            if order.liquidation
            else parent.type.value
            if parent is not None and parent.conditional
            else order.type.value
        )
        body: dict[str, Any] = {
            "s": order.symbol,
            "c": order.client_id,
            "S": order.side.value,
            "o": order.type.value,
            "f": order.time_in_force.value,
            "q": fmt(order.qty),
            "p": fmt(order.price or Decimal(0)),
            "ap": fmt(quote / filled if filled else Decimal(0)),
            "sp": fmt(order.trigger_price or Decimal(0)),
            "x": execution,
            "X": status,
            "i": order.order_id,
            "l": fmt(fill.qty if fill else Decimal(0)),
            "z": fmt(filled),
            "L": fmt(fill.price if fill else Decimal(0)),
            "T": fill.time_ms if fill else now,
            "t": fill.trade_id if fill else 0,
            "b": "0",
            "a": "0",
            "m": fill.maker if fill else False,
            "R": order.reduce_only,
            "wt": order.trigger_source.value,
            "ot": original,
            "ps": "BOTH",
            "cp": order.close_position,
            "rp": fmt(fill.realized_pnl if fill else Decimal(0)),
            "pP": False,
            "si": 0,
            "ss": 0,
            "V": "EXPIRE_MAKER",
            "pm": "NONE",
            "gtd": 0,
        }
        if fill is not None and fill.fee:
            body |= {"N": SETTLE, "n": fmt(fill.fee)}
        return {"e": "ORDER_TRADE_UPDATE", "E": now, "T": body["T"], "o": body}

    def _algo_update(self, order: Order, status: str, now: int) -> dict[str, Any]:
        """Event: Algo Order Update (USDⓈ-M user data streams); `ai`, `ap`, `aq` once it reached the
        matching engine."""
        child = self.engine.accounts[order.account].orders.get(order.child_id or 0)
        in_engine = status in ("TRIGGERED", "FINISHED") and child is not None
        body = {
            "caid": order.client_id,
            "aid": order.order_id,
            "at": "CONDITIONAL",
            "o": order.type.value,
            "s": order.symbol,
            "S": order.side.value,
            "ps": "BOTH",
            "f": order.time_in_force.value,
            "q": fmt(order.qty),
            "X": status,
            "ai": str(child.order_id) if in_engine and child is not None else "",
            "ap": fmt(child.avg_price if in_engine and child is not None else Decimal(0)),
            "aq": fmt(child.filled_qty if in_engine and child is not None else Decimal(0)),
            "act": child.type.value if in_engine and child is not None else "0",
            "tp": fmt(order.trigger_price or Decimal(0)),
            "p": fmt(order.price or Decimal(0)),
            "V": "EXPIRE_MAKER",
            "wt": order.trigger_source.value,
            "pm": "NONE",
            "cp": order.close_position,
            "pP": False,
            "R": order.reduce_only,
            "tt": order.triggered_ms or 0,
            "gtd": 0,
            "rm": REJECT_REASON if status == "REJECTED" else "",
        }
        return {"e": "ALGO_UPDATE", "T": now, "E": now, "o": body}

    @staticmethod
    def _trigger_reject(order: Order, now: int) -> dict[str, Any]:
        """Event: Conditional_Order_Trigger_Reject ("when a triggered TP/SL order got rejected"):
        `{"e","E","T","or":{"s","i","r"}}`. `i` is the order the trigger placed (the doc says orderId, not
        algoId; which one is unverified), `r` the algo event's `rm`."""
        body = {"s": order.symbol, "i": order.child_id or order.order_id, "r": REJECT_REASON}
        return {"e": "CONDITIONAL_ORDER_TRIGGER_REJECT", "E": now, "T": now, "or": body}

    def _account_update(
        self, reason: str, change: Decimal, symbols: list[str], account: Account, now: int
    ) -> dict[str, Any]:
        """Event: Balance and Position Update (USDⓈ-M user data streams), reason `m`."""
        positions = []
        for symbol in symbols:
            view = self.engine.position_view(account, symbol)
            position = account.position(symbol)
            positions.append(
                {
                    "s": symbol,
                    "pa": fmt(position.qty),
                    "ep": fmt(position.entry_price),
                    "bep": fmt(position.entry_price),
                    "cr": "0",
                    "up": fmt(view.unrealized),
                    "mt": view.margin_mode.value,
                    "iw": fmt(position.margin),
                    "ps": "BOTH",
                }
            )
        balance = {"a": SETTLE, "wb": fmt(account.wallet), "cw": fmt(account.wallet), "bc": fmt(change)}
        return {"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {"m": reason, "B": [balance], "P": positions}}


def _snapshot(account: Account) -> _Published:
    return _Published(
        account,
        len(account.fills),
        len(account.income),
        {
            order.order_id: (
                algo_status(order) if order.conditional else order.status.value,
                order.filled_qty,
                order.cum_quote,
            )
            for order in account.orders.values()
        },
        {symbol: (p.qty, p.entry_price) for symbol, p in account.positions.items()},
    )


class _Connection:
    """One user-stream connection: its outbox, and the stream faults that act on what it sends."""

    def __init__(
        self, streams: BinanceUserStreams, ws: web.WebSocketResponse, path: str, api_key: str
    ) -> None:
        self.streams = streams
        self.ws = ws
        self.path = path
        self.api_key = api_key
        self._outbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self._held: dict[str, Any] | None = None
        self._silent_until: float | None = None
        self._resumed = asyncio.Event()
        self._resumed.set()
        self._tasks: set[asyncio.Task[None]] = set()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def queue(self, events: list[dict[str, Any]]) -> None:
        for event in events:
            self._outbox.put_nowait(event)

    def expire(self, expired: dict[str, Any]) -> None:
        """The listen key ended: say so, then close (whatever is still queued is lost with the key)."""
        self._spawn(self._say_and_close(expired))

    async def _say_and_close(self, message: dict[str, Any]) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.send_str(json.dumps(message))
        await self.close(1000, b"listen key expired")

    async def close(self, code: int, message: bytes) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=message)

    async def read_forever(self) -> None:
        """Answers pings unless stalled: a stalled connection is silent both ways, as a dead network path
        is, so the client's ping-pong keepalive is what notices it."""
        while not self.ws.closed:
            message = await self.ws.receive()
            if message.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED, WSMsgType.ERROR):
                return
            if message.type is WSMsgType.PING and self._resumed.is_set():
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.pong(message.data)

    async def send_forever(self) -> None:
        while not self.ws.closed:
            event = await self._outbox.get()
            await self._resumed.wait()
            rule = self.streams.faults.pick(
                WireRequest("WS", self.path, "", "", {"stream": "user", "event": event["e"]}),
                is_stop_order=False,
                stream=True,
                stream_faults=USER_STREAM_FAULTS,
            )
            action = rule.action if rule is not None else None
            if action is FaultAction.WS_DISCONNECT:
                await self.close(1006, b"simulated disconnect")
                return
            if action is FaultAction.LISTEN_KEY_EXPIRE:
                self.streams.expire(self.api_key)
                return
            if action is FaultAction.WS_STALL:
                assert rule is not None
                self._stall(rule.delay_ms)
                await self._resumed.wait()
            if action is FaultAction.WS_DELAY:
                assert rule is not None
                self._spawn(send_late(self.ws, event, rule.delay_ms))
                continue
            if action is FaultAction.WS_REORDER and self._held is None:
                self._held = event  # goes out after the next one
                continue
            await self._send(event)
            if action is FaultAction.WS_DUPLICATE:
                await self._send(event)
            if self._held is not None:
                held, self._held = self._held, None
                await self._send(held)

    def _stall(self, delay_ms: int) -> None:
        self._resumed.clear()
        if delay_ms > 0:
            asyncio.get_running_loop().call_later(delay_ms / 1000, self._resumed.set)

    async def _send(self, event: dict[str, Any]) -> None:
        await send_event(self.ws, event)
