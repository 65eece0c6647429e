"""The Binance adapter follows the user data stream with unmodified ccxt.pro against the simulator: orders,
trades and positions become the daemon's user events from the exchange's strings, and each stream fault
ends in a gap the daemon is told of (or, for a duplicate, in nothing twice)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field, replace
from datetime import timedelta
from decimal import Decimal
from typing import TypeVar

import pytest

from adapters.streams import StreamSettings
from executor.domain.enums import OrderKind
from executor.domain.orders import OrderStatus
from executor.domain.user_events import (
    GapReason,
    OrderUpdate,
    PositionUpdate,
    StreamGap,
    TradeUpdate,
    UserEvent,
)
from executor.ports.exchange import StreamName, StreamState
from tests.support.adapter_sim import BTC, FAST, Sim, entry_request, eventually, running_sim

D = Decimal
E = TypeVar("E")
STREAMS = replace(
    FAST,
    streams=StreamSettings(
        stall_after=timedelta(seconds=1.5),
        backoff_first=timedelta(milliseconds=100),
        backoff_max=timedelta(milliseconds=400),
    ),
)
USER = {"stream": "user"}


@dataclass
class Events:
    seen: list[UserEvent] = field(default_factory=list)

    def of(self, kind: type[E]) -> list[E]:
        return [event for event in self.seen if isinstance(event, kind)]

    def gaps(self) -> list[GapReason]:
        return [gap.reason for gap in self.of(StreamGap)]

    def orders(self, client_id: str) -> list[OrderUpdate]:
        return [u for u in self.of(OrderUpdate) if u.order.client_id == client_id]


@pytest.fixture
async def followed() -> AsyncIterator[tuple[Sim, Events]]:
    events = Events()
    async with running_sim("binance", STREAMS) as sim:
        assert sim.adapter.follow_user_events(events.seen.append)
        await sim.adapter.start_background_refresh()
        await eventually(lambda: GapReason.CONNECTED in events.gaps(), 10)
        yield sim, events


def user_state(sim: Sim) -> StreamState:
    return next(s.state for s in sim.adapter.stream_statuses() if s.name is StreamName.USER_DATA)


async def test_an_entry_its_stop_and_the_stops_fill_arrive_as_events(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    request = entry_request("u-1")
    entry = await sim.adapter.open_with_stop(request)
    assert entry.protected
    trades = await eventually(lambda: events.of(TradeUpdate), 5)
    (rest,) = await sim.adapter.fills_since(BTC, trades[0].fill.timestamp - timedelta(seconds=5))
    (trade,) = trades
    assert (trade.fill.trade_id, trade.fill.order_id, trade.fill.qty) == (
        rest.trade_id,
        entry.entry.exchange_id,
        D("0.010"),
    )
    assert (trade.fill.price, trade.fill.fee, trade.client_id) == (
        rest.price,
        rest.fee,
        request.entry_client_id,
    )
    filled = await eventually(
        lambda: [u for u in events.orders(request.entry_client_id) if u.order.status is OrderStatus.CLOSED], 5
    )
    assert filled[-1].order.filled == D("0.010") and filled[-1].order.kind is OrderKind.ENTRY
    stop = await eventually(lambda: events.orders(request.stop_client_id), 5)
    assert stop[-1].order.conditional and stop[-1].order.status is OrderStatus.OPEN
    assert stop[-1].order.exchange_id == entry.stop.exchange_id  # type: ignore[union-attr]
    position = await eventually(lambda: events.of(PositionUpdate), 5)
    assert (position[-1].symbol, position[-1].qty, position[-1].side) == (BTC, D("0.010"), request.side)

    await sim.mark(BTC, "58900")
    finished = await eventually(
        lambda: [u for u in events.orders(request.stop_client_id) if u.order.status is OrderStatus.CLOSED], 5
    )
    executed = finished[-1].order.executed_order_id
    assert executed is not None and finished[-1].order.filled == D("0.010")
    exit_trade = await eventually(
        lambda: [t for t in events.of(TradeUpdate) if t.fill.order_id == executed], 5
    )
    assert exit_trade[0].client_id == request.stop_client_id and exit_trade[0].reduce_only is True
    assert exit_trade[0].realized_pnl is not None and exit_trade[0].realized_pnl < 0
    flat = await eventually(lambda: [p for p in events.of(PositionUpdate) if p.qty == 0], 5)
    assert flat[-1].side is None
    assert user_state(sim) is StreamState.LIVE


async def test_a_duplicated_event_is_passed_on_once(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    await sim.fault(action="ws_duplicate", match={**USER, "event": "ORDER_TRADE_UPDATE"}, count=None)
    await sim.adapter.open_with_stop(entry_request("u-2"))
    await eventually(lambda: events.of(TradeUpdate) and events.of(PositionUpdate), 5)
    await sim.mark(BTC, "60001")  # one more request: anything late would be in by its answer
    assert len(events.of(TradeUpdate)) == 1
    entry_states = [u.order.status for u in events.orders(entry_request("u-2").entry_client_id)]
    assert entry_states == sorted(set(entry_states), key=entry_states.index)  # no state passed on twice


async def test_reordered_and_delayed_events_all_arrive(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    await sim.fault(action="ws_reorder", match=USER)
    await sim.fault(action="ws_delay", delay_ms=500, match={**USER, "event": "ACCOUNT_UPDATE"})
    request = entry_request("u-3")
    await sim.adapter.open_with_stop(request)
    await eventually(lambda: events.of(TradeUpdate) and events.orders(request.stop_client_id), 5)
    assert not events.of(PositionUpdate)  # held back
    await eventually(lambda: events.of(PositionUpdate), 5)
    assert events.gaps() == [GapReason.CONNECTED]


async def test_a_disconnect_is_a_gap_and_the_stream_reconnects(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    await sim.fault(action="ws_disconnect", match=USER)
    await sim.adapter.open_with_stop(entry_request("u-4"))
    await eventually(lambda: GapReason.DISCONNECTED in events.gaps(), 5)
    await eventually(lambda: events.gaps().count(GapReason.CONNECTED) == 2, 5)
    assert user_state(sim) is StreamState.LIVE
    assert next(s for s in sim.adapter.stream_statuses() if s.name is StreamName.USER_DATA).reconnects >= 1
    await sim.mark(BTC, "58900")  # the stop fills after the reconnection: its events arrive
    await eventually(lambda: [p for p in events.of(PositionUpdate) if p.qty == 0], 5)


async def test_a_silent_stall_is_found_by_the_keepalive_and_is_a_gap(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    await sim.fault(action="ws_stall", match=USER)
    await sim.adapter.open_with_stop(entry_request("u-5"))
    await eventually(lambda: GapReason.STALLED in events.gaps(), 8)
    status = next(s for s in sim.adapter.stream_statuses() if s.name is StreamName.USER_DATA)
    assert status.state is StreamState.DOWN and "stalled" in (status.problem or "")
    await eventually(lambda: events.gaps().count(GapReason.CONNECTED) == 2, 8)


async def test_an_expired_listen_key_is_replaced_and_followed_again(followed: tuple[Sim, Events]) -> None:
    sim, events = followed
    before = sim.adapter.stream_statuses()
    await sim.fault(action="listen_key_expire", match=USER)
    await sim.adapter.open_with_stop(entry_request("u-6"))
    await eventually(lambda: GapReason.LISTEN_KEY_EXPIRED in events.gaps(), 8)
    await eventually(lambda: events.gaps().count(GapReason.CONNECTED) == 2, 8)
    keys = [r for r in await sim.requests(path="/fapi/v1/listenKey") if r["method"] == "POST"]
    assert len(keys) == 2 and before
    await sim.mark(BTC, "58900")  # events flow on the new key
    await eventually(lambda: [p for p in events.of(PositionUpdate) if p.qty == 0], 5)


async def test_without_streams_the_adapter_follows_no_user_stream() -> None:
    async with running_sim("binance") as sim:
        assert not sim.adapter.follow_user_events(lambda event: None)
        assert sim.adapter.stream_statuses() == ()
