"""The fault matrix: every fault kind of the simulator on every write the daemon makes (Binance dialect).

Each case starts a fresh daemon against the module's simulator, installs one fault rule aimed at one
write (by path and, where it has one, the leg's deterministic client id), drives the daemon to make
that write, and then checks the invariants against the simulator: the fault fired (or, for
`reject_stop` on a write that is not a stop, did not apply), no order was executed twice or resent
without a lookup, every position has exactly one resting stop, every acknowledged signal was
decided once, and a position asked to close is closed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from harness.e2e import Daemon, Sim, SimProcess
from harness.invariants import decided_once, protection, sent_twice
from harness.stress import stop_daemon

pytestmark = pytest.mark.slow

KINDS = ["delay", "error_5xx", "rate_limit", "ban", "drop_before", "drop_after", "reject_stop"]
WRITES = ["leverage", "entry", "stop", "take_profit", "cancel", "close"]
STOP_WRITES = {"stop", "take_profit"}
TIMEOUT_MS = 10_000
"""The adapter's request timeout; a delay fault holds the answer just past it."""


def rule(kind: str, method: str, path: str, match: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"action": kind, "method": method, "path": path, "count": 1}
    if match:
        body["match"] = match
    if kind == "delay":
        body["delay_ms"] = TIMEOUT_MS + 500
    elif kind == "error_5xx":
        body["status"] = 503
    elif kind == "rate_limit":  # Binance's body without Retry-After: the adapter's own short backoff
        body["body"] = {"code": -1003, "msg": "Too many requests; current limit is 2400 request weight."}
    elif kind == "ban":  # a two-second ban, so the case does not wait out Binance's real ones
        until = int(time.time() * 1000) + 2000
        body["body"] = {"code": -1003, "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}."}
    return body


@pytest.fixture(scope="module")
def sim_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    process = SimProcess("binance", tmp_path_factory.mktemp("sim"))
    try:
        yield process.start()
    finally:
        process.stop()


def open_signal(signal_id: str, take_profit: bool = False) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": signal_id,
        "symbol": "SOL/USDT:USDT",
        "side": "long",
        "entry": {"type": "market"},
        "stop": "147",
        "conviction": 8,
    }
    if take_profit:
        payload["take_profit"] = "159"
    return payload


async def send(daemon: Daemon, payload: dict[str, Any], acknowledged: list[str]) -> None:
    status, answer = await daemon.post(payload)
    assert answer.get("status") == "queued", (status, answer)
    acknowledged.append(payload["id"])


async def settle(daemon: Daemon, within: float) -> None:
    """Until no signal is queued and no order row is pending or unknown."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        async with daemon.store() as store, store.transaction() as tx:
            queued = await tx.signals.queued("main", limit=1)
            unsettled = await tx.orders.in_states("main", ["pending", "unknown"])
        if not queued and not unsettled:
            return
        await asyncio.sleep(0.1)


async def eventually_true(probe: Any, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if await probe():
            return True
        await asyncio.sleep(0.1)
    return False


async def position_qty(sim: Sim) -> int:
    account = await sim.account()
    return len([p for p in account.get("positions", []) if float(p["qty"])])


async def protected(sim: Sim) -> bool:
    return await position_qty(sim) == 1 and not await protection(sim)


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("kind", KINDS)
async def test_fault_on_a_write_keeps_every_invariant(
    sim_url: str, tmp_path: Path, kind: str, write: str
) -> None:
    sim = Sim("binance", sim_url)
    await sim.reset()
    daemon = Daemon(sim, f"sqlite+aiosqlite:///{tmp_path / 'faults.db'}", tmp_path)
    acknowledged: list[str] = []
    opening = f"fault-{kind}-{write}"
    try:
        await daemon.start()
        if write == "leverage":
            await sim.fault(**rule(kind, "POST", "/fapi/v1/leverage"))
        elif write == "entry":
            entry = client_order_id(opening, OrderKind.ENTRY)
            await sim.fault(**rule(kind, "POST", "/fapi/v1/order", {"newClientOrderId": entry}))
        elif write in STOP_WRITES:
            leg = client_order_id(opening, OrderKind.STOP if write == "stop" else OrderKind.TAKE_PROFIT)
            await sim.fault(**rule(kind, "POST", "/fapi/v1/algoOrder", {"clientAlgoId": leg}))
        await send(daemon, open_signal(opening, take_profit=write == "take_profit"), acknowledged)
        if write in ("cancel", "close"):
            assert await eventually_true(lambda: protected(sim), 10), "the position never got its stop"
            await settle(daemon, 5)
            if write == "cancel":
                await sim.mark("152")
                await sim.fault(**rule(kind, "DELETE", "/fapi/v1/algoOrder"))
                move = {
                    "id": f"{opening}-move",
                    "action": "move_stop",
                    "symbol": "SOL/USDT:USDT",
                    "stop": "149",
                }
                await send(daemon, move, acknowledged)
            else:
                close = client_order_id(opening, OrderKind.CLOSE)
                await sim.fault(**rule(kind, "POST", "/fapi/v1/order", {"newClientOrderId": close}))
                await send(
                    daemon,
                    {"id": f"{opening}-close", "action": "close", "symbol": "SOL/USDT:USDT"},
                    acknowledged,
                )
        await settle(daemon, 30 if kind == "delay" else 15)

        if write == "close":
            assert await eventually_true(lambda: _flat(sim), 20), "the position was never closed"
        elif await position_qty(sim):
            assert await eventually_true(lambda: protected(sim), 15), await protection(sim)
        await settle(daemon, 10)
        fired = [r for r in await sim.requests() if r["fault"] == kind]
        applies = kind != "reject_stop" or write in STOP_WRITES
        assert bool(fired) == applies, f"fault {kind} fired {len(fired)} times on {write}"
        assert await sent_twice(sim) == []
        assert await decided_once(daemon, acknowledged) == []
    finally:
        stop_daemon(daemon)


async def _flat(sim: Sim) -> bool:
    return await position_qty(sim) == 0
