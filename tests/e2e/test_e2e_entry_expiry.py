"""How soon after `expires_at` an unfilled limit entry is cancelled, at the daemon's default intervals and
with the simulator's clock in step with the wall (nothing advanced): the tracker's first pass that starts at
or after the expiry sends the cancel, so it reaches the exchange within one poll interval and one pass
(docs/daemon.md). The latency bench once found an expired Binance entry still resting 30 s on, and Phemex's
(whose reads fill the throttle's window); the pass read the account, a read the throttle holds back while its
window is over the reads' share, before it looked at the entries."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

import pytest

from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from harness.e2e import SIM_SYMBOL, SYMBOL, Daemon, DaemonFactory, Sim, eventually, flat_view

pytestmark = pytest.mark.slow

BOTH_DIALECTS = pytest.mark.parametrize("family", ["binance", "phemex"], indirect=True)

POLL_INTERVAL_S = 1.0
"""The tracker's default interval (`execution.poll_interval_seconds`)."""
PASS_S = 4.0
"""What one tracker pass may take on a loaded machine (its reads, the symbol's section, the throttle)."""
VALID_S = 6.0
"""The signal's validity: long enough for its decision and entry on a loaded machine."""
FULL_WINDOW_S = 80.0
"""A validity that outlasts the filling of the throttle's read share on Phemex's testnet budget."""
CLOCKS_S = 0.05
"""How early a cancel may look: the daemon knows the simulator's time to half its sync request's round trip,
and this test to its own read's (a cancel 4 ms "before" the expiry in CI, under four workers' load)."""
DEFAULT_INTERVALS = {
    "EXECUTOR__EXECUTION__POLL_INTERVAL_SECONDS": str(POLL_INTERVAL_S),
    "EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "2",
    "EXECUTOR__EXECUTION__CLOCK_SYNC_SECONDS": "60",
    "EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS": "60",
}
CANCEL_PATHS = {"binance": "/fapi/v1/order", "phemex": "/g-orders/cancel"}


async def send_limit(daemon: Daemon, sim: Sim, signal_id: str, valid_s: float) -> tuple[str, int, int]:
    """A limit entry 3 % below the mark valid for `valid_s`: its client id, its expiry (simulator ms) and the
    simulator's clock against the wall (ms)."""
    state = await sim.state()
    offset_ms = state["now_ms"] - time.time_ns() // 1_000_000
    expires_ms = state["now_ms"] + int(valid_s * 1000)
    mark = float(state["marks"][SIM_SYMBOL])
    signal: dict[str, Any] = {
        "id": signal_id,
        "symbol": SYMBOL,
        "side": "long",
        "entry": {"type": "limit", "price": f"{mark * 0.97:.2f}"},
        "stop": f"{mark * 0.96:.2f}",
        "expires_at": datetime.fromtimestamp(expires_ms / 1000, UTC).isoformat().replace("+00:00", "Z"),
    }
    await daemon.ws_send([signal])
    return client_order_id(signal_id, OrderKind.ENTRY), expires_ms, offset_ms


async def entry_resting(sim: Sim, entry_id: str) -> bool:
    return any(order.get("clientOrderId") == entry_id for order in (await sim.view()).orders)


async def first_cancel(sim: Sim) -> dict[str, Any] | None:
    """The first cancel of a plain order: the only one resting is the entry (a Binance stop is an algo order,
    a Phemex stop rides on its entry)."""
    rows = await sim.requests(method="DELETE", path=CANCEL_PATHS[sim.family])
    return rows[0] if rows else None


@BOTH_DIALECTS
async def test_an_expired_limit_entry_is_cancelled_within_a_poll_interval_and_a_pass_of_its_expiry(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url, **DEFAULT_INTERVALS)
    await daemon.start()
    entry_id, expires_ms, offset_ms = await send_limit(daemon, sim, "expiry-bound-1", VALID_S)
    await eventually(lambda: entry_resting(sim, entry_id), within=VALID_S, what="the entry resting")

    sent = await eventually(lambda: first_cancel(sim), within=VALID_S + 30, what="the expired entry's cancel")
    late_s = (sent["arrival_wall_ms"] + offset_ms - expires_ms) / 1000
    assert -CLOCKS_S <= late_s <= POLL_INTERVAL_S + PASS_S, (late_s, daemon.logged("task_failed"))
    await eventually(lambda: flat_view(sim), what="nothing left resting")


@pytest.mark.parametrize("family", ["phemex"], indirect=True)
async def test_an_expired_limit_entry_is_cancelled_in_time_while_the_throttle_holds_reads_back(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """Phemex's testnet budget (500 requests in 5 minutes, reads 375 of them) and a breaker that reads the
    account every 0.2 s: the window is over the reads' share within a minute and stays so, every read
    waiting. The entry's expiry falls after that; its lookup and cancel do not wait, so neither does it."""
    # polling only: with the streams following the account the breaker would judge the tracker's snapshot
    budget = {"EXECUTOR__EXCHANGE__RATE_LIMITS": "testnet", "EXECUTOR__EXCHANGE__STREAMS": "false"}
    daemon = daemons(
        sqlite_url, **DEFAULT_INTERVALS | {"EXECUTOR__EXECUTION__BREAKER_INTERVAL_SECONDS": "0.2"} | budget
    )
    await daemon.start()
    entry_id, expires_ms, offset_ms = await send_limit(daemon, sim, "expiry-throttled-1", FULL_WINDOW_S)
    await eventually(lambda: entry_resting(sim, entry_id), within=VALID_S, what="the entry resting")

    async def reads_held() -> bool:
        return bool(daemon.logged("exchange_reads_throttled"))

    await eventually(reads_held, within=FULL_WINDOW_S - 10, what="reads held back by the throttle")
    sent = await eventually(lambda: first_cancel(sim), within=FULL_WINDOW_S + 30, what="the cancel")
    late_s = (sent["arrival_wall_ms"] + offset_ms - expires_ms) / 1000
    assert -CLOCKS_S <= late_s <= POLL_INTERVAL_S + PASS_S, (late_s, daemon.logged("task_failed"))
    await eventually(lambda: flat_view(sim), what="nothing left resting")
