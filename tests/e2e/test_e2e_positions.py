"""Position life beyond a plain market entry: a take-profit that closes the trade, limit entries (stop on the
first fill, cancelled with their stop at `expires_at`), and funding paid while open booked with its sign.

The funding test advances the module's simulator clock by hours, so it runs last in this module."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from executor.domain.order_state import OrderState
from harness.e2e import (
    SIM_SYMBOL,
    SYMBOL,
    DaemonFactory,
    Sim,
    alerts,
    assert_exactly_one_stop,
    cents_equal,
    error_lines,
    eventually,
    flat_view,
    market_signal,
    money,
    order_sent_twice,
    protected_view,
    settled_view,
    trigger_of,
    unsettled_orders,
)

pytestmark = pytest.mark.slow

BOTH_DIALECTS = pytest.mark.parametrize("family", ["binance", "phemex"], indirect=True)


def limit_signal(signal_id: str, price: str, stop: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": signal_id,
        "symbol": SYMBOL,
        "side": "long",
        "entry": {"type": "limit", "price": price},
        "stop": stop,
        **extra,
    }


async def closed_db(daemon: Any) -> Any:
    db = await daemon.db()
    return db if db.closed_positions() else None


@BOTH_DIALECTS
async def test_a_take_profit_rests_beside_the_stop_and_its_fill_closes_and_books_a_win(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("tp-1", take_profit="160")])

    async def both_legs() -> Any:
        view = await sim.view()
        return view if view.position is not None and len(view.orders) == 2 else None

    view = await eventually(both_legs, what="the stop and the take-profit resting")
    assert_exactly_one_stop(view, trigger="147")
    [target] = [order for order in view.orders if order not in view.stops()]
    assert target["reduceOnly"] is True and target["side"] == "sell"
    assert trigger_of(target) == Decimal("160") or money(target.get("takeProfitPrice") or 0) == Decimal("160")

    crossed = await sim.mark("161")

    assert len(crossed["fills"]) == 1
    await eventually(lambda: flat_view(sim), what="no position and no order left after the take-profit")
    db = await eventually(lambda: closed_db(daemon), what="the win booked")
    [position] = db.positions
    fills = await sim.fills()
    assert cents_equal(position.realized_pnl, sum((money(f["realized_pnl"]) for f in fills), Decimal(0)))
    assert position.realized_pnl > 0
    assert unsettled_orders(db) == []
    assert db.risk_state["win_streak"] == 1 and db.risk_state["loss_streak"] == 0
    status = await daemon.status()
    assert status["orders"] == [] and status["positions"] == []
    assert error_lines(daemon) == []


@BOTH_DIALECTS
async def test_a_resting_limit_entry_keeps_its_stop_so_a_fill_while_the_daemon_is_down_is_protected(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """The stop goes out with the entry: Binance's rests beside the limit order, Phemex's is attached to it.
    It must survive the periodic reconciliation, so that a fill while the daemon is stopped is guarded."""
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([limit_signal("limit-fill-1", price="149", stop="146")])

    async def entry_resting() -> Any:
        view = await sim.view()
        return view if any(o["type"].lower() == "limit" for o in view.orders) else None

    await eventually(entry_resting, what="the limit entry resting on the simulator")
    reconciled = len(daemon.logged("reconciled"))
    await eventually(
        lambda: _more(daemon, "reconciled", reconciled), within=10, what="one periodic reconciliation"
    )
    resting = await sim.view()
    assert resting.position is None
    code, _ = daemon.terminate()
    assert code == 0

    await sim.mark("148.90")

    view = await sim.view()
    assert_exactly_one_stop(view, trigger="146")  # guarded although the daemon is down
    await daemon.start()
    await eventually(lambda: _open_row(daemon), what="the filled entry adopted after the restart")
    view = await settled_view(sim)
    assert_exactly_one_stop(view, trigger="146")
    assert len(view.orders) == 1, view.summary()
    [position] = (await daemon.db()).open_positions()
    assert position.qty == view.qty and position.entry_price == Decimal("149")
    assert order_sent_twice(await sim.requests(), sim.family) == []


async def _more(daemon: Any, event: str, than: int) -> bool:
    return len(daemon.logged(event)) > than


async def _open_row(daemon: Any) -> bool:
    return bool((await daemon.db()).open_positions())


@BOTH_DIALECTS
async def test_a_limit_entry_unfilled_at_expires_at_is_cancelled_with_its_stop(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    now = datetime.fromtimestamp((await sim.state())["now_ms"] / 1000, UTC)
    expires = (now + timedelta(seconds=20)).isoformat().replace("+00:00", "Z")
    await daemon.ws_send([limit_signal("limit-expiry-1", price="149", stop="146", expires_at=expires)])

    async def entry_resting() -> Any:
        view = await sim.view()
        return view if any(o["type"].lower() == "limit" for o in view.orders) else None

    await eventually(entry_resting, what="the limit entry resting on the simulator")

    await sim.advance(30)

    await eventually(lambda: flat_view(sim), what="the expired entry and any stop of it cancelled")
    await sim.mark("148.90")
    view = await settled_view(sim)
    assert view.position is None and view.orders == [], view.summary()
    db = await daemon.db()
    assert db.positions == []
    assert {row.kind: row.state for row in db.orders}[OrderKind.ENTRY] == "canceled"
    assert all(row.state not in ("open", "pending", "unknown") for row in db.orders), [
        (row.kind, row.state) for row in db.orders
    ]
    assert error_lines(daemon) == []


CANCEL_PATHS = {"binance": ("/fapi/v1/algoOrder",), "phemex": ("/g-orders/cancel", "/g-orders/all")}


@BOTH_DIALECTS
async def test_legs_a_closed_position_left_resting_never_act_on_the_next_position(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """Binance keeps GTC reduce-only stops and take-profits after their position is flat (Phemex too, in the
    simulator's harsher reading). When the close could not cancel them, the next entry on the symbol waits
    until they are gone (refused while they cannot be cancelled), so the old take-profit never cuts the new
    position."""
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("stale-a", take_profit="159")])

    async def both_legs() -> Any:
        view = await sim.view()
        return view if view.position is not None and len(view.orders) == 2 else None

    await eventually(both_legs, what="position A with its stop and take-profit")
    for path in CANCEL_PATHS[sim.family]:
        await sim.fault(action="error_5xx", method="DELETE", path=path, count=None)
    await daemon.ws_send([{"id": "stale-a-close", "action": "close", "symbol": SYMBOL}])
    await eventually(lambda: closed_db(daemon), what="position A closed and booked")
    view = await sim.view()
    assert view.position is None and len(view.orders) == 2, view.summary()  # A's legs still rest

    await daemon.ws_send([market_signal("stale-b1", stop="145")])
    await eventually(lambda: entry_not_sent(daemon, "stale-b1"), within=20, what="B1's entry refused")
    assert (await sim.view()).position is None
    b1_entry = client_order_id("stale-b1", OrderKind.ENTRY)
    assert not [
        r for r in await sim.requests(method="POST") if r["params"].get("newClientOrderId") == b1_entry
    ]
    assert "stale_leg" in alerts(daemon)

    await sim.clear_faults()
    await daemon.ws_send([market_signal("stale-b2", stop="145")])
    view = await eventually(lambda: protected_view(sim), what="position B2 with its stop")
    await eventually(lambda: one_order(sim), what="only B2's stop resting")
    assert_exactly_one_stop(await sim.view(), trigger="145")
    qty = (await sim.view()).qty
    await sim.mark("159.5")
    view = await settled_view(sim)
    assert view.position is not None and view.qty == qty, view.summary()
    assert order_sent_twice(await sim.requests(), sim.family) == []


async def entry_not_sent(daemon: Any, signal_id: str) -> bool:
    entry = client_order_id(signal_id, OrderKind.ENTRY)
    return any(
        row.client_order_id == entry and row.state is OrderState.NOT_SENT
        for row in (await daemon.db()).orders
    )


async def one_order(sim: Sim) -> bool:
    return len((await sim.view()).orders) == 1


@BOTH_DIALECTS
async def test_funding_paid_while_a_position_is_open_is_booked_with_the_exchanges_sign(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    await daemon.ws_send([market_signal("funding-1")])
    await eventually(lambda: protected_view(sim), what="the position with its stop")
    state = await sim.state()
    wait_ms = state["next_funding_ms"][SIM_SYMBOL] - state["now_ms"]

    settled = await sim.advance(wait_ms / 1000 + 1)

    [event] = [e for e in settled["funding"] if e["symbol"] == SIM_SYMBOL]
    income = [row for row in (await sim.account())["income"] if row["type"] == "FUNDING_FEE"]
    assert len(income) == 1, income
    paid = money(income[0]["amount"])
    view = await sim.view()
    assert paid == -(view.qty * money(event["mark"]) * money(event["rate"])) < 0
    await sim.mark("146")
    db = await eventually(lambda: closed_db(daemon), what="the position booked after its stop")
    [position] = db.positions
    assert cents_equal(position.funding, paid), (position.funding, paid)
    rows = await daemon.funding_rows(position.id)
    assert len(rows) == 1 and cents_equal(rows[0].amount, paid), rows
    assert error_lines(daemon) == []
