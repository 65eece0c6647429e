"""The invariants every crash trial and fault test checks, against the simulator's own records.

The daemon's account of itself is never the witness: orders sent, positions and stops come from the
simulator's request log and state; only "was every stored signal decided once" needs the database,
and the day's loss is the database's number compared with what the simulator's fills imply.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from executor.domain.enums import PositionStatus
from executor.domain.money import ZERO
from harness.e2e import ACCOUNT, Daemon, Sim, order_sent_twice

SIM_KEY = "sim-key"


def unprotected(account: dict[str, Any]) -> list[str]:
    """Positions without exactly one resting reduce-only stop on the closing side."""
    problems = []
    for position in account.get("positions", []):
        qty = Decimal(position["qty"])
        if not qty:
            continue
        closing = "SELL" if qty > 0 else "BUY"
        stops = [
            order
            for order in account.get("open_orders", [])
            if order["symbol"] == position["symbol"]
            and order["type"] == "STOP_MARKET"
            and order["side"] == closing
            and (order["reduce_only"] or order["close_position"])
        ]
        if len(stops) != 1:
            ids = [(order["client_id"], order["trigger_price"]) for order in stops]
            problems.append(f"position {position['symbol']} {qty} has {len(stops)} resting stops {ids}")
    return problems


async def protection(sim: Sim) -> list[str]:
    return unprotected(await sim.account())


async def sent_twice(sim: Sim) -> list[str]:
    return order_sent_twice(await sim.requests(), sim.family)


def implied_day(account: dict[str, Any]) -> tuple[Decimal, Decimal, Decimal]:
    """(gross realized PnL, fees, funding) of everything the simulator executed for the account."""
    fills = account.get("fills", [])
    realized = sum((Decimal(fill["realized_pnl"]) for fill in fills), ZERO)
    fees = sum((Decimal(fill["fee"]) for fill in fills), ZERO)
    funding = sum(
        (Decimal(row["amount"]) for row in account.get("income", []) if row["type"] == "FUNDING_FEE"), ZERO
    )
    return realized, fees, funding


async def decided_once(daemon: Daemon, acknowledged: Sequence[str]) -> list[str]:
    """Every acknowledged signal is stored and settled; every stored `open` has exactly one decision."""
    problems = []
    async with daemon.store() as store, store.read() as tx:
        queued = await tx.signals.queued(ACCOUNT, limit=10_000)
        problems += [f"signal {row.signal_id} still queued" for row in queued]
        for signal_id in acknowledged:
            row = await tx.signals.get(ACCOUNT, signal_id)
            if row is None:
                problems.append(f"signal {signal_id} was acknowledged but is not stored")
                continue
            action = row.payload.get("action", "open")
            decision = await tx.decisions.for_signal(row.id)
            if action == "open" and row.status == "decided" and decision is None:
                problems.append(f"open signal {signal_id} is decided without a decision row")
            if action != "open" and decision is not None:
                problems.append(f"{action} signal {signal_id} has a risk decision")
    return problems


async def day_matches_fills(daemon: Daemon, sim: Sim, loss_limit_pct: Decimal) -> list[str]:
    """With every position closed: the booked day equals the fills, and the breaker matches the loss.

    The breaker is tripped exactly when the day's net loss reached the limit (limit_pct of the start
    of day equity); a halt for any other reason (reconciliation) is itself a finding.
    """
    account = await sim.account()
    if any(Decimal(position["qty"]) for position in account.get("positions", [])):
        return ["positions still open at the end: the day cannot be compared"]
    realized, fees, funding = implied_day(account)
    async with daemon.store() as store, store.read() as tx:
        day = await tx.daily_loss.latest(ACCOUNT)
        closed = await tx.positions.with_status(ACCOUNT, PositionStatus.CLOSED)
    if day is None:
        return [] if not account.get("fills") else ["fills on the exchange but no day row"]
    problems = []
    booked = (day.realized_pnl, day.fees, day.funding)
    implied = (realized, fees, funding)
    if booked != implied:
        problems.append(
            f"day booked (realized, fees, funding) {tuple(map(str, booked))} but the fills imply "
            f"{tuple(map(str, implied))} over {len(closed)} closed positions"
        )
    loss = -(realized - fees + funding)
    limit = day.start_of_day_equity * loss_limit_pct
    tripped = day.breaker == "tripped"
    reason = day.trip_reason or ""
    if tripped and reason.startswith("reconciliation"):
        problems.append(f"halted by reconciliation: {reason}")
    elif tripped and loss < limit:
        problems.append(f"breaker tripped at a loss of {loss} under the limit {limit}: {reason}")
    elif not tripped and loss >= limit:
        problems.append(f"loss {loss} reached the limit {limit} but the breaker is {day.breaker}")
    return problems
