"""Crash trials in bulk: N seeded trials, kill -9 at every crash point and at random moments, and the tally.

Each trial (harness/trial.py) runs the daemon as a subprocess against `executor sim`, feeds it a
seeded stream of signals and price moves, kills it, restarts it and checks the invariants against the
simulator. Trials cycle through the crash points and random kills; with `--db-outages` every trial also
loses its database once or twice (the third fault dimension). The logs of a failing trial are kept (the
path is printed); a failing seed replays with `--seed S --trials 1 --kind K [--db-outages]`.

    python -m bench.chaos [--trials 5] [--seed 1] [--database sqlite|postgresql] [--exchange binance|phemex]
                          [--db-outages]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from harness.e2e import Daemon, Sim, SimProcess
from harness.stress import Table, postgres_database
from harness.trial import CRASH_POINTS, Trial, TrialResult

KINDS = [*CRASH_POINTS, "random"]


@asynccontextmanager
async def database(kind: str, workdir: Path, postgres_url: str) -> AsyncIterator[str]:
    if kind == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / 'executor.db'}"
        return
    async with postgres_database(postgres_url, "executor_chaos") as url:
        yield url


def crash_spec(kind: str, seed: int) -> str | None:
    """The crash point armed for a trial; the N-th pass (1 or 2) varies with the seed."""
    if kind == "random":
        return None
    return f"{kind}@{1 + seed % 2}" if kind != "breaker_tripped" else kind


async def main_async(args: argparse.Namespace) -> int:
    kinds = [args.kind] if args.kind else KINDS
    postgres_url = args.postgres_url or os.environ.get("EXECUTOR_TEST_POSTGRES_URL", "")
    if args.database == "postgresql" and not postgres_url:
        print("postgresql needs EXECUTOR_TEST_POSTGRES_URL or --postgres-url")
        return 2
    root = Path(tempfile.mkdtemp(prefix="executor-chaos-"))
    simulator = SimProcess(args.exchange, root / "sim")
    sim = Sim(args.exchange, simulator.start())
    results: list[tuple[TrialResult, Path]] = []
    try:
        started = time.monotonic()
        for index in range(args.trials):
            if args.max_minutes and time.monotonic() - started > args.max_minutes * 60:
                print(
                    f"time budget of {args.max_minutes} min spent: stopping after {index} trials", flush=True
                )
                break
            seed = args.seed + index
            kind = kinds[index % len(kinds)]
            workdir = root / f"trial-{seed}-{kind}"
            workdir.mkdir()
            await sim.reset()
            async with database(args.database, workdir, postgres_url) as url:
                daemon = Daemon(sim, url, workdir)
                trial = Trial(
                    sim,
                    daemon,
                    seed=seed,
                    database=args.database,
                    crash_at=crash_spec(kind, seed),
                    db_outages=args.db_outages,
                )
                result = await trial.run()
            results.append((result, workdir))
            verdict = "ok" if not result.violations else f"VIOLATED: {result.violations[0]}"
            print(f"trial {index + 1}/{args.trials} seed {seed} {result.kind}: {verdict}", flush=True)
            if not result.violations:
                shutil.rmtree(workdir)
    finally:
        simulator.stop()
    report(results, args)
    failed = [workdir for result, workdir in results if result.violations]
    if not failed:
        shutil.rmtree(root, ignore_errors=True)
    return 1 if failed else 0


def report(results: list[tuple[TrialResult, Path]], args: argparse.Namespace) -> None:
    table = Table(
        ["kind", "trials", "crash fired", "kills", "db outages", "breaker trips", "violations", "s/trial"]
    )
    kinds = sorted({result.kind for result, _ in results})
    for kind in [*kinds, "all"]:
        rows = [result for result, _ in results if kind in ("all", result.kind)]
        table.add(
            kind,
            len(rows),
            sum(result.crash_fired for result in rows) if kind != "random" else "-",
            sum(result.kills for result in rows),
            sum(result.db_outages for result in rows),
            sum(result.breaker_tripped for result in rows),
            sum(len(result.violations) for result in rows),
            f"{sum(result.seconds for result in rows) / max(1, len(rows)):.1f}",
        )
    print()
    outages = ", database outages" if args.db_outages else ""
    print(
        f"crash trials: {args.exchange}, {args.database}{outages}, "
        f"seeds {args.seed}..{args.seed + len(results) - 1} ({len(results)} of {args.trials} asked)"
    )
    table.print()
    for result, workdir in results:
        for violation in result.violations:
            print(f"seed {result.seed} {result.kind}: {violation}  (logs: {workdir})")
    print("goal: 0 violations in 200 trials")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--trials", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--exchange", choices=["binance", "phemex"], default="binance")
    parser.add_argument("--kind", choices=KINDS, default=None, help="run only this kind of trial")
    parser.add_argument("--postgres-url", default="")
    parser.add_argument(
        "--max-minutes",
        type=float,
        default=0,
        help="start no trial after this many minutes (the tally covers the trials that ran)",
    )
    parser.add_argument(
        "--db-outages",
        action="store_true",
        help="also take the database away 1–2 times per trial (SQLite locked; PostgreSQL refusing "
        "connections or its backends killed), half of them while an order's answer is delayed",
    )
    sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
