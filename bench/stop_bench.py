"""Stop triggered at the exchange → the position booked closed in the database.

For each sample a market entry opens a protected position; once its stop rests at the simulator, the
bench moves the mark through the stop (`POST /_sim/mark`, whose answer lists the stop's fill: the
simulator triggers and fills it inside that request). The clock starts just before that request leaves
this process, so the control request's own trip (under a millisecond) counts against the daemon. It stops
when the daemon's position row reads `closed` to another connection: the bare driver (sqlite3 / asyncpg)
polls `positions.status` about every millisecond, so the resolution is a millisecond plus one query.
Whatever the daemon follows the account with — REST polling every `execution.poll_interval_seconds`
(production: 1 s) or an exchange user-data stream — is in the measure; the run prints which streams the
daemon reported in /ready.

Samples are spaced by a random 0.2–1 s after the stop rests (not in step with the daemon's timers), and
by `--spacing` seconds overall, so that Binance's request budget (each sample books income and trades)
does not make a booking wait in the daemon's throttle. Risk is a fixed 10 USDT a trade, so a run of
stop-outs stays far from the daily-loss breaker.

    python -m bench.stop_bench [--samples 8] [--spacing 4] [--exchanges binance,phemex] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from bench.common import (
    Rows,
    arguments,
    database,
    database_names,
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
from harness.e2e import Daemon, Sim
from harness.stress import Table, percentile

GOAL_MS = 50.0
SYMBOLS = [("SOL/USDT:USDT", "SOLUSDT"), ("ETH/USDT:USDT", "ETHUSDT"), ("BTC/USDT:USDT", "BTCUSDT")]
SMALL_RISK = {
    "EXECUTOR__RISK__OVERRIDES__CONVICTION__ENABLED": "false",
    "EXECUTOR__RISK__OVERRIDES__RISK__MODE": "fixed",
    "EXECUTOR__RISK__OVERRIDES__RISK__FIXED_AMOUNT": "10",
}
OPEN_POSITION = (
    "SELECT p.id FROM positions p JOIN signals s ON p.signal_pk = s.id WHERE s.signal_id = ? AND p.status = ?"
)
CLOSED = "SELECT 1 FROM positions WHERE id = ? AND status = ?"


@dataclass
class Samples:
    booked_ms: list[float] = field(default_factory=list)
    after_fill_ms: list[float] = field(default_factory=list)
    """From the stop's fill time as the simulator stamps it (whole ms) to the row: a cross-check."""
    refused: list[str] = field(default_factory=list)
    """Entries the daemon refused (its reason): no position, no sample (a loaded machine can starve the
    market data: DATA_MISSING)."""


async def sample(sim: Sim, daemon: Daemon, rows: Rows, index: int, samples: Samples) -> None:
    symbol, sim_symbol = SYMBOLS[index % len(SYMBOLS)]
    start = Decimal((await sim.state())["marks"][sim_symbol])
    stop = on_tick(start * Decimal("0.98"), sim_symbol)
    signal_id = f"stop-{index}-{time.time_ns()}"
    payload = {
        "id": signal_id,
        "symbol": symbol,
        "side": "long",
        "entry": {"type": "market"},
        "stop": str(stop),
    }
    status, answer = await daemon.post(payload)
    if answer.get("status") != "queued":
        raise RuntimeError(f"signal not queued ({status}): {answer}")

    async def protected() -> int | None:
        found = await rows.fetch(OPEN_POSITION, signal_id, "open")
        orders = (await sim.account()).get("open_orders", [])
        # Phemex's stop rides on the entry and has no client id of its own: the symbol's trigger order
        resting = any(order["symbol"] == sim_symbol and order["trigger_price"] for order in orders)
        return int(found[0][0]) if found and resting else None

    try:
        position = await wait_for(
            protected, f"the protected position of {signal_id}", within=60, interval=0.05
        )
    except RuntimeError as exc:
        decision = (await daemon.explain(signal_id)).get("decision") or {}
        if decision.get("accepted") is False:
            samples.refused.append(str(decision.get("reason")))
            print(f"{signal_id} refused: {decision.get('message')}", flush=True)
            return
        orders = [(o["client_id"], o["status"]) for o in (await sim.account()).get("open_orders", [])]
        positions = await rows.fetch("SELECT id, signal_pk, status FROM positions")
        raise RuntimeError(
            f"{exc}; the decision: {decision.get('reason')} {decision.get('message')}; "
            f"open orders {orders}; positions {positions}"
        ) from exc
    await asyncio.sleep(random.uniform(0.2, 1.0))
    watcher = asyncio.create_task(rows.first_seen(CLOSED, position, "closed", within=60))
    await asyncio.sleep(0.05)  # the watcher's connection is open and polling
    triggered = time.time_ns()
    moved = await sim.mark(on_tick(stop * Decimal("0.999"), sim_symbol), sim_symbol)
    fills: list[dict[str, Any]] = moved["fills"]
    if not fills:
        watcher.cancel()
        raise RuntimeError(f"moving the mark through {stop} filled no stop: {moved}")
    booked = await watcher
    samples.booked_ms.append((booked - triggered) / 1e6)
    samples.after_fill_ms.append(booked / 1e6 - max(fill["time_ms"] for fill in fills))
    await sim.mark(start, sim_symbol)

    async def flat() -> bool:
        account = await sim.account()
        return not account.get("open_orders") and not any(Decimal(p["qty"]) for p in account["positions"])

    await wait_for(flat, f"a flat account after {signal_id}", within=60, interval=0.05)


@dataclass
class Run:
    family: str
    database: str


async def measure(run: Run, url: str, workdir: Path, args: argparse.Namespace, table: Table) -> None:
    samples = Samples()
    async with running(run.family, url, workdir, SMALL_RISK) as (sim, daemon):
        streams, load = await stream_names(daemon), load_now()
        rows = Rows(url)
        for index in range(args.samples):
            started = time.monotonic()
            await sample(sim, daemon, rows, index, samples)
            await asyncio.sleep(max(0.0, args.spacing - (time.monotonic() - started)))
    p50, p99, top = stats_ms(samples.booked_ms)
    after_fill = stats_ms(samples.after_fill_ms)[1]
    ok = percentile(samples.booked_ms, 99) <= GOAL_MS
    table.add(
        run.family,
        run.database,
        streams,
        load,
        len(samples.booked_ms),
        p50,
        p99,
        top,
        after_fill,
        ", ".join(f"{samples.refused.count(r)} {r}" for r in sorted(set(samples.refused))) or "0",
        verdict(bool(samples.booked_ms) and ok),
    )


async def main_async(args: argparse.Namespace) -> None:
    postgres_url = postgres_admin_url(args.postgres_url)
    table = Table(
        [
            "exchange",
            "database",
            "daemon's streams",
            "load",
            "n",
            "p50 ms",
            "p99 ms",
            "max ms",
            "p99 from fill stamp ms",
            "entries refused",
            "goal",
        ]
    )
    print(machine(), flush=True)
    with tempfile.TemporaryDirectory(prefix="executor-stop-") as folder:
        for family in args.exchanges.split(","):
            for name in database_names(postgres_url):
                workdir = Path(folder) / f"{family}-{name}"
                workdir.mkdir()
                async with database(name, workdir, postgres_url) as url:
                    await measure(Run(family, name), url, workdir, args, table)
    print("stop triggered at the exchange → position booked closed in the database")
    table.print()
    print(
        f"goal: p99 ≤ {GOAL_MS:g} ms with streams; 'from fill stamp': from the simulator's fill time (whole"
        " ms); load: 1-minute load average at the run's start"
    )
    if not postgres_url:
        print("postgresql: skipped (set EXECUTOR_TEST_POSTGRES_URL or --postgres-url)")


def main() -> None:
    parser = arguments(__doc__)
    parser.add_argument("--samples", type=int, default=8, help="stop-outs per exchange and database")
    parser.add_argument("--spacing", type=float, default=4.0, help="seconds between samples at least")
    parser.add_argument("--exchanges", default="binance,phemex", help="comma-separated (default both)")
    parser.add_argument("--postgres-url", default="")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
