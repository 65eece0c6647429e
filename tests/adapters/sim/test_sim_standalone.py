"""`executor sim` runs standalone: prints its base URL on one line, serves, and exits 0 on SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import aiohttp
import pytest


@pytest.mark.slow
async def test_executor_sim_prints_its_url_serves_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from executor.cli import main; main()",
        "sim",
        "--exchange",
        "binance",
        "--port",
        "0",
        "--seed",
        "5",
        "--state",
        str(tmp_path / "state.json"),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            line = (await process.stdout.readline()).decode().strip()
        assert line.startswith("http://127.0.0.1:")
        async with aiohttp.ClientSession() as session, session.get(f"{line}/fapi/v1/time") as response:
            assert response.status == 200 and "serverTime" in await response.json()
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await process.wait() == 0
