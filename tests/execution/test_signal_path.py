"""The path from a signal's arrival to its entry on the wire (issue #11, "A path with no reads").

With prices from the market streams and the account kept fresh (by the tracker today), the path does no
REST read and commits one transaction after the inbox's; on Binance the stop follows the entry's answer
with nothing in between. Counted where it happens: the simulator's request log (every REST request, in
arrival order) and the database driver's commits (tests/support/commits.py).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest

from adapters.ratelimit import READ_SHARE, window_use
from adapters.streams import StreamSettings
from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind, SignalSource
from executor.execution.trader import MARGIN_MODE
from executor.ports.exchange import StreamState
from tests.support.adapter_sim import FAST, eventually
from tests.support.commits import Transactions, transactions
from tests.support.flow import SOL, Flow, flow

STREAMED = replace(
    FAST,
    refresh_interval=timedelta(hours=1),  # one pass at the start, none while a test looks at the log
    streams=StreamSettings(stall_after=timedelta(seconds=30)),
)
ENTRY_PATHS = {"binance": "/fapi/v1/order", "phemex": "/g-orders"}
THROTTLE_WAIT = 0.3
LONG = {"symbol": "SOLUSDT", "side": "long", "stop": "140", "conviction": 8}


@asynccontextmanager
async def warm(exchange: str, database_url: str) -> AsyncIterator[Flow]:
    """A flow whose prices are streamed (Binance) or freshly read (Phemex, no streams yet) and whose account
    snapshot is fresh, with the simulator's request log emptied: what a running daemon has between signals."""
    async with flow(exchange, database_url, adapter_settings=STREAMED) as f:
        f.adapter.watch(SOL)
        await f.adapter.start_background_refresh()
        await eventually(lambda: all(s.state is StreamState.LIVE for s in f.adapter.stream_statuses()), 5)
        snapshot = await f.adapter.market_snapshot(SOL)
        assert snapshot.is_complete
        await f.ctx.accounts.refresh()
        assert await f.trader.process_queued() == 0  # the consumer's first pass reads the (empty) queue
        await f.control("DELETE", "requests")
        yield f


async def requests(f: Flow) -> list[dict[str, Any]]:
    return list((await f.control("GET", "requests"))["requests"])


def entry_index(f: Flow, log: list[dict[str, Any]], signal_id: str) -> int:
    entry_id = client_order_id(signal_id, OrderKind.ENTRY)
    return next(
        i
        for i, row in enumerate(log)
        if row["method"] == "POST"
        and row["path"] == ENTRY_PATHS[f.exchange]
        and entry_id in (row["params"].get("newClientOrderId"), row["params"].get("clOrdID"))
    )


async def open_signal(f: Flow, signal_id: str, entry: dict[str, Any]) -> Transactions:
    """Submit one open and let the consumer take it as the inbox hands it over (a woken pass, not a poll);
    the transactions committed from the inbox's up to the entry request."""
    create_order = f.adapter.exchange.create_order
    at_entry: list[int] = []

    async def counted(*args: Any, **kwargs: Any) -> Any:
        if not at_entry:
            at_entry.append(len(seen.committed))
        return await create_order(*args, **kwargs)

    f.adapter.exchange.create_order = counted
    try:
        with transactions(f.store) as seen:
            result = await f.inbox.submit(
                json.dumps({"id": signal_id, "entry": entry, **LONG}), SignalSource.WEBSOCKET
            )
            assert result.status.value == "queued", result
            assert await f.trader.process_queued(poll=False) == 1
    finally:
        f.adapter.exchange.create_order = create_order
    assert at_entry, "no entry was sent"
    return Transactions(seen.committed[: at_entry[0]])


async def test_a_binance_market_entry_with_live_streams_makes_no_rest_read_between_the_signal_and_the_order(
    sqlite_url: str,
) -> None:
    async with warm("binance", sqlite_url) as f:
        await open_signal(f, "s1", {"type": "market"})
        log = await requests(f)
        before = log[: entry_index(f, log, "s1")]
        assert [(row["method"], row["path"]) for row in before if row["method"] == "GET"] == []


async def test_the_binance_stop_request_follows_the_entry_answer_without_a_read_back(sqlite_url: str) -> None:
    async with warm("binance", sqlite_url) as f:
        await open_signal(f, "s1", {"type": "market"})
        log = await requests(f)
        at = entry_index(f, log, "s1")
        following = log[at + 1]
        assert (following["method"], following["path"]) == ("POST", "/fapi/v1/algoOrder")
        assert following["params"]["clientAlgoId"] == client_order_id("s1", OrderKind.STOP)


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_decision_and_order_rows_are_the_one_commit_between_the_inbox_and_the_entry(
    exchange: str, sqlite_url: str
) -> None:
    async with warm(exchange, sqlite_url) as f:
        seen = await open_signal(f, "s1", {"type": "market"})
        inbox, *rest = seen.writes
        assert inbox == ["INSERT INTO SIGNALS"]
        (decision,) = rest
        assert decision[0] == "UPDATE SIGNALS SET"
        assert {"INSERT INTO DECISIONS", "INSERT INTO ORDERS"} <= set(decision)


async def test_a_handed_over_signal_reaches_the_wire_with_one_transaction_after_the_inbox_s(
    sqlite_url: str,
) -> None:
    """No read of the queue, no transaction of its own for the stale legs: the decision's is the one."""
    async with warm("binance", sqlite_url) as f:
        seen = await open_signal(f, "s1", {"type": "market"})
        assert len(seen.committed) == 2, seen.committed
        inbox, decision = seen.committed
        assert inbox == ["INSERT INTO SIGNALS"]
        assert "INSERT INTO DECISIONS" in decision


async def test_a_signal_handed_over_and_also_read_from_the_queue_is_decided_once(sqlite_url: str) -> None:
    async with warm("binance", sqlite_url) as f:
        body = {"id": "s1", "entry": {"type": "market"}, **LONG}
        assert (await f.inbox.submit(json.dumps(body), SignalSource.WEBSOCKET)).status.value == "queued"
        assert await f.trader.process_queued(poll=True) == 1  # the poll read it
        assert await f.trader.process_queued(poll=False) == 0  # the handed-over copy is not decided again
        log = await requests(f)
        entry_id = client_order_id("s1", OrderKind.ENTRY)
        assert len([row for row in log if row["params"].get("newClientOrderId") == entry_id]) == 1


async def test_a_signal_queued_without_a_handoff_is_found_by_the_next_pass(sqlite_url: str) -> None:
    """An operator's control queues its signal in the database only: the consumer then reads the queue."""
    async with warm("binance", sqlite_url) as f:
        f.inbox.on_queued = None
        body = {"id": "s1", "entry": {"type": "market"}, **LONG}
        assert (await f.inbox.submit(json.dumps(body), SignalSource.WEBSOCKET)).status.value == "queued"
        f.trader.queued_elsewhere()
        assert await f.trader.process_queued(poll=False) == 1


async def test_margin_mode_is_settled_ahead_and_the_path_writes_only_a_changed_leverage(
    sqlite_url: str,
) -> None:
    """Start-up settles the margin mode (`prepare_symbols`: the simulator's account is isolated already, so it
    is read, not written); the first signal on a symbol sets its leverage alone, the next one at the same
    leverage sends nothing before its entry."""
    async with warm("binance", sqlite_url) as f:
        assert await f.adapter.prepare_symbols([SOL], MARGIN_MODE) == []
        assert [r["method"] for r in await requests(f)] == ["GET", "GET"]  # position mode, symbol config
        for signal_id in ("s1", "s2"):
            await f.control("DELETE", "requests")
            await open_signal(f, signal_id, {"type": "market"})
            log = await requests(f)
            before = [(row["method"], row["path"]) for row in log[: entry_index(f, log, signal_id)]]
            assert before == ([("POST", "/fapi/v1/leverage")] if signal_id == "s1" else [])
            await f.submit(id=f"{signal_id}-close", action="close", symbol="SOLUSDT")
            await f.tick()


async def test_signal_to_wire_runs_to_the_entrys_departure_throttle_wait_included(sqlite_url: str) -> None:
    """Observed once the entry has gone, up to when it left: a wait in the adapter's throttle counts."""
    async with warm("binance", sqlite_url) as f:
        await f.adapter.ensure_leverage(SOL, 5, MARGIN_MODE)  # the decision's: nothing else goes first
        await f.control("DELETE", "requests")
        gate = f.adapter._gate
        wait = gate.wait

        async def throttled() -> None:
            await asyncio.sleep(THROTTLE_WAIT)
            await wait()

        gate.wait = throttled  # type: ignore[method-assign]
        create_order = f.adapter.exchange.create_order
        called: list[float] = []

        async def timed(*args: Any, **kwargs: Any) -> Any:
            called.append(time.time())
            return await create_order(*args, **kwargs)

        f.adapter.exchange.create_order = timed
        await open_signal(f, "s1", {"type": "market"})
        log = await requests(f)
        assert [row["path"] for row in log[: entry_index(f, log, "s1")]] == []
        async with f.store.transaction() as tx:
            row = await tx.signals.get("main", "s1")
        assert row is not None
        registry = f.ctx.metrics.registry
        assert registry.get_sample_value("executor_signal_to_wire_seconds_count") == 1
        observed = registry.get_sample_value("executor_signal_to_wire_seconds_sum")
        assert observed is not None and observed >= THROTTLE_WAIT
        to_the_call = called[0] - row.received_at.timestamp()  # the entry is the first order created
        assert 0 <= to_the_call - observed < THROTTLE_WAIT / 2


async def test_a_signal_is_sent_while_the_tracker_waits_on_another_symbol(sqlite_url: str) -> None:
    """The tracker (its resting entries' loop) holds only the symbol it looks at: a signal on another one does
    not wait for it."""
    async with warm("binance", sqlite_url) as f:
        eth_mark = D((await f.control("GET", "state"))["marks"]["ETHUSDT"])
        limit = (eth_mark * D("0.97")).quantize(D("0.01"))
        eth = {"id": "eth", "symbol": "ETHUSDT", "side": "long", "conviction": 8}
        await f.submit(**eth, entry={"type": "limit", "price": str(limit)}, stop=str(limit * D("0.99")))
        await f.control(
            "POST", "faults", {"action": "delay", "method": "GET", "path": "/fapi/v1/order", "delay_ms": 2500}
        )
        tracker = asyncio.create_task(f.keeper.sync_entries())
        await eventually(lambda: _lookup_of(f, client_order_id("eth", OrderKind.ENTRY)), 5)
        await open_signal(f, "s1", {"type": "market"})
        assert not tracker.done()  # still waiting for the answer about its ETH entry
        await tracker


async def _lookup_of(f: Flow, client_id: str) -> bool:
    return any(
        row["method"] == "GET"
        and row["path"] == "/fapi/v1/order"
        and row["params"].get("origClientOrderId") == client_id
        for row in await requests(f)
    )


@pytest.mark.parametrize("exchange", ["binance", "phemex"])
async def test_a_signals_own_reads_do_not_wait_while_pollings_share_of_the_budget_is_spent(
    exchange: str, sqlite_url: str
) -> None:
    """Polling has spent the reads' share of the rate window, and nobody holds the execution lock: the open's
    reads on its path (its market and account snapshots, read by REST here) still go at once, so the entry
    and its stop follow the signal without waiting for the window to drain (a minute)."""
    async with flow(exchange, sqlite_url) as f:
        await f.adapter.markets()  # ccxt's throttler exists after a first request
        throttler = f.adapter.exchange.throttler
        capacity = throttler.config["maxWeight"]
        throttler.timestamps = [{"timestamp": f.adapter.exchange.milliseconds(), "cost": capacity * 0.8}]
        assert window_use(f.adapter.exchange) > READ_SHARE
        async with asyncio.timeout(5):
            await f.submit(id="s1", entry={"type": "market"}, **LONG)
        assert len(await f.resting_stops()) == 1
