"""End-to-end fixtures: one `executor sim` per dialect per test module (reset before every test), and
daemons started per test against it, torn down afterwards whatever the test did to them."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.e2e import Daemon, DaemonFactory, Sim, SimProcess

KEPT_LOGS = Path(os.environ.get("EXECUTOR_E2E_LOGS", "/tmp/executor-e2e-logs"))
"""Where a failed test's daemon logs are copied (pytest's own tmp dirs rotate away after three runs)."""


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    if report.when == "call":
        item.e2e_call_report = report  # type: ignore[attr-defined]
    return report


def keep_logs(test_name: str, made: list[Daemon]) -> None:
    target = KEPT_LOGS / test_name
    target.mkdir(parents=True, exist_ok=True)
    for number, daemon in enumerate(made, start=1):
        for log in daemon.runs:
            shutil.copy(log, target / f"daemon{number}-{log.name}")
    print(f"daemon logs kept in {target}")


class SimPool:
    """Simulator processes started on first use, one per dialect, stopped at the end of the module."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.processes: dict[str, SimProcess] = {}

    def url(self, family: str) -> str:
        if family not in self.processes:
            process = SimProcess(family, self.workdir / family)
            process.start()
            self.processes[family] = process
        return self.processes[family].url

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()


@pytest.fixture(scope="module")
def sim_pool(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimPool]:
    pool = SimPool(tmp_path_factory.mktemp("sim"))
    try:
        yield pool
    finally:
        pool.stop()


@pytest.fixture
def family(request: pytest.FixtureRequest) -> str:
    """The exchange dialect of a test: binance, unless parametrized indirectly (`phemex`)."""
    return str(getattr(request, "param", "binance"))


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """A fresh database named by an indirect parameter ("sqlite" or "postgresql"), for tests that pick
    their dialect × database combinations instead of running every one."""
    return str(request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url"))


@pytest.fixture
async def sim(sim_pool: SimPool, family: str) -> Sim:
    """The module's simulator of this dialect, reset to its start (balances, marks, faults, request log)."""
    simulator = Sim(family, sim_pool.url(family))
    await simulator.reset()
    return simulator


@pytest.fixture
async def daemons(sim: Sim, tmp_path: Path, request: pytest.FixtureRequest) -> AsyncIterator[DaemonFactory]:
    """make(database_url, **env) → a Daemon (not started); every one made is stopped at teardown."""
    made: list[Daemon] = []

    def make(database_url: str, **env: str) -> Daemon:
        workdir = tmp_path / f"daemon{len(made) + 1}"
        workdir.mkdir()
        daemon = Daemon(sim, database_url, workdir, extra_env=env)
        made.append(daemon)
        return daemon

    try:
        yield make
    finally:
        for daemon in made:
            daemon.kill()
        report = getattr(request.node, "e2e_call_report", None)
        if report is not None and report.failed:
            keep_logs(request.node.name, made)
