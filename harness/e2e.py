"""The end-to-end harness: `executor sim` and `executor run` as real subprocesses, and ways to look at both.

Nothing here reaches into either process. The simulator is driven and read through its `/_sim/` control
API and the unmodified ccxt client; the daemon through its real ingress (WebSocket, webhook, Redis), its
HTTP endpoints, its CLI and its database (read with the project's own Store, never written).
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import ccxt.async_support as ccxt  # type: ignore[import-untyped]
import redis.asyncio as aioredis
import websockets
from aiohttp import web
from websockets.exceptions import InvalidStatus

from adapters.ccxt_target import target_simulator
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind, PositionStatus
from executor.domain.order_state import OrderState
from executor.signals.auth import sign
from executor.store.models import (
    DailyLossRow,
    DecisionRow,
    EventRow,
    FillRow,
    FundingPaymentRow,
    OrderRow,
    PositionRow,
    SignalRow,
)
from executor.store.store import Store
from harness.ports import free_port

REPO = Path(__file__).resolve().parents[1]
EXECUTOR = str(Path(sys.executable).with_name("executor"))
ACCOUNT = "main"
SYMBOL = "SOL/USDT:USDT"
SIM_SYMBOL = "SOLUSDT"
SIM_KEY = "sim-key"
ORDER_STATES = tuple(OrderState)
T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T | None]], within: float = 15.0, interval: float = 0.1, what: str = ""
) -> T:
    """Poll `probe` until it returns something truthy; fail naming `what` (and the last value) on timeout."""
    deadline = time.monotonic() + within
    last: T | None = None
    while True:
        last = await probe()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what or probe}; last: {last!r}")
        await asyncio.sleep(interval)


@asynccontextmanager
async def redis_stream(redis_url: str) -> AsyncIterator[tuple[aioredis.Redis, str, dict[str, str]]]:
    """A client, a fresh stream name on the test Redis, and the daemon settings that consume it; the
    stream and its dead letters are deleted afterwards."""
    stream = f"e2e:{uuid.uuid4().hex[:12]}"
    client = aioredis.from_url(redis_url)
    env = {"EXECUTOR__INGRESS__REDIS_URL": redis_url, "EXECUTOR__INGRESS__REDIS_STREAM": stream}
    try:
        yield client, stream, env
    finally:
        await client.delete(stream, f"{stream}:dead")
        await client.aclose()


def market_signal(signal_id: str, *, side: str = "long", stop: str = "147", **extra: Any) -> dict[str, Any]:
    return {
        "id": signal_id,
        "symbol": SYMBOL,
        "side": side,
        "entry": {"type": "market"},
        "stop": stop,
        **extra,
    }


def entry_id(signal_id: str) -> str:
    return client_order_id(signal_id, OrderKind.ENTRY)


def stop_id(signal_id: str, sequence: int = 0) -> str:
    return client_order_id(signal_id, OrderKind.STOP, sequence)


# --------------------------------------------------------------------------- the simulator


class SimProcess:
    """`executor sim --exchange FAMILY --port 0`, static price path, its state in `workdir/state.json`;
    its first stdout line is the URL."""

    def __init__(self, family: str, workdir: Path, config: str = "") -> None:
        self.family = family
        self.workdir = workdir
        self.config = config
        """More TOML after the static price path (e.g. `[sim]\nrate_limits = "testnet"`); one with its own
        `[price_path]` table replaces the static one."""
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    @property
    def state_path(self) -> Path:
        return self.workdir / "state.json"

    def start(self, *extra: str, timeout: float = 30) -> str:
        """Start it (`extra`: more `executor sim` options, e.g. --fresh); its URL."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "sim.toml"
        static = "" if "[price_path]" in self.config else '[price_path]\nkind = "static"\n'
        config.write_text(static + self.config, encoding="utf-8")
        out = self.workdir / "sim.out"
        command = [EXECUTOR, "sim", "--exchange", self.family, "--port", "0", "--config", str(config)]
        with out.open("wb") as sink:
            self.process = subprocess.Popen(
                [*command, "--state", str(self.state_path), *extra],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=clean_environment(),
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            lines = out.read_text(encoding="utf-8", errors="replace").splitlines()
            if lines and lines[0].startswith("http://"):
                self.url = lines[0].strip()
                return self.url
            if self.process.poll() is not None:
                raise AssertionError(f"executor sim exited {self.process.returncode}: {lines}")
            time.sleep(0.05)
        raise AssertionError("executor sim printed no URL")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class Sim:
    """The simulator as a test drives and reads it: the control API and the unmodified ccxt client."""

    def __init__(self, family: str, url: str) -> None:
        self.family = family
        self.url = url
        self._loaded: Any = None
        """A (closed) ccxt client that loaded this simulator's markets, which do not change: the next ones
        take them over (ccxt's `set_markets_from_exchange`) instead of loading and parsing them again, and
        its TLS context instead of reading the CA bundle again (together most of each look's CPU)."""

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with (
            aiohttp.ClientSession() as session,
            session.request(method, f"{self.url}/_sim/{path}", json=body) as response,
        ):
            payload = await response.json(content_type=None)
            assert response.status == 200, (path, body, payload)
            return payload

    async def reset(self) -> None:
        await self.call("POST", "reset")

    async def mark(self, price: str | Decimal, symbol: str = SIM_SYMBOL) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "mark", {"symbol": symbol, "price": str(price)})
        return result

    async def advance(self, seconds: float) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "clock", {"advance_seconds": seconds})
        return result

    async def state(self) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("GET", "state")
        return result

    async def account(self) -> dict[str, Any]:
        account: dict[str, Any] = (await self.state())["accounts"].get(SIM_KEY, {})
        return account

    async def fault(self, **rule: Any) -> dict[str, Any]:
        result: dict[str, Any] = await self.call("POST", "faults", rule)
        return result

    async def clear_faults(self) -> None:
        await self.call("DELETE", "faults")

    async def requests(self, **query: str) -> list[dict[str, Any]]:
        suffix = "?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""
        rows: list[dict[str, Any]] = (await self.call("GET", "requests" + suffix))["requests"]
        return rows

    def trade_id(self, fill: dict[str, Any]) -> str:
        """A fill's trade id as the exchange's API reports it (Phemex: `execId`, 16 hex digits)."""
        return str(fill["trade_id"]) if self.family == "binance" else f"{int(fill['trade_id']):016x}"

    async def fills(self) -> list[dict[str, Any]]:
        fills: list[dict[str, Any]] = (await self.account()).get("fills", [])
        return fills

    # ------------------------------------------------------------------ through ccxt

    @asynccontextmanager
    async def ccxt(self) -> AsyncIterator[Any]:
        options: dict[str, Any] = {"apiKey": SIM_KEY, "secret": "sim-secret", "enableRateLimit": False}
        if self.family == "binance":
            exchange = ccxt.binanceusdm(options)
        else:
            exchange = ccxt.phemex({**options, "options": {"defaultType": "swap"}})
        target_simulator(exchange, self.url)
        if self._loaded is not None:
            exchange.set_markets_from_exchange(self._loaded)
            exchange.ssl_context = self._loaded.ssl_context
        try:
            yield exchange
        finally:
            if self._loaded is None and exchange.markets:
                self._loaded = exchange
            await exchange.close()

    async def view(self, symbol: str = SYMBOL) -> ExchangeView:
        """Positions and open orders (normal and conditional) as ccxt parses them from the simulator."""
        async with self.ccxt() as exchange:
            positions = [
                p for p in await exchange.fetch_positions([symbol]) if Decimal(str(p.get("contracts") or 0))
            ]
            orders = list(await exchange.fetch_open_orders(symbol))
            if self.family == "binance":
                orders += await exchange.fetch_open_orders(symbol, None, None, {"trigger": True})
        return ExchangeView(positions, orders)


@dataclass
class ExchangeView:
    positions: list[dict[str, Any]]
    orders: list[dict[str, Any]]

    @property
    def position(self) -> dict[str, Any] | None:
        assert len(self.positions) <= 1, self.positions
        return self.positions[0] if self.positions else None

    @property
    def qty(self) -> Decimal:
        position = self.position
        return Decimal(str(position["contracts"])) if position else Decimal(0)

    @property
    def side(self) -> str | None:
        position = self.position
        return str(position["side"]) if position else None

    def stops(self) -> list[dict[str, Any]]:
        """Resting reduce-only stop-market orders (triggered by price, closing side)."""
        return [order for order in self.orders if is_stop(order)]

    def summary(self) -> str:
        orders = [
            (o.get("clientOrderId"), o.get("type"), o.get("side"), o.get("triggerPrice"), o.get("reduceOnly"))
            for o in self.orders
        ]
        return f"position {self.side} {self.qty}; open orders {orders}"


def trigger_of(order: dict[str, Any]) -> Decimal | None:
    value = order.get("triggerPrice") or order.get("stopPrice") or order.get("stopLossPrice")
    return None if value is None else Decimal(str(value))


def is_stop(order: dict[str, Any]) -> bool:
    kind = str(order.get("type") or "").lower()
    info = order.get("info") or {}
    raw_type = str(info.get("orderType") or info.get("type") or info.get("ordType") or "").lower()
    stopish = "stop" in kind or "stop" in raw_type
    profit = "take" in kind or "take" in raw_type or "profit" in raw_type or "touched" in raw_type
    return bool(order.get("reduceOnly")) and trigger_of(order) is not None and stopish and not profit


# --------------------------------------------------------------------------- the daemon


def clean_environment() -> dict[str, str]:
    """The test runner's environment without any EXECUTOR settings (crash points included) of its own."""
    return {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("EXECUTOR__") and key != "EXECUTOR_CONFIG_DIR"
    }


@dataclass
class Daemon:
    """`executor run` against one simulator and one database; every start writes its own log file."""

    sim: Sim
    database_url: str
    workdir: Path
    extra_env: dict[str, str] = field(default_factory=dict)
    http_port: int = field(default_factory=free_port)
    ws_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    runs: list[Path] = field(default_factory=list)
    _store: Store | None = field(default=None, init=False, repr=False)

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/signals"

    def environment(self, **extra: str) -> dict[str, str]:
        env = clean_environment()
        env |= {
            "EXECUTOR__EXCHANGE__NAME": f"sim-{self.sim.family}",
            "EXECUTOR__EXCHANGE__SIM_URL": self.sim.url,
            "EXECUTOR__DATABASE__URL": self.database_url,
            "EXECUTOR__INGRESS__HTTP": f"127.0.0.1:{self.http_port}",
            "EXECUTOR__INGRESS__WEBSOCKET": f"127.0.0.1:{self.ws_port}",
            "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "0.2",
            "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "0.2",
            "EXECUTOR__EXECUTION__CLOCK_SYNC_SECONDS": "0.5",
            "EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS": "5",
            "EXECUTOR__EXECUTION__STREAMED_ACCOUNT_SECONDS": "1",
            "EXECUTOR__LOGGING__FORMAT": "json",
            # The daily reports go beside the daemon's log, never into the checkout it runs in.
            "EXECUTOR__REPORTS__DIR": str(self.workdir / "reports"),
        }
        env |= self.extra_env
        env |= extra
        return env

    def spawn(self, **extra_env: str) -> None:
        """Start a process without waiting for it (a crash trial waits for its death instead)."""
        assert self.process is None or self.process.poll() is not None, "the daemon is still running"
        log = self.workdir / f"daemon-{len(self.runs) + 1}.log"
        self.runs.append(log)
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                [EXECUTOR, "run"],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=self.environment(**extra_env),
            )

    async def start(self, **extra_env: str) -> None:
        self.spawn(**extra_env)
        await self.wait_ready()

    async def wait_ready(self, within: float = 60) -> None:
        """Until GET /ready answers 200 (an interpreter start takes seconds on a busy machine)."""
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"the daemon exited {self.process.returncode}:\n{self.log_tail()}")
            try:
                status, _ = await self.get("/ready")
                if status == 200:
                    return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"the daemon never became ready:\n{self.log_tail()}")

    def terminate(self, timeout: float = 10) -> tuple[int | None, float]:
        """SIGTERM; the exit code and the seconds it took (the process is killed if it overstays)."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        try:
            code: int | None = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            code = None
        return code, time.monotonic() - sent

    async def sigterm(self, within: float = 10) -> tuple[int, float]:
        """SIGTERM without blocking the event loop (a test's local endpoints keep serving meanwhile); the
        exit code and the seconds it took."""
        assert self.process is not None
        sent = time.monotonic()
        self.process.send_signal(signal.SIGTERM)
        code = await self.wait_exit(within)
        return code, time.monotonic() - sent

    async def wait_exit(self, within: float = 30) -> int:
        """Wait for the process to end by itself (a crash point's SIGKILL); its return code."""
        assert self.process is not None
        deadline = time.monotonic() + within
        while self.process.poll() is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"the daemon did not exit by itself:\n{self.log_tail()}")
            await asyncio.sleep(0.05)
        return int(self.process.returncode)

    def kill(self) -> None:
        """SIGKILL (test teardown: graceful stops are tested on their own, this one only has to be quick)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def log_text(self, run: int = -1) -> str:
        return self.runs[run].read_text(encoding="utf-8", errors="replace") if self.runs else ""

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_text().splitlines()[-lines:])

    def events(self, run: int | None = None) -> list[dict[str, Any]]:
        """Every JSON log line of one run (all runs when None)."""
        paths = self.runs if run is None else [self.runs[run]]
        found = []
        for path in paths:
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
                if line.startswith("{"):
                    try:
                        found.append(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        return found

    def logged(self, event: str, run: int | None = None) -> list[dict[str, Any]]:
        return [line for line in self.events(run) if line.get("event") == event]

    # ------------------------------------------------------------------ HTTP

    async def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        """GET a path; with the daemon's secret configured it goes as Bearer unless `headers` is given."""
        secret = self.extra_env.get("EXECUTOR__INGRESS__SECRET")
        if headers is None:
            headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.get(self.http_url + path, headers=headers) as response,
        ):
            body = await response.text()
            try:
                return response.status, json.loads(body)
            except json.JSONDecodeError:
                return response.status, body

    async def status(self) -> dict[str, Any]:
        code, body = await self.get("/status")
        assert code == 200, body
        assert isinstance(body, dict)
        return body

    async def post(
        self, payload: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, dict[str, Any]]:
        """POST /signals; a dict is sent as JSON text (TradingView sends text/plain)."""
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
            session.post(
                self.http_url + "/signals",
                data=body,
                headers={"Content-Type": "text/plain", **(headers or {})},
            ) as response,
        ):
            return response.status, await response.json(content_type=None)

    async def post_signed(self, payload: dict[str, Any], secret: str) -> tuple[int, dict[str, Any]]:
        body = json.dumps(payload).encode()
        timestamp = int(time.time())
        headers = {"X-Timestamp": str(timestamp), "X-Signature": sign(secret, body, timestamp)}
        return await self.post(body, headers)

    async def ws_send(self, messages: Iterable[dict[str, Any] | str], token: str | None = None) -> list[Any]:
        """Send each message over one WebSocket connection; the answers in order (the outcomes the daemon
        pushes later on the same connection, which carry `id` rather than `signal_id`, are left out)."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        answers = []
        async with websockets.connect(self.ws_url, additional_headers=headers, open_timeout=5) as ws:
            for message in messages:
                await ws.send(message if isinstance(message, str) else json.dumps(message))
                async with asyncio.timeout(5):
                    answer = json.loads(await ws.recv())
                while "signal_id" not in answer:
                    async with asyncio.timeout(5):
                        answer = json.loads(await ws.recv())
                answers.append(answer)
        return answers

    async def ws_handshake_status(self, token: str | None = None) -> int:
        """The HTTP status of a refused WebSocket handshake (101 accepted, 0 nothing listening)."""
        headers = {"Authorization": f"Bearer {token}"} if token is not None else None
        try:
            async with websockets.connect(self.ws_url, additional_headers=headers, open_timeout=5):
                return 101
        except InvalidStatus as exc:
            return int(exc.response.status_code)
        except OSError:
            return 0

    # ------------------------------------------------------------------ CLI and database

    async def cli(self, *args: str) -> tuple[int, str, str]:
        process = await asyncio.create_subprocess_exec(
            EXECUTOR,
            *args,
            cwd=REPO,
            env=self.environment(),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        async with asyncio.timeout(30):
            out, err = await process.communicate()
        return int(process.returncode or 0), out.decode(), err.decode()

    async def explain(self, signal_id: str) -> dict[str, Any]:
        code, out, err = await self.cli("explain", signal_id, "--json")
        assert code == 0, err
        result: dict[str, Any] = json.loads(out)
        return result

    @asynccontextmanager
    async def store(self) -> AsyncIterator[Store]:
        """The project's Store on the daemon's database. One engine for the daemon's life, its connections
        closed after each use: SQLAlchemy keeps compiled statements per engine, and compiling them afresh
        made every look at the database (polled by many waits) ~25 ms of CPU instead of ~8."""
        if self._store is None:
            self._store = Store.open(self.database_url)
        try:
            yield self._store
        finally:
            await self._store.close()

    async def booked_fills(self, trade_ids: Iterable[Any]) -> dict[str, FillRow | None]:
        """The fill row booked under each exchange trade id (None where none was)."""
        async with self.store() as store, store.read() as tx:
            return {str(t): await tx.fills.by_trade_id(ACCOUNT, str(t)) for t in trade_ids}

    async def funding_rows(self, position_pk: int) -> list[FundingPaymentRow]:
        async with self.store() as store, store.read() as tx:
            return list(await tx.funding.for_position(position_pk))

    async def db(self, *signal_ids: str) -> DbView:
        """The daemon's database as it stands (with these signals and their decisions), in one transaction."""
        async with self.store() as store, store.read() as tx:
            positions = [
                row for status in PositionStatus for row in await tx.positions.with_status(ACCOUNT, status)
            ]
            orders = list(await tx.orders.in_states(ACCOUNT, ORDER_STATES))
            risk = await tx.risk_state.get(ACCOUNT)
            day = await tx.daily_loss.latest(ACCOUNT)
            rejected = await tx.rejected.count(ACCOUNT)
            signals = [row for sid in signal_ids if (row := await tx.signals.get(ACCOUNT, sid)) is not None]
            decisions = {row.signal_id: await tx.decisions.for_signal(row.id) for row in signals}
            events = list(reversed(await tx.events.recent(ACCOUNT, 500)))
        return DbView(
            positions=sorted(positions, key=lambda row: row.id),
            orders=sorted(orders, key=lambda row: row.id),
            risk_state=dict(risk.state) if risk is not None else {},
            day=day,
            rejected_signals=rejected,
            signals=signals,
            decisions={sid: d for sid, d in decisions.items() if d is not None},
            events=events,
        )


DaemonFactory = Callable[..., Daemon]
"""make(database_url, **env) → a Daemon (not started yet) against the test's simulator."""


@dataclass
class DbView:
    positions: list[PositionRow]
    orders: list[OrderRow]
    risk_state: dict[str, Any]
    day: DailyLossRow | None
    rejected_signals: int
    signals: list[SignalRow]
    decisions: dict[str, DecisionRow]
    events: list[EventRow]

    def open_positions(self) -> list[PositionRow]:
        return [row for row in self.positions if row.status == "open"]

    def closed_positions(self) -> list[PositionRow]:
        return [row for row in self.positions if row.status == "closed"]

    def signal(self, signal_id: str) -> SignalRow | None:
        return next((row for row in self.signals if row.signal_id == signal_id), None)

    def event_kinds(self) -> list[str]:
        return [row.kind for row in self.events]


# --------------------------------------------------------------------------- request-log invariants

CREATE_KEYS = ("newClientOrderId", "clientAlgoId", "clOrdID")
LOOKUP_KEYS = ("origClientOrderId", "clientAlgoId", "clOrdID")


def creating_requests(requests: list[dict[str, Any]], family: str) -> dict[str, list[dict[str, Any]]]:
    """Order-creating requests by the client id they carried, in arrival order."""
    paths = (
        {"/fapi/v1/order", "/fapi/v1/algoOrder"} if family == "binance" else {"/g-orders", "/g-orders/create"}
    )
    found: dict[str, list[dict[str, Any]]] = {}
    for request in requests:
        if request["path"] not in paths or request["method"] not in ("POST", "PUT"):
            continue
        client_id = next((request["params"].get(k) for k in CREATE_KEYS if request["params"].get(k)), None)
        if client_id:
            found.setdefault(str(client_id), []).append(request)
    return found


def executed(request: dict[str, Any]) -> bool:
    """Did the simulator act on this creating request? (drop_after acts without answering; execute_late
    records the status of its late execution, which no client received; a refusal in the exchange's
    error envelope acted on nothing, even with Phemex's HTTP 200.)"""
    if request["fault"] == "drop_after":
        return True
    return (
        request["fault"] in (None, "delay", "execute_late")
        and request["status"] == 200
        and request.get("refused") is None
    )


def lookups_of(requests: list[dict[str, Any]], client_id: str) -> list[dict[str, Any]]:
    return [
        r
        for r in requests
        if r["method"] == "GET" and any(r["params"].get(key) == client_id for key in LOOKUP_KEYS)
    ]


def order_sent_twice(requests: list[dict[str, Any]], family: str) -> list[str]:
    """Client ids the simulator executed more than once, or resent after an unknown outcome unlooked-up.

    A resend with the same id is legitimate only after the first attempt's outcome was checked by a
    lookup of that id (LESSONS: never resend blindly); a definite refusal (4xx, 429, 418) needs none.
    """
    problems = []
    for client_id, attempts in creating_requests(requests, family).items():
        if sum(executed(a) for a in attempts) > 1:
            problems.append(f"{client_id} executed {sum(executed(a) for a in attempts)} times")
        lookups = lookups_of(requests, client_id)
        for previous, resend in itertools.pairwise(attempts):
            # A delayed answer that refused the order (Phemex 11074 for an attached stop, then the entry
            # alone under the same id) executed nothing: its resend cannot execute it twice.
            delayed_refusal = previous["fault"] == "delay" and previous.get("refused") is not None
            faulted = previous["fault"] in ("delay", "drop_before", "drop_after", "error_5xx", "execute_late")
            unanswered = previous["status"] is None or previous["status"] >= 500
            ambiguous = (faulted and not delayed_refusal) or unanswered
            if ambiguous and not any(previous["seq"] < lookup["seq"] < resend["seq"] for lookup in lookups):
                problems.append(
                    f"{client_id} resent (seq {resend['seq']}) without a lookup after an unknown outcome"
                )
    return problems


# --------------------------------------------------------------------------- common checks


async def decided(daemon: Daemon, signal_id: str) -> dict[str, Any]:
    """The decision on `signal_id` as `executor explain --json` shows it, once there is one."""

    async def probe() -> Any:
        return (await daemon.explain(signal_id))["decision"]

    decision: dict[str, Any] = await eventually(probe, what=f"a decision on {signal_id}")
    return decision


async def move_price(daemon: Daemon, sim: Sim, price: str | Decimal) -> dict[str, Any]:
    """The simulator's mark moved to `price` and seen by the daemon: a test that then sends a signal gets it
    decided on the new price.

    A daemon following the market streams decides on the last streamed price while it is younger than
    `execution.max_price_age_ms` (rightly: a live stream's price), so a signal sent right after the move
    races the stream. Waits until every stream that has delivered anything delivered again after the
    simulator answered the move (bookTicker pushes a changed top within its 0.1 s push, markPrice@1s
    within a second); a daemon without streams reads REST on the path and does not wait.

    A book stream pushes only when its top changes, and with the harness's static price path the move is
    the only change: a book push that arrived after the move was asked for carries the moved top, even one
    that came before the simulator's answer (on a loaded machine a stream's first push can land between
    the two, and none follows it). The periodic mark stream must deliver after the answer.
    """
    asked_to_move = time.time()
    moved = await sim.mark(price)
    changed = time.time()

    async def seen() -> bool:
        asked = time.time()
        _, body = await daemon.get("/ready")
        streams = body.get("streams", {}) if isinstance(body, dict) else {}
        since = {"book_ticker": asked_to_move}
        # the daemon measured each age at or after `asked`: asked - age is no later than the arrival
        return all(
            asked - entry["age_seconds"] > since.get(name, changed)
            for name, entry in streams.items()
            if entry["age_seconds"] is not None and name != "user_data"  # no price on the account's stream
        )

    await eventually(seen, what=f"the daemon's market streams delivering after the move to {price}")
    return moved


async def protected_view(sim: Sim, symbol: str = SYMBOL) -> ExchangeView | None:
    """The exchange's view once a position and at least one resting stop exist, else None."""
    view = await sim.view(symbol)
    return view if view.position is not None and view.stops() else None


async def flat_view(sim: Sim) -> ExchangeView | None:
    """The exchange's view once it holds no position and no open order, else None."""
    view = await sim.view()
    return view if view.position is None and not view.orders else None


async def settled_view(sim: Sim, seconds: float = 0.6) -> ExchangeView:
    """The view after several tracker passes, so an extra stop placed late would show."""
    await asyncio.sleep(seconds)
    return await sim.view()


def assert_exactly_one_stop(view: ExchangeView, trigger: Decimal | str | None = None) -> dict[str, Any]:
    """One resting reduce-only stop on the closing side for the whole position (at `trigger` if given)."""
    assert view.position is not None, view.summary()
    stops = view.stops()
    assert len(stops) == 1, view.summary()
    stop = stops[0]
    closing = "sell" if view.side == "long" else "buy"
    assert stop["side"] == closing, view.summary()
    assert stop["reduceOnly"] is True, view.summary()
    assert Decimal(str(stop["amount"])) == view.qty, view.summary()
    if trigger is not None:
        assert trigger_of(stop) == Decimal(str(trigger)), view.summary()
    return stop


def embedded_sim(daemon: Daemon, run: int = -1) -> Sim | None:
    """The simulator a daemon started inside itself (`exchange.sim_url` empty) in run `run`, from its log."""
    started = daemon.logged("simulator_embedded", run)
    return Sim(str(started[-1]["exchange"]), str(started[-1]["url"])) if started else None


def error_lines(daemon: Daemon) -> list[dict[str, Any]]:
    """Error-level log lines of every run (a supervised task that failed...), except deliberate alerts."""
    return [
        line
        for line in daemon.events()
        if line.get("level") in ("error", "critical") and line.get("event") != "alert"
    ]


def alerts(daemon: Daemon) -> list[str]:
    """The kinds of the alerts the daemon logged, in order."""
    return [str(line.get("alert")) for line in daemon.logged("alert")]


class AlertSink:
    """A local HTTP endpoint for `alerts.webhook_url`: collects the JSON bodies the daemon posts.

    It answers after `answer_after` seconds (never when None); `answered` holds the bodies whose answer
    went back on a connection still open, i.e. posts the daemon waited for rather than abandoned.
    """

    def __init__(self, answer_after: float | None = 0, fail_first: int = 0) -> None:
        self.answer_after = answer_after
        self.fail_first = fail_first
        """How many posts are answered 500 before the sink starts taking them (a sender's retries)."""
        self.received: list[dict[str, Any]] = []
        self.answered: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def _receive(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.received.append(body)
        if len(self.received) <= self.fail_first:
            return web.Response(status=500)
        if self.answer_after is None:
            await asyncio.Event().wait()
        await asyncio.sleep(self.answer_after or 0)
        if request.transport is not None and not request.transport.is_closing():
            self.answered.append(body)
        return web.Response(status=204)

    async def __aenter__(self) -> AlertSink:
        app = web.Application()
        app.router.add_post("/alerts", self._receive)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/alerts"
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    def kinds(self) -> list[str]:
        return [str(body.get("alert")) for body in self.received]

    @property
    def apprise_url(self) -> str:
        """The same endpoint as an Apprise URL: its generic JSON scheme posts {title, message, type}."""
        return "json" + self.url.removeprefix("http")

    def titles(self) -> list[str]:
        """The titles of the Apprise notifications taken (answered), in order."""
        return [str(body.get("title")) for body in self.answered]


def seconds_past_next_utc_midnight(now_ms: int, margin: float = 30) -> float:
    """How far to move the simulator's clock from `now_ms` to `margin` seconds into the next UTC day."""
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return (midnight - now).total_seconds() + margin


def money(value: Any) -> Decimal:
    return Decimal(str(value))


def cents_equal(a: Decimal | str | None, b: Decimal | str | None) -> bool:
    if a is None or b is None:
        return a is b
    return abs(Decimal(str(a)) - Decimal(str(b))) < Decimal("0.005")


def unsettled_orders(db: DbView) -> list[tuple[str, str, str, Decimal]]:
    """Order rows that contradict a flat book: still live, or 'filled' without any fill."""
    return [
        (row.kind, row.client_order_id, row.state, row.filled_qty)
        for row in db.orders
        if row.state in ("pending", "unknown", "open") or (row.state == "filled" and row.filled_qty == 0)
    ]


# --------------------------------------------------------------------------- database outages


async def database_outage(database_url: str, seconds: float) -> None:
    """Make the daemon's database unusable for `seconds`, as an outage would, then give it back.

    SQLite: another connection holds an exclusive lock on the file (the daemon's writers wait out their
    busy timeout and fail). PostgreSQL: the database refuses new connections and the daemon's backends
    are terminated, so pooled connections die too.
    """
    if database_url.startswith("sqlite"):
        await asyncio.to_thread(_hold_sqlite_lock, database_url.split(":///", 1)[1], seconds)
        return
    import asyncpg

    server, name = database_url.replace("postgresql+asyncpg://", "postgresql://", 1).rsplit("/", 1)
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await kill_database_backends(database_url)
        await asyncio.sleep(seconds)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def kill_database_backends(database_url: str) -> None:
    """PostgreSQL: terminate every backend connected to this database (the daemon's pool dies)."""
    import asyncpg

    server, name = database_url.replace("postgresql+asyncpg://", "postgresql://", 1).rsplit("/", 1)
    admin = await asyncpg.connect(f"{server}/postgres")
    try:
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
    finally:
        await admin.close()


def _hold_sqlite_lock(path: str, seconds: float) -> None:
    import sqlite3

    connection = sqlite3.connect(path, isolation_level=None, timeout=10)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        connection.execute("ROLLBACK")
    finally:
        connection.close()
