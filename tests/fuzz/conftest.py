"""Running daemons (and their simulator) per fuzz module: hostile input goes through their real ingress.

`running` has no secret; `secured` has one (`FUZZ_SECRET`). With EXECUTOR_TEST_REDIS_URL set, each
also consumes a Redis stream of its own (a fresh name per module, on the test database), so the Redis
fuzzing reaches the same process.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from harness.e2e import Daemon, Sim, SimProcess
from harness.stress import stop_daemon
from tests.support.fuzz import FUZZ_SECRET, Running


@contextmanager
def attacked_daemon(workdir: Path, **env: str) -> Iterator[Running]:
    simulator = SimProcess("binance", workdir / "sim")
    sim = Sim("binance", simulator.start())
    database = workdir / "fuzz.db"
    redis_url = os.environ.get("EXECUTOR_TEST_REDIS_URL", "")
    stream = f"executor-fuzz-{uuid.uuid4().hex[:8]}"
    if redis_url:
        env |= {"EXECUTOR__INGRESS__REDIS_URL": redis_url, "EXECUTOR__INGRESS__REDIS_STREAM": stream}
    daemon = Daemon(sim, f"sqlite+aiosqlite:///{database}", workdir, extra_env=env)
    try:
        daemon.spawn()
        asyncio.run(daemon.wait_ready(60))
        yield Running(daemon, str(database), redis_url, stream)
    finally:
        stop_daemon(daemon)
        simulator.stop()


@pytest.fixture(scope="module")
def running(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with attacked_daemon(tmp_path_factory.mktemp("fuzz")) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Running]:
    with attacked_daemon(tmp_path_factory.mktemp("fuzz"), EXECUTOR__INGRESS__SECRET=FUZZ_SECRET) as daemon:
        yield daemon
