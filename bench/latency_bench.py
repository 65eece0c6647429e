"""Signal-to-wire latency and the naked window, measured at the simulator.

Signal to wire: the sender takes `time.time_ns()` just before it sends an `open` signal (WebSocket,
webhook, or XADD to the Redis stream the daemon consumes; it keeps its WebSocket and HTTP connection open, as
a strategy that sends often does); the simulator records the wall time the entry
order request arrived (`arrival_wall_ns` in its request log, same machine, same clock). The difference is
everything the daemon does between the signal and the entry on the wire: ingress, the durable store, the
consumer, the risk decision, the write-ahead rows, and any exchange request made before the entry
(counted in its own column). The daemon's own histogram (`executor_signal_to_wire_seconds`, scraped
before and after each row's samples) is printed beside it as the bucket holding its p99.

Naked window (Binance): from the entry's answer leaving the simulator (`answered_monotonic_ns`) to the
stop request's arrival (`arrival_monotonic_ns`): one trip of the answer back to the daemon, whatever it
does with it, and one of the stop request out. "round trip" is the median time of a bare request to the
simulator from this process, for scale. Phemex attaches the stop to the entry (`stopLossRp`), so its
window is 0 by construction; the bench checks that the entry request carried it.

The simulator's book moves as a traded perpetual's does, a random-walk step every 50 ms (σ 0.3 bps a step,
about 1.3 bps a second; `--book-step-ms`, `--volatility-bps`), so the daemon's book and mark streams keep the
price fresh as they do on a live market. On a book that never moves (the harness's static path) Binance's
bookTicker sends nothing after the first top, and every decision reads the top over REST once it is older
than `execution.max_price_age_ms`: that read is the daemon's rule, not the path's cost on a live market.

Limit samples rest 3 % below the mark (inside the exchange's ±5 % price band around the mark, which the
risk engine enforces) and expire after a second (the daemon cancels them; a sample waits until no entry
of ours is in flight on its symbol): the path to the wire at a few request-weight units each. Market entries,
which fill and need a close, cost ~50 units each on Binance, whose 1200 units a minute the daemon paces
all requests to; so a few market samples per run, spaced so that no sample waits in the daemon's
throttle. Phemex's window is smaller (498 units a minute): its samples are spaced wider (`LIMIT_SPACING`,
`MARKET_SPACING`). Each database gets a fresh simulator and daemon at the production intervals.

    python -m bench.latency_bench [--samples 12] [--market-samples 4] [--postgres-url URL] [--redis-url URL]
        [--exchange binance|phemex] [--keep FOLDER] [--book-step-ms 50] [--volatility-bps 0.3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, ExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import websockets

from bench.common import (
    arguments,
    bucket_percentile,
    database,
    database_names,
    histogram,
    load_now,
    machine,
    on_tick,
    postgres_admin_url,
    running,
    stats_ms,
    stream_names,
    verdict,
    wait_for,
)
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind, PositionStatus
from executor.execution.trader import IN_FLIGHT
from harness.e2e import Daemon, Sim, redis_stream
from harness.stress import Table, percentile

SIGNAL_TO_WIRE_GOAL_MS = 5.0
NAKED_GOAL_MS = 2.0
LIMIT_SPACING = {"binance": 0.4, "phemex": 3.0}
"""Seconds between limit samples: each rests (reserving margin) until the tracker cancels it at expiry. On
Phemex a limit sample costs 7 of ccxt's 498 units a minute (the order 1, the cancel at expiry 1, the cancel's
read-back 5), a market one about 45 (entry and close, their look-ups by id, the close's trades and funding
reads, the open-orders read), and the daemon's own following about 60 (account reads): at 0.4 s, and still
at 1.5 s (one minute of that run: 453 units), the samples filled the window and a sample's reads waited in
ccxt's throttle (a close booked 37 s late; decisions waiting 0.2-2 s on an account read). Requests against
the budget are bench/ratelimit_bench.py's subject; this one times the path when nothing queues."""
MARKET_SPACING = {"binance": 1.5, "phemex": 5.0}
LIMIT_BELOW_MARK = Decimal("0.97")
"""Where a limit sample rests: not marketable, and inside the price band (10 % away is PRICE_OUT_OF_BAND)."""
SYMBOLS = [("SOL/USDT:USDT", "SOLUSDT"), ("ETH/USDT:USDT", "ETHUSDT"), ("BTC/USDT:USDT", "BTCUSDT")]
ENTRY_PATHS = {"binance": ("/fapi/v1/order",), "phemex": ("/g-orders", "/g-orders/create")}
STOP_PATH = "/fapi/v1/algoOrder"
HISTOGRAM = "executor_signal_to_wire_seconds"
ENTRY_WAIT_S = 30.0


@dataclass
class Samples:
    wire_ms: list[float] = field(default_factory=list)
    calls_before: list[int] = field(default_factory=list)
    naked_ms: list[float] = field(default_factory=list)
    attached: list[bool] = field(default_factory=list)
    unfilled: int = 0
    """Market entries whose IOC found nothing within its allowance (the book ran past it): sent, unfilled."""
    missed: list[str] = field(default_factory=list)
    """Signals whose entry never reached the exchange within ENTRY_WAIT_S: the decision's reason, or
    "undecided" / "unsent", or "held" for a sample not sent because an earlier entry on its symbol was still
    in flight (counted, not timed; a run with any of them does not meet its goal)."""


class NoEntry(Exception):
    """The signal was taken but no entry request arrived: the daemon refused it, or is stuck."""


@dataclass
class Sender:
    """Sends one signal over one ingress and returns once the daemon (or Redis) took it. Like a strategy
    that sends often, it keeps its connection open (`connected()`: one WebSocket, an HTTP keep-alive session
    for the webhook), so a sample times the message, not the client's handshake."""

    daemon: Daemon
    ingress: str
    redis: Any = None
    stream: str = ""
    ws: Any = None
    http: aiohttp.ClientSession | None = None

    @asynccontextmanager
    async def connected(self) -> AsyncIterator[Sender]:
        async with AsyncExitStack() as stack:
            if self.ingress == "websocket":
                self.ws = await stack.enter_async_context(
                    websockets.connect(self.daemon.ws_url, open_timeout=5)
                )
            elif self.ingress == "webhook":
                timeout = aiohttp.ClientTimeout(total=5)
                self.http = await stack.enter_async_context(aiohttp.ClientSession(timeout=timeout))
            yield self

    async def send(self, payload: dict[str, Any]) -> None:
        body = json.dumps(payload)
        if self.ingress == "redis":
            await self.redis.xadd(self.stream, {"signal": body})
            return
        answer: dict[str, Any] = {}
        if self.ws is not None:
            await self.ws.send(body)
            while "signal_id" not in answer:  # the daemon also pushes earlier signals' outcomes here
                async with asyncio.timeout(5):
                    answer = json.loads(await self.ws.recv())
        else:
            assert self.http is not None
            url, headers = self.daemon.http_url + "/signals", {"Content-Type": "text/plain"}
            async with self.http.post(url, data=body.encode(), headers=headers) as response:
                answer = await response.json(content_type=None)
        if answer.get("status") != "queued":
            raise RuntimeError(f"signal not queued: {json.dumps(answer)}")


async def send_open(sim: Sim, sender: Sender, payload: dict[str, Any], samples: Samples) -> dict[str, Any]:
    """Send one `open`; record its signal-to-wire time and the calls before it; the entry request."""
    entry_id = client_order_id(payload["id"], OrderKind.ENTRY)
    last_seq = max((row["seq"] for row in await sim.requests()), default=0)
    await asyncio.sleep(random.uniform(0, 0.2))  # not in step with the daemon's timers
    sent = time.time_ns()
    await sender.send(payload)

    async def entry_request() -> dict[str, Any] | None:
        for row in await sim.requests(since=str(last_seq)):
            params = row["params"]
            if row["path"] in ENTRY_PATHS[sim.family] and entry_id in (
                params.get("newClientOrderId"),
                params.get("clOrdID"),
            ):
                return row
        return None

    try:
        entry: dict[str, Any] = await wait_for(entry_request, f"the entry of {payload['id']}", ENTRY_WAIT_S)
    except RuntimeError as exc:
        decision = (await sender.daemon.explain(payload["id"])).get("decision") or {}
        outcome = str(decision.get("reason") or ("unsent" if decision else "undecided"))
        samples.missed.append(outcome)
        raise NoEntry(f"{exc}; the decision: {outcome} {decision.get('message')}") from exc
    before = [
        row
        for row in await sim.requests(since=str(last_seq))
        if row["seq"] < entry["seq"] and row["arrival_wall_ns"] >= sent
    ]
    samples.wire_ms.append((entry["arrival_wall_ns"] - sent) / 1e6)
    samples.calls_before.append(len(before))
    return entry


async def limit_sample(sim: Sim, sender: Sender, index: int, samples: Samples) -> None:
    symbol, sim_symbol = SYMBOLS[index % len(SYMBOLS)]
    await symbol_free(sender.daemon, symbol, samples)
    mark = Decimal((await sim.state())["marks"][sim_symbol])
    limit = on_tick(mark * LIMIT_BELOW_MARK, sim_symbol)
    expires = datetime.now(UTC) + timedelta(seconds=1)
    payload: dict[str, Any] = {
        "id": f"lat-{sender.ingress}-limit-{index}-{time.time_ns()}",
        "symbol": symbol,
        "side": "long",
        "entry": {"type": "limit", "price": str(limit)},
        "stop": str(on_tick(limit * Decimal("0.99"), sim_symbol)),
        "conviction": 8,
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
    }
    await send_open(sim, sender, payload, samples)


async def market_sample(sim: Sim, sender: Sender, index: int, samples: Samples) -> None:
    symbol, sim_symbol = SYMBOLS[index % len(SYMBOLS)]
    await symbol_free(sender.daemon, symbol, samples)
    mark = Decimal((await sim.state())["marks"][sim_symbol])
    payload: dict[str, Any] = {
        "id": f"lat-{sender.ingress}-market-{index}-{time.time_ns()}",
        "symbol": symbol,
        "side": "long",
        "entry": {"type": "market"},
        "stop": str(on_tick(mark * Decimal("0.98"), sim_symbol)),
        "conviction": 8,
    }
    entry = await send_open(sim, sender, payload, samples)
    if not await has_position(sim, sim_symbol):
        samples.unfilled += 1  # the IOC found no ask within its allowance: no position, no stop
        return
    if sim.family == "binance":
        stop_id = client_order_id(payload["id"], OrderKind.STOP)

        async def stop_request() -> dict[str, Any] | None:
            rows = await sim.requests(since=str(entry["seq"]), path=STOP_PATH)
            return next((row for row in rows if row["params"].get("clientAlgoId") == stop_id), None)

        stop = await wait_for(stop_request, f"the stop of {payload['id']}")
        samples.naked_ms.append((stop["arrival_monotonic_ns"] - entry["answered_monotonic_ns"]) / 1e6)
    else:
        samples.attached.append(bool(entry["params"].get("stopLossRp")))
    await close(sim, sender.daemon, symbol, sim_symbol, payload["id"])


async def has_position(sim: Sim, sim_symbol: str) -> bool:
    account = await sim.account()
    return any(p["symbol"] == sim_symbol and Decimal(p["qty"]) for p in account.get("positions", []))


async def close(sim: Sim, daemon: Daemon, symbol: str, sim_symbol: str, signal_id: str) -> None:
    """Close the sample's position and wait until the daemon booked it, so the next sample starts clean."""
    await daemon.post({"id": f"{signal_id}-close", "action": "close", "symbol": symbol})

    async def booked() -> bool:
        if await has_position(sim, sim_symbol):
            return False
        async with daemon.store() as store, store.read() as tx:
            return not any(
                row.symbol == symbol for row in await tx.positions.with_status("main", PositionStatus.OPEN)
            )

    await wait_for(booked, f"the close of {signal_id}", within=60)


async def symbol_free(daemon: Daemon, symbol: str, samples: Samples) -> None:
    """Until no entry of ours on `symbol` is in flight: the daemon rightly refuses a second one (a resting
    limit holds its symbol until the tracker has cancelled it at expiry). One still in flight after
    ENTRY_WAIT_S (an expired limit not cancelled) skips the sample, counted as "held"."""

    async def held() -> list[tuple[str, str, str]]:
        async with daemon.store() as store, store.read() as tx:
            rows = await tx.orders.unadopted_entries("main", symbol, IN_FLIGHT)
        return [(row.client_order_id, row.state, str(row.filled_qty)) for row in rows]

    async def free() -> bool:
        return not await held()

    try:
        await wait_for(free, f"no entry in flight on {symbol}", within=ENTRY_WAIT_S)
    except RuntimeError as exc:
        samples.missed.append("held")
        raise NoEntry(f"{exc}: {await held()}") from exc


async def warm_up(sim: Sim, daemon: Daemon) -> None:
    """The steady state the samples measure: every bench symbol watched (a signal that expired a second ago
    is refused `EXPIRED` after the daemon has read the symbol's tiers, funding and insurance fund and
    subscribed its streams, as a profile's `allowed_symbols` would at start-up) and every stream live. The
    daemon's first signal on a symbol it does not watch yet pays those reads; that is not the path measured
    here."""
    marks = (await sim.state())["marks"]
    expired = (datetime.now(UTC) - timedelta(seconds=1)).isoformat().replace("+00:00", "Z")
    for symbol, sim_symbol in SYMBOLS:
        limit = on_tick(Decimal(marks[sim_symbol]) * LIMIT_BELOW_MARK, sim_symbol)
        signal_id = f"lat-warm-{sim_symbol}-{time.time_ns()}"
        payload: dict[str, Any] = {
            "id": signal_id,
            "symbol": symbol,
            "side": "long",
            "entry": {"type": "limit", "price": str(limit)},
            "stop": str(on_tick(limit * Decimal("0.99"), sim_symbol)),
            "conviction": 8,
            "expires_at": expired,
        }
        await daemon.post(payload)

        async def decided(signal_id: str = signal_id) -> bool:
            decision = (await daemon.explain(signal_id)).get("decision") or {}
            if decision and decision.get("reason") != "EXPIRED":
                raise RuntimeError(f"the warm-up signal {signal_id} was not refused EXPIRED: {decision}")
            return bool(decision)

        await wait_for(decided, f"the warm-up signal on {symbol}")

    async def live() -> bool:
        _, body = await daemon.get("/ready")
        streams = body.get("streams", {}) if isinstance(body, dict) else {}
        return bool(streams) and all(s.get("state") == "live" for s in streams.values())

    await wait_for(live, "every stream live", within=15)


async def round_trip_ms(sim: Sim, count: int = 50) -> float:
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter_ns()
            async with session.get(f"{sim.url}/fapi/v1/time") as response:
                await response.read()
            times.append((time.perf_counter_ns() - started) / 1e6)
    return percentile(times, 50)


@dataclass
class Run:
    family: str
    database: str
    streams: str = ""
    load: str = ""


def wire_row(table: Table, run: Run, ingress: str, entry: str, samples: Samples, daemon_p99: str) -> None:
    p50, p99, top = stats_ms(samples.wire_ms)
    calls = f"{min(samples.calls_before)}–{max(samples.calls_before)}" if samples.calls_before else "-"
    missed = ", ".join(f"{samples.missed.count(m)} {m}" for m in sorted(set(samples.missed))) or "0"
    goal = "-"
    if run.database == "sqlite":
        fast = bool(samples.wire_ms) and percentile(samples.wire_ms, 99) <= SIGNAL_TO_WIRE_GOAL_MS
        goal = verdict(fast and not samples.missed)
    table.add(
        run.family,
        run.database,
        ingress,
        entry,
        len(samples.wire_ms),
        p50,
        p99,
        top,
        missed,
        calls,
        daemon_p99,
        goal,
    )


async def measure(
    run: Run, url: str, workdir: Path, args: argparse.Namespace, wire: Table, naked: Table
) -> None:
    async with AsyncExitStack() as stack:
        env: dict[str, str] = {}
        redis_client = stream = None
        if args.redis_url:
            redis_client, stream, env = await stack.enter_async_context(redis_stream(args.redis_url))
        walk = (
            f'[price_path]\nkind = "random_walk"\nstep_seconds = {args.book_step_ms / 1000}\n'
            f'volatility_bps = "{args.volatility_bps}"\n'
        )
        sim, daemon = await stack.enter_async_context(running(run.family, url, workdir, env, walk))
        await warm_up(sim, daemon)
        run.streams, run.load = await stream_names(daemon), load_now()
        rtt = await round_trip_ms(sim)
        market = Samples()
        ingresses = ["websocket", "webhook", *(["redis"] if args.redis_url else [])]
        for ingress in ingresses:
            sender = await stack.enter_async_context(
                Sender(daemon, ingress, redis_client, stream or "").connected()
            )
            for entry, count, spacing in (
                ("limit", args.samples, LIMIT_SPACING[run.family]),
                ("market", args.market_samples, args.market_spacing or MARKET_SPACING[run.family]),
            ):
                samples = Samples()
                before = await histogram(daemon, HISTOGRAM)
                for index in range(count):
                    started = time.monotonic()
                    try:
                        if entry == "limit":
                            await limit_sample(sim, sender, index, samples)
                        else:
                            await market_sample(sim, sender, index, samples)
                    except NoEntry as exc:
                        print(f"{run.family} {run.database} {ingress} {entry}: {exc}", flush=True)
                    await asyncio.sleep(max(0.0, spacing - (time.monotonic() - started)))
                if samples.wire_ms or samples.missed:
                    after = await histogram(daemon, HISTOGRAM)
                    wire_row(wire, run, ingress, entry, samples, bucket_percentile(before, after, 99))
                market.naked_ms += samples.naked_ms
                market.attached += samples.attached
                market.unfilled += samples.unfilled
        if args.keep:  # the simulator's request log beside the daemon's, for a run that went wrong
            (workdir / "requests.json").write_text(json.dumps(await sim.requests()))
    if run.family == "binance":
        p50, p99, top = stats_ms(market.naked_ms)
        ok = percentile(market.naked_ms, 99) <= NAKED_GOAL_MS
        naked.add(
            run.family,
            run.database,
            len(market.naked_ms),
            p50,
            p99,
            top,
            market.unfilled,
            f"{rtt:.2f}",
            verdict(ok),
        )
    else:
        attached = all(market.attached)
        note = "0 (attached)" if attached else "NOT ATTACHED"
        naked.add(
            run.family,
            run.database,
            len(market.attached),
            note,
            note,
            note,
            market.unfilled,
            f"{rtt:.2f}",
            verdict(attached),
        )


async def main_async(args: argparse.Namespace) -> None:
    postgres_url = postgres_admin_url(args.postgres_url)
    columns = ["exchange", "database", "ingress", "entry", "n", "p50 ms", "p99 ms", "max ms"]
    wire = Table([*columns, "no entry", "calls before", "daemon's p99 ms", "goal"])
    naked = Table(
        ["exchange", "database", "n", "p50 ms", "p99 ms", "max ms", "IOC unfilled", "round trip ms", "goal"]
    )
    runs = [*(Run("binance", name) for name in database_names(postgres_url)), Run("phemex", "sqlite")]
    runs = [run for run in runs if args.exchange in ("", run.family)]
    print(machine(), flush=True)
    with ExitStack() as stack:
        folder = args.keep or stack.enter_context(tempfile.TemporaryDirectory(prefix="executor-latency-"))
        for run in runs:
            workdir = Path(folder) / f"{run.family}-{run.database}"
            workdir.mkdir(parents=True)
            async with database(run.database, workdir, postgres_url) as url:
                await measure(run, url, workdir, args, wire, naked)
    for run in runs:
        print(f"{run.family} {run.database}: streams {run.streams}; load average at start {run.load}")
    print("signal to wire: sender's send → entry request's arrival at the simulator")
    wire.print()
    print(
        f"goal: p99 ≤ {SIGNAL_TO_WIRE_GOAL_MS:g} ms on SQLite and every entry sent; 'no entry': signals"
        f" without an entry on the wire after {ENTRY_WAIT_S:g} s, by the decision's reason (undecided: none"
        " yet; held: not sent, an earlier entry on the symbol still in flight);"
        " 'calls before': exchange requests in between; daemon's p99: the bucket of its own histogram"
    )
    print()
    print("naked window: entry answer leaves the simulator → stop request arrives")
    naked.print()
    print(
        f"goal: p99 ≤ {NAKED_GOAL_MS:g} ms (Binance); Phemex attaches the stop to the entry; 'IOC unfilled':"
        " market entries sent but not filled (the book moved past the slippage allowance): no stop to time"
    )
    if not postgres_url:
        print("postgresql: skipped (set EXECUTOR_TEST_POSTGRES_URL or --postgres-url)")
    if not args.redis_url:
        print("redis: skipped (set EXECUTOR_TEST_REDIS_URL or --redis-url)")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--samples", type=int, default=12, help="limit entries per ingress and run")
    parser.add_argument("--market-samples", type=int, default=4, help="market entries per ingress and run")
    parser.add_argument(
        "--market-spacing",
        type=float,
        default=0,
        help="seconds between market samples (0: 1.5 Binance, 3 Phemex)",
    )
    parser.add_argument(
        "--book-step-ms", type=float, default=50, help="the simulator's random walk moves the book this often"
    )
    parser.add_argument("--volatility-bps", default="0.3", help="σ of one step of that walk, in basis points")
    parser.add_argument("--postgres-url", default="")
    parser.add_argument("--redis-url", default=os.environ.get("EXECUTOR_TEST_REDIS_URL", ""))
    parser.add_argument("--exchange", choices=["", "binance", "phemex"], default="", help="one exchange only")
    parser.add_argument("--keep", default="", help="a folder to keep the daemons' logs and the requests in")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
