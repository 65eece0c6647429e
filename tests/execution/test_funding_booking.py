"""Funding at a close is read only when a settlement may lie in the position's life: Binance's income read
weighs 30 of the minute's budget and the Phemex testnet counts every request, while most positions open and
close between two settlements (issue #11, "Polling does not fit the exchanges' budgets")."""

from __future__ import annotations

from decimal import Decimal

from executor.domain.enums import PositionStatus
from tests.support.flow import SOL, Flow, dec, flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}
FUNDING_READS = {"binance": "/fapi/v1/income", "phemex": "/api-data/g-futures/funding-fees"}
MINUTE_MS = 60_000


async def now_ms(f: Flow) -> int:
    return int((await f.control("GET", "state"))["now_ms"])


async def advance(f: Flow, ms: int) -> None:
    await f.control("POST", "clock", {"advance_seconds": ms / 1000})


async def hold_and_close(f: Flow, signal_id: str, held_ms: int) -> None:
    await f.submit(id=signal_id, **LONG_SOL)
    await advance(f, held_ms)
    await f.submit(id=f"{signal_id}-close", action="close", symbol="SOLUSDT")
    await f.tick()


async def funding_reads(f: Flow) -> list[str]:
    log = (await f.control("GET", "requests"))["requests"]
    return [row["path"] for row in log if row["path"] == FUNDING_READS[f.exchange]]


async def test_a_position_between_two_settlements_is_booked_without_a_funding_read(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url) as f:
        await f.adapter.market_snapshot(SOL)  # the schedule, as the daemon's refresh keeps it
        schedule = f.adapter.funding_schedule(SOL)
        assert schedule is not None and schedule.next_funding_time is not None and schedule.interval
        next_ms = int(schedule.next_funding_time.timestamp() * 1000)
        await advance(f, next_ms - await now_ms(f) + 30 * MINUTE_MS)  # half an hour after a settlement
        await f.adapter.market_snapshot(SOL)
        await f.control("DELETE", "requests")
        await hold_and_close(f, "s1", 60 * MINUTE_MS)

        assert await funding_reads(f) == []
        async with f.store.read() as tx:
            [closed] = await tx.positions.with_status("main", PositionStatus.CLOSED)
        assert closed.funding == 0
        account = await f.sim_account()
        paid = [r for r in account["income"] if r["type"] == "FUNDING_FEE"]
        assert all(int(r["time"]) < closed.opened_at.timestamp() * 1000 for r in paid)


async def test_a_position_across_a_settlement_reads_and_books_its_funding(sqlite_url: str) -> None:
    async with flow("binance", sqlite_url) as f:
        await f.adapter.market_snapshot(SOL)
        schedule = f.adapter.funding_schedule(SOL)
        assert schedule is not None and schedule.next_funding_time is not None and schedule.interval
        next_ms = int(schedule.next_funding_time.timestamp() * 1000)
        before = next_ms - 30 * MINUTE_MS - await now_ms(f)  # half an hour before a settlement
        if before < 0:  # the next one is nearer than that: half an hour before the one after it
            before += int(schedule.interval.total_seconds() * 1000)
        await advance(f, before)
        await f.control("DELETE", "requests")
        await hold_and_close(f, "s1", 60 * MINUTE_MS)

        assert await funding_reads(f)
        async with f.store.read() as tx:
            [closed] = await tx.positions.with_status("main", PositionStatus.CLOSED)
        account = await f.sim_account()
        paid = [dec(r["amount"]) for r in account["income"] if r["type"] == "FUNDING_FEE"]
        assert closed.funding == sum(paid, Decimal(0)) != 0


async def test_without_a_next_settlement_time_from_the_exchange_funding_is_always_read(
    sqlite_url: str,
) -> None:
    """ccxt's Phemex funding rate has no next funding time (ccxt/phemex.py:4213): the schedule is unknown, so
    even a five-minute position has its funding read (the harsher reading)."""
    async with flow("phemex", sqlite_url) as f:
        await f.adapter.market_snapshot(SOL)
        schedule = f.adapter.funding_schedule(SOL)
        assert schedule is not None and schedule.next_funding_time is None
        await f.control("DELETE", "requests")
        await hold_and_close(f, "s1", 5 * MINUTE_MS)
        assert await funding_reads(f)
