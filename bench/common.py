"""What the benchmarks of the execution path share: a simulator and a daemon per run, a database per run,
reads of the daemon's rows with the bare driver, percentiles, verdicts, and the header naming the commit
and the machine's load that every printed table needs to be read at all.

Measured from the outside: times come from this process's clock, the simulator's request log (same
machine, same wall clock) and rows the bare driver (sqlite3 / asyncpg) reads from the daemon's database,
not from the daemon's own metrics, which are printed beside them where they exist.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sqlite3
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import ccxt  # type: ignore[import-untyped]

from harness.e2e import REPO, Daemon, Sim, SimProcess
from harness.stress import percentile, postgres_database, stop_daemon

T = TypeVar("T")
MET, NOT_MET = "met", "not met"
PRODUCTION_INTERVALS = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "1",
    "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "2",
    "EXECUTOR__EXECUTION__STREAMED_ACCOUNT_SECONDS": "5",
    "EXECUTOR__EXECUTION__CLOCK_SYNC_SECONDS": "60",
    "EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS": "60",
    "EXECUTOR__LOGGING__LEVEL": "info",
}
"""The daemon's default intervals (the e2e harness's are 5-10 times shorter, and cost requests)."""
TICKS = {"SOLUSDT": Decimal("0.01"), "ETHUSDT": Decimal("0.01"), "BTCUSDT": Decimal("0.1")}


def verdict(ok: bool) -> str:
    return MET if ok else NOT_MET


def stats_ms(values: Sequence[float]) -> tuple[str, str, str]:
    """p50, p99 and max, in ms with two decimals ("-" for no values)."""
    if not values:
        return ("-", "-", "-")
    return (f"{percentile(values, 50):.2f}", f"{percentile(values, 99):.2f}", f"{max(values):.2f}")


def on_tick(value: Decimal, sim_symbol: str) -> Decimal:
    tick = TICKS[sim_symbol]
    return (value / tick).to_integral_value() * tick


async def wait_for(
    probe: Callable[[], Awaitable[T | None]], what: str, within: float = 10.0, interval: float = 0.005
) -> T:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        found = await probe()
        if found:
            return found
        await asyncio.sleep(interval)
    raise RuntimeError(f"timed out after {within:g} s waiting for {what}")


def machine() -> str:
    """One line for the top of every run: when, which commit, how loaded the machine was, and since when it
    has been up (two runs on different boots may be on different hosts: their speeds need not compare)."""
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty", "--abbrev=10"], cwd=REPO, capture_output=True, text=True
    ).stdout.strip()
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    booted = datetime.fromtimestamp(time.time() - time.clock_gettime(time.CLOCK_BOOTTIME), UTC)
    return (
        f"{now} · commit {commit or 'unknown'} · load average (1, 5, 15 min) {load} on {os.cpu_count()} cores"
        f" · up since {booted:%Y-%m-%d %H:%M UTC} · Python {platform.python_version()}"
    )


def load_now() -> str:
    return f"{os.getloadavg()[0]:.2f}"


@asynccontextmanager
async def running(
    family: str, database_url: str, workdir: Path, env: dict[str, str] | None = None, sim_config: str = ""
) -> AsyncIterator[tuple[Sim, Daemon]]:
    """A fresh `executor sim` and an `executor run` at the production intervals against it."""
    simulator = SimProcess(family, workdir / "sim", config=sim_config)
    sim = Sim(family, simulator.start())
    daemon = Daemon(sim, database_url, workdir, extra_env={**PRODUCTION_INTERVALS, **(env or {})})
    try:
        await daemon.start()
        yield sim, daemon
    finally:
        stop_daemon(daemon)
        simulator.stop()


def arguments(doc: str | None) -> argparse.ArgumentParser:
    """A bench's command line, its module docstring as the help."""
    return argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)


def database_names(postgres_url: str) -> list[str]:
    return ["sqlite", *(["postgresql"] if postgres_url else [])]


def postgres_admin_url(given: str) -> str:
    return given or os.environ.get("EXECUTOR_TEST_POSTGRES_URL", "")


@asynccontextmanager
async def database(name: str, workdir: Path, postgres_url: str, stem: str = "bench") -> AsyncIterator[str]:
    """A fresh SQLite file `stem.db` in `workdir`, or a fresh PostgreSQL database (`executor_stem_…`)
    dropped afterwards."""
    if name == "sqlite":
        yield f"sqlite+aiosqlite:///{workdir / f'{stem}.db'}"
    else:
        async with postgres_database(postgres_url, f"executor_{stem}") as url:
            yield url


async def stream_names(daemon: Daemon) -> str:
    """The exchange streams the daemon follows, from /ready ("none": it polls REST)."""
    _, body = await daemon.get("/ready")
    streams = body.get("streams", {}) if isinstance(body, dict) else {}
    return ", ".join(sorted(streams)) or "none"


# --------------------------------------------------------------------------- the daemon's rows, bare


class Rows:
    """Queries on the daemon's database with the bare driver: what another process sees committed."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite_path = url.split(":///", 1)[1] if url.startswith("sqlite") else None

    async def fetch(self, sql: str, *args: Any) -> list[tuple[Any, ...]]:
        """`sql` with `?` placeholders (rewritten to `$n` for PostgreSQL)."""
        if self.sqlite_path is not None:
            return await asyncio.to_thread(self._sqlite, sql, args)
        import asyncpg

        connection = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            return [tuple(row) for row in await connection.fetch(_numbered(sql), *args)]
        finally:
            await connection.close()

    def _sqlite(self, sql: str, args: tuple[Any, ...]) -> list[tuple[Any, ...]]:
        assert self.sqlite_path is not None
        with sqlite3.connect(self.sqlite_path, timeout=5) as connection:
            return list(connection.execute(sql, args).fetchall())

    async def first_seen(self, sql: str, *args: Any, within: float = 15.0) -> int:
        """The wall time (ns) at which `sql` first returns a row, polled about every millisecond on one
        connection; the resolution is the poll's spacing plus one query."""
        if self.sqlite_path is not None:
            return await asyncio.to_thread(self._sqlite_first_seen, sql, args, within)
        import asyncpg

        connection = await asyncpg.connect(self.url.replace("postgresql+asyncpg://", "postgresql://", 1))
        try:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                if await connection.fetch(_numbered(sql), *args):
                    return time.time_ns()
                await asyncio.sleep(0.001)
        finally:
            await connection.close()
        raise RuntimeError(f"no row within {within:g} s for {sql} {args}")

    def _sqlite_first_seen(self, sql: str, args: tuple[Any, ...], within: float) -> int:
        assert self.sqlite_path is not None
        connection = sqlite3.connect(self.sqlite_path, timeout=5, isolation_level=None)
        try:
            deadline = time.monotonic() + within
            while time.monotonic() < deadline:
                if connection.execute(sql, args).fetchone() is not None:
                    return time.time_ns()
                time.sleep(0.001)
        finally:
            connection.close()
        raise RuntimeError(f"no row within {within:g} s for {sql} {args}")


def _numbered(sql: str) -> str:
    parts = sql.split("?")
    return "".join(part + (f"${index}" if index < len(parts) else "") for index, part in enumerate(parts, 1))


# --------------------------------------------------------------------------- request cost


@cache
def _binance_api() -> dict[str, Any]:
    api: dict[str, Any] = ccxt.binanceusdm().api
    return api


def binance_cost(row: dict[str, Any]) -> float:
    """ccxt's cost units of one recorded Binance USDⓈ-M request (the units the daemon's throttle spends,
    1,200 a minute; ccxt's table in binance.py `describe()['api']`), 1 for a path ccxt does not list."""
    parts = row["path"].strip("/").split("/")  # fapi, v1, endpoint
    if len(parts) < 3 or parts[0] != "fapi":
        return 1.0
    version = "" if parts[1] == "v1" else parts[1].upper()
    group = "fapiPrivate" if row["api_key"] else "fapiPublic"
    entry = _binance_api().get(group + version, {}).get(row["method"].lower(), {}).get("/".join(parts[2:]))
    if entry is None:
        return 1.0
    if not isinstance(entry, dict):
        return float(entry)
    if "noSymbol" in entry and not row["params"].get("symbol"):
        return float(entry["noSymbol"])
    limit = row["params"].get("limit")
    for bound, cost in entry.get("byLimit", ()) if limit else ():
        if int(limit) <= bound:
            return float(cost)
    return float(entry.get("cost", 1))


# --------------------------------------------------------------------------- the daemon's own view


async def histogram(daemon: Daemon, name: str) -> dict[float, float]:
    """A Prometheus histogram's cumulative bucket counts from the daemon's /metrics, by upper bound."""
    _, text = await daemon.get("/metrics")
    buckets: dict[float, float] = {}
    for line in str(text).splitlines():
        if line.startswith(f"{name}_bucket{{"):
            bound = line.split('le="', 1)[1].split('"', 1)[0]
            buckets[float(bound)] = float(line.rsplit(" ", 1)[1])
    return buckets


def bucket_percentile(before: dict[float, float], after: dict[float, float], p: float) -> str:
    """The bucket holding the p-th percentile of the observations made between two scrapes, as "≤ N ms"
    (a histogram knows no finer); "-" when none were made."""
    counts = {bound: after.get(bound, 0.0) - before.get(bound, 0.0) for bound in after}
    total = counts.get(float("inf"), 0.0)
    if total <= 0:
        return "-"
    finite = sorted(bound for bound in counts if bound != float("inf"))
    for bound in finite:
        if counts[bound] >= p / 100 * total:
            return f"≤ {bound * 1000:g}"
    return f"> {finite[-1] * 1000:g}"
