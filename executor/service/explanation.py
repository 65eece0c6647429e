"""One stored signal as a whole: its payload and status, decision with the step log, orders, positions and
events. `executor explain` prints it, `GET /signals/{id}` serves it, and `outcome` cuts it down to what
the sender of the signal wants to know (`POST /signals?wait=`, `executor signal send`). No web framework
here: `executor explain` imports this module, and the route lives in executor/service/signal_route.py."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from typing import Any, Final

from executor.domain.enums import SignalStatus
from executor.service.status import moment, money, order_report
from executor.store.models import DecisionRow, EventRow, PositionRow, SignalRow
from executor.store.store import Store

OUTCOME_POLL_SECONDS: Final = 0.1
"""How often a waiting sender's signal is looked up; a decision takes tens of milliseconds."""
FINISHED_POLL_SECONDS: Final = 1.0
"""How often a waiter told by `Finished` looks anyway: a signal the consumer defers is not done yet."""


async def explanation(store: Store, account: str, signal_id: str) -> dict[str, Any] | None:
    """The stored signal, its decision with the step log, its orders and positions; None if unknown."""
    async with store.read() as tx:
        signal = await tx.signals.get(account, signal_id)
        if signal is None:
            return None
        decision = await tx.decisions.for_signal(signal.id)
        orders = list(await tx.orders.for_signal(signal.id))
        positions = await tx.positions.for_signal(signal.id)
        events = await tx.events.for_signal(account, signal_id)
        # A move_stop's orders belong to the position it moved; its events name them.
        for client_id in _named_orders(events):
            row = await tx.orders.by_client_id(account, client_id)
            if row is not None and row not in orders:
                orders.append(row)
    return {
        "signal": _signal(signal),
        "decision": None if decision is None else _decision(decision),
        "orders": [order_report(row) for row in orders],
        "positions": [_position(row) for row in positions],
        "events": [{"at": moment(event.at), "kind": event.kind, "data": event.data} for event in events],
    }


def _named_orders(events: Sequence[EventRow]) -> list[str]:
    names = (name for event in events for name in (event.data or {}).get("orders", ()))
    return list(dict.fromkeys(name for name in names if isinstance(name, str)))


def _signal(row: SignalRow) -> dict[str, Any]:
    return {
        "signal_id": row.signal_id,
        "source": row.source,
        "status": row.status,
        "error": row.error,
        "received_at": moment(row.received_at),
        "decided_at": moment(row.decided_at),
        "payload": row.payload,
    }


def _decision(row: DecisionRow) -> dict[str, Any]:
    return {
        "accepted": row.accepted,
        "reason": row.reason,
        "message": row.message,
        "symbol": row.symbol,
        "side": row.side,
        "qty": money(row.qty),
        "leverage": row.leverage,
        "entry": money(row.entry),
        "stop": money(row.stop),
        "take_profit": money(row.take_profit),
        "notional": money(row.notional),
        "margin": money(row.margin),
        "risk": money(row.risk),
        "risk_pct": money(row.risk_pct),
        "liquidation_price": money(row.liquidation_price),
        "binding": row.binding,
        "risk_budget": money(row.risk_budget),
        "order_price": money(row.order_price),
        "decided_at": moment(row.decided_at),
        "steps": row.steps,
    }


def _position(row: PositionRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "status": row.status,
        "symbol": row.symbol,
        "side": row.side,
        "qty": money(row.qty),
        "entry_price": money(row.entry_price),
        "stop_price": money(row.stop_price),
        "exit_price": money(row.exit_price),
        "realized_pnl": money(row.realized_pnl),
        "fees": money(row.fees),
        "funding": money(row.funding),
        "slippage_allowed": money(row.slippage_allowed),
        "slippage": money(row.slippage),
        "opened_at": moment(row.opened_at),
        "closed_at": moment(row.closed_at),
    }


def outcome(found: dict[str, Any]) -> dict[str, Any]:
    """What became of the signal: `queued` (not decided yet), `decided` (an open: accepted or rejected with
    its reason, and the size it was given), `done` (a close or move_stop carried out) or `failed`."""
    signal, decision = found["signal"], found["decision"]
    status = signal["status"]
    answer: dict[str, Any] = {"id": signal["signal_id"], "status": status}
    if status == SignalStatus.QUEUED:
        return answer
    if decision is not None:
        answer |= {
            key: decision[key]
            for key in ("accepted", "reason", "message", "qty", "leverage", "entry", "stop")
        }
        return answer
    if status == SignalStatus.FAILED:
        return answer | {"accepted": False, "message": signal["error"]}
    finished = [event for event in found["events"] if event["kind"].startswith("signal.")]
    message = finished[-1]["data"].get("message") if finished else None
    return answer | {"status": "done", "accepted": True, "message": message}


class Finished:
    """The consumer's word that it is done with a signal (decided, failed, its orders sent), so that an
    outcome waiter looks the outcome up then, not every 100 ms meanwhile: the WebSocket's pushed outcomes
    polled the database on the event loop the decision runs on, and cost each signal ~4 ms on its way to
    the wire (docs/performance.md, "Where the time goes")."""

    def __init__(self) -> None:
        self._waiters: dict[str, set[asyncio.Future[None]]] = {}
        self._queued: set[str] = set()

    def queued(self, signal_id: str) -> None:
        """Stored just now for the consumer: its outcome is not worth a lookup before `done`."""
        self._queued.add(signal_id)

    def done(self, signal_id: str) -> None:
        self._queued.discard(signal_id)
        for waiter in self._waiters.pop(signal_id, set()):
            if not waiter.done():
                waiter.set_result(None)

    def pending(self, signal_id: str) -> bool:
        return signal_id in self._queued

    @contextmanager
    def watch(self, signal_id: str) -> Iterator[asyncio.Future[None]]:
        """A future set when `done(signal_id)` is called while the block runs."""
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(signal_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            waiters = self._waiters.get(signal_id, set())
            waiters.discard(waiter)
            if not waiters:
                self._waiters.pop(signal_id, None)


async def wait_for_outcome(
    store: Store, account: str, signal_id: str, seconds: float, finished: Finished | None = None
) -> dict[str, Any]:
    """The signal's outcome once it is settled, or as it stands (`queued`) after `seconds`.

    With `finished` it is looked up again when the consumer is done with the signal (and first then, for
    one `finished` was told is queued), and every second for one the consumer defers; without, every
    100 ms. Cancelled (a WebSocket sender gone, its pushes cancelled), it stops between lookups: a lookup
    under way is shielded, because a cancel while its session hands the connection back interrupts the
    pool's rollback, which SQLAlchemy logs as an error and answers by discarding the connection."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while True:
        with finished.watch(signal_id) if finished is not None else nullcontext(None) as done:
            if done is not None and finished is not None and finished.pending(signal_id):
                # queued just now: the first lookup would only find it queued, and run beside its decision
                await asyncio.wait({done}, timeout=min(FINISHED_POLL_SECONDS, deadline - loop.time()))
            found = await asyncio.shield(explanation(store, account, signal_id))
            current = {"id": signal_id, "status": "unknown"} if found is None else outcome(found)
            if current["status"] not in ("queued", "unknown") or loop.time() >= deadline:
                return current
            if done is None:
                await asyncio.sleep(min(OUTCOME_POLL_SECONDS, deadline - loop.time()))
            else:
                await asyncio.wait({done}, timeout=min(FINISHED_POLL_SECONDS, deadline - loop.time()))
