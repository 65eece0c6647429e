"""A position held for weeks books every fill and funding payment (issue #10 item 7): Binance answers at most
7 days of trades and at most `limit` income rows per request, and the simulator does too."""

from __future__ import annotations

import json
from decimal import Decimal

from executor.domain.enums import PositionStatus, SignalSource
from tests.support.flow import dec, flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}


async def test_a_position_held_three_weeks_books_every_fill_and_funding_payment(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url) as f:
        await f.submit(id="s1", **LONG_SOL)
        await f.control("POST", "clock", {"advance_seconds": 3 * 7 * 86_400 + 3600})
        await f.inbox.submit(
            json.dumps({"id": "c1", "action": "close", "symbol": "SOLUSDT"}), SignalSource.WEBSOCKET
        )
        assert await f.trader.process_queued() == 1
        await f.tick()

        async with f.store.transaction() as tx:
            [closed] = await tx.positions.with_status("main", PositionStatus.CLOSED)
        account = await f.sim_account()
        funding = [dec(r["amount"]) for r in account["income"] if r["type"] == "FUNDING_FEE"]
        assert len(funding) >= 63  # three a day for three weeks (and an hour), most older than a week
        assert closed.funding == sum(funding, Decimal(0)) != 0
        assert closed.fees == sum((dec(fill["fee"]) for fill in account["fills"]), Decimal(0))
        assert closed.realized_pnl == sum(
            (dec(fill["realized_pnl"]) for fill in account["fills"]), Decimal(0)
        )
        assert len(account["fills"]) == 2
