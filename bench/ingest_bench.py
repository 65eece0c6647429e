"""Durable signal ingestion per second, with no loss: `Inbox.submit` on SQLite and PostgreSQL.

Every `queued` answer means a committed row, so the figure is commits per second. After each run the
stored rows are counted with the database's own driver (not through the daemon's store): a row short
of the answers given is a loss. Logging is on at the daemon's level (info, JSON) into /dev/null, so
its cost is counted as it is in the daemon. PostgreSQL runs when EXECUTOR_TEST_POSTGRES_URL (or
--postgres-url) names a server; a fresh database is created and dropped.

    python -m bench.ingest_bench [--signals 2000] [--concurrency 1,16] [--postgres-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

from executor.domain.enums import SignalSource
from executor.observability.logging import configure_logging
from executor.signals.inbox import Inbox
from executor.signals.result import IngressStatus
from executor.store.store import Store
from harness.stress import Table, percentile, postgres_database, signal_json

GOAL = 500
ACCOUNT = "main"


@asynccontextmanager
async def sqlite_database() -> AsyncIterator[tuple[str, str]]:
    with tempfile.TemporaryDirectory() as folder:
        yield "sqlite", f"sqlite+aiosqlite:///{Path(folder) / 'ingest.db'}"


@asynccontextmanager
async def postgres_run(admin_url: str) -> AsyncIterator[tuple[str, str]]:
    async with postgres_database(admin_url, "executor_bench") as url:
        yield "postgresql", url


async def stored_rows(url: str, prefix: str) -> int:
    """Rows whose id starts with `prefix`, counted with the bare driver."""
    if url.startswith("sqlite"):
        path = url.split(":///", 1)[1]
        with sqlite3.connect(path) as connection:
            row = connection.execute(
                "SELECT count(*) FROM signals WHERE signal_id LIKE ?", (prefix + "%",)
            ).fetchone()
        return int(row[0])
    import asyncpg

    connection = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://", 1))
    try:
        return int(
            await connection.fetchval("SELECT count(*) FROM signals WHERE signal_id LIKE $1", prefix + "%")
        )
    finally:
        await connection.close()


async def run(url: str, signals: int, concurrency: int, prefix: str) -> tuple[float, list[float], int, int]:
    """(signals/s, per-submit latencies in ms, queued answers, rows stored)."""
    store = Store.open(url)
    await store.upgrade()
    inbox = Inbox(store, ACCOUNT, lambda: datetime.now(UTC))
    bodies = [
        signal_json(f"{prefix}{i}", symbol="SOL/USDT:USDT", stop="140").encode() for i in range(signals)
    ]
    latencies: list[float] = []
    queued = 0
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def sender() -> None:
        nonlocal queued
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            result = await inbox.submit(body, SignalSource.WEBSOCKET)
            latencies.append((time.perf_counter() - started) * 1000)
            queued += result.status is IngressStatus.QUEUED

    started = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    await store.close()
    return signals / elapsed, latencies, queued, await stored_rows(url, prefix)


async def main_async(args: argparse.Namespace) -> int:
    databases = [sqlite_database()]
    postgres = args.postgres_url or os.environ.get("EXECUTOR_TEST_POSTGRES_URL", "")
    if postgres:
        databases.append(postgres_run(postgres))
    table = Table(
        [
            "database",
            "senders",
            "signals",
            "signals/s",
            "p50 ms",
            "p99 ms",
            "queued",
            "stored",
            "lost",
            "goal",
        ]
    )
    failures = 0
    for database in databases:
        async with database as (name, url):
            for concurrency in args.concurrency:
                prefix = f"b{concurrency}-"
                per_second, latencies, queued, stored = await run(url, args.signals, concurrency, prefix)
                lost = queued - stored
                failures += lost != 0 or queued != args.signals
                table.add(
                    name,
                    concurrency,
                    args.signals,
                    f"{per_second:,.0f}",
                    f"{percentile(latencies, 50):.2f}",
                    f"{percentile(latencies, 99):.2f}",
                    queued,
                    stored,
                    lost,
                    "ok" if per_second >= GOAL and lost == 0 else "miss",
                )
    table.print()
    if not postgres:
        print("postgresql: skipped (set EXECUTOR_TEST_POSTGRES_URL or --postgres-url)")
    print(f"goal: ≥ {GOAL} durable signals/s, 0 lost (every queued answer is a committed row)")
    return 1 if failures else 0


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--signals", type=int, default=2000)
    parser.add_argument("--concurrency", type=lambda text: [int(x) for x in text.split(",")], default=[1, 16])
    parser.add_argument("--postgres-url", default="")
    with open(os.devnull, "w") as devnull:
        configure_logging(level="info", fmt="json", stream=devnull)
        sys.exit(asyncio.run(main_async(parser.parse_args())))


if __name__ == "__main__":
    main()
