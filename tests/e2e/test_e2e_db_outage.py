"""A database outage while an entry's answer is on its way (issue #12 item 1).

The entry is answered 2 s late while the database is unusable (SQLite locked ~9 s; PostgreSQL
refusing connections ~3 s with its backends terminated), so storing the entry's answer fails after
the order went out. The consumer must not decide anything more until that entry is resolved against
the exchange and recorded: the second `open` on the symbol is refused (one position per symbol counts
in-flight entries and the exchange's positions), and the `close` closes the position.
"""

from __future__ import annotations

import pytest

from harness.e2e import (
    SYMBOL,
    DaemonFactory,
    Sim,
    creating_requests,
    database_outage,
    entry_id,
    eventually,
    flat_view,
    market_signal,
    order_sent_twice,
    unsettled_orders,
)

pytestmark = pytest.mark.slow

OUTAGE_SECONDS = {"sqlite": 9.0, "postgresql": 3.0}
"""SQLite: longer than the writers' 5 s busy timeout after the 2 s answer, so storing it fails."""


@pytest.mark.parametrize("database", ["sqlite", "postgresql"], indirect=True)
async def test_a_database_outage_while_an_entry_is_answered_neither_doubles_the_position_nor_drops_the_close(
    daemons: DaemonFactory, sim: Sim, database: str
) -> None:
    daemon = daemons(database, EXECUTOR__EXECUTION__RECONCILE_INTERVAL_SECONDS="120")  # no periodic rescue
    await daemon.start()
    await sim.fault(
        action="delay",
        delay_ms=2000,
        method="POST",
        path="/fapi/v1/order",
        match={"newClientOrderId": entry_id("outage-open-1")},
    )
    kind = "sqlite" if database.startswith("sqlite") else "postgresql"

    await daemon.ws_send(
        [
            market_signal("outage-open-1"),
            market_signal("outage-open-2"),
            {"id": "outage-close-1", "action": "close", "symbol": SYMBOL},
        ]
    )

    async def decided() -> bool:
        return "outage-open-1" in (await daemon.db("outage-open-1")).decisions

    await eventually(decided, what="the first entry decided (it is on its way to the exchange)")
    await database_outage(database, OUTAGE_SECONDS[kind])

    async def all_settled() -> bool:
        db = await daemon.db("outage-open-1", "outage-open-2", "outage-close-1")
        return all(row.status != "queued" for row in db.signals) and len(db.signals) == 3

    await eventually(all_settled, within=40, what="every signal decided after the outage")
    await eventually(lambda: flat_view(sim), within=20, what="flat after the close")
    db = await daemon.db("outage-open-1", "outage-open-2", "outage-close-1")
    close = db.signal("outage-close-1")
    assert close is not None and close.status == "decided", close.error if close else None
    second = db.decisions["outage-open-2"]
    assert not second.accepted, "a second entry went out on a symbol the exchange already held"
    assert second.reason == "SYMBOL_HELD", (second.reason, second.message)
    requests = await sim.requests()
    assert entry_id("outage-open-2") not in creating_requests(requests, sim.family)
    assert order_sent_twice(requests, sim.family) == []
    fills = await sim.fills()
    assert [f["side"].lower() for f in fills] == ["buy", "sell"], fills

    async def booked() -> bool:
        current = await daemon.db()
        return bool(current.closed_positions()) and not current.open_positions()

    await eventually(booked, what="the position booked closed")
    assert unsettled_orders(await daemon.db()) == []
