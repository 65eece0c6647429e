"""SimServer: one aiohttp app serving a dialect, the control API, request recording and fault injection.

Runs inside any asyncio loop (the daemon embeds it; `executor sim` runs it alone). No threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Literal, Protocol

from aiohttp import web

from adapters.sim import binance, phemex, ws_binance, ws_binance_user, ws_phemex, ws_phemex_user
from adapters.sim.binance_market import BinanceMarket
from adapters.sim.binance_trading import BinanceTrading
from adapters.sim.candles import CandleBook
from adapters.sim.clock import SimClock
from adapters.sim.config import SimConfig
from adapters.sim.control import PREFIX, ControlApi
from adapters.sim.engine import Engine
from adapters.sim.faults import FaultAction, FaultBook, FaultRule, RecordedRequest, RequestLog
from adapters.sim.permissions import Permissions, add_binance_restrictions_route
from adapters.sim.persistence import StateFile
from adapters.sim.phemex_market import PhemexMarket
from adapters.sim.prices import build_price_path
from adapters.sim.wire import REFUSED_KEY, WIRE_KEY, WireRequest, read_wire

Exchange = Literal["binance", "phemex"]
CLIENT_ID_KEYS = ("newClientOrderId", "clientAlgoId", "clOrdID")
EXECUTED_FAULTS = frozenset(
    {
        FaultAction.HIDE_ORDER,
        FaultAction.REJECT_AFTER_TRIGGER,
        FaultAction.TRIGGER_DELAY,
        FaultAction.FORGET_CLOSED,
        FaultAction.FILL_PAST_LIMIT,
        FaultAction.ANSWER_ACK,
    }
)
MARKS_SAVE_SECONDS = 5.0
"""A price step that only moved marks (no fill, no funding) is saved at most this often: a mark lost in
a crash costs nothing the price path does not redo, and a full write every step would cost CPU."""


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
    """`state_path`: keep the engine's state in that file (adapters/sim/persistence.py says when it is
    written); it is read here unless `fresh`, which starts over and replaces it at the first write."""

    def __init__(
        self, config: SimConfig, *, exchange: Exchange, state_path: Path | None = None, fresh: bool = False
    ) -> None:
        if exchange not in _DIALECTS:
            raise ValueError(f"unknown exchange dialect {exchange!r}; use binance or phemex")
        self.exchange = exchange
        self.config = config.for_dialect(exchange)
        self.clock = SimClock()
        self.engine = Engine(self.config, self.clock)
        self.state = StateFile(state_path, exchange) if state_path is not None else None
        if self.state is not None:
            self.state.claim()
        try:
            self.restored = self.state is not None and not fresh and self.state.load(self.engine)
        except BaseException:
            if self.state is not None:
                self.state.release()
            raise
        self._marks_moved = False
        self._marks_saved = time.monotonic()
        self.faults = FaultBook(self.config.seed)
        self.requests = RequestLog()
        self._module: DialectModule = _MODULES[exchange]
        self.dialect = _DIALECTS[exchange](self.engine, self.config)
        self.permissions = Permissions(exchange, self.config.credentials)
        self._pinned: set[str] = set()
        self.user_streams: ws_binance_user.BinanceUserStreams | ws_phemex_user.PhemexUserStreams | None = None
        self._price_path = build_price_path(self.config.price_path, self.config.seed)
        self.candles = CandleBook(self.config.price_path, self.config.seed)
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None
        self._late: set[asyncio.Task[None]] = set()
        self.base_url: str | None = None
        self.app = self._build_app()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        self.dialect.add_routes(app)
        if isinstance(self.dialect, binance.BinanceDialect):
            add_binance_restrictions_route(app, self.dialect, self.permissions)
            self.user_streams = ws_binance_user.BinanceUserStreams(
                self.engine, self.faults, self.dialect.secrets
            )
            self.user_streams.add_routes(app)  # before the market streams: /ws/<listen key> is matched first
            ws_binance.BinanceMarketStreams(self.engine, self.faults).add_routes(app)
            BinanceMarket(self.dialect, self.candles, self.config).add_routes(app)
            BinanceTrading(self.dialect).add_routes(app)
        elif isinstance(self.dialect, phemex.PhemexDialect):
            market = PhemexMarket(self.dialect, self.candles)
            market.add_routes(app)
            users = ws_phemex_user.PhemexUserStreams(self.engine, self.dialect)
            self.user_streams = users
            ws_phemex.PhemexStreams(self.engine, self.config, market, self.faults, users).add_routes(app)
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
        client_id = _client_id(wire)
        if client_id is not None and duration_ms > 0:
            self.engine.hide(client_id, duration_ms)

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

    def _save_after(self, request: web.Request) -> None:
        """A request that may have changed state is on disk before its answer leaves (GETs change none)."""
        if request.method != "GET":
            self.save()

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
        self.save()
        if self.state is not None:
            self.state.release()

    def tick(self) -> None:
        """One step of real time: settle due funding, move unpinned marks along the price path."""
        now = self.clock.now_ms()
        booked = bool(self.engine.catch_up(now))
        for symbol, inst in self.engine.instruments.items():
            if symbol in self._pinned:
                continue
            mark = self._price_path.next_mark(inst, self.engine.marks[symbol], now)
            if mark is not None and mark != self.engine.marks[symbol]:
                booked = bool(self.engine.set_mark(symbol, mark)) or booked
                self._marks_moved = True
        self.candles.observe(self.engine)
        self._publish()
        if booked or (self._marks_moved and time.monotonic() >= self._marks_saved + MARKS_SAVE_SECONDS):
            self.save()

    def _executed_late(self) -> None:
        self._publish()
        self.save()

    def _publish(self) -> None:
        """What changed goes out on the account's private stream as the change is made."""
        if self.user_streams is not None:
            self.user_streams.poke()

    def save(self) -> None:
        """Write the state file if there is one and the state changed."""
        if self.state is not None:
            self.state.save(self.engine)
        self._marks_moved = False
        self._marks_saved = time.monotonic()

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
            control = await handler(request)
            self._publish()
            self._save_after(request)
            return control
        wire = await read_wire(request)
        request[WIRE_KEY] = wire
        header = self._module.API_KEY_HEADER
        entry = self.requests.record(wire, request.headers.get(header), arrival)
        rule = self.faults.pick(wire, is_stop_order=self._module.is_stop_order(wire))
        entry.fault = rule.action.value if rule else None
        refused = self.permissions.refusal(wire, request.headers.get(header))
        try:
            response = refused or await self._answer(request, handler, wire, entry, rule)
        except web.HTTPException as exc:  # a route not served: aiohttp's bare 404, recorded like any answer
            entry.status = exc.status
            entry.answered_monotonic_ns = time.monotonic_ns()
            raise
        finally:
            self._publish()
        self._save_after(request)
        entry.status, entry.refused = response.status, response.get(REFUSED_KEY)
        entry.answered_monotonic_ns = time.monotonic_ns()
        return response

    async def _delayed(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        delay_ms: int,
    ) -> web.StreamResponse:
        """Answer after `delay_ms`; a request delayed across a reset never touches the new accounts (a test's
        late leverage write would otherwise set the next test's account)."""
        generation = self.engine.generation
        await asyncio.sleep(delay_ms / 1000)
        if self.engine.generation != generation:
            return web.Response(status=503, text="simulator reset while this request was delayed")
        return await handler(request)

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
        if rule is None:
            response = await handler(request)
        elif rule.action is FaultAction.DELAY:
            response = await self._delayed(request, handler, rule.delay_ms)
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
        elif rule.action in EXECUTED_FAULTS:
            response = await self._execute_with(request, handler, wire, rule)
        elif rule.action is FaultAction.EXECUTE_LATE:
            task = asyncio.get_running_loop().create_task(
                _execute_late(request, handler, entry, rule.delay_ms, self._executed_late)
            )
            self._late.add(task)
            task.add_done_callback(self._late.discard)
            _drop(request)
            raise asyncio.CancelledError
        else:
            if rule.action is FaultAction.DROP_AFTER:
                await handler(request)
                self._hide(wire, rule.hide_ms)
                self._save_after(request)
            _drop(request)
            raise asyncio.CancelledError
        return response

    async def _execute_with(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
        wire: WireRequest,
        rule: FaultRule,
    ) -> web.StreamResponse:
        """The faults that let the request execute and be answered, and change what follows."""
        if rule.action is FaultAction.FORGET_CLOSED:
            with self.engine.forgetting_closed():
                return await handler(request)
        if rule.action is FaultAction.FILL_PAST_LIMIT:
            with self.engine.slipping_past_limit(rule.slip_bps):
                return await handler(request)
        if rule.action is FaultAction.ANSWER_ACK:
            wire.params["newOrderRespType"] = "ACK"  # the signature was checked on the raw text
            return await handler(request)
        response = await handler(request)
        if rule.action is FaultAction.HIDE_ORDER:
            self._hide(wire, rule.delay_ms)
        elif (client_id := _client_id(wire)) is not None:
            if rule.action is FaultAction.TRIGGER_DELAY:
                self.engine.delay_trigger(client_id, rule.delay_ms)
            else:
                self.engine.reject_on_trigger(client_id)
        return response


async def _execute_late(
    request: web.Request,
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    entry: RecordedRequest,
    delay_ms: int,
    saved: Callable[[], None],
) -> None:
    """The request the client gave up on reaches the matching engine `delay_ms` after it arrived.

    The dialect's execution-time window check (Binance -5028, Phemex expiry) decides whether it still
    executes; the request log records that answer, which no client receives.
    """
    await asyncio.sleep(delay_ms / 1000)
    response = await handler(request)
    saved()
    entry.status, entry.refused = response.status, response.get(REFUSED_KEY)
    entry.answered_monotonic_ns = time.monotonic_ns()


def _client_id(wire: WireRequest) -> str | None:
    found = next((wire.params[k] for k in CLIENT_ID_KEYS if wire.params.get(k)), None)
    return str(found) if found is not None else None


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
