"""Every fault the simulator can inject, during the entry and during the stop placement: whatever happens,
no client order id is executed twice (or resent unlooked-up after an unknown outcome), and the exchange
ends with either no position or one position guarded by exactly one resting reduce-only stop, which the
daemon's database agrees with."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import pytest
from e2e_harness import (
    Daemon,
    DaemonFactory,
    ExchangeView,
    Sim,
    entry_id,
    eventually,
    market_signal,
    money,
    order_sent_twice,
    stop_id,
)

pytestmark = pytest.mark.slow


class Outcome(Enum):
    PROTECTED = "a position with exactly one stop"
    CLOSED = "the position closed at market"
    NO_TRADE = "no position: the entry never executed"
    EITHER = "a protected position or a closed one"


@dataclass(frozen=True)
class Fault:
    name: str
    leg: str
    rule: dict[str, Any]
    expect: Outcome
    unlimited: bool = False
    families: tuple[str, ...] = ("binance",)
    extra: dict[str, Any] = field(default_factory=dict)


def short_ban() -> dict[str, Any]:
    """A 418 whose message bans for 3 s (the simulator's default ban is 120 s, too long for a test)."""
    until = int(time.time() * 1000) + 3000
    return {"code": -1003, "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}."}


RATE_LIMITED = {"code": -1003, "msg": "Too many requests; current limit is 2400 requests per minute."}

FAULTS = [
    Fault("entry-delay-past-timeout", "entry", {"action": "delay", "delay_ms": 12_000}, Outcome.PROTECTED),
    Fault("entry-5xx", "entry", {"action": "error_5xx", "status": 503}, Outcome.PROTECTED),
    Fault("entry-429", "entry", {"action": "rate_limit", "body": RATE_LIMITED}, Outcome.PROTECTED),
    Fault("entry-418", "entry", {"action": "ban"}, Outcome.NO_TRADE),
    Fault("entry-drop-before", "entry", {"action": "drop_before"}, Outcome.PROTECTED),
    Fault(
        "entry-drop-after",
        "entry",
        {"action": "drop_after"},
        Outcome.PROTECTED,
        families=("binance", "phemex"),
    ),
    Fault("stop-delay-past-timeout", "stop", {"action": "delay", "delay_ms": 12_000}, Outcome.PROTECTED),
    Fault("stop-5xx", "stop", {"action": "error_5xx", "status": 503}, Outcome.PROTECTED),
    Fault("stop-429", "stop", {"action": "rate_limit", "body": RATE_LIMITED}, Outcome.PROTECTED),
    Fault("stop-418", "stop", {"action": "ban"}, Outcome.EITHER),
    Fault("stop-drop-before", "stop", {"action": "drop_before"}, Outcome.PROTECTED),
    Fault("stop-drop-after", "stop", {"action": "drop_after"}, Outcome.PROTECTED),
    Fault("stop-rejected-once", "stop", {"action": "reject_stop"}, Outcome.PROTECTED),
    Fault(
        "stop-always-rejected",
        "stop",
        {"action": "reject_stop", "count": None},
        Outcome.CLOSED,
        unlimited=True,
    ),
]
CASES = [
    pytest.param(family, fault, id=f"{family}-{fault.name}") for fault in FAULTS for family in fault.families
]


def rule_for(sim: Sim, fault: Fault, signal_id: str) -> dict[str, Any]:
    """The fault rule matching this signal's entry, or its stop (Binance: the algo order; Phemex: the
    entry carrying the attached stop, which is where Phemex places it)."""
    rule = dict(fault.rule)
    if rule["action"] == "ban":
        rule["body"] = short_ban()
    if sim.family == "binance":
        if fault.leg == "entry":
            return {
                **rule,
                "method": "POST",
                "path": "/fapi/v1/order",
                "match": {"newClientOrderId": entry_id(signal_id)},
            }
        match = {} if fault.unlimited else {"clientAlgoId": stop_id(signal_id)}
        return {**rule, "method": "POST", "path": "/fapi/v1/algoOrder", "match": match}
    return {**rule, "method": "POST", "path": "/g-orders", "match": {"clOrdID": entry_id(signal_id)}}


async def outcome(sim: Sim, daemon: Daemon) -> tuple[Outcome | None, ExchangeView]:
    """What the exchange and the database show together, or None while they disagree or are in between."""
    view = await sim.view()
    db = await daemon.db()
    open_rows = db.open_positions()
    if view.position is None and not view.orders and not open_rows:
        if db.closed_positions():
            return Outcome.CLOSED, view
        entries = [row for row in db.orders if row.kind == "entry"]
        if entries and all(row.state in ("rejected", "not_sent", "canceled") for row in entries):
            return Outcome.NO_TRADE, view
        return None, view
    if view.position is not None and len(view.orders) == 1 and len(view.stops()) == 1 and len(open_rows) == 1:
        stop = view.stops()[0]
        closing = "sell" if view.side == "long" else "buy"
        if open_rows[0].qty == view.qty == money(stop["amount"]) and stop["side"] == closing:
            return Outcome.PROTECTED, view
    return None, view


@pytest.mark.parametrize(("family", "fault"), CASES, indirect=["family"])
async def test_a_fault_during_entry_or_stop_placement_never_doubles_an_order_nor_leaves_a_naked_position(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, fault: Fault
) -> None:
    daemon = daemons(sqlite_url)
    await daemon.start()
    signal_id = f"fault-{fault.name}"
    installed = await sim.fault(**rule_for(sim, fault, signal_id))

    await daemon.ws_send([market_signal(signal_id)])

    async def fired() -> bool:
        rules = (await sim.call("GET", "faults"))["rules"]
        mine = next((r for r in rules if r["id"] == installed["id"]), None)
        return mine is None or mine["fired"] > 0

    await eventually(fired, what=f"the {fault.name} fault to fire")

    async def settled() -> Outcome | None:
        return (await outcome(sim, daemon))[0]

    await eventually(settled, within=40, what=f"a consistent end state after {fault.name}")
    await asyncio.sleep(1.0)
    final, view = await outcome(sim, daemon)
    assert final is not None, f"the state moved on after it settled: {view.summary()}"
    if fault.expect is Outcome.EITHER:
        assert final in (Outcome.PROTECTED, Outcome.CLOSED), view.summary()
    else:
        assert final is fault.expect, view.summary()
    assert order_sent_twice(await sim.requests(), sim.family) == []
