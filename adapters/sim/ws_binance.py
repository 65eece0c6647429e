"""Binance USDⓈ-M market WebSocket streams: `<symbol>@markPrice[@1s]` and `<symbol>@bookTicker`.

Served beside the REST dialect on the simulator's port, at the paths unmodified ccxt.pro connects to
(`/public/ws/<n>` for bookTicker, `/market/ws/<n>` for markPrice: ccxt/pro/binance.py:254-282, 2298)
and the documented raw and combined endpoints (`/ws/<stream>`, `/stream?streams=a/b`). Subscriptions
by `SUBSCRIBE`/`UNSUBSCRIBE`/`LIST_SUBSCRIPTIONS` frames; message shapes and sources in docs/simulator.md
("Binance market streams"). Faults `ws_disconnect` and `ws_stall` come from the same fault book as REST.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import weakref
from decimal import Decimal
from typing import Any

from aiohttp import WSMsgType, web

from adapters.sim.engine import Engine
from adapters.sim.faults import FaultBook, push_fault
from adapters.sim.model import BOOK_DEPTH_QTY, fmt
from adapters.sim.wire import WireRequest

PUSH_SECONDS = 0.1
"""How often connections look for something to send: bookTicker is real-time on Binance, so a changed
book top goes out within this; markPrice keeps its own 1 s / 3 s cadence."""
MARK_SECONDS = {"markPrice@1s": 1.0, "markPrice": 3.0}
PUBLIC_CHANNELS = frozenset({"bookTicker", "depth", "trade"})
"""What Binance routes to /public (ccxt/pro/binance.py:279-282); everything else of ours to /market."""


class BinanceMarketStreams:
    """One per simulator: the routes, and every open connection (closed when the app shuts down)."""

    def __init__(self, engine: Engine, faults: FaultBook) -> None:
        self.engine = engine
        self.faults = faults
        self._open: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.update_id = 0
        """bookTicker's `u`, increasing across connections as an order-book update id does."""

    def add_routes(self, app: web.Application) -> None:
        for prefix in ("", "/public", "/market"):
            app.router.add_get(prefix + "/ws", self.connect)
            app.router.add_get(prefix + "/ws/{tail:.*}", self.connect)
            app.router.add_get(prefix + "/stream", self.connect)
        app.on_shutdown.append(self._close_all)

    async def _close_all(self, app: web.Application) -> None:
        for ws in list(self._open):
            await ws.close(code=1001, message=b"server shutdown")

    async def connect(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # pongs by hand: a stalled connection answers none
        await ws.prepare(request)
        self._open.add(ws)
        connection = _Connection(self, ws, request)
        pusher = asyncio.get_running_loop().create_task(connection.push_forever())
        try:
            await connection.read_forever()
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            await ws.close()
        return ws


class _Connection:
    def __init__(
        self, streams: BinanceMarketStreams, ws: web.WebSocketResponse, request: web.Request
    ) -> None:
        self.streams = streams
        self.engine = streams.engine
        self.ws = ws
        self.path = request.path
        self.combined = "/stream" in request.path
        self.public = request.path.startswith("/public/")
        self.market = request.path.startswith("/market/")
        self.subscribed: list[str] = []
        named = request.query.get("streams", "") if self.combined else request.match_info.get("tail", "")
        for name in filter(None, named.split("/")):
            self._subscribe(name)
        self._last_mark: dict[str, float] = {}
        self._last_book: dict[str, tuple[Decimal, Decimal]] = {}
        self._silent_until: float | None = None

    def _served(self, name: str) -> bool:
        """A stream this endpoint carries; others are accepted and send nothing (the harsher reading)."""
        symbol, _, channel = name.partition("@")
        if symbol.upper() not in self.engine.instruments or symbol != symbol.lower():
            return False
        if channel not in ("bookTicker", *MARK_SECONDS):
            return False
        if self.public or self.market:
            return (channel.partition("@")[0] in PUBLIC_CHANNELS) is self.public
        return True

    def _subscribe(self, name: str) -> None:
        if name not in self.subscribed:
            self.subscribed.append(name)

    async def read_forever(self) -> None:
        async for message in self.ws:
            if message.type is WSMsgType.PING:
                if self._silent_until is None or self._silent_until <= asyncio.get_running_loop().time():
                    await self.ws.pong(message.data)
                continue
            if message.type is not WSMsgType.TEXT:
                if message.type in (WSMsgType.ERROR, WSMsgType.CLOSE):
                    return
                continue
            answer = self._answer(message.data)
            if answer is not None and self._silent_until is None:
                await self.ws.send_str(json.dumps(answer))

    def _answer(self, text: str) -> dict[str, Any] | None:
        """`{"result": null, "id": n}` for SUBSCRIBE/UNSUBSCRIBE, the list for LIST_SUBSCRIPTIONS, and the
        documented error objects for what is not a request (Live-Subscribing-Unsubscribing-to-streams)."""
        try:
            request = json.loads(text)
        except ValueError:
            return {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}
        if not isinstance(request, dict):
            return {"code": 2, "msg": "Invalid request: request must be an object"}
        request_id, method, params = request.get("id"), request.get("method"), request.get("params", [])
        if not isinstance(request_id, int) or isinstance(request_id, bool) or request_id < 0:
            return {"code": 2, "msg": "Invalid request: request ID must be an unsigned integer"}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(self.subscribed), "id": request_id}
        if method not in ("SUBSCRIBE", "UNSUBSCRIBE"):
            return {
                "code": 2,
                "msg": f"Invalid request: unknown variant {method}, expected one of SUBSCRIBE, UNSUBSCRIBE, "
                "LIST_SUBSCRIPTIONS, SET_PROPERTY, GET_PROPERTY",
                "id": request_id,
            }
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return {"code": 1, "msg": "Invalid value type: expected a list of stream names", "id": request_id}
        for name in params:
            if method == "SUBSCRIBE":
                self._subscribe(name)
            elif name in self.subscribed:
                self.subscribed.remove(name)
        return {"result": None, "id": request_id}

    async def push_forever(self) -> None:
        loop = asyncio.get_running_loop()
        while not self.ws.closed:
            await asyncio.sleep(PUSH_SECONDS)
            now = loop.time()
            if self._silent_until is not None:
                if self._silent_until > now:
                    continue
                self._silent_until = None
            events = self._due(now)
            if not events:
                continue
            if self._fault(events[0][0], now):
                continue
            for stream, data in events:
                payload = {"stream": stream, "data": data} if self.combined else data
                await self.ws.send_str(json.dumps(payload))

    def _fault(self, stream: str, now: float) -> bool:
        """A `ws_disconnect` or `ws_stall` rule matching this connection (path, `stream` param) fires here."""
        wire = WireRequest("WS", self.path, "", "", {"stream": stream})
        until = push_fault(self.streams.faults, wire, self.ws, now)
        if until is None:
            return False
        self._silent_until = until
        return True

    def _due(self, now: float) -> list[tuple[str, dict[str, Any]]]:
        events: list[tuple[str, dict[str, Any]]] = []
        for name in list(self.subscribed):
            if not self._served(name):
                continue
            symbol = name.partition("@")[0].upper()
            channel = name.partition("@")[2]
            if channel == "bookTicker":
                top = self.engine.book_top(symbol)
                if self._last_book.get(symbol) != top:
                    self._last_book[symbol] = top
                    events.append((name, self._book_ticker(symbol, top)))
            elif now >= self._last_mark.get(name, 0.0) + MARK_SECONDS[channel]:
                self._last_mark[name] = now
                events.append((name, self._mark_price(symbol)))
        return events

    def _mark_price(self, symbol: str) -> dict[str, Any]:
        """Mark Price Stream (USDⓈ-M): e, E, s, p, i, P, r, T."""
        mark = self.engine.marks[symbol]
        return {
            "e": "markPriceUpdate",
            "E": self.engine.clock.now_ms(),
            "s": symbol,
            "p": fmt(mark),
            "i": fmt(mark),
            "P": fmt(mark),
            "r": fmt(self.engine.funding_rates[symbol]),
            "T": self.engine.next_funding_ms[symbol],
        }

    def _book_ticker(self, symbol: str, top: tuple[Decimal, Decimal]) -> dict[str, Any]:
        """Individual Symbol Book Ticker Stream (USDⓈ-M): e, u, E, T, s, b, B, a, A."""
        self.streams.update_id += 1
        now = self.engine.clock.now_ms()
        size = fmt(BOOK_DEPTH_QTY)
        return {
            "e": "bookTicker",
            "u": self.streams.update_id,
            "E": now,
            "T": now,
            "s": symbol,
            "b": fmt(top[0]),
            "B": size,
            "a": fmt(top[1]),
            "A": size,
        }
