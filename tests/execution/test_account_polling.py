"""The account's polling beside the streams, in process (real ccxt against the simulator, unmodified
ccxt.pro for the streams, a real database): while a trusted user data stream follows the account
(no market stream down), the tracker and the breaker read it every `streamed_account_seconds`, not every tick;
a gap puts them back on every tick at once, and the breaker still trips on a loss, confirmed by two
snapshots (not one snapshot the breaker's ticks met twice)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest

from adapters.streams import StreamSettings
from executor.config.settings import ExecutionSettings
from executor.domain.client_ids import client_order_id
from executor.domain.enums import BreakerStatus, OrderKind
from executor.domain.order_state import OrderState
from executor.domain.user_events import GapReason, StreamGap
from executor.execution.user_stream import UserStreamApplier
from executor.ports.exchange import URGENT_READS
from tests.support.adapter_sim import FAST, eventually
from tests.support.flow import Flow, flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}
STREAMING = replace(FAST, streams=StreamSettings(stall_after=timedelta(seconds=3)))
ACCOUNT_PATHS = {
    "/g-accounts/accountPositions",
    "/fapi/v3/account",
    "/fapi/v2/account",
    "/fapi/v3/positionRisk",
}
EVERY = 3.0
INTERVALS = ExecutionSettings(
    poll_interval_seconds=0.5, breaker_interval_seconds=0.5, streamed_account_seconds=EVERY
)


async def account_reads(f: Flow) -> int:
    rows = (await f.control("GET", "requests"))["requests"]
    return sum(1 for row in rows if row["path"] in ACCOUNT_PATHS)


@asynccontextmanager
async def followed(
    exchange: str, database_url: str, *, watch: bool = True, **overrides: Any
) -> AsyncIterator[tuple[Flow, UserStreamApplier, asyncio.Event]]:
    """A flow whose account the streams follow, as the daemon wires it (SOL's marks and book watched, with
    `watch`); its resync waits while the event it yields is clear (set: resyncs run)."""
    async with flow(
        exchange, database_url, adapter_settings=STREAMING, execution=INTERVALS, **overrides
    ) as f:
        resyncs = asyncio.Event()
        resyncs.set()

        async def resync() -> None:
            await resyncs.wait()
            await f.reconciler.run()

        applier = UserStreamApplier(f.ctx, f.keeper, resync)
        assert f.adapter.follow_user_events(applier.sink)
        if watch:
            f.adapter.watch("SOL/USDT:USDT")
        await f.adapter.start_background_refresh()
        f.ctx.accounts.followed = applier.follows
        runner = asyncio.create_task(applier.run())
        try:
            await eventually(applier.follows, 15)
            yield f, applier, resyncs
        finally:
            runner.cancel()
            await asyncio.gather(runner, return_exceptions=True)


def tripped(f: Flow) -> bool:
    return f.ctx.book.state.breaker is BreakerStatus.TRIPPED


async def poll(f: Flow, seconds: float) -> None:
    """The tracker's and the breaker's ticks, as the daemon runs them, for `seconds`."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        await f.keeper.track()
        await f.guard.tick()
        await asyncio.sleep(INTERVALS.poll_interval_seconds)


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_while_the_streams_follow_the_account_it_is_read_every_streamed_seconds_and_after_a_gap_at_once(
    exchange: str, sqlite_url: str
) -> None:
    async with followed(exchange, sqlite_url) as (f, applier, resyncs):
        await f.submit(id="s1", **LONG_SOL)
        await f.keeper.track()  # the pass that was due
        before = await account_reads(f)
        await poll(f, EVERY - 1)
        assert await account_reads(f) == before  # five ticks of each, no account read
        await poll(f, 2)
        assert await account_reads(f) > before  # the pass that came due
        resyncs.clear()
        applier.sink(StreamGap(GapReason.DISCONNECTED, "test", f.ctx.now()))
        assert not applier.follows()
        before = await account_reads(f)
        await f.keeper.track()
        assert await account_reads(f) > before  # at once, not when the slow cadence would come due
        resyncs.set()
        await eventually(applier.follows, 10)


async def test_the_breaker_trips_on_a_loss_judged_on_the_streamed_cadence(sqlite_url: str) -> None:
    overrides: dict[str, Any] = {"daily_loss": {"basis": "equity", "limit_amount": "30"}}
    async with followed("binance", sqlite_url, **overrides) as (f, _, _):
        await f.submit(id="s1", **LONG_SOL)
        await poll(f, 1)
        await f.mark("144")  # about 60 of loss, the stop (140) not reached
        await f.ctx.accounts.refresh()
        async with f.ctx.lock:
            for _ in range(3):  # the breaker's ticks meeting one snapshot: one reading, not confirmed
                await f.guard.check()
        assert not tripped(f)
        started = time.monotonic()
        until = started + 2 * (EVERY + INTERVALS.poll_interval_seconds) + 2
        while not tripped(f) and time.monotonic() < until:
            await poll(f, INTERVALS.poll_interval_seconds)
        assert tripped(f)
        assert f.ctx.accounts.streamed_poll() == EVERY  # it tripped on the streamed cadence


async def test_a_breach_waiting_for_confirmation_is_confirmed_on_a_fresh_read_at_the_breakers_next_tick(
    sqlite_url: str,
) -> None:
    """Not at the tracker's next streamed pass, seconds later: in a crash trial (seed 93052) a database outage
    in those seconds held the trip back until after the trial's check."""
    overrides: dict[str, Any] = {"daily_loss": {"basis": "equity", "limit_amount": "30"}}
    async with followed("binance", sqlite_url, **overrides) as (f, _, _):
        await f.submit(id="s1", **LONG_SOL)
        await poll(f, 1)
        await f.mark("144")
        await f.ctx.accounts.refresh()
        async with f.ctx.lock:
            await f.guard.check()  # the first reading
        assert not tripped(f)
        await asyncio.sleep(INTERVALS.breaker_interval_seconds)
        before = await account_reads(f)
        await f.guard.tick()
        assert await account_reads(f) > before
        assert tripped(f)


async def test_the_reads_of_a_tick_confirming_a_breach_are_urgent_and_an_ordinary_ticks_are_not(
    sqlite_url: str,
) -> None:
    """The pollers' reads wait for their share of the request budget; the read that may confirm a breach, and
    the flatten it leads to, do not: in a crash trial (seed 100361, Phemex) it waited a second and more."""
    overrides: dict[str, Any] = {"daily_loss": {"basis": "equity", "limit_amount": "30"}}
    async with followed("phemex", sqlite_url, **overrides) as (f, _, _):
        urgency: list[bool] = []
        exchange = f.ctx.exchange
        read = exchange.account_snapshot

        async def watched() -> Any:
            urgency.append(URGENT_READS.get()())
            return await read()

        exchange.account_snapshot = watched  # type: ignore[method-assign]
        await f.submit(id="s1", **LONG_SOL)
        await asyncio.sleep(EVERY + INTERVALS.poll_interval_seconds)  # the snapshot is due for a read
        urgency.clear()
        await f.guard.tick()
        assert urgency and not any(urgency)
        await f.mark("144")
        await f.ctx.accounts.refresh()
        async with f.ctx.lock:
            await f.guard.check()  # the first reading
        assert not tripped(f)
        await asyncio.sleep(INTERVALS.breaker_interval_seconds)
        urgency.clear()
        await f.guard.tick()
        assert tripped(f)
        assert urgency and all(urgency)  # the confirming read, and the flatten's


async def test_an_idle_account_is_read_on_the_streamed_cadence_too(sqlite_url: str) -> None:
    """No symbol watched yet (before the first signal): the market streams have nothing to follow and are
    not down, so the account is not read every tick for nothing (it was: 61 reads a minute, idle)."""
    async with followed("phemex", sqlite_url, watch=False) as (f, _, _):
        await f.keeper.track()
        before = await account_reads(f)
        await poll(f, EVERY - 1)
        assert await account_reads(f) == before


async def test_a_booked_close_reads_the_account_again_at_once_and_the_next_open_on_its_symbol_reads_nothing(
    sqlite_url: str,
) -> None:
    """A snapshot read before the close may still show the position: on the streamed cadence the next open
    on that symbol was refused SYMBOL_HELD on it (an e2e in CI). The booking outdates it and reads the account
    again at once, off the signal's path: the next open is taken on that read, with no account read of its
    own (the latency bench saw two on every signal after a close)."""
    async with flow("binance", sqlite_url) as f:
        await f.submit(id="s1", **LONG_SOL)
        await f.ctx.accounts.refresh()
        await f.mark("139")  # through the stop at 140
        before = await account_reads(f)
        await f.tick()
        assert f.ctx.accounts.fresh() is None  # outdated; its new read is under way
        await eventually(lambda: f.ctx.accounts.fresh() is not None)
        renewed = f.ctx.accounts.fresh()
        assert renewed is not None and renewed.position("SOL/USDT:USDT") is None
        assert await account_reads(f) > before
        await f.mark("150")
        reads = await account_reads(f)
        await f.submit(id="s2", **LONG_SOL)
        assert await account_reads(f) == reads
        assert len(await f.resting_stops()) == 1


ENTRY_LOOKUPS = {"/fapi/v1/order", "/api-data/g-futures/orders/by-order-id"}


async def entry_lookups(f: Flow) -> int:
    rows = (await f.control("GET", "requests"))["requests"]
    return sum(1 for row in rows if row["method"] == "GET" and row["path"] in ENTRY_LOOKUPS)


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_while_streamed_a_resting_entry_is_looked_up_every_streamed_seconds_and_cancelled_at_expiry(
    exchange: str, sqlite_url: str
) -> None:
    """The entries loop ticks every second; a lookup by id each tick (5 of Phemex's ~500 units a minute)
    filled ccxt's window in the latency bench. Its fills come as events while the streams follow the
    account: the loop looks it up on the streamed cadence counted from its placement (the placement's
    answer is a look), and at its expiry cancels it at once, the cancel's read-back its only lookup then."""
    async with followed(exchange, sqlite_url) as (f, _, _):
        expires = f.ctx.now() + timedelta(seconds=EVERY + 2)
        before = await entry_lookups(f)
        await f.submit(
            id="l1",
            symbol="SOLUSDT",
            side="long",
            entry={"type": "limit", "price": "145"},
            stop="143",
            conviction=8,
            expires_at=expires.isoformat().replace("+00:00", "Z"),
        )
        placed = await entry_lookups(f)
        while f.ctx.now() < expires - timedelta(seconds=0.5):
            await f.keeper.sync_entries()
            await asyncio.sleep(INTERVALS.poll_interval_seconds)
        # each tick looked it up before (8 or 9), and the first tick after its placement did
        assert await entry_lookups(f) - placed <= 1
        waiting = await entry_lookups(f)
        await asyncio.sleep(max(0.0, (expires - f.ctx.now()).total_seconds()))
        await f.keeper.sync_entries()
        # the cancel's read-back (it was looked up before the cancel too; and on Phemex so was the stop row's
        # client id, which a stop attached to the entry never had)
        assert await entry_lookups(f) - waiting == 1
        account = await f.sim_account()
        assert not [o for o in account["open_orders"] if o.get("reduceOnly") in (False, None)], account
        async with f.ctx.store.read() as tx:
            entry = await tx.orders.by_client_id(f.ctx.account, client_order_id("l1", OrderKind.ENTRY))
            stop = await tx.orders.by_client_id(f.ctx.account, client_order_id("l1", OrderKind.STOP))
        assert entry is not None and entry.state is OrderState.CANCELED, entry
        # Binance rests the stop beside the entry; Phemex's rode on it and never existed on its own
        ended = OrderState.NOT_SENT if exchange == "phemex" else OrderState.CANCELED
        assert stop is not None and stop.state is ended, stop
        assert placed - before <= 1  # an entry's answer may be read back once (Phemex's create answer)
