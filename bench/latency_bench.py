"""Signal-to-wire latency and the naked window, measured at the simulator.

Signal to wire: the sender takes `time.time_ns()` just before it sends an `open` signal (WebSocket or
webhook); the simulator records the wall time the entry order request arrived (`arrival_wall_ns` in
its request log, same machine, same clock). The difference is everything the daemon does between
the signal and the entry on the wire: ingress, the durable store, the consumer, the risk decision,
the write-ahead rows, and any exchange request made before the entry (counted in its own column).

Naked window (Binance): from the entry's answer leaving the simulator (`answered_monotonic_ns`) to the
stop request's arrival (`arrival_monotonic_ns`). It contains one trip of the answer back to the
daemon and one of the stop request out; "round trip" is the median time of a bare request to the
simulator from this process, for scale. Phemex attaches the stop to the entry (`stopLossRp`), so its
window is 0 by construction; the bench checks that the entry request carried it.

Most samples are limit entries 10 % below the mark that expire after a second (the daemon cancels
them): the same path to the wire at a few request-weight units each. Market entries, which fill and
need a close, cost ~50 units each, and the daemon paces all requests to Binance's 1200 units a
minute; so a few market samples per database give the naked window, spaced so that no sample waits
in the daemon's throttle. Each database gets a fresh simulator and daemon with default intervals.

    python -m bench.latency_bench [--samples 12] [--market-samples 5] [--postgres-url URL]
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
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp

from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind, PositionStatus
from harness.e2e import Daemon, Sim, SimProcess
from harness.stress import Table, percentile, postgres_database, stop_daemon

SIGNAL_TO_WIRE_GOAL_MS = 5.0
NAKED_SLACK_MS = 2.0
LIMIT_SPACING = 0.4
"""Seconds between limit samples: each rests (reserving margin) until the tracker cancels it at expiry."""
PRODUCTION_INTERVALS = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "1",
    "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "2",
    "EXECUTOR__EXECUTION__CLOCK_SYNC_SECONDS": "60",
    "EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS": "60",
    "EXECUTOR__LOGGING__LEVEL": "info",
}
SYMBOLS = [("SOL/USDT:USDT", "SOLUSDT"), ("ETH/USDT:USDT", "ETHUSDT"), ("BTC/USDT:USDT", "BTCUSDT")]
ENTRY_PATHS = {"binance": ("/fapi/v1/order",), "phemex": ("/g-orders", "/g-orders/create")}
STOP_PATH = "/fapi/v1/algoOrder"


@dataclass
class Samples:
    wire_ms: list[float] = field(default_factory=list)
    calls_before: list[int] = field(default_factory=list)
    naked_ms: list[float] = field(default_factory=list)
    attached: list[bool] = field(default_factory=list)


async def wait_for(probe: Any, what: str, within: float = 10.0) -> Any:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(0.005)
    raise RuntimeError(f"timed out waiting for {what}")


def price(value: Decimal, symbol: str) -> str:
    tick = Decimal("0.1") if symbol.startswith("BTC") else Decimal("0.01")
    return str((value / tick).to_integral_value() * tick)


async def send_open(
    sim: Sim, daemon: Daemon, transport: str, payload: dict[str, Any], samples: Samples
) -> dict[str, Any]:
    """Send one `open`; record its signal-to-wire time and the calls before it; the entry request."""
    entry_id = client_order_id(payload["id"], OrderKind.ENTRY)
    last_seq = max((row["seq"] for row in await sim.requests()), default=0)
    await asyncio.sleep(random.uniform(0, 0.2))  # not in step with the daemon's timers
    sent = time.time_ns()
    if transport == "websocket":
        (answer,) = await daemon.ws_send([payload])
    else:
        _, answer = await daemon.post(payload)
    if answer.get("status") != "queued":
        raise RuntimeError(f"signal not queued: {json.dumps(answer)}")

    async def entry_request() -> dict[str, Any] | None:
        for row in await sim.requests(since=str(last_seq)):
            params = row["params"]
            if row["path"] in ENTRY_PATHS[sim.family] and entry_id in (
                params.get("newClientOrderId"),
                params.get("clOrdID"),
            ):
                return row
        return None

    entry: dict[str, Any] = await wait_for(entry_request, f"the entry of {payload['id']}")
    before = [
        row
        for row in await sim.requests(since=str(last_seq))
        if row["seq"] < entry["seq"] and row["arrival_wall_ns"] >= sent
    ]
    samples.wire_ms.append((entry["arrival_wall_ns"] - sent) / 1e6)
    samples.calls_before.append(len(before))
    return entry


async def limit_sample(sim: Sim, daemon: Daemon, transport: str, index: int, samples: Samples) -> None:
    symbol, sim_symbol = SYMBOLS[index % len(SYMBOLS)]
    mark = Decimal((await sim.state())["marks"][sim_symbol])
    limit = Decimal(price(mark * Decimal("0.9"), sim_symbol))
    expires = datetime.now(UTC) + timedelta(seconds=1)
    payload: dict[str, Any] = {
        "id": f"lat-{transport}-limit-{index}-{time.time_ns()}",
        "symbol": symbol,
        "side": "long",
        "entry": {"type": "limit", "price": str(limit)},
        "stop": price(limit * Decimal("0.98"), sim_symbol),
        "conviction": 8,
        "expires_at": expires.isoformat().replace("+00:00", "Z"),
    }
    await send_open(sim, daemon, transport, payload, samples)


async def market_sample(sim: Sim, daemon: Daemon, transport: str, index: int, samples: Samples) -> None:
    symbol, sim_symbol = SYMBOLS[index % len(SYMBOLS)]
    mark = Decimal((await sim.state())["marks"][sim_symbol])
    payload: dict[str, Any] = {
        "id": f"lat-{transport}-market-{index}-{time.time_ns()}",
        "symbol": symbol,
        "side": "long",
        "entry": {"type": "market"},
        "stop": price(mark * Decimal("0.98"), sim_symbol),
        "conviction": 8,
    }
    entry = await send_open(sim, daemon, transport, payload, samples)
    if sim.family == "binance":
        stop_id = client_order_id(payload["id"], OrderKind.STOP)

        async def stop_request() -> dict[str, Any] | None:
            rows = await sim.requests(since=str(entry["seq"]), path=STOP_PATH)
            return next((row for row in rows if row["params"].get("clientAlgoId") == stop_id), None)

        stop = await wait_for(stop_request, f"the stop of {payload['id']}")
        samples.naked_ms.append((stop["arrival_monotonic_ns"] - entry["answered_monotonic_ns"]) / 1e6)
    else:
        samples.attached.append(bool(entry["params"].get("stopLossRp")))
    await close(sim, daemon, symbol, sim_symbol, payload["id"])


async def close(sim: Sim, daemon: Daemon, symbol: str, sim_symbol: str, signal_id: str) -> None:
    """Close the sample's position and wait until the daemon booked it, so the next sample starts clean."""

    async def has_position() -> bool:
        account = await sim.account()
        return any(p["symbol"] == sim_symbol and Decimal(p["qty"]) for p in account.get("positions", []))

    await wait_for(has_position, f"the position of {signal_id}")
    await daemon.post({"id": f"{signal_id}-close", "action": "close", "symbol": symbol})

    async def booked() -> bool:
        if await has_position():
            return False
        async with daemon.store() as store, store.transaction() as tx:
            return not any(
                row.symbol == symbol for row in await tx.positions.with_status("main", PositionStatus.OPEN)
            )

    await wait_for(booked, f"the close of {signal_id}", within=15)


async def round_trip_ms(sim: Sim, count: int = 50) -> float:
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            started = time.perf_counter_ns()
            async with session.get(f"{sim.url}/fapi/v1/time") as response:
                await response.read()
            times.append((time.perf_counter_ns() - started) / 1e6)
    return percentile(times, 50)


@asynccontextmanager
async def running(family: str, database_url: str, workdir: Path) -> AsyncIterator[tuple[Sim, Daemon]]:
    simulator = SimProcess(family, workdir / "sim")
    sim = Sim(family, simulator.start())
    daemon = Daemon(sim, database_url, workdir, extra_env=PRODUCTION_INTERVALS)
    try:
        await daemon.start()
        yield sim, daemon
    finally:
        stop_daemon(daemon)
        simulator.stop()


@asynccontextmanager
async def database(name: str, workdir: Path, postgres_url: str) -> AsyncIterator[str]:
    if name == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'latency.db'}"
    else:
        async with postgres_database(postgres_url, "executor_latency") as url:
            yield url


def fmt(values: list[float]) -> tuple[str, str, str]:
    return tuple(f"{percentile(values, p):.2f}" for p in (50, 99, 100))  # type: ignore[return-value]


def wire_row(table: Table, family: str, name: str, transport: str, entry: str, samples: Samples) -> None:
    p50, p99, top = fmt(samples.wire_ms)
    calls = f"{min(samples.calls_before)}–{max(samples.calls_before)}"
    goal = "-"
    if name == "sqlite":
        goal = "ok" if percentile(samples.wire_ms, 99) <= SIGNAL_TO_WIRE_GOAL_MS else "miss"
    table.add(family, name, transport, entry, len(samples.wire_ms), p50, p99, top, calls, goal)


async def measure(
    family: str, name: str, url: str, workdir: Path, args: argparse.Namespace, wire: Table, naked: Table
) -> None:
    async with running(family, url, workdir) as (sim, daemon):
        rtt = await round_trip_ms(sim)
        market = Samples()
        for transport in ("websocket", "webhook"):
            limits = Samples()
            for index in range(args.samples if family == "binance" else 0):
                started = time.monotonic()
                await limit_sample(sim, daemon, transport, index, limits)
                await asyncio.sleep(max(0.0, LIMIT_SPACING - (time.monotonic() - started)))
            if limits.wire_ms:
                wire_row(wire, family, name, transport, "limit", limits)
            markets = Samples()
            for index in range(args.market_samples):
                started = time.monotonic()
                await market_sample(sim, daemon, transport, index, markets)
                await asyncio.sleep(max(0.0, args.market_spacing - (time.monotonic() - started)))
            wire_row(wire, family, name, transport, "market", markets)
            market.naked_ms += markets.naked_ms
            market.attached += markets.attached
    if family == "binance":
        p50, p99, top = fmt(market.naked_ms)
        ok = percentile(market.naked_ms, 99) <= rtt + NAKED_SLACK_MS
        naked.add(family, name, len(market.naked_ms), p50, p99, top, f"{rtt:.2f}", "ok" if ok else "miss")
    else:
        attached = all(market.attached)
        note = "0 (attached)" if attached else "NOT ATTACHED"
        naked.add(
            family, name, len(market.attached), note, note, note, f"{rtt:.2f}", "ok" if attached else "miss"
        )


async def main_async(args: argparse.Namespace) -> None:
    postgres_url = args.postgres_url or os.environ.get("EXECUTOR_TEST_POSTGRES_URL", "")
    databases = ["sqlite", *(["postgresql"] if postgres_url else [])]
    wire = Table(
        [
            "exchange",
            "database",
            "ingress",
            "entry",
            "n",
            "p50 ms",
            "p99 ms",
            "max ms",
            "calls before",
            "goal",
        ]
    )
    naked = Table(["exchange", "database", "n", "p50 ms", "p99 ms", "max ms", "round trip ms", "goal"])
    with tempfile.TemporaryDirectory(prefix="executor-latency-") as folder:
        for family, name in [*(("binance", name) for name in databases), ("phemex", "sqlite")]:
            workdir = Path(folder) / f"{family}-{name}"
            workdir.mkdir()
            async with database(name, workdir, postgres_url) as url:
                await measure(family, name, url, workdir, args, wire, naked)
    print("signal to wire: sender's send → entry request's arrival at the simulator")
    wire.print()
    print(
        f"goal: p99 ≤ {SIGNAL_TO_WIRE_GOAL_MS:g} ms on SQLite; 'calls before': exchange requests in between"
    )
    print()
    print("naked window: entry answer leaves the simulator → stop request arrives")
    naked.print()
    print(
        f"goal: p99 ≤ one exchange round trip + {NAKED_SLACK_MS:g} ms; Phemex attaches the stop to the entry"
    )
    if not postgres_url:
        print("postgresql: skipped (set EXECUTOR_TEST_POSTGRES_URL or --postgres-url)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=12, help="limit entries per ingress and database")
    parser.add_argument("--market-samples", type=int, default=3, help="market entries per ingress and run")
    parser.add_argument("--market-spacing", type=float, default=1.5, help="seconds between market samples")
    parser.add_argument("--postgres-url", default="")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
