"""Requests per minute against each venue's budget, with five open positions (issue #10 item 12).

For each exchange and mode (mainnet, testnet) a fresh `executor sim` (Phemex: enforcing that mode's
budgets, `[sim] rate_limits`; Binance: no enforcement in the simulator) and a daemon with the production
intervals and `exchange.rate_limits` set to the mode. Five market signals on five symbols open five
protected positions; then the simulator's request log is counted for `--seconds` (default 60): requests a
minute (Phemex split into its Contract and Others groups and unsigned public requests), the most in any
5 minutes since the daemon started, and how many were answered 429. The harness watches through the
control API, which is neither recorded nor counted. The goal column compares the demand with the budget:
Binance in ccxt's cost units (`bench.common.binance_cost`, ccxt's own table), Phemex testnet as the busiest
5 minutes or five times the measured minute (a minute's demand over 100 means the throttle holds reads
back and the daemon's view of the account goes stale), Phemex mainnet per group and per IP.

Budgets (docs/exchange-facts.md §12): Phemex mainnet Contract 500/min and Others 100/min per key, 5,000 per
5 min per IP; Phemex testnet 500 per 5 min in all; Binance 2,400 weight/min per IP and 1,200 orders/min
(Demo Trading's limits are undocumented: taken as mainnet's).

    python -m bench.ratelimit_bench [--seconds 60] [--exchanges binance,phemex] [--modes mainnet,testnet]
        [--set EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS=6 ...] [--paths]

`--paths` prints, after the table, each run's requests a minute by method and path (what to cut).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from adapters.ratelimit import PHEMEX_TESTNET_REQUESTS
from adapters.sim.phemex_limits import CONTRACT_WEIGHTS
from bench.common import PRODUCTION_INTERVALS, binance_cost, machine, verdict
from harness.e2e import Daemon, Sim, SimProcess, eventually
from harness.stress import Table, stop_daemon

EXTRA_INSTRUMENTS = "".join(
    f"""
[instruments.{base}USDT]
base = "{base}"
quote = "USDT"
tick = "{tick}"
step = "1"
min_qty = "1"
max_qty = "100000000"
min_notional = "5"
max_leverage = 50
maker_fee = "0.0002"
taker_fee = "0.0005"
funding_interval_hours = 8
start_price = "{price}"
tiers = [{{ floor = "0", cap = "1000000", max_leverage = 50, mmr = "0.01", cum = "0" }}]
"""
    for base, tick, price in (("XRP", "0.0001", "2.0"), ("DOGE", "0.00001", "0.2"))
)
"""Two more instruments than the simulator's three, for five positions on five symbols."""
POSITIONS = [
    ("SOL/USDT:USDT", "147"),
    ("ETH/USDT:USDT", "2900"),
    ("BTC/USDT:USDT", "59000"),
    ("XRP/USDT:USDT", "1.96"),
    ("DOGE/USDT:USDT", "0.196"),
]
BUDGETS = {
    ("phemex", "mainnet"): "Contract 500/min, Others 100/min, IP 5,000/5 min",
    ("phemex", "testnet"): "500/5 min in all",
    ("binance", "mainnet"): "2,400 weight/min, 1,200 orders/min",
    ("binance", "testnet"): "as mainnet (Demo: undocumented)",
}
WRITE_METHODS = {"POST", "PUT", "DELETE"}
BINANCE_UNITS_PER_MINUTE = 1200


def group(row: dict[str, Any]) -> str:
    if row["api_key"] is None:
        return "public"
    return "contract" if (row["method"], row["path"]) in CONTRACT_WEIGHTS else "others"


def busiest_five_minutes(rows: list[dict[str, Any]]) -> int:
    """The most requests in any 5-minute window (the run is shorter: all of them)."""
    moments = sorted(row["arrival_wall_ms"] for row in rows)
    best, start = 0, 0
    for end, moment in enumerate(moments):
        while moments[start] <= moment - 300_000:
            start += 1
        best = max(best, end - start + 1)
    return best


def by_path(rows: list[dict[str, Any]], per_minute: float) -> list[str]:
    """Requests a minute by method and path, the most first."""
    counts = Counter(f"{row['method']} {row['path']}" for row in rows)
    return [f"{count * per_minute:7.1f}/min  {name}" for name, count in counts.most_common()]


async def run(
    family: str,
    venue: str,
    seconds: float,
    workdir: Path,
    settings: dict[str, str] | None = None,
    paths: list[str] | None = None,
) -> list[Any]:
    """One exchange and mode's row of the table; with `paths`, its requests by path appended there."""
    config = f'[sim]\nrate_limits = "{venue if family == "phemex" else "off"}"\n' + EXTRA_INSTRUMENTS
    process = SimProcess(family, workdir / "sim", config=config)
    sim = Sim(family, process.start())
    env = {**PRODUCTION_INTERVALS, "EXECUTOR__EXCHANGE__RATE_LIMITS": venue, **(settings or {})}
    daemon = Daemon(sim, f"sqlite+aiosqlite:///{workdir / 'bench.db'}", workdir, extra_env=env)
    try:
        await daemon.start()
        signals = [
            {"id": f"rl-{n}", "symbol": symbol, "side": "long", "entry": {"type": "market"}, "stop": stop}
            for n, (symbol, stop) in enumerate(POSITIONS)
        ]
        await daemon.ws_send(signals)

        async def five_protected() -> bool:
            account = await sim.account()
            held = [p for p in account["positions"] if p["qty"] != "0"]
            return len(held) == len(POSITIONS) and len(account["open_orders"]) >= len(POSITIONS)

        await eventually(five_protected, within=180, interval=0.5, what="five protected positions")
        first = len(await sim.requests())
        started = time.monotonic()
        await asyncio.sleep(seconds)
        rows = await sim.requests()
        elapsed = time.monotonic() - started
        measured = rows[first:]
        per_minute = 60 / elapsed
        groups = ("contract", "others", "public")
        counts = {name: sum(1 for r in measured if group(r) == name) for name in groups}
        writes = sum(1 for r in measured if r["method"] in WRITE_METHODS)
        split = (
            f"{counts['contract'] * per_minute:.0f} / {counts['others'] * per_minute:.0f} / "
            f"{counts['public'] * per_minute:.0f}"
            if family == "phemex"
            else "–"
        )
        busiest = busiest_five_minutes(rows)
        if paths is not None:
            paths.extend([f"{family} {venue}:", *by_path(measured, per_minute)])
        rate = {name: count * per_minute for name, count in counts.items()}
        if family == "binance":
            units = sum(binance_cost(r) for r in measured) * per_minute
            compared, ok = f"{units:.0f} ccxt units/min of 1,200", units <= BINANCE_UNITS_PER_MINUTE
        elif venue == "testnet":
            five = max(busiest, round(len(measured) * per_minute * 5))
            compared, ok = f"{five} in 5 min of 500", five <= PHEMEX_TESTNET_REQUESTS
        else:
            ip = round(rate["public"] * 5)
            compared = f"{rate['contract']:.0f}/500, {rate['others']:.0f}/100 a min; IP {ip}/5,000 in 5 min"
            ok = rate["contract"] <= 500 and rate["others"] <= 100 and ip <= 5000
        return [
            family,
            venue,
            BUDGETS[(family, venue)],
            f"{len(measured) * per_minute:.0f}",
            split,
            f"{writes * per_minute:.0f}",
            busiest,
            sum(1 for r in rows if r["status"] == 429),
            compared,
            verdict(ok and not any(r["status"] == 429 for r in rows)),
        ]
    finally:
        stop_daemon(daemon)
        process.stop()


async def main_async(args: argparse.Namespace) -> None:
    table = Table(
        [
            "exchange",
            "mode",
            "budget",
            "requests/min",
            "contract / others / public per min",
            "writes/min",
            "most in 5 min",
            "429s",
            "against the budget",
            "goal",
        ]
    )
    print(machine(), flush=True)
    paths: list[str] | None = [] if args.paths else None
    for family in args.exchanges.split(","):
        for venue in args.modes.split(","):
            with tempfile.TemporaryDirectory(prefix=f"rl-{family}-{venue}-") as tmp:
                settings = dict(item.split("=", 1) for item in args.set)
                table.add(*await run(family, venue, args.seconds, Path(tmp), settings, paths))
                print(f"{family} {venue} done", flush=True)
    table.print()
    print(
        "goal: inside the budget with no 429; Binance in ccxt's cost units (the daemon's throttle: 1,200 a"
        " minute for 2,400 weight); Phemex testnet: the busiest 5 minutes or 5 × the measured minute,"
        " whichever is more"
    )
    if paths:
        print("\n".join(paths))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="how long to count (default 60)")
    parser.add_argument("--exchanges", default="binance,phemex", help="comma-separated (default both)")
    parser.add_argument("--modes", default="mainnet,testnet", help="comma-separated (default both)")
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="EXECUTOR__SECTION__KEY=VALUE",
        help="a daemon setting over the production intervals (repeatable), e.g. longer testnet intervals",
    )
    parser.add_argument("--paths", action="store_true", help="also print each run's requests by path")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
