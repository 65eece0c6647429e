"""Phemex USDT-perpetual WebSocket (DataGW): the 24 h ticker pack, the order book and the private stream.

Served on the simulator's port at `/` (ccxt.pro's `wss://ws.phemex.com`, ccxt/pro/phemex.py:40) and
`/ws` (the documented `wss://phemex.com/ws`). Requests are JSON `{"id", "method", "params"}`:
`server.ping`, `perp_market24h_pack_p.subscribe` (every symbol's ticker each second, with the mark) and
`orderbook_p.subscribe` (a snapshot, then incremental changes, a fresh snapshot every 60 s), and their
`unsubscribe`; `user.auth` and `aop_p.subscribe` for the account's orders, fills and positions
(adapters/sim/ws_phemex_user.py). A connection with no heartbeat (a WebSocket ping or `server.ping`) for
30 s is dropped, as DataGW does. Shapes and sources in docs/simulator.md ("Phemex market streams", "Phemex
private stream"); faults `ws_disconnect` and `ws_stall` (and, on `aop_p`, `ws_delay`, `ws_duplicate`,
`ws_reorder`) come from the same fault book as REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from collections import deque
from typing import Any

from aiohttp import WSMsgType, web

from adapters.sim.book import book_sides
from adapters.sim.config import SimConfig
from adapters.sim.engine import Engine
from adapters.sim.faults import (
    MARKET_STREAM_FAULTS,
    FaultAction,
    FaultBook,
    push_fault,
    send_event,
    send_late,
)
from adapters.sim.phemex_market import PACK_FIELDS, PhemexMarket
from adapters.sim.wire import WireRequest
from adapters.sim.ws_phemex_user import AuthRefused, PhemexUserStreams

PUSH_SECONDS = 0.1
"""How often connections look for something to send (Phemex publishes book changes every 20 ms)."""
TICKER_SECONDS = 1.0
"""The ticker pack goes out every second (ph-docs "Subscribe 24 Hours Ticker")."""
SNAPSHOT_SECONDS = 60.0
"""A book snapshot "with 60-second interval for client self-verification" (ph-docs "Subscribe OrderBook")."""
HEARTBEAT_SECONDS = 30.0
"""DataGW drops a connection whose client sent no ping for this long (ph-docs "Session Management")."""
BOOK_DEPTH = 30
TICKER = "perp_market24h_pack_p"
BOOK = "orderbook_p"
AOP = "aop_p"
AOP_FAULTS = MARKET_STREAM_FAULTS | {FaultAction.WS_DELAY, FaultAction.WS_DUPLICATE, FaultAction.WS_REORDER}
"""`aop_p` pushes take the user-stream faults the Binance user stream has, but the listen-key one (Phemex
authenticates the connection and has no listen key)."""

Ladder = dict[str, dict[str, str]]
"""A book as {"bids"|"asks": {price: qty}}."""


class PhemexStreams:
    """One per simulator: the routes, and every open connection (closed when the app shuts down)."""

    def __init__(
        self,
        engine: Engine,
        config: SimConfig,
        market: PhemexMarket,
        faults: FaultBook,
        users: PhemexUserStreams,
    ) -> None:
        self.engine = engine
        self.config = config
        self.market = market
        self.faults = faults
        self.users = users
        self._open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.sequence = 0
        """Every book message's `sequence`, increasing across connections."""

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self.connect)
        app.router.add_get("/ws", self.connect)
        app.on_shutdown.append(self._close_all)

    async def _close_all(self, app: web.Application) -> None:
        for ws in list(self._open):
            await ws.close(code=1001, message=b"server shutdown")

    async def connect(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # pings are heartbeats: counted, unanswered when frozen
        await ws.prepare(request)
        self._open.add(ws)
        connection = _Connection(self, ws, request.path)
        pusher = asyncio.get_running_loop().create_task(connection.push_forever())
        try:
            await connection.read_forever()
        finally:
            self.users.unsubscribe(connection.queue_private)
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            await ws.close()
        return ws

    def ladder(self, symbol: str) -> Ladder:
        sides = book_sides(self.engine, self.config, self.engine.instruments[symbol], BOOK_DEPTH)
        return {side: {price: qty for price, qty in levels} for side, levels in sides.items()}


class _Connection:
    def __init__(self, streams: PhemexStreams, ws: web.WebSocketResponse, path: str) -> None:
        self.streams = streams
        self.engine = streams.engine
        self.ws = ws
        self.path = path
        loop = asyncio.get_running_loop()
        self.heard_at = loop.time()
        self.tickers = False
        self._ticker_sent = 0.0
        self.books: dict[str, Ladder] = {}
        """Subscribed symbols and the book each was last sent."""
        self._snapshot_sent: dict[str, float] = {}
        self._frozen_until: float | None = None
        self.api_key: str | None = None
        """The account `user.auth` proved, for `aop_p`."""
        self._private: deque[dict[str, Any]] = deque()
        self._held: dict[str, Any] | None = None
        """An `aop_p` message a `ws_reorder` holds back until the next one has gone."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()

    def queue_private(self, message: dict[str, Any]) -> None:
        """An account-order-position message: sent at once by the push loop (through the fault rules)."""
        self._private.append(message)
        self._wake.set()

    def frozen(self) -> bool:
        """A `ws_stall` in force: nothing goes out, not even a pong (a dead socket, as the client sees it)."""
        now = asyncio.get_running_loop().time()
        if self._frozen_until is not None and self._frozen_until <= now:
            self._frozen_until = None
        return self._frozen_until is not None

    async def read_forever(self) -> None:
        async for message in self.ws:
            if message.type is WSMsgType.PING:
                self.heard_at = asyncio.get_running_loop().time()
                if not self.frozen():
                    await self.ws.pong(message.data)
            elif message.type is WSMsgType.TEXT:
                for answer in self._answer(message.data):
                    if not self.frozen():
                        await self.ws.send_str(json.dumps(answer))
            elif message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                return

    def _answer(self, text: str) -> list[dict[str, Any]]:
        """The reply to a request."""
        try:
            request = json.loads(text)
        except ValueError:
            return [_error(None, 6001, "invalid argument")]
        if not isinstance(request, dict):
            return [_error(None, 6001, "invalid argument")]
        request_id, method, params = request.get("id"), request.get("method"), request.get("params", [])
        if method == "server.ping":
            self.heard_at = asyncio.get_running_loop().time()
            return [{"error": None, "id": request_id, "result": "pong"}]
        if not isinstance(params, list):
            return [_error(request_id, 6001, "invalid argument")]
        if method == f"{TICKER}.subscribe":
            self.tickers = True
            self._ticker_sent = 0.0
            return [_success(request_id)]
        if method == f"{TICKER}.unsubscribe":
            self.tickers = False
            return [_success(request_id)]
        if method == f"{BOOK}.subscribe":
            symbol = params[0] if len(params) == 1 else None
            if not isinstance(symbol, str) or symbol not in self.engine.instruments:
                return [_error(request_id, 6001, "invalid argument")]
            self.books[symbol] = {}
            self._snapshot_sent[symbol] = float("-inf")  # the next push sends it, through the fault book
            return [_success(request_id)]
        if method == f"{BOOK}.unsubscribe":
            self.books.clear()
            return [_success(request_id)]
        return self._private_request(request_id, method, params)

    def _private_request(self, request_id: object, method: object, params: list[Any]) -> list[dict[str, Any]]:
        """`user.auth` (checked as REST signatures are) and the `aop_p` subscription it allows."""
        if method == "user.auth":
            try:
                self.api_key = self.streams.users.authenticate(params)
            except AuthRefused as refused:
                return [_error(request_id, 6012, f"invalid login token: {refused}")]
            return [_success(request_id)]
        if method == f"{AOP}.subscribe":
            if self.api_key is None:
                return [_error(request_id, 6012, "invalid login token: not authenticated")]
            self.queue_private(self.streams.users.subscribe(self.api_key, self.queue_private))
            return [_success(request_id)]
        if method == f"{AOP}.unsubscribe":
            self.streams.users.unsubscribe(self.queue_private)
            return [_success(request_id)]
        return [_error(request_id, 6001, "invalid argument")]

    async def push_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.ws.closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(PUSH_SECONDS):
                    await self._wake.wait()
            self._wake.clear()
            now = loop.time()
            if now > self.heard_at + HEARTBEAT_SECONDS:
                await self.ws.close(code=1000, message=b"heartbeat timeout")
                return
            if self.frozen():
                continue
            for stream, symbol, message in self._due(now):
                if stream == AOP:
                    if await self._push_private(message, now):
                        break
                    continue
                if self._fault(stream, symbol, now):
                    break
                await self.ws.send_str(json.dumps(message))

    async def _push_private(self, message: dict[str, Any], now: float) -> bool:
        """An `aop_p` message through the fault rules (params `stream` aop_p, `type` snapshot|incremental):
        a disconnect or stall as for any push (True: nothing more goes out now); `ws_delay` sends it
        `delay_ms` late (those after it do not wait), `ws_duplicate` twice, `ws_reorder` after the next
        one."""
        wire = WireRequest("WS", self.path, "", "", {"stream": AOP, "type": str(message.get("type"))})
        rule = self.streams.faults.pick(wire, is_stop_order=False, stream=True, stream_faults=AOP_FAULTS)
        action = rule.action if rule is not None else None
        if action is FaultAction.WS_DISCONNECT:
            asyncio.get_running_loop().create_task(self.ws.close(code=1006, message=b"simulated disconnect"))
            return True
        if rule is not None and action is FaultAction.WS_STALL:
            self._frozen_until = now + rule.delay_ms / 1000 if rule.delay_ms > 0 else float("inf")
            return True
        if rule is not None and action is FaultAction.WS_DELAY:
            task = asyncio.get_running_loop().create_task(send_late(self.ws, message, rule.delay_ms))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            return False
        if action is FaultAction.WS_REORDER and self._held is None:
            self._held = message
            return False
        await self._send(message)
        if action is FaultAction.WS_DUPLICATE:
            await self._send(message)
        if self._held is not None:
            held, self._held = self._held, None
            await self._send(held)
        return False

    async def _send(self, message: dict[str, Any]) -> None:
        await send_event(self.ws, message)

    def _fault(self, stream: str, symbol: str, now: float) -> bool:
        """A `ws_disconnect` or `ws_stall` rule matching this push (path, params `stream`, `symbol`) fires."""
        wire = WireRequest("WS", self.path, "", "", {"stream": stream, "symbol": symbol})
        until = push_fault(self.streams.faults, wire, self.ws, now)
        if until is None:
            return False
        self._frozen_until = until
        return True

    def _due(self, now: float) -> list[tuple[str, str, dict[str, Any]]]:
        due: list[tuple[str, str, dict[str, Any]]] = []
        while self._private:
            due.append((AOP, "", self._private.popleft()))
        if self.tickers and now >= self._ticker_sent + TICKER_SECONDS:
            self._ticker_sent = now
            due.append((TICKER, "", self._ticker_pack()))
        for symbol in list(self.books):
            if now >= self._snapshot_sent[symbol] + SNAPSHOT_SECONDS:
                due.append((BOOK, symbol, self._book(symbol, "snapshot")))
            elif self.books[symbol] != self.streams.ladder(symbol):
                due.append((BOOK, symbol, self._book(symbol, "incremental")))
        return due

    def _ticker_pack(self) -> dict[str, Any]:
        """`{"data": [[symbol, openRp, …, markRp, fundingRateRr, predFundingRateRr]…], "fields", "method":
        "perp_market24h_pack_p.update", "timestamp": ns, "type": "snapshot"}` for every symbol."""
        self.engine.catch_up()
        rows = [self.streams.market.pack_row(inst) for inst in self.engine.instruments.values()]
        return {
            "data": rows,
            "fields": list(PACK_FIELDS),
            "method": f"{TICKER}.update",
            "timestamp": self.engine.clock.now_ns(),
            "type": "snapshot",
        }

    def _book(self, symbol: str, kind: str) -> dict[str, Any]:
        """`{"depth": 30, "orderbook_p": {"asks": [[p, q]…], "bids": […]}, "sequence", "symbol", "timestamp":
        ns, "type": "snapshot" | "incremental"}`: a snapshot has every level, an increment the changed ones
        (a removed level with quantity "0")."""
        ladder = self.streams.ladder(symbol)
        if kind == "snapshot":
            sides = {side: [[p, q] for p, q in levels.items()] for side, levels in ladder.items()}
            self._snapshot_sent[symbol] = asyncio.get_running_loop().time()
        else:
            sides = {side: _changes(self.books[symbol].get(side, {}), ladder[side]) for side in ladder}
        self.books[symbol] = ladder
        self.streams.sequence += 1
        return {
            "depth": BOOK_DEPTH,
            BOOK: sides,
            "sequence": self.streams.sequence,
            "symbol": symbol,
            "timestamp": self.engine.clock.now_ns(),
            "type": kind,
        }


def _changes(old: dict[str, str], new: dict[str, str]) -> list[list[str]]:
    gone = [[price, "0"] for price in old if price not in new]
    return gone + [[price, qty] for price, qty in new.items() if old.get(price) != qty]


def _success(request_id: object) -> dict[str, Any]:
    return {"error": None, "id": request_id, "result": {"status": "success"}}


def _error(request_id: object, code: int, message: str) -> dict[str, Any]:
    """An error object where replies carry `"error": null`; DataGW's codes are undocumented, 6001 is ours."""
    return {"error": {"code": code, "message": message}, "id": request_id, "result": None}
