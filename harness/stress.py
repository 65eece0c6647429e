"""The stress toolkit shared by the crash trials, fault suite, soak, fuzzing and `bench/`.

Small pieces only: signal bodies, percentiles, aligned tables, and a process's resident memory.
The simulator and daemon processes come from `harness.e2e`; the invariants from `harness.invariants`.
"""

from __future__ import annotations

import json
import math
import os
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any


def signal_json(signal_id: str, **fields: Any) -> str:
    """An `open` signal at market with a stop; any field can be replaced or added."""
    data: dict[str, Any] = {
        "id": signal_id,
        "symbol": "SOL/USDT:USDT",
        "side": "long",
        "entry": {"type": "market"},
        "stop": "140",
        "conviction": 8,
        **fields,
    }
    return json.dumps(data)


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile; NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def stop_daemon(daemon: Any) -> None:
    """SIGTERM an `harness.e2e.Daemon` that is still running (a no-op when it is not)."""
    if daemon.process is not None and daemon.process.poll() is None:
        daemon.terminate()


def rss_kib(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/<pid>/status), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


@asynccontextmanager
async def postgres_database(admin_url: str, prefix: str = "executor_stress") -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database on the server of `admin_url`; dropped afterwards."""
    import asyncpg

    plain = admin_url.replace("postgresql+asyncpg://", "postgresql://", 1)
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(plain)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    try:
        yield f"{admin_url.rsplit('/', 1)[0]}/{name}"
    finally:
        connection = await asyncpg.connect(plain)
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()


async def table_rows(url: str, tables: Sequence[str]) -> dict[str, int]:
    """Row counts read with the bare driver (sqlite3 / asyncpg), not through the daemon's store."""
    if url.startswith("sqlite"):
        import sqlite3

        with sqlite3.connect(url.split(":///", 1)[1]) as connection:
            return {t: int(connection.execute(f"SELECT count(*) FROM {t}").fetchone()[0]) for t in tables}
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return {t: int(await connection.fetchval(f"SELECT count(*) FROM {t}")) for t in tables}
    finally:
        await connection.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (/proc/<pid>/stat), in seconds."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Table:
    """A markdown table whose columns line up in a terminal too."""

    def __init__(self, headers: Sequence[str]) -> None:
        self.headers = [str(h) for h in headers]
        self.rows: list[list[str]] = []

    def add(self, *cells: Any) -> None:
        if len(cells) != len(self.headers):
            raise ValueError(f"{len(cells)} cells for {len(self.headers)} columns")
        self.rows.append([str(cell) for cell in cells])

    def render(self) -> str:
        widths = [max(len(row[i]) for row in [self.headers, *self.rows]) for i in range(len(self.headers))]

        def line(cells: Sequence[str]) -> str:
            return (
                "| " + " | ".join(cell.rjust(width) for cell, width in zip(cells, widths, strict=True)) + " |"
            )

        rule = "|" + "|".join("-" * (width + 1) + ":" for width in widths) + "|"
        return "\n".join([line(self.headers), rule, *(line(row) for row in self.rows)])

    def print(self) -> None:
        print(self.render(), flush=True)
