"""The README's walk-through and its continuation in docs/operations.md, run as written against `make run`'s
daemon (the embedded default: simulator inside the daemon, SQLite in var/), each command in a shell.

Each command's comment in the docs is a claim; every command has a check here that holds it to that claim,
and a command added to the docs without one fails the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.e2e import REPO, clean_environment
from harness.ports import free_port

pytestmark = pytest.mark.slow

VENV_BIN = Path(sys.executable).parent
COMMENT = re.compile(r"\s+#\s.*$")


def shell_block(document: Path, heading: str) -> list[str]:
    """The commands of the first ```sh block under `heading`, without their comments."""
    text = document.read_text(encoding="utf-8")
    section = text[text.index(f"\n{heading}\n") :]
    block = section[section.index("```sh\n") + len("```sh\n") :]
    block = block[: block.index("```")]
    return [COMMENT.sub("", line) for line in block.splitlines() if line.strip()]


@dataclass(frozen=True)
class Ran:
    code: int
    out: str
    err: str


@dataclass
class Walk:
    """A shell in a fresh directory beside the daemon, with the checkout's examples/ and its .venv."""

    directory: Path
    env: dict[str, str]
    daemon: subprocess.Popen[bytes] | None = None

    def sh(self, command: str) -> Ran:
        done = subprocess.run(
            ["bash", "-c", command],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        return Ran(done.returncode, done.stdout, done.stderr)

    def until(self, command: str, *expected: str, within: float = 20) -> str:
        """Run `command` until its output holds every expected text, as a user would run it again."""
        deadline = time.monotonic() + within
        while True:
            ran = self.sh(command)
            if ran.code == 0 and all(text in ran.out for text in expected):
                return ran.out
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{command!r} never showed {expected}; last ({ran.code}):\n{ran.out}{ran.err}"
                )
            time.sleep(0.5)


def queued(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0 and '"status": "queued"' in ran.out, ran


def sol_long_opened(ran: Ran, walk: Walk) -> None:
    queued(ran, walk)
    walk.until("executor status", "SOL/USDT:USDT long", "stop 145.00 (order open)", "take-profit 175.00")


def sol_long_shown(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0, ran
    assert "SOL/USDT:USDT long" in ran.out and "stop 145.00 (order open)" in ran.out, ran
    assert "take-profit 175.00 (order open)" in ran.out, ran


def sol_long_explained(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0 and "ACCEPTED" in ran.out and "SOL" in ran.out and ", 5x:" in ran.out, ran
    assert "steps (21)" in ran.out, ran


def duplicate(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0 and '"status": "duplicate"' in ran.out, ran


def stop_moved_through_the_webhook(ran: Ran, walk: Walk) -> None:
    queued(ran, walk)
    walk.until("executor status", "stop 147.50 (order open)")
    explained = walk.sh("executor explain readme-sol-move-stop-1").out
    assert "from webhook" in explained and "orders: none" not in explained, explained
    assert "stop_market sell" in explained and "trigger 147.50 · open" in explained, explained


def sol_closed(ran: Ran, walk: Walk) -> None:
    queued(ran, walk)
    walk.until("executor status", "positions  none", "orders     none")


def eth_limit_resting(ran: Ran, walk: Walk) -> None:
    queued(ran, walk)
    walk.until("executor status", "ETH/USDT:USDT limit buy", "at 2970.00 · open")


def halted_and_cancelled(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0 and "halted at" in ran.out, ran
    walk.until("executor status", "TRIPPED", "positions  none", "orders     none")


def rejected_halted(ran: Ran, walk: Walk) -> None:
    queued(ran, walk)
    walk.until("executor explain readme-eth-limit-2", "REJECTED", "HALTED")


def halted_explained(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0 and "REJECTED" in ran.out and "HALTED" in ran.out, ran


def resumed(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0 and "resumed at" in ran.out, ran
    walk.until("executor status", "breaker    ACTIVE")


def activated(ran: Ran, walk: Walk) -> None:
    assert ran.code == 0, ran
    assert walk.sh(". .venv/bin/activate && command -v executor").out.strip() == str(VENV_BIN / "executor")


CHECKS: dict[str, Callable[[Ran, Walk], None]] = {
    ". .venv/bin/activate": activated,
    # the same command a second time is checked by `duplicate`
    "executor signal send examples/01-sol-market-long.json": sol_long_opened,
    "executor status": sol_long_shown,
    "executor explain readme-sol-long-1": sol_long_explained,
    "executor signal send --http examples/02-sol-move-stop.json": stop_moved_through_the_webhook,
    "executor signal send examples/03-sol-close.json": sol_closed,
    "executor signal send examples/04-eth-limit-long.json": eth_limit_resting,
    'executor halt --reason "end of the walk-through"': halted_and_cancelled,
    "sed 's/limit-1/limit-2/' examples/04-eth-limit-long.json | executor signal send -": rejected_halted,
    "executor explain readme-eth-limit-2": halted_explained,
    'executor resume --force --note "walk-through done"': resumed,
}


@pytest.fixture
def walk(tmp_path: Path) -> Iterator[Walk]:
    """`make run` in a fresh directory: `executor db upgrade`, then `executor run` on the embedded default."""
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    (tmp_path / ".venv").symlink_to(VENV_BIN.parent)
    http, websocket = free_port(), free_port()
    env = clean_environment() | {
        "PATH": f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
        "EXECUTOR__INGRESS__HTTP": f"127.0.0.1:{http}",
        "EXECUTOR__INGRESS__WEBSOCKET": f"127.0.0.1:{websocket}",
    }
    walk = Walk(tmp_path, env)
    upgraded = walk.sh("executor db upgrade")
    assert upgraded.code == 0, upgraded
    with (tmp_path / "daemon.log").open("wb") as log:
        walk.daemon = daemon = subprocess.Popen(
            ["executor", "run"], cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not _ready(http):
            assert daemon.poll() is None and time.monotonic() < deadline, (
                tmp_path / "daemon.log"
            ).read_text()
            time.sleep(0.2)
        yield walk
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait()


def _ready(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/ready", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


@pytest.mark.timeout(300)  # ~35 commands, each a fresh interpreter, and the daemon: 1-2 min when busy
def test_the_readme_walkthrough_and_its_continuation_in_operations_run_as_written(walk: Walk) -> None:
    readme = shell_block(REPO / "README.md", "## Walk-through")
    operations = shell_block(
        REPO / "docs" / "operations.md", "## Walk-through against the embedded simulator"
    )
    # docs/operations.md repeats the README's steps (in an activated shell), then continues them.
    assert readme[0] == ". .venv/bin/activate"
    assert operations[: len(readme) - 1] == readme[1:]
    commands = readme + operations[len(readme) - 1 :]
    assert set(commands) == set(CHECKS), "every command in the walk-through needs its check here"

    done: set[str] = set()
    for command in commands:
        ran = walk.sh(command)
        check = duplicate if command in done else CHECKS[command]
        check(ran, walk)
        done.add(command)

    # "SIGTERM/Ctrl-C stop it within 5 s, stops stay on the exchange" (README, Commands)
    assert walk.daemon is not None
    sent = time.monotonic()
    walk.daemon.send_signal(signal.SIGTERM)
    code = walk.daemon.wait(timeout=30)
    assert (code, time.monotonic() - sent < 5) == (0, True), time.monotonic() - sent
