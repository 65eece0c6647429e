"""The Phemex private stream against the simulator: `user.auth` is verified as REST signatures are, `aop_p`
brings orders, fills and positions that ccxt.pro's `watch_orders` / `watch_my_trades` / `watch_positions`
deliver once the adapter's narrow override (adapters/phemex_pro.py) handles the `orders_p` list unmodified
ccxt.pro drops, and the adapter turns them into the daemon's user events."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import ccxt.pro as ccxtpro  # type: ignore[import-untyped]
import pytest
from ccxt.base.errors import AuthenticationError  # type: ignore[import-untyped]

from adapters.ccxt_target import target_simulator
from adapters.phemex_pro import PhemexPro
from executor.domain.enums import OrderKind
from executor.domain.orders import OrderStatus
from executor.domain.user_events import (
    GapReason,
    OrderUpdate,
    PositionUpdate,
    StreamGap,
    TradeUpdate,
)
from executor.ports.exchange import StreamName, StreamState
from tests.adapters.test_adapters_user_stream import STREAMS, Events
from tests.support.adapter_sim import BTC, Sim, entry_request, eventually, running_sim

D = Decimal
KEYS = {"apiKey": "sim-key", "secret": "sim-secret", "options": {"defaultType": "swap"}}


@pytest.fixture
async def sim() -> AsyncIterator[Sim]:
    async with running_sim("phemex", STREAMS) as running:
        yield running


async def subscribed(sim: Sim, cls: Any = PhemexPro) -> Any:
    """A ccxt.pro instance whose `aop_p` snapshot has arrived (so later changes come as increments)."""
    pro = target_simulator(cls(dict(KEYS)), sim.url)
    await within(10, pro.watch_balance({"settle": "USDT"}))
    return pro


async def within(seconds: float, awaitable: Any) -> Any:
    async with asyncio.timeout(seconds):
        return await awaitable


def auth(api_key: str, secret: str, expiry: int, request_id: int = 1) -> str:
    signature = hmac.new(secret.encode(), f"{api_key}{expiry}".encode(), hashlib.sha256).hexdigest()
    return json.dumps(
        {"method": "user.auth", "params": ["API", api_key, signature, expiry], "id": request_id}
    )


async def answer(sim: Sim, *requests: str) -> dict[str, Any]:
    async with sim.session.ws_connect(sim.url + "/ws") as ws:
        for request in requests:
            await ws.send_str(request)
        reply: dict[str, Any] = {}
        for _ in requests:
            reply = json.loads((await within(2, ws.receive())).data)
        return reply


async def test_user_auth_checks_key_signature_and_expiry(sim: Sim) -> None:
    now = int(time.time())
    assert (await answer(sim, auth("sim-key", "sim-secret", now + 60)))["result"] == {"status": "success"}
    for bad in (
        auth("sim-key", "wrong-secret", now + 60),
        auth("no-such-key", "sim-secret", now + 60),
        auth("sim-key", "sim-secret", now - 1),
        auth("sim-key", "sim-secret", now + 180),  # past "request time plus 2 minutes"
    ):
        reply = await answer(sim, bad)
        assert reply["result"] is None and reply["error"]["code"] == 6012, bad
    subscribe = json.dumps({"id": 2, "method": "aop_p.subscribe", "params": []})
    assert (await answer(sim, subscribe))["error"]["code"] == 6012  # not authenticated


async def test_ccxt_pro_authenticates_and_a_wrong_secret_is_refused(sim: Sim) -> None:
    pro = target_simulator(PhemexPro({**KEYS, "secret": "wrong"}), sim.url)
    try:
        with pytest.raises(AuthenticationError):
            await within(10, pro.watch_orders(BTC))
    finally:
        await pro.close()


async def test_unmodified_ccxt_pro_drops_every_order_and_fill(sim: Sim) -> None:
    """The defect the override exists for: ccxt.pro 4.5.90 reads the `orders_p` list as a dict."""
    pro = await subscribed(sim, ccxtpro.phemex)
    try:
        balance = asyncio.ensure_future(pro.watch_balance({"settle": "USDT"}))
        await sim.adapter.open_with_stop(entry_request("pu-0"))
        await within(5, balance)  # the entry's message has arrived
        assert pro.orders is None and pro.myTrades is None
    finally:
        await pro.close()


async def test_orders_fills_and_positions_arrive_through_ccxt_pro_watches(sim: Sim) -> None:
    pro = await subscribed(sim)
    try:
        request = entry_request("pu-1")
        orders = asyncio.ensure_future(pro.watch_orders(BTC))
        trades = asyncio.ensure_future(pro.watch_my_trades(BTC))
        positions = asyncio.ensure_future(pro.watch_positions())
        entry = await sim.adapter.open_with_stop(request)
        await within(5, asyncio.gather(orders, trades, positions))
        by_id = {o["id"]: o for o in pro.orders}
        assert by_id[entry.entry.exchange_id]["status"] == "closed"
        assert by_id[entry.entry.exchange_id]["info"]["clOrdID"] == request.entry_client_id
        assert entry.stop is not None and by_id[entry.stop.exchange_id]["info"]["ordStatus"] == "Untriggered"
        (fill,) = [t for t in pro.myTrades if t["info"]["execStatus"] == "TakerFill"]
        (rest,) = await sim.adapter.fills_since(BTC, datetime.now(UTC) - timedelta(minutes=1))
        assert (fill["id"], fill["info"]["execQty"], D(fill["info"]["execPriceRp"])) == (
            rest.trade_id,
            "0.01",
            rest.price,
        )
        assert pro.positions[0]["info"]["size"] == "0.01" and pro.positions[0]["info"]["side"] == "Buy"

        trades = asyncio.ensure_future(pro.watch_my_trades(BTC))
        await sim.mark(BTC, "58900")  # through the stop: it triggers and fills
        await within(5, trades)
        stop = {o["id"]: o for o in pro.orders}[entry.stop.exchange_id]
        assert stop["info"]["ordStatus"] == "Filled" and stop["info"]["cumQty"] == "0.01"
        assert {p["info"]["size"] for p in pro.positions} == {"0"}
    finally:
        await pro.close()


async def test_a_cancel_arrives_as_a_canceled_order(sim: Sim) -> None:
    pro = await subscribed(sim)
    try:
        entry = await sim.adapter.open_with_stop(entry_request("pu-2"))
        assert entry.stop is not None
        orders = asyncio.ensure_future(pro.watch_orders(BTC))
        await sim.adapter.cancel_all(BTC)
        await within(5, orders)
        stop = {o["id"]: o for o in pro.orders}[entry.stop.exchange_id]
        assert (stop["status"], stop["info"]["action"]) == ("canceled", "Cancel")
    finally:
        await pro.close()


@pytest.fixture
async def followed(sim: Sim) -> tuple[Sim, Events]:
    events = Events()
    assert sim.adapter.follow_user_events(events.seen.append)
    await sim.adapter.start_background_refresh()
    await eventually(lambda: any(g.reason is GapReason.CONNECTED for g in events.of(StreamGap)), 10)
    return sim, events


async def test_the_adapter_turns_the_private_stream_into_user_events(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    request = entry_request("pu-3")
    entry = await sim.adapter.open_with_stop(request)
    assert entry.stop is not None
    stop_id = entry.stop.exchange_id
    (trade,) = await eventually(lambda: events.of(TradeUpdate), 5)
    (rest,) = await sim.adapter.fills_since(BTC, trade.fill.timestamp - timedelta(seconds=5))
    assert (trade.fill.trade_id, trade.fill.order_id, trade.fill.qty, trade.fill.price, trade.fill.fee) == (
        rest.trade_id,
        entry.entry.exchange_id,
        D("0.01"),
        rest.price,
        rest.fee,
    )
    assert trade.client_id == request.entry_client_id and trade.reduce_only is False
    filled = await eventually(
        lambda: [u for u in events.orders(request.entry_client_id) if u.order.status is OrderStatus.CLOSED], 5
    )
    assert filled[-1].order.filled == D("0.01") and filled[-1].order.kind is OrderKind.ENTRY
    stop = await eventually(lambda: [u for u in events.of(OrderUpdate) if u.order.exchange_id == stop_id], 5)
    assert stop[-1].order.conditional and stop[-1].order.status is OrderStatus.OPEN
    position = await eventually(lambda: events.of(PositionUpdate), 5)
    assert (position[-1].symbol, position[-1].qty, position[-1].side) == (BTC, D("0.01"), request.side)

    await sim.mark(BTC, "58900")
    await eventually(
        lambda: [
            u
            for u in events.of(OrderUpdate)
            if u.order.exchange_id == stop_id and u.order.status is OrderStatus.CLOSED
        ],
        5,
    )
    exits = await eventually(lambda: [t for t in events.of(TradeUpdate) if t.fill.order_id == stop_id], 5)
    assert exits[0].reduce_only is True and exits[0].realized_pnl is not None and exits[0].realized_pnl < 0
    flat = await eventually(lambda: [p for p in events.of(PositionUpdate) if p.qty == 0], 5)
    assert flat[-1].side is None
    assert len({t.fill.trade_id for t in events.of(TradeUpdate)}) == len(events.of(TradeUpdate)) == 2
    assert (
        next(s for s in sim.adapter.stream_statuses() if s.name is StreamName.USER_DATA).state
        is StreamState.LIVE
    )


async def test_a_private_stream_disconnect_is_a_gap_and_it_reconnects(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    await sim.fault(action="ws_disconnect", match={"stream": "aop_p"})
    await sim.adapter.open_with_stop(entry_request("pu-4"))
    await eventually(lambda: [g for g in events.of(StreamGap) if g.reason is GapReason.DISCONNECTED], 5)
    await eventually(lambda: [g for g in events.of(StreamGap) if g.reason is GapReason.CONNECTED][1:], 10)


async def sequences_until_quiet(ws: Any) -> list[int]:
    """The `sequence` of every message until none came for 1.5 s."""
    received: list[int] = []
    with contextlib.suppress(TimeoutError):
        while True:
            received.append(json.loads((await within(1.5, ws.receive())).data)["sequence"])
    return received


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        pytest.param({"action": "ws_duplicate"}, [0, 0, 1], id="duplicated"),
        pytest.param({"action": "ws_reorder"}, [1, 0], id="out-of-order"),
        pytest.param({"action": "ws_delay", "delay_ms": 800}, [1, 0], id="delayed"),
    ],
)
async def test_aop_messages_are_duplicated_reordered_and_delayed_by_the_user_stream_faults(
    sim: Sim, rule: dict[str, Any], expected: list[int]
) -> None:
    """One `aop_p` message per firing, matched on `stream` and `type`: the entry's and then the cancel's
    incremental messages arrive in the order the fault makes (indices of their `sequence`)."""
    expiry = int(time.time()) + 60
    async with sim.session.ws_connect(sim.url + "/ws") as ws:
        await ws.send_str(auth("sim-key", "sim-secret", expiry))
        await ws.send_str(json.dumps({"method": "aop_p.subscribe", "params": [], "id": 2}))
        replies = [json.loads((await within(2, ws.receive())).data) for _ in range(3)]
        assert [r.get("type") for r in replies] == [None, None, "snapshot"]
        await sim.fault(**rule, match={"stream": "aop_p", "type": "incremental"})
        await sim.adapter.open_with_stop(entry_request("pu-fault"))
        await sim.adapter.cancel_all(BTC)
        received = await sequences_until_quiet(ws)
    first = min(received)
    assert [sequence - first for sequence in received] == expected
