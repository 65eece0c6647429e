"""`make run` restarted: the embedded simulator keeps the paper account (position, stop, equity, fills)
beside the daemon's SQLite file, so the daemon finds its position again instead of booking it as gone."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from harness.e2e import (
    DaemonFactory,
    assert_exactly_one_stop,
    embedded_sim,
    eventually,
    market_signal,
    move_price,
    protected_view,
)

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("family", ["binance", "phemex"], indirect=True)
async def test_a_daemon_restarted_with_its_embedded_simulator_keeps_its_position_and_equity(
    daemons: DaemonFactory, sqlite_url: str, family: str
) -> None:
    daemon = daemons(sqlite_url, EXECUTOR__EXCHANGE__SIM_URL="")
    await daemon.start()
    sim = embedded_sim(daemon)
    assert sim is not None and sim.family == family, daemon.log_tail()
    await move_price(daemon, sim, "150")
    code, _ = await daemon.post(market_signal("embedded-keep-1"))
    assert code == 202
    await eventually(lambda: protected_view(sim), what="a protected position")
    before = await sim.account()
    db = await daemon.db()
    assert len(db.open_positions()) == 1

    code, seconds = await daemon.sigterm()
    assert (code, seconds < 5) == (0, True), daemon.log_tail()  # README: stops within 5 s, streams and all
    state = Path(sqlite_url.partition(":///")[2]).with_name(f"executor.sim-{family}.json")
    assert state.is_file()

    await daemon.start()
    again = embedded_sim(daemon)
    assert again is not None and again.url != sim.url
    assert daemon.logged("simulator_embedded", -1)[-1]["restored"] is True
    await again.mark("150")  # pins are not kept: the random walk moves the mark again after a restart
    after = await again.account()
    for key in ("wallet", "positions", "open_orders", "fills", "income"):
        assert after[key] == before[key], key
    assert_exactly_one_stop(await again.view(), "147")

    async def reconciled() -> bool:
        return bool(daemon.logged("reconciled", -1))

    await eventually(reconciled, what="the restart's reconciliation")
    await asyncio.sleep(1.0)  # the assertion: a few tracker passes after it leave the position as it is
    db = await daemon.db()
    assert len(db.open_positions()) == 1 and not db.closed_positions(), db.event_kinds()
    assert "reconcile.halted" not in db.event_kinds() and db.risk_state.get("breaker") != "tripped"


async def test_a_daemon_refuses_an_unusable_embedded_simulator_state_in_one_line(
    daemons: DaemonFactory, sqlite_url: str
) -> None:
    state = Path(sqlite_url.partition(":///")[2]).with_name("executor.sim-binance.json")
    state.write_text("garbage", encoding="utf-8")
    daemon = daemons(sqlite_url, EXECUTOR__EXCHANGE__SIM_URL="")
    daemon.spawn()
    assert await daemon.wait_exit(60) == 2
    last = daemon.log_text().strip().splitlines()[-1]
    assert last.startswith(f"sim state: {state} is not a simulator state file") and "--fresh" in last
    assert "Traceback" not in daemon.log_text() and state.read_text(encoding="utf-8") == "garbage"
