"""Orders and stops keep a share of the rate budget: polling reads cannot delay a protective stop."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.ratelimit import READ_SHARE, URGENT_SHARE, window_use
from executor.domain.account import MarginMode
from executor.domain.enums import Side
from executor.ports.exchange import urgent_reads
from tests.support.adapter_sim import BTC, running_sim


def fill_window(exchange: object, share: float) -> None:
    throttler = exchange.throttler  # type: ignore[attr-defined]
    capacity = throttler.config["maxWeight"]
    throttler.timestamps = [{"timestamp": exchange.milliseconds(), "cost": capacity * share}]  # type: ignore[attr-defined]


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_a_stop_goes_out_at_once_while_reads_wait_for_the_window_to_drain(exchange: str) -> None:
    async with running_sim(exchange) as sim:
        adapter = sim.new_adapter()
        await adapter.markets()  # creates ccxt's throttler with a first real request
        fill_window(adapter.exchange, READ_SHARE + 0.1)
        assert window_use(adapter.exchange) > READ_SHARE

        read = asyncio.create_task(adapter.account_snapshot())
        await asyncio.sleep(0.6)  # the assertion: still held after two of the lane's 0.25 s checks
        assert not read.done()

        async with asyncio.timeout(2):
            stop = await adapter.place_stop(
                BTC, Side.LONG, Decimal("0.001"), Decimal("50000"), "px-lane-test-sl0"
            )
        assert stop.client_id == "px-lane-test-sl0"

        adapter.exchange.throttler.timestamps = []
        async with asyncio.timeout(3):
            assert (await read).equity > 0
        await adapter.aclose()


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_cancel_all_and_the_settings_writes_go_out_at_once_while_reads_wait(exchange: str) -> None:
    async with running_sim(exchange) as sim:
        adapter = sim.new_adapter()
        await adapter.markets()
        fill_window(adapter.exchange, READ_SHARE + 0.1)
        read = asyncio.create_task(adapter.open_orders(BTC))
        await asyncio.sleep(0.6)  # the assertion: still held after two of the lane's 0.25 s checks
        assert not read.done()

        async with asyncio.timeout(2):
            await adapter.ensure_leverage(BTC, 3, MarginMode.ISOLATED)
        async with asyncio.timeout(2):
            await adapter.cancel_all(BTC)

        assert not read.done()
        adapter.exchange.throttler.timestamps = []
        async with asyncio.timeout(3):
            assert await read == []
        await adapter.aclose()


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_urgent_reads_pass_the_reads_share_but_leave_the_writes_the_last_tenth(exchange: str) -> None:
    """ccxt's throttle queues every request in one line once the window is full: urgent reads stop short."""
    async with running_sim(exchange) as sim:
        adapter = sim.new_adapter()
        await adapter.markets()
        fill_window(adapter.exchange, (READ_SHARE + URGENT_SHARE) / 2)
        with urgent_reads():
            async with asyncio.timeout(2):
                assert await adapter.open_orders(BTC) == []
            fill_window(adapter.exchange, URGENT_SHARE + 0.01)
            read = asyncio.create_task(adapter.open_orders(BTC))
        await asyncio.sleep(0.6)  # the assertion: still held after two of the lane's 0.25 s checks
        assert not read.done()

        async with asyncio.timeout(2):
            stop = await adapter.place_stop(
                BTC, Side.LONG, Decimal("0.001"), Decimal("50000"), "px-lane-urgent-sl0"
            )
        assert stop.client_id == "px-lane-urgent-sl0"

        adapter.exchange.throttler.timestamps = []
        async with asyncio.timeout(3):
            assert [order.client_id for order in await read] == ["px-lane-urgent-sl0"]
        await adapter.aclose()


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_a_server_time_read_held_in_the_lane_reports_only_its_own_round_trip(exchange: str) -> None:
    """The clock places the server's time at the middle of the round trip: a wait behind polling in it
    would set the daemon's clock ahead by half the wait."""
    async with running_sim(exchange) as sim:
        adapter = sim.new_adapter()
        await adapter.markets()
        fill_window(adapter.exchange, READ_SHARE + 0.1)
        started = time.monotonic()
        reading = asyncio.create_task(adapter.server_time())
        await asyncio.sleep(0.6)  # the assertion: still held after two of the lane's 0.25 s checks
        assert not reading.done()
        adapter.exchange.throttler.timestamps = []
        async with asyncio.timeout(3):
            server = await reading
        elapsed = timedelta(seconds=time.monotonic() - started)
        assert server.round_trip <= elapsed - timedelta(seconds=0.6)  # the 0.6 s in the lane is not in it
        assert abs(server.at + server.round_trip / 2 - datetime.now(UTC)) < timedelta(seconds=1)
        await adapter.aclose()
