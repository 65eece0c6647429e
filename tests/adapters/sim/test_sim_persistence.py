"""The simulator keeps its state across restarts (`executor sim --state`), starts over with `--fresh`, and
refuses a corrupt or foreign state file with one line."""

from __future__ import annotations

import asyncio
import json
import subprocess
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from adapters.sim import SimServer, SimStateError
from adapters.sim.model import OrderRequest, OrderSide, OrderType
from harness.e2e import EXECUTOR, REPO, Sim, SimProcess, clean_environment
from tests.support.simkit import static_config

SYMBOL = "SOL/USDT:USDT"


async def open_long_with_stop(sim: Sim) -> None:
    async with sim.ccxt() as exchange:
        await exchange.create_order(SYMBOL, "market", "buy", 2, None, {"clientOrderId": "keep-entry"})
        if sim.family == "binance":
            params = {"stopLossPrice": 140, "reduceOnly": True, "clientOrderId": "keep-stop"}
            params["workingType"] = "MARK_PRICE"
        else:
            params = {
                "triggerPrice": 140,
                "triggerDirection": "descending",
                "triggerType": "ByMarkPrice",
                "reduceOnly": True,
                "clientOrderId": "keep-stop",
            }
        await exchange.create_order(SYMBOL, "market", "sell", 2, None, params)


def account_facts(state: dict[str, Any]) -> dict[str, Any]:
    account = state["accounts"]["sim-key"]
    return {
        "wallet": account["wallet"],
        "positions": [(p["symbol"], p["qty"], p["entry_price"]) for p in account["positions"]],
        "open": sorted((o["client_id"], o["type"], o["status"]) for o in account["open_orders"]),
        "fills": [(f["trade_id"], f["price"], f["qty"]) for f in account["fills"]],
        "income": [(i["tran_id"], i["amount"]) for i in account["income"]],
        "mark": state["marks"]["SOLUSDT"],
    }


@pytest.mark.slow
@pytest.mark.parametrize("family", ["binance", "phemex"])
@pytest.mark.parametrize("stop", ["sigterm", "sigkill"])
async def test_a_restarted_simulator_keeps_positions_stops_fills_and_equity(
    tmp_path: Path, family: str, stop: str
) -> None:
    """SIGKILL too: every answered write is on disk before its answer leaves."""
    process = SimProcess(family, tmp_path)
    sim = Sim(family, await asyncio.to_thread(process.start))
    try:
        await sim.mark("150")
        await open_long_with_stop(sim)
        await sim.mark("155")
        before = account_facts(await sim.state())
        assert before["positions"] and before["fills"] and len(before["open"]) == 1
    finally:
        if stop == "sigkill" and process.process is not None:
            process.process.kill()
            process.process.wait()
        process.stop()
    sim = Sim(family, await asyncio.to_thread(process.start))
    try:
        after = account_facts(await sim.state())
        assert after == before
        view = await sim.view()
        assert view.qty == Decimal(2) and len(view.stops()) == 1
        await sim.mark("139")  # the kept stop still triggers and closes the kept position
        assert not (await sim.view()).positions
    finally:
        process.stop()


@pytest.mark.slow
async def test_fresh_starts_over_with_the_start_balance(tmp_path: Path) -> None:
    process = SimProcess("binance", tmp_path)
    sim = Sim("binance", await asyncio.to_thread(process.start))
    try:
        await open_long_with_stop(sim)
    finally:
        process.stop()
    sim = Sim("binance", await asyncio.to_thread(process.start, "--fresh"))
    try:
        account = (await sim.state())["accounts"]["sim-key"]
        assert account["wallet"] == "10000" and not account["positions"] and not account["orders"]
    finally:
        process.stop()
    saved = json.loads(process.state_path.read_text())
    assert saved["accounts"]["sim-key"]["orders"] == {}  # replaced at once, not only at the first change


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"format": "executor-sim-state", "accou', "is not a simulator state file"),
        ('{"format": "executor-sim-state", "version": 99}', "has state format version 99"),
        ("[1, 2]", "is not a simulator state file"),
    ],
)
def test_an_unusable_state_file_is_refused_in_one_line(tmp_path: Path, content: str, problem: str) -> None:
    state = tmp_path / "state.json"
    state.write_text(content, encoding="utf-8")
    done = subprocess.run(
        [EXECUTOR, "sim", "--exchange", "binance", "--port", "0", "--state", str(state)],
        cwd=REPO,
        env=clean_environment(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    lines = done.stderr.strip().splitlines()
    assert done.returncode == 2 and done.stdout == "" and len(lines) == 1, done.stderr
    assert lines[0].startswith(f"sim state: {state} {problem}") and "--fresh" in lines[0]
    assert state.read_text(encoding="utf-8") == content  # never silently replaced


async def test_a_state_file_of_the_other_exchange_is_refused(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    await SimServer(static_config(), exchange="phemex", state_path=state).stop()
    with pytest.raises(SimStateError, match="is a phemex simulator's state, not binance's"):
        SimServer(static_config(), exchange="binance", state_path=state)


async def test_ids_continue_after_a_restart_and_the_clock_never_goes_back(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = SimServer(static_config(), exchange="binance", state_path=state)
    account = first.engine.account("sim-key")
    first.clock.advance(3600)
    order = first.engine.place(
        account, OrderRequest("SOLUSDT", OrderSide.BUY, OrderType.MARKET, Decimal(1), "a")
    )
    await first.stop()
    saved_at = json.loads(state.read_text())["now_ms"]
    second = SimServer(static_config(), exchange="binance", state_path=state)
    assert second.restored and second.clock.now_ms() >= saved_at and second.clock.offset_ms > 3_599_000
    again = second.engine.place(
        second.engine.account("sim-key"),
        OrderRequest("SOLUSDT", OrderSide.BUY, OrderType.MARKET, Decimal(1), "b"),
    )
    assert again.order_id > order.order_id
    fills = second.engine.account("sim-key").fills
    assert [f.trade_id for f in fills] == sorted({f.trade_id for f in fills})


async def test_a_hedged_phemex_symbol_stays_hedged_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = SimServer(static_config(), exchange="phemex", state_path=state)
    first.engine.account("sim-key").hedged.add("SOLUSDT")
    await first.stop()
    second = SimServer(static_config(), exchange="phemex", state_path=state)
    assert second.engine.account("sim-key").hedged == {"SOLUSDT"}


async def test_a_second_simulator_on_the_same_file_is_refused_until_the_first_stops(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = SimServer(static_config(), exchange="binance", state_path=state)
    with pytest.raises(SimStateError, match="is in use by another running simulator"):
        SimServer(static_config(), exchange="binance", state_path=state)
    await first.stop()
    await SimServer(static_config(), exchange="binance", state_path=state).stop()


async def test_binance_hedge_mode_stays_after_a_restart(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = SimServer(static_config(), exchange="binance", state_path=state)
    first.engine.account("sim-key").dual_side = True
    await first.stop()
    second = SimServer(static_config(), exchange="binance", state_path=state)
    assert second.engine.account("sim-key").dual_side is True
    await second.stop()


def test_a_state_file_that_cannot_be_kept_is_refused_in_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(
        SimStateError,
        match=r"sim state: .*state.json cannot be kept there \(.+\); give the simulator a writable path",
    ):
        SimServer(static_config(), exchange="binance", state_path=blocker / "state.json")
