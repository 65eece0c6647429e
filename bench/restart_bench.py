"""Restart to ready with 50 open positions and 100 open orders (each position's stop and take-profit).

The simulator gets 50 synthetic instruments (one position per symbol in one-way mode) and a large
balance; the daemon opens the positions itself from signals (fixed risk of 100 USDT each, so the
risk engine accepts all 50), with slow background loops while it builds them. Then it is stopped
(SIGTERM, or kill -9) and started again with the default intervals, and the time from spawning the
process to `/ready` answering 200 is measured, next to the time the interpreter needs just to import
ccxt and the daemon's modules. Start-up reconciles every position and order with the exchange before
`/ready`, so its requests are counted too. After ready, every position must still have one stop.

The last table row is the steady state with those 50 positions at the default 1 s tracker interval:
request weight per minute against Binance's 1200 (the daemon's own throttle budget) and the share of
one core the daemon uses while it only follows the positions.

    python -m bench.restart_bench [--positions 50] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.common import database
from harness.e2e import EXECUTOR, REPO, Daemon, Sim, clean_environment
from harness.invariants import unprotected
from harness.stress import Table, cpu_seconds, stop_daemon

GOAL_BEYOND_IMPORT_S = 2.0
BUILD_ENV = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "60",
    "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "60",
    "EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS": "3600",
}
DEFAULT_ENV = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "1",
    "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "2",
    "EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS": "60",
    "EXECUTOR__EXECUTION__CLOCK_SYNC_SECONDS": "60",
}
RISK_ENV = {
    "EXECUTOR__RISK__OVERRIDES__CONVICTION__ENABLED": "false",
    "EXECUTOR__RISK__OVERRIDES__RISK__MODE": "fixed",
    "EXECUTOR__RISK__OVERRIDES__RISK__FIXED_AMOUNT": "100",
}
#: ccxt's cost units of the Binance USDⓈ-M endpoints the daemon uses (others cost 1).
COSTS = {("POST", "/fapi/v1/order"): 4, ("GET", "/fapi/v1/income"): 30, ("GET", "/fapi/v1/userTrades"): 5}


def instrument(index: int) -> str:
    name = f"R{index:02d}"
    return f"""
[instruments.{name}USDT]
base = "{name}"
quote = "USDT"
tick = "0.01"
step = "0.1"
min_qty = "0.1"
max_qty = "1000000"
min_notional = "5"
max_leverage = 50
maker_fee = "0.0002"
taker_fee = "0.0005"
funding_interval_hours = 8
start_price = "100"
tiers = [
  {{ floor = "0", cap = "50000", max_leverage = 50, mmr = "0.01", cum = "0" }},
  {{ floor = "50000", cap = "1000000", max_leverage = 10, mmr = "0.05", cum = "2000" }},
]
"""


SIM_COMMAND = (EXECUTOR, "sim", "--exchange", "binance", "--fresh")


class Simulator:
    """`executor sim` with the synthetic instruments (the e2e harness's simulator has only three)."""

    def __init__(self, workdir: Path, positions: int) -> None:
        self.workdir = workdir
        self.positions = positions
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> str:
        config = self.workdir / "sim.toml"
        body = '[sim]\nstart_balance = "1000000"\n\n[price_path]\nkind = "static"\n'
        config.write_text(body + "".join(instrument(i) for i in range(self.positions)), encoding="utf-8")
        out = self.workdir / "sim.out"
        with out.open("wb") as sink:
            self.process = subprocess.Popen(
                [*SIM_COMMAND, "--config", str(config), "--state", str(self.workdir / "state.json")],
                stdout=sink,
                stderr=subprocess.STDOUT,
                cwd=REPO,
                env=clean_environment(),
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            lines = out.read_text(encoding="utf-8").splitlines()
            if lines and lines[0].startswith("http://"):
                return lines[0].strip()
            time.sleep(0.05)
        raise RuntimeError(f"executor sim printed no URL: {out.read_text()}")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


def import_baseline() -> float:
    """Seconds for a fresh interpreter to import ccxt and the daemon's modules (best of three)."""
    code = "import ccxt.async_support, executor.cli, executor.service.daemon"
    best = float("inf")
    for _ in range(3):
        started = time.monotonic()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
        best = min(best, time.monotonic() - started)
    return best


def weight(rows: list[dict[str, Any]]) -> int:
    return sum(COSTS.get((row["method"], row["path"]), 1) for row in rows)


async def open_positions(sim: Sim, daemon: Daemon, count: int) -> None:
    for index in range(count):
        payload = {
            "id": f"restart-{index}",
            "symbol": f"R{index:02d}USDT",
            "side": "long" if index % 2 == 0 else "short",
            "entry": {"type": "market"},
            "stop": "98" if index % 2 == 0 else "102",
            "take_profit": "106" if index % 2 == 0 else "94",
        }
        status, answer = await daemon.post(payload)
        if answer.get("status") != "queued":
            raise RuntimeError(f"signal {payload['id']}: {status} {answer}")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        account = await sim.account()
        if len(account.get("positions", [])) == count and len(account.get("open_orders", [])) == 2 * count:
            return
        await asyncio.sleep(0.5)
    account = await sim.account()
    raise RuntimeError(
        f"{len(account.get('positions', []))} positions and {len(account.get('open_orders', []))} open "
        f"orders after 120 s; the daemon log is in {daemon.workdir}"
    )


async def timed_start(sim: Sim, daemon: Daemon) -> tuple[float, int]:
    """(seconds from spawn to ready, exchange requests made on the way)."""
    await sim.call("DELETE", "requests")
    started = time.monotonic()
    daemon.spawn(**DEFAULT_ENV)
    await daemon.wait_ready(60)
    elapsed = time.monotonic() - started
    return elapsed, len(await sim.requests())


async def run(name: str, url: str, workdir: Path, count: int, baseline: float, table: Table) -> None:
    simulator = Simulator(workdir, count)
    sim = Sim("binance", simulator.start())
    daemon = Daemon(sim, url, workdir, extra_env=RISK_ENV)
    try:

        def row(scenario: str, positions: int, orders: int, seconds: float, requests: int) -> None:
            beyond = seconds - baseline
            verdict = "ok" if beyond <= GOAL_BEYOND_IMPORT_S else "miss"
            table.add(name, scenario, positions, orders, f"{seconds:.2f}", f"{beyond:.2f}", requests, verdict)

        seconds, requests = await timed_start(sim, daemon)
        row("empty, first start", 0, 0, seconds, requests)
        daemon.terminate()
        daemon.spawn(**BUILD_ENV)
        await daemon.wait_ready(60)
        await open_positions(sim, daemon, count)
        for scenario, stop in (("after SIGTERM", daemon.terminate), ("after kill -9", daemon.kill)):
            stop()
            seconds, requests = await timed_start(sim, daemon)
            account = await sim.account()
            problems = unprotected(account)
            if problems:
                raise RuntimeError(f"{scenario}: {problems[:3]}")
            row(scenario, len(account["positions"]), len(account["open_orders"]), seconds, requests)
        assert daemon.process is not None
        await sim.call("DELETE", "requests")
        cpu = cpu_seconds(daemon.process.pid)
        await asyncio.sleep(30)
        busy = (cpu_seconds(daemon.process.pid) - cpu) / 30
        rows = await sim.requests()
        steady = f"{weight(rows) * 2} units/min, CPU {busy:.0%}"
        table.add(name, "steady state, 30 s", count, 2 * count, "-", "-", len(rows), steady)
    finally:
        stop_daemon(daemon)
        simulator.stop()


async def main_async(args: argparse.Namespace) -> None:
    postgres_url = args.postgres_url or os.environ.get("EXECUTOR_TEST_POSTGRES_URL", "")
    baseline = import_baseline()
    table = Table(["database", "scenario", "positions", "open orders", "to ready s", "beyond import s",
                   "exchange requests", "goal"])  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="executor-restart-") as folder:
        for name in ["sqlite", *(["postgresql"] if postgres_url and args.postgres else [])]:
            workdir = Path(folder) / name
            workdir.mkdir()
            async with database(name, workdir, postgres_url, "restart") as url:
                await run(name, url, workdir, args.positions, baseline, table)
    print(f"interpreter + ccxt + daemon imports: {baseline:.2f} s")
    table.print()
    print(f"goal: ready ≤ {GOAL_BEYOND_IMPORT_S:g} s beyond the imports; Binance budget 1200 units/min")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--positions", type=int, default=50)
    parser.add_argument("--postgres", action="store_true", help="also on PostgreSQL")
    parser.add_argument("--postgres-url", default="")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
