"""CLI start-up: `executor --version`, `--help`, `size` and `status` beyond the interpreter's own start.

Each command runs as a fresh process (as a user or a script runs it), `--rounds` times; the median is
compared with the median of `python -c pass` measured alternately with it, so a busy machine moves both.
`status` asks a stand-in daemon (a local HTTP server answering `/status`), which is the command's usual
path; without an answer it also reads the database. The last table row is the one for the README.

The commands run with bytecode caches, as an installed CLI does: a first round, not counted, writes them
(PYTHONDONTWRITEBYTECODE, which some shells set, is left out of the commands' environment, since with it
every run compiles the project's modules again).

    python -m bench.cli_startup_bench [--rounds 15]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from harness.e2e import EXECUTOR, REPO, clean_environment
from harness.stress import Table

GOAL_BEYOND_INTERPRETER_S = 0.3
SIZE_EXAMPLE = "examples/size/01-sol-long-accepted.json"
REPORT = {"account": "main", "breaker": {"status": "active"}, "day": {}, "positions": [], "orders": []}


class _Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(REPORT).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # quiet
        return


@contextmanager
def stand_in_daemon() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Status)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def wall(command: Sequence[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, timeout=120, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} exited {done.returncode}: {done.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()

    with stand_in_daemon() as port:
        env = clean_environment() | {"EXECUTOR__INGRESS__HTTP": f"127.0.0.1:{port}"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        commands = {
            "executor --version": [EXECUTOR, "--version"],
            "executor --help": [EXECUTOR, "--help"],
            f"executor size --input {Path(SIZE_EXAMPLE).name}": [EXECUTOR, "size", "--input", SIZE_EXAMPLE],
            "executor status (daemon answers)": [EXECUTOR, "status"],
        }
        for command in commands.values():
            wall(command, env)
        bare: list[float] = []
        timings: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.rounds):
            for name, command in commands.items():
                bare.append(wall([sys.executable, "-c", "pass"], env))
                timings[name].append(wall(command, env))

    interpreter = statistics.median(bare)
    table = Table(["command", "median s", "beyond interpreter s", f"goal ≤ {GOAL_BEYOND_INTERPRETER_S} s"])
    beyond = {name: statistics.median(values) - interpreter for name, values in timings.items()}
    for name, values in timings.items():
        verdict = "ok" if beyond[name] <= GOAL_BEYOND_INTERPRETER_S else "miss"
        table.add(name, f"{statistics.median(values):.3f}", f"{beyond[name]:.3f}", verdict)
    table.add("python -c pass (the interpreter)", f"{interpreter:.3f}", "-", "-")
    table.print()
    worst = max(beyond, key=lambda name: beyond[name])
    print(
        f"README row: | CLI start-up beyond the interpreter ({interpreter:.2f} s) | "
        f"≤ {GOAL_BEYOND_INTERPRETER_S} s | {min(beyond.values()):.2f} – {beyond[worst]:.2f} s "
        f"(slowest: {worst}) | {'ok' if beyond[worst] <= GOAL_BEYOND_INTERPRETER_S else 'partly'} |"
    )


if __name__ == "__main__":
    main()
