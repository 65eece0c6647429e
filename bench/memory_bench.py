"""Resident memory of the daemon: after start, after a burst of signals, and after a soak.

RSS is VmRSS from /proc/<pid>/status of the `executor run` process (SQLite, embedded nothing: the
simulator is its own process). The burst is 2,000 WebSocket messages: three quarters malformed
(each gets its `invalid` answer and a rejected-signal row), the rest valid `open` signals on one
symbol (the first trades, the others are refused because a position is open). The soak is the
tests/soak one (trading days on an accelerated clock, the breaker tripping every tenth day).

    python -m bench.memory_bench [--burst 2000] [--days 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
from pathlib import Path

import websockets

from harness.e2e import Daemon, Sim, SimProcess
from harness.soak import Soak, process_sample
from harness.stress import Table, rss_kib, stop_daemon

GOAL_MIB = 200
SOAK_ENV = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "1",
    "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "1",
    "EXECUTOR__EXECUTION__CLOCK_SYNC_SECONDS": "1",
}


def burst_messages(count: int) -> list[str]:
    malformed = ['{"id": "x"', "[]", '{"id": "bad id!", "symbol": "SOL/USDT:USDT"}', "not json", '{"id": 1}']
    messages = []
    for index in range(count):
        if index % 4 == 3:
            body = {"id": f"burst-{index}", "symbol": "SOL/USDT:USDT", "side": "long",
                    "entry": {"type": "market"}, "stop": "140", "conviction": 8}  # fmt: skip
            messages.append(json.dumps(body))
        else:
            messages.append(malformed[index % len(malformed)] + " " * (index % 7))
    return messages


async def burst(daemon: Daemon, count: int) -> dict[str, int]:
    answers: dict[str, int] = {}
    async with websockets.connect(daemon.ws_url, max_size=None) as ws:
        for message in burst_messages(count):
            await ws.send(message)
            answer = json.loads(await ws.recv())
            while "signal_id" not in answer:  # an outcome pushed for an earlier signal
                answer = json.loads(await ws.recv())
            status = answer["status"]
            answers[status] = answers.get(status, 0) + 1
    return answers


async def main_async(args: argparse.Namespace) -> None:
    table = Table(["moment", "RSS MiB", "threads", "open files", "goal"])
    with tempfile.TemporaryDirectory(prefix="executor-memory-") as folder:
        workdir = Path(folder)
        simulator = SimProcess("binance", workdir / "sim")
        sim = Sim("binance", simulator.start())
        daemon = Daemon(sim, f"sqlite+aiosqlite:///{workdir / 'memory.db'}", workdir, extra_env=SOAK_ENV)
        try:
            await daemon.start()
            assert daemon.process is not None
            pid = daemon.process.pid

            def row(moment: str) -> None:
                rss, threads, fds = process_sample(pid)
                mib = rss / 1024
                table.add(moment, f"{mib:.1f}", threads, fds, "ok" if mib <= GOAL_MIB else "miss")

            await asyncio.sleep(2)
            row("after start (ready + 2 s)")
            answers = await burst(daemon, args.burst)
            await asyncio.sleep(2)
            row(f"after a burst of {args.burst} messages")
            soak = Soak(sim, daemon, days=args.days)
            await daemon.post({"id": "burst-close", "action": "close", "symbol": "SOL/USDT:USDT"})
            await soak.booked_flat()
            report = await soak.run()
            row(f"after a {args.days}-day soak")
            peak = max(sample.rss_kib for sample in report.samples) / 1024
            print(
                f"burst answers: {answers}; soak problems: {report.problems or 'none'}; peak {peak:.1f} MiB"
            )
            print(f"current RSS {rss_kib(pid) / 1024:.1f} MiB")
        finally:
            stop_daemon(daemon)
            simulator.stop()
    table.print()
    print(f"goal: RSS ≤ {GOAL_MIB} MB")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--burst", type=int, default=2000)
    parser.add_argument("--days", type=int, default=10)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
