"""Run benchmarks one after another, each in its own process, and print their tables under one header.

    python -m bench.all                 every benchmark (`make bench`)
    python -m bench.all execution       the execution path's: signal to wire and the naked window, stop to
                                        booked, price age and slippage, requests per minute, risk decisions/s
    python -m bench.all latency stop    the named ones (the module's name without `_bench`)

Each runs with its defaults (PostgreSQL and Redis rows where EXECUTOR_TEST_POSTGRES_URL and
EXECUTOR_TEST_REDIS_URL are set, as the Makefile does). The exit status is the first failing benchmark's;
the rest still run.
"""

from __future__ import annotations

import subprocess
import sys
import time

from bench.common import machine

EXECUTION = ["latency", "stop", "price", "ratelimit", "risk"]
OTHERS = ["ingest", "restart", "memory", "cli_startup", "chaos"]
GROUPS = {"execution": EXECUTION, "all": EXECUTION + OTHERS}


def module(name: str) -> str:
    return "bench.chaos" if name == "chaos" else f"bench.{name}_bench"


def main() -> None:
    names = [name for arg in sys.argv[1:] or ["all"] for name in GROUPS.get(arg, [arg])]
    unknown = [name for name in names if name not in GROUPS["all"]]
    if unknown:
        known = ", ".join([*GROUPS, *GROUPS["all"]])
        sys.exit(f"unknown benchmark {', '.join(unknown)}; known: {known}")
    print(machine(), flush=True)
    status = 0
    for name in names:
        print(f"\n== {name}", flush=True)
        started = time.monotonic()
        code = subprocess.call([sys.executable, "-m", module(name)])
        outcome = "done" if code == 0 else f"FAILED (exit {code})"
        print(f"== {name}: {outcome} in {time.monotonic() - started:.0f} s")
        status = status or code
    print(f"\n{machine()}")
    sys.exit(status)


if __name__ == "__main__":
    main()
