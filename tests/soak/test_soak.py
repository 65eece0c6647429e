"""The soak in CI: 30 simulated trading days in well under a minute; EXECUTOR_SOAK_DAYS for a longer one.

Flat means bounded: after a warm-up, resident memory grows by less than a few MiB over the remaining
days, threads and file descriptors do not climb, and on quiet days (clock and polling only) the
database gains no more than the new day's ledger row and its event.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.e2e import Daemon, Sim, SimProcess
from harness.soak import Soak
from harness.stress import stop_daemon

pytestmark = pytest.mark.slow

DAYS = int(os.environ.get("EXECUTOR_SOAK_DAYS", "30"))
TIMEOUT = 300 + 4 * DAYS
"""Seconds: the start-up, then each simulated day takes about 2 s on an idle machine (doubled here)."""
WARM_UP = 5
RSS_GROWTH_KIB = 8 * 1024
ROWS_PER_QUIET_DAY = 3
INTERVALS = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": "1",
    "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "1",
    "EXECUTOR__EXECUTION__CLOCK_SYNC_SECONDS": "1",
    # A day every ~2 s: a report process per day would measure the machine's spare CPU, not the daemon
    # (reports run in their own processes, so they add nothing to the daemon's memory, threads or files).
    "EXECUTOR__REPORTS__DAILY": "false",
}
"""Faster than the defaults so days pass quickly, yet inside Binance's request-weight budget, which the
daemon's throttle enforces: at the harness's 0.2 s the daemon's own polling exhausts the rolling
window and every request, orders included, stalls for tens of seconds (see docs/performance.md)."""


@pytest.mark.timeout(TIMEOUT)
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_thirty_days_keep_memory_threads_and_files_flat_and_the_breaker_resets_daily(
    database_url: str, tmp_path: Path
) -> None:
    process = SimProcess("binance", tmp_path / "sim")
    sim = Sim("binance", process.start())
    daemon = Daemon(sim, database_url, tmp_path, extra_env=INTERVALS)
    try:
        await daemon.start()
        report = await Soak(sim, daemon, days=DAYS).run()
    finally:
        stop_daemon(daemon)
        process.stop()
    assert report.problems == []
    assert len(report.breaker_days) == DAYS // 10
    assert report.funding_payments > 0
    settled = report.samples[min(WARM_UP, len(report.samples) - 1) :]
    growth = max(s.rss_kib for s in settled) - settled[0].rss_kib
    assert growth < RSS_GROWTH_KIB, [s.rss_kib for s in report.samples]
    assert max(s.threads for s in settled) <= settled[0].threads + 2, [s.threads for s in report.samples]
    assert max(s.fds for s in settled) <= settled[0].fds + 5, [s.fds for s in report.samples]
    if settled[0].tasks is not None:
        assert max(s.tasks or 0 for s in settled) <= settled[0].tasks + 5, [s.tasks for s in report.samples]
    quiet = report.quiet_samples
    added = quiet[-1].rows - report.samples[-1].rows
    assert added <= ROWS_PER_QUIET_DAY * len(quiet), [s.rows for s in [*report.samples, *quiet]]
