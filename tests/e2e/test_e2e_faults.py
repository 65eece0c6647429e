"""The fault suite. Every fault the simulator can inject, during the entry and during the stop placement:
whatever happens, no client order id is executed twice (or resent unlooked-up after an unknown outcome),
and the exchange ends with either no position or one position guarded by exactly one resting reduce-only
stop, which the daemon's database agrees with. Then every fault kind on the daemon's other writes
(leverage, take-profit, the cancel of a moved stop, a close), and faults on an open position.

Every daemon here runs with a 3 s exchange request timeout (`exchange.request_timeout_seconds`), so a
delay "past the timeout" costs 3.5 s instead of the default 10 s, and a 9 s not-found grace
(`execution.not_found_grace_seconds`), so a write that was never executed is resent 9 s after it left
instead of 15 s (still after its 5 s window and the lookups that follow it); the cases that hide an
existing order from lookups keep the default 15 s, since the grace is what they test."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from typing import Any

import pytest

from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from executor.domain.order_state import OrderState
from harness.e2e import (
    ACCOUNT,
    SYMBOL,
    Daemon,
    DaemonFactory,
    ExchangeView,
    Sim,
    alerts,
    assert_exactly_one_stop,
    creating_requests,
    entry_id,
    eventually,
    flat_view,
    lookups_of,
    market_signal,
    money,
    order_sent_twice,
    protected_view,
    settled_view,
    stop_id,
    unsettled_orders,
)
from harness.invariants import decided_once, protection, sent_twice

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


def short_ban() -> dict[str, Any]:
    """A 418 whose message bans for 3 s (the simulator's default ban is 120 s, too long for a test)."""
    until = int(time.time() * 1000) + 3000
    return {"code": -1003, "msg": f"Way too many requests; IP(127.0.0.1) banned until {until}."}


RATE_LIMITED = {"code": -1003, "msg": "Too many requests; current limit is 2400 requests per minute."}
SHORT_TIMEOUT = {"EXECUTOR__EXCHANGE__REQUEST_TIMEOUT_SECONDS": "3"}
SHORT_WAITS = SHORT_TIMEOUT | {"EXECUTOR__EXECUTION__NOT_FOUND_GRACE_SECONDS": "9"}
"""The window wait ends 7 s after a write left (5 s window, rounded, +1 s +1 s margin); lookups still
miss an order that was never placed for 2 s more, then it is resent. A late original (execute_late
8000) is refused as expired before the resend."""
PAST_TIMEOUT_MS = 3_500
"""A delay fault holds the answer just past the daemons' request timeout."""

FAULTS = [
    Fault(
        "entry-delay-past-timeout",
        "entry",
        {"action": "delay", "delay_ms": PAST_TIMEOUT_MS},
        Outcome.PROTECTED,
    ),
    Fault("entry-slow-answer", "entry", {"action": "delay", "delay_ms": 1500}, Outcome.PROTECTED),
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
    # The original executes after the daemon gave up on it (inside its recvWindow / expiry): found by the
    # lookup made once the window has passed, never resent. Past the window it is refused (-5028 /
    # expired) and the resend is the only execution.
    Fault(
        "entry-executes-late",
        "entry",
        {"action": "execute_late", "delay_ms": 3000},
        Outcome.PROTECTED,
        families=("binance", "phemex"),
    ),
    # The answer is lost and the order is not found for 10 s although it filled (Binance -2013 for orders
    # that exist): one miss is no proof, the daemon keeps looking and never resends.
    Fault(
        "entry-answer-lost-and-order-hidden",
        "entry",
        {"action": "drop_after", "hide_ms": 10_000},
        Outcome.PROTECTED,
        families=("binance", "phemex"),
    ),
    Fault(
        "entry-executes-after-its-window",
        "entry",
        {"action": "execute_late", "delay_ms": 8000},
        Outcome.PROTECTED,
        families=("binance", "phemex"),
    ),
    Fault("stop-executes-late", "stop", {"action": "execute_late", "delay_ms": 3000}, Outcome.PROTECTED),
    Fault(
        "stop-delay-past-timeout", "stop", {"action": "delay", "delay_ms": PAST_TIMEOUT_MS}, Outcome.PROTECTED
    ),
    Fault("stop-5xx", "stop", {"action": "error_5xx", "status": 503}, Outcome.PROTECTED),
    Fault("stop-429", "stop", {"action": "rate_limit", "body": RATE_LIMITED}, Outcome.PROTECTED),
    Fault("stop-418", "stop", {"action": "ban"}, Outcome.EITHER),
    Fault("stop-drop-before", "stop", {"action": "drop_before"}, Outcome.PROTECTED),
    Fault("stop-drop-after", "stop", {"action": "drop_after"}, Outcome.PROTECTED),
    Fault("stop-rejected-once", "stop", {"action": "reject_stop"}, Outcome.PROTECTED),
    Fault(  # Phemex places the stop with the entry: refusing the stop refuses the entry, so nothing opens
        "attached-stop-rejected", "stop", {"action": "reject_stop"}, Outcome.NO_TRADE, families=("phemex",)
    ),
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
    daemon = daemons(sqlite_url, **(SHORT_TIMEOUT if "hide_ms" in fault.rule else SHORT_WAITS))
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

    async def held_requests_done() -> bool:
        """A held request (delay, execute_late) may still execute after the daemon moved on."""
        return all(
            attempt["status"] is not None
            for attempts in creating_requests(await sim.requests(), sim.family).values()
            for attempt in attempts
            if attempt["fault"] in ("delay", "execute_late")
        )

    await eventually(held_requests_done, within=20, what="every held request executed or refused")
    await eventually(settled, within=20, what=f"a consistent end state after {fault.name}")
    await asyncio.sleep(0.6)  # three tracker passes: a late extra order or a late close would show
    final, view = await outcome(sim, daemon)
    assert final is not None, f"the state moved on after it settled: {view.summary()}"
    if fault.expect is Outcome.EITHER:
        assert final in (Outcome.PROTECTED, Outcome.CLOSED), view.summary()
    else:
        assert final is fault.expect, view.summary()
    requests = await sim.requests()
    assert order_sent_twice(requests, sim.family) == []
    if fault.rule.get("delay_ms") == PAST_TIMEOUT_MS:  # the daemon gave up waiting, then looked the id up
        faulted = entry_id(signal_id) if fault.leg == "entry" else stop_id(signal_id)
        assert lookups_of(requests, faulted), f"{faulted} was never looked up after its request timed out"
    if final is Outcome.CLOSED:
        assert "stop_not_placed" in alerts(daemon)


# --------------------------------------------------------------------------- faults on an open position


async def open_protected(daemons: DaemonFactory, sim: Sim, sqlite_url: str, signal_id: str) -> Daemon:
    daemon = daemons(sqlite_url, **SHORT_WAITS)
    await daemon.start()
    await daemon.ws_send([market_signal(signal_id)])
    await eventually(lambda: protected_view(sim), what="the position with its stop")
    return daemon


async def test_a_rejected_new_stop_on_move_stop_leaves_the_old_stop_resting(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = await open_protected(daemons, sim, sqlite_url, "move-fault-1")
    await sim.fault(action="reject_stop", path="/fapi/v1/algoOrder", count=None)

    await daemon.ws_send([{"id": "move-fault-move-1", "action": "move_stop", "symbol": SYMBOL, "stop": 148}])

    await eventually(lambda: signal_settled(daemon, "move-fault-move-1"), what="the move_stop processed")
    await sim.clear_faults()
    view = await settled_view(sim)
    assert_exactly_one_stop(view, trigger="147")
    [position] = (await daemon.db()).open_positions()
    assert position.stop_price == 147, "the database must not claim a stop the exchange does not hold"
    assert order_sent_twice(await sim.requests(), sim.family) == []


async def test_an_old_stop_that_cannot_be_cancelled_on_move_stop_ends_as_exactly_one_stop_at_the_new_price(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = await open_protected(daemons, sim, sqlite_url, "cancel-fault-1")
    await sim.fault(action="error_5xx", method="DELETE", path="/fapi/v1/algoOrder", count=5)

    await daemon.ws_send(
        [{"id": "cancel-fault-move-1", "action": "move_stop", "symbol": SYMBOL, "stop": 148}]
    )

    await eventually(lambda: signal_settled(daemon, "cancel-fault-move-1"), what="the move_stop processed")

    async def one_stop_again() -> ExchangeView | None:
        view = await sim.view()
        return view if len(view.stops()) == 1 else None

    await eventually(one_stop_again, within=20, what="the extra stop swept (reconciliation runs every 5 s)")
    view = await settled_view(sim)
    assert_exactly_one_stop(view, trigger="148")
    [position] = (await daemon.db()).open_positions()
    assert position.stop_price == 148
    assert order_sent_twice(await sim.requests(), sim.family) == []


@pytest.mark.parametrize("action", ["drop_after", "error_5xx"])
async def test_a_close_order_with_an_unknown_outcome_closes_once_and_never_opens_the_other_way(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, action: str
) -> None:
    daemon = await open_protected(daemons, sim, sqlite_url, "close-fault-1")
    close_id = client_order_id("close-fault-1", OrderKind.CLOSE)
    await sim.fault(action=action, method="POST", path="/fapi/v1/order", match={"newClientOrderId": close_id})

    await daemon.ws_send([{"id": "close-fault-close-1", "action": "close", "symbol": SYMBOL}])

    # An unanswered close is resent only once lookups have missed it for the adapter's not-found grace
    # (9 s after it left here): one miss is no proof that it did not execute.
    await eventually(lambda: flat_view(sim), within=30, what="flat after the close")

    async def booked() -> Any:
        db = await daemon.db()
        return db if db.closed_positions() else None

    db = await eventually(booked, what="the close booked")
    view = await settled_view(sim)
    assert view.position is None and view.orders == [], view.summary()
    assert db.open_positions() == [] and unsettled_orders(db) == []
    fills = await sim.fills()
    assert [f["side"].lower() for f in fills] == ["buy", "sell"], fills
    assert order_sent_twice(await sim.requests(), sim.family) == []


async def test_a_stop_rejected_after_it_triggers_leaves_no_naked_position(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    """Binance refuses a stop after it triggers (algo REJECTED, e.g. a margin check; issue #10 item 4): the
    position is still open past its stop, so the daemon closes it at market, once, with an alert."""
    signal_id = "reject-after-trigger-1"
    await sim.fault(
        action="reject_after_trigger",
        method="POST",
        path="/fapi/v1/algoOrder",
        match={"clientAlgoId": stop_id(signal_id)},
    )
    daemon = await open_protected(daemons, sim, sqlite_url, signal_id)
    await sim.mark("146")  # through the stop at 147: it triggers and is refused
    await eventually(lambda: flat_view(sim), within=20, what="flat after the refused stop")
    view = await settled_view(sim)
    assert view.position is None and view.stops() == [], view.summary()
    assert "stop_not_placed" in alerts(daemon)
    fills = await sim.fills()
    assert [f["side"].lower() for f in fills] == ["buy", "sell"], fills
    assert order_sent_twice(await sim.requests(), sim.family) == []


async def test_position_reads_failing_for_a_while_never_book_or_close_a_position_that_is_still_open(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    daemon = await open_protected(daemons, sim, sqlite_url, "blind-1")
    since = (await sim.requests())[-1]["seq"]
    for path in ("/fapi/v2/positionRisk", "/fapi/v3/positionRisk"):
        await sim.fault(action="error_5xx", method="GET", path=path, count=None)

    async def blind_reads() -> bool:  # several tracker passes, each refused its position read
        failed = [r for r in await sim.requests(since=str(since)) if r["fault"] == "error_5xx"]
        return len(failed) >= 5

    await eventually(blind_reads, what="five position reads refused")
    await sim.clear_faults()

    view = await settled_view(sim)
    assert_exactly_one_stop(view, trigger="147")
    assert creating_requests(await sim.requests(since=str(since)), sim.family) == {}
    db = await daemon.db()
    assert len(db.open_positions()) == 1 and db.closed_positions() == []
    assert (await daemon.status())["breaker"]["status"] == "active"


async def signal_settled(daemon: Daemon, signal_id: str) -> bool:
    row = (await daemon.db(signal_id)).signal(signal_id)
    return row is not None and row.status != "queued"


async def test_a_mark_price_the_exchange_does_not_serve_refuses_entries_until_it_is_served_again(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str
) -> None:
    await sim.fault(action="error_5xx", method="GET", path="/fapi/v1/premiumIndex", count=None)
    daemon = daemons(sqlite_url, **SHORT_WAITS)
    await daemon.start()

    await daemon.ws_send([market_signal("stale-1")])

    decision = await eventually(
        lambda: decision_of(daemon, "stale-1"), what="a decision without a fresh mark"
    )
    assert (decision.accepted, decision.reason) == (False, "DATA_MISSING"), decision.message
    assert entry_id("stale-1") not in creating_requests(await sim.requests(), sim.family)

    since = (await sim.requests())[-1]["seq"]
    await sim.clear_faults()

    async def mark_served() -> bool:  # a background refresh of the market data got its answer
        reads = await sim.requests(since=str(since), path="/fapi/v1/premiumIndex")
        return any(r["status"] == 200 for r in reads)

    await eventually(mark_served, what="the mark served to the daemon again")
    await daemon.ws_send([market_signal("stale-2")])
    await eventually(lambda: protected_view(sim), what="an entry once the mark is served again")


async def decision_of(daemon: Daemon, signal_id: str) -> Any:
    return (await daemon.db(signal_id)).decisions.get(signal_id)


# --------------------------------------------------------------------------- every fault on the other writes

KINDS = [
    "delay",
    "error_5xx",
    "rate_limit",
    "ban",
    "drop_before",
    "drop_after",
    "execute_late",
    "reject_stop",
]
OTHER_WRITES = ["leverage", "take_profit", "cancel", "close"]
MATRIX = [
    *[pytest.param(kind, write, id=f"{kind}-{write}") for write in OTHER_WRITES for kind in KINDS],
    pytest.param("reject_stop", "entry", id="reject_stop-entry"),  # a stop rule must not hit an entry
]
"""Each fault kind on each write the cases above do not fault (Binance dialect)."""


def matrix_rule(kind: str, method: str, path: str, match: dict[str, str] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"action": kind, "method": method, "path": path, "count": 1}
    if match:
        body["match"] = match
    if kind == "delay":
        body["delay_ms"] = PAST_TIMEOUT_MS
    elif kind == "execute_late":  # executes after the daemon gave up, inside its 5 s request window
        body["delay_ms"] = 3000
    elif kind == "error_5xx":
        body["status"] = 503
    elif kind == "rate_limit":  # Binance's body without Retry-After: the adapter's own short backoff
        body["body"] = RATE_LIMITED
    elif kind == "ban":
        body["body"] = short_ban()
    return body


def open_signal(signal_id: str, take_profit: bool = False) -> dict[str, Any]:
    payload = {**market_signal(signal_id), "conviction": 8}
    if take_profit:
        payload["take_profit"] = "159"
    return payload


async def send(daemon: Daemon, payload: dict[str, Any], acknowledged: list[str]) -> None:
    status, answer = await daemon.post(payload)
    assert answer.get("status") == "queued", (status, answer)
    acknowledged.append(payload["id"])


async def settled_daemon(daemon: Daemon) -> bool:
    """No signal queued and no order row pending or unknown."""
    async with daemon.store() as store, store.read() as tx:
        queued = await tx.signals.queued(ACCOUNT, limit=1)
        unsettled = await tx.orders.in_states(ACCOUNT, [OrderState.PENDING, OrderState.UNKNOWN])
    return not queued and not unsettled


async def open_positions(sim: Sim) -> int:
    return len([p for p in (await sim.account()).get("positions", []) if Decimal(p["qty"])])


async def guarded(sim: Sim) -> bool:
    return await open_positions(sim) == 1 and not await protection(sim)


async def no_position(sim: Sim) -> bool:
    return await open_positions(sim) == 0


@pytest.mark.parametrize(("kind", "write"), MATRIX)
async def test_a_fault_on_any_other_write_keeps_every_invariant(
    daemons: DaemonFactory, sim: Sim, sqlite_url: str, kind: str, write: str
) -> None:
    """The fault fires (a stop rejection only on a stop), no order is executed twice or resent unlooked-up,
    a position has exactly one resting stop, every acknowledged signal is decided once, and a position
    asked to close is closed."""
    daemon = daemons(sqlite_url, **SHORT_WAITS)
    await daemon.start()
    acknowledged: list[str] = []
    opening = f"fault-{kind}-{write}"
    if write == "leverage":
        await sim.fault(**matrix_rule(kind, "POST", "/fapi/v1/leverage"))
    elif write == "entry":
        await sim.fault(
            **matrix_rule(kind, "POST", "/fapi/v1/order", {"newClientOrderId": entry_id(opening)})
        )
    elif write == "take_profit":
        leg = client_order_id(opening, OrderKind.TAKE_PROFIT)
        await sim.fault(**matrix_rule(kind, "POST", "/fapi/v1/algoOrder", {"clientAlgoId": leg}))
    await send(daemon, open_signal(opening, take_profit=write == "take_profit"), acknowledged)
    if write in ("cancel", "close"):
        await eventually(lambda: guarded(sim), what="the position with its stop")
        await eventually(lambda: settled_daemon(daemon), what="the opening settled")
        if write == "cancel":
            await sim.mark("152")
            await sim.fault(**matrix_rule(kind, "DELETE", "/fapi/v1/algoOrder"))
            move = {"id": f"{opening}-move", "action": "move_stop", "symbol": SYMBOL, "stop": "149"}
            await send(daemon, move, acknowledged)
        else:
            close = client_order_id(opening, OrderKind.CLOSE)
            await sim.fault(**matrix_rule(kind, "POST", "/fapi/v1/order", {"newClientOrderId": close}))
            await send(daemon, {"id": f"{opening}-close", "action": "close", "symbol": SYMBOL}, acknowledged)
    await eventually(lambda: settled_daemon(daemon), within=30, what=f"the {kind} on {write} settled")

    if write == "close":
        await eventually(lambda: no_position(sim), within=20, what="the position closed")
    elif await open_positions(sim):
        await eventually(lambda: guarded(sim), what="exactly one stop on the position")
    await eventually(lambda: settled_daemon(daemon), what="everything settled")
    fired = [r for r in await sim.requests() if r["fault"] == kind]
    applies = kind != "reject_stop" or write == "take_profit"
    assert bool(fired) == applies, f"fault {kind} fired {len(fired)} times on {write}"
    assert await sent_twice(sim) == []
    assert await decided_once(daemon, acknowledged) == []
