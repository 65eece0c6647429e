"""`executor exchange check` as a user runs it: the checklist on stdout, exit 0 only when nothing FAILs,
`--orders` refused in live mode before anything is sent."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator

import pytest

from adapters.sim import SimServer
from adapters.sim.config import ApiCredential
from harness.e2e import EXECUTOR, REPO, clean_environment
from tests.support.simkit import static_config

pytestmark = pytest.mark.slow

KEYS = (
    ApiCredential(api_key="sim-key", secret="sim-secret"),
    ApiCredential(api_key="read-only", secret="ro-secret", trading=False),
)


@pytest.fixture
async def binance_url() -> AsyncIterator[str]:
    server = SimServer(static_config().with_overrides(keys=KEYS), exchange="binance")
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


async def run_check(url: str, key: str, secret: str, *args: str, mode: str = "paper") -> tuple[int, str, str]:
    env = clean_environment() | {
        "EXECUTOR__EXCHANGE__MODE": mode,
        "EXECUTOR__EXCHANGE__NAME": "sim-binance",
        "EXECUTOR__EXCHANGE__SIM_URL": url,
        "EXECUTOR__EXCHANGE__API_KEY": key,
        "EXECUTOR__EXCHANGE__API_SECRET": secret,
        "EXECUTOR__RISK__PROFILE": "handbook",
    }
    process = await asyncio.create_subprocess_exec(
        EXECUTOR,
        "exchange",
        "check",
        *args,
        cwd=REPO,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    async with asyncio.timeout(90):
        out, err = await process.communicate()
    return int(process.returncode or 0), out.decode(), err.decode()


async def test_a_good_paper_key_passes_with_orders_and_prints_one_line_per_check(binance_url: str) -> None:
    code, out, err = await run_check(binance_url, "sim-key", "sim-secret", "--orders")
    lines = out.splitlines()
    assert code == 0, out + err
    assert lines[0] == "exchange sim-binance, paper mode, account 'main'"
    assert all(line.split()[0] in ("OK", "WARN") for line in lines[1:]), out
    assert any(line.startswith("OK    orders cancelled: 3 order(s) cancelled") for line in lines), out


async def test_live_mode_runs_every_check_but_the_orders(binance_url: str) -> None:
    code, out, err = await run_check(binance_url, "sim-key", "sim-secret", mode="live")
    assert code == 0 and out.splitlines()[0] == "exchange sim-binance, live mode, account 'main'", out + err
    assert "OK    equity:" in out and not [line for line in out.splitlines() if " orders" in line[:12]], out


async def test_a_key_without_trading_permission_exits_1_with_the_fix(binance_url: str) -> None:
    code, out, err = await run_check(binance_url, "read-only", "ro-secret")
    assert code == 1, out + err
    failed = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert (
        "FAIL  key permissions: the key may not trade futures — fix: turn on Enable Futures" in failed[0]
    ), out
    assert "ro-secret" not in out + err


def test_orders_are_refused_in_live_mode_before_anything_is_sent() -> None:
    env = clean_environment() | {
        "EXECUTOR__EXCHANGE__NAME": "binance",
        "EXECUTOR__EXCHANGE__MODE": "live",
        "EXECUTOR__EXCHANGE__API_KEY": "live-key",
        "EXECUTOR__EXCHANGE__API_SECRET": "live-secret",
        "EXECUTOR__EXCHANGE__REQUEST_TIMEOUT_SECONDS": "1",
    }
    done = subprocess.run(
        [EXECUTOR, "exchange", "check", "--orders"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == "", done.stdout + done.stderr
    assert done.stderr.strip().splitlines() == [
        "exchange check: --orders places real orders and is refused in live mode (exchange.mode = live); "
        "run it in paper mode, or without --orders"
    ]
