"""SimServer: one aiohttp app serving a dialect, the control API, request recording and fault injection.

Runs inside any asyncio loop (the daemon embeds it; `executor sim` runs it alone). No threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from aiohttp import web

from adapters.sim import binance, phemex
from adapters.sim.clock import SimClock
from adapters.sim.config import SimConfig
from adapters.sim.control import PREFIX, ControlApi
from adapters.sim.engine import Engine
from adapters.sim.faults import FaultAction, FaultBook, FaultRule, RecordedRequest, RequestLog
from adapters.sim.prices import build_price_path
from adapters.sim.wire import WIRE_KEY, WireRequest, read_wire

Exchange = Literal["binance", "phemex"]
CLIENT_ID_KEYS = ("newClientOrderId", "clientAlgoId", "clOrdID")


class Dialect(Protocol):
    name: str

    def add_routes(self, app: web.Application) -> None: ...


class DialectModule(Protocol):
    API_KEY_HEADER: str

    def rate_limit_response(self, status: int) -> web.Response: ...

    def stop_rejected_response(self) -> web.Response: ...

    def is_stop_order(self, wire: WireRequest) -> bool: ...


_MODULES = {"binance": binance, "phemex": phemex}
_DIALECTS: dict[str, Callable[[Engine, SimConfig], Dialect]] = {
    "binance": binance.BinanceDialect,
    "phemex": phemex.PhemexDialect,
}


class SimServer:
    def __init__(self, config: SimConfig, *, exchange: Exchange) -> None:
        if exchange not in _DIALECTS:
            raise ValueError(f"unknown exchange dialect {exchange!r}; use binance or phemex")
        self.exchange = exchange
        self.config = config.for_dialect(exchange)
        self.clock = SimClock()
        self.engine = Engine(self.config, self.clock)
        self.faults = FaultBook(self.config.seed)
        self.requests = RequestLog()
        self._module: DialectModule = _MODULES[exchange]
        self.dialect = _DIALECTS[exchange](self.engine, self.config)
        self._pinned: set[str] = set()
        self._price_path = build_price_path(self.config.price_path, self.config.seed)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._late: set[asyncio.Task[None]] = set()
        self.base_url: str | None = None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.dialect.add_routes(app)
        ControlApi(
            self.engine, self.faults, self.requests, on_mark=self._pinned.add, on_reset=self._on_reset
        ).add_routes(app)
        return app

    def _on_reset(self) -> None:
        """Pins are released and requests still waiting to execute late are dropped with the old state."""
        self._pinned.clear()
        for task in self._late:
            task.cancel()

    def _hide(self, wire: WireRequest, duration_ms: int) -> None:
        """The order this request created exists but is not found for `duration_ms`."""
        client_id = next((wire.params[k] for k in CLIENT_ID_KEYS if wire.params.get(k)), None)
        if client_id is not None and duration_ms > 0:
            self.engine.hide(str(client_id), duration_ms)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen and start the price/funding ticker; returns the base URL (http://host:port)."""
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, host, port)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None)
        assert sockets, "the listening socket must exist after start()"
        bound_port = sockets[0].getsockname()[1]
        self.base_url = f"http://{host}:{bound_port}"
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())
        return self.base_url

    async def stop(self) -> None:
        for task in list(self._late):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def tick(self) -> None:
        """One step of real time: settle due funding, move unpinned marks along the price path."""
        now = self.clock.now_ms()
        self.engine.catch_up(now)
        for symbol, inst in self.engine.instruments.items():
            if symbol in self._pinned:
                continue
            mark = self._price_path.next_mark(inst, self.engine.marks[symbol], now)
            if mark is not None and mark != self.engine.marks[symbol]:
                self.engine.set_mark(symbol, mark)

    async def _tick_forever(self) -> None:
        while True:
            await asyncio.sleep(self.config.price_path.step_seconds)
            self.tick()

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        arrival = time.monotonic_ns()
        if request.path.startswith(PREFIX + "/"):
            return await handler(request)
        wire = await read_wire(request)
        request[WIRE_KEY] = wire
        header = self._module.API_KEY_HEADER
        entry = self.requests.record(wire, request.headers.get(header), arrival)
        rule = self.faults.pick(wire, is_stop_order=self._module.is_stop_order(wire))
        entry.fault = rule.action.value if rule else None
        response = await self._answer(request, handler, wire, entry, rule)
        entry.status = response.status
        entry.answered_monotonic_ns = time.monotonic_ns()
        return response

    async def _answer(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        wire: WireRequest,
        entry: RecordedRequest,
        rule: FaultRule | None,
    ) -> web.StreamResponse:
        """The dialect's answer, or what the fault rule makes of the request (a drop raises)."""
        response: web.StreamResponse
        if rule is None or rule.action is FaultAction.DELAY:
            if rule is not None:
                await asyncio.sleep(rule.delay_ms / 1000)
            response = await handler(request)
        elif rule.action is FaultAction.ERROR_5XX:
            response = _custom(rule.body, rule.status) or web.Response(
                status=rule.status, text=f"{rule.status} Service Unavailable", content_type="text/html"
            )
        elif rule.action is FaultAction.RATE_LIMIT:
            response = _custom(rule.body, 429) or self._module.rate_limit_response(429)
        elif rule.action is FaultAction.BAN:
            response = _custom(rule.body, 418) or self._module.rate_limit_response(418)
        elif rule.action is FaultAction.REJECT_STOP:
            response = self._module.stop_rejected_response()
        elif rule.action is FaultAction.HIDE_ORDER:
            response = await handler(request)
            self._hide(wire, rule.delay_ms)
        elif rule.action is FaultAction.EXECUTE_LATE:
            task = asyncio.get_running_loop().create_task(
                _execute_late(request, handler, entry, rule.delay_ms)
            )
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            _drop(request)
            raise asyncio.CancelledError
        else:
            if rule.action is FaultAction.DROP_AFTER:
                await handler(request)
                self._hide(wire, rule.hide_ms)
            _drop(request)
            raise asyncio.CancelledError
        return response


async def _execute_late(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    entry: RecordedRequest,
    delay_ms: int,
) -> None:
    """The request the client gave up on reaches the matching engine `delay_ms` after it arrived.

    The dialect's execution-time window check (Binance -5028, Phemex expiry) decides whether it still
    executes; the request log records that answer, which no client receives.
    """
    await asyncio.sleep(delay_ms / 1000)
    response = await handler(request)
    entry.status = response.status
    entry.answered_monotonic_ns = time.monotonic_ns()


def _custom(body: object, status: int) -> web.Response | None:
    if body is None:
        return None
    if isinstance(body, str):
        return web.Response(status=status, text=body)
    return web.json_response(body, status=status)


def _drop(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()
