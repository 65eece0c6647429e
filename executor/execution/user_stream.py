"""The exchange's user data events applied as they arrive: news that makes the daemon look now.

A stop's fill, a closing trade or a flat position makes the daemon look at that position at once. When the
stream alone proves it closed (reported flat after it opened, and every fill of its entry and its exits
delivered) the close is booked from those fills, with no read on the way; otherwise the keeper syncs the
position against the exchange (REST), exactly as the tracker's poll would a second later. Either way the
booking is the same (fills unique by trade id, a position closed once, funding read from the exchange). A
protective leg's final state is recorded from its event first, so the booking does not try to cancel a
stop that has already executed; Binance's algo update may come later, and the booking then records the
stop filled from the fills of the order its trigger created (executor/execution/booking.py). Applying an
event twice, or one REST already told of, changes nothing the second time: trades are remembered by id,
order states only move forward, and the syncs they cause are idempotent.

A gap (reconnection, stall, listen-key expiry) means events may have been lost: nothing from the stream is
applied until a full reconciliation (REST) has run after it; the events queued behind the gap are applied
then. The tracker and the periodic reconciliation stay: the stream makes the daemon faster, not blind.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from executor.domain.enums import OrderKind, PositionStatus
from executor.domain.money import ZERO
from executor.domain.order_state import IllegalTransition, OrderState, advance, reported_state
from executor.domain.orders import Fill, OrderSide
from executor.domain.user_events import OrderUpdate, PositionUpdate, StreamGap, TradeUpdate, UserEvent
from executor.execution.context import AccountContext
from executor.execution.legs import LIVE_STATES, PROTECTIVE
from executor.execution.positions import PositionKeeper
from executor.observability.logging import get_logger
from executor.ports.exchange import StreamName, StreamState
from executor.store.models import OrderRow, PositionRow

log = get_logger("executor.user_stream")

SEEN_TRADES = 10_000
FILLS_KEPT = 500
RESYNC_PAUSE_MAX = 30.0
CLOSING_KINDS = frozenset({OrderKind.STOP, OrderKind.TAKE_PROFIT, OrderKind.CLOSE})


class UserStreamApplier:
    """Takes events from the adapter (`sink`, never blocking) and applies them in one task (`run`)."""

    def __init__(
        self,
        ctx: AccountContext,
        keeper: PositionKeeper,
        resync: Callable[[], Awaitable[object]],
        covers_since: Callable[[], datetime | None] = lambda: None,
    ) -> None:
        """`covers_since`: when (host clock) the latest completed resync began, whoever ran it (the
        periodic reconciliation, the start-up one): a gap before that needs no other."""
        self.ctx = ctx
        self.keeper = keeper
        self._resync = resync
        self._covers_since = covers_since
        self._queue: asyncio.Queue[UserEvent] = asyncio.Queue()
        self._trades: OrderedDict[tuple[str, str], None] = OrderedDict()
        self._fills: dict[str, deque[Fill]] = {}
        """Each symbol's latest trades as the stream delivered them (what a close is booked from, when
        they are the position's whole story)."""
        self._positions: dict[str, PositionUpdate] = {}
        """Each symbol's position as last reported, by the exchange's time (an older report is ignored)."""
        self.trusted = False
        """Whether a resync has run since the latest gap (events are applied only then)."""
        self.resynced_at: datetime | None = None

    def follows(self) -> bool:
        """Whether the streams follow the account: events are trusted (a resync since the latest gap), the
        user data stream is live and no market stream is down (stalled, broken, or not back yet). Only then
        do the pollers slow down (`AccountCache.streamed_poll`); anything else puts them back on their own
        cadence at once. A market stream still connecting has had no symbol to follow (none is watched
        before the first signal, adapters/streams.py) or is in its first seconds: a failed or silent first
        connection is down."""
        statuses = self.ctx.exchange.stream_statuses()
        return (
            self.trusted
            and any(
                status.name is StreamName.USER_DATA and status.state is StreamState.LIVE
                for status in statuses
            )
            and all(status.state is not StreamState.DOWN for status in statuses)
        )

    def sink(self, event: UserEvent) -> None:
        if isinstance(event, StreamGap):
            self.trusted = False  # from now, not from when `run` gets to it: the pollers go back at once
        self._queue.put_nowait(event)
        self.ctx.metrics.user_events.labels(kind=type(event).__name__).inc()

    async def run(self) -> None:
        """Apply what has arrived, in order; a batch with a gap first resyncs, dropping what preceded it.

        A batch that could not be applied (the database away, say) is a gap of the daemon's own: its events
        are lost to it, so the next batch waits for a resync too."""
        while True:
            batch = [await self._queue.get()]
            while not self._queue.empty():
                batch.append(self._queue.get_nowait())
            gaps = [i for i, event in enumerate(batch) if isinstance(event, StreamGap)]
            if gaps:
                self.trusted = False
                gap = batch[gaps[-1]]
                assert isinstance(gap, StreamGap)
                log.info("user_stream_gap", reason=gap.reason.value, detail=gap.detail)
                batch = batch[gaps[-1] + 1 :]
                covered = self._covers_since()
                self.trusted = covered is not None and covered >= gap.at
            if not self.trusted:
                await self._resync_until_done()
            if not batch:
                continue
            try:
                await self.apply(batch)
            except asyncio.CancelledError:
                raise
            except Exception:
                self.trusted = False
                log.exception("user_events_not_applied", events=len(batch))

    async def _resync_until_done(self) -> None:
        """A full reconciliation (REST); retried with a growing pause while the exchange does not answer."""
        pause = 1.0
        while True:
            try:
                await self._resync()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("user_stream_resync_failed", retry_in_s=pause)
                await asyncio.sleep(pause)
                pause = min(RESYNC_PAUSE_MAX, pause * 2)
                continue
            self.trusted, self.resynced_at = True, self.ctx.now()
            self.ctx.metrics.user_stream_resyncs.inc()
            return

    async def apply(self, events: Sequence[UserEvent]) -> None:
        """Each symbol's events in that symbol's section of the execution lock, in the order they came: a
        signal on another symbol does not wait for them (only the breaker and reconciliation take the whole
        account)."""
        by_symbol: dict[str, list[UserEvent]] = {}
        for event in events:
            by_symbol.setdefault(_symbol_of(event), []).append(event)
        for symbol, own in sorted(by_symbol.items()):
            async with self.ctx.lock.symbol(symbol):
                await self._apply(symbol, own)

    async def _apply(self, symbol: str, events: Sequence[UserEvent]) -> None:
        """Record the legs' states, then sync the position or resting entries the events concern, once.

        One read for the batch's rows, one write for the states that move forward: under load each
        transaction costs more than the decision on it."""
        ids = {e.order.client_id for e in events if isinstance(e, OrderUpdate) and e.order.client_id}
        ids |= {e.client_id for e in events if isinstance(e, TradeUpdate) and e.client_id}
        unnamed = {
            (e.order.symbol, e.order.exchange_id)
            for e in events
            if isinstance(e, OrderUpdate) and not e.order.client_id and e.order.exchange_id
        }
        async with self.ctx.store.read() as tx:
            positions = await tx.positions.with_status(self.ctx.account, PositionStatus.OPEN)
            rows = {cid: row for cid in ids if (row := await tx.orders.by_client_id(self.ctx.account, cid))}
            by_exchange_id = {
                key: row for key in unnamed if (row := await tx.orders.by_exchange_id(self.ctx.account, *key))
            }
        batch = _Batch(rows, {position.symbol: position for position in positions}, by_exchange_id)
        for event in events:
            if isinstance(event, OrderUpdate):
                self._order(event, batch)
            elif isinstance(event, TradeUpdate):
                self._traded(event, batch)
            elif isinstance(event, PositionUpdate):
                self._position_reported(event)
                position = batch.open_positions.get(event.symbol)
                if position is not None and _differs(position, event):
                    batch.positions.add(position.id)
        await self._record(batch)
        if batch.entries:
            await self.keeper.sync_resting_entries(self.ctx.now(), symbol, named=batch.entries)
        for position_pk in sorted(batch.positions | batch.unprotected):
            await self._look_at(position_pk)
        for position_pk in sorted(batch.unprotected):
            async with self.ctx.store.read() as tx:
                position = await tx.positions.get(position_pk)
            if position is not None and position.status is PositionStatus.OPEN:
                await self.keeper.ensure_protected(position_pk)

    def _order(self, event: OrderUpdate, batch: _Batch) -> None:
        """A resting entry reported filled or ended sends the keeper to that entry (it adopts a fill and
        cancels the legs of one that ended; a report of it resting unfilled changes nothing); a leg's report
        that moves its row forward is kept to be recorded, and a final one has its position looked at.

        An older report (out of order, or behind REST) or one already recorded leaves the row as it is, and
        so does the order a triggered stop placed (it carries the stop's client id, but it is not the
        conditional order the row stands for). An order without a client id (Phemex's stop attached to its
        entry) is found by its exchange id."""
        order = event.order
        if order.client_id:
            row = batch.rows.get(order.client_id)
        else:
            row = batch.by_exchange_id.get((order.symbol, order.exchange_id))
        if row is None:
            return
        if row.kind is OrderKind.ENTRY:
            if row.state is OrderState.OPEN and (order.filled > 0 or order.status.is_final):
                batch.entries.add(row.client_order_id)
            return
        if (row.kind in PROTECTIVE and not order.conditional) or row.exchange_order_id not in (
            None,
            order.exchange_id,
        ):
            return
        state, filled = batch.states.get(row.client_order_id, (row.state, row.filled_qty))
        target, _ = reported_state(order)
        if order.filled < filled or target is state:
            return
        try:
            advance(state, target, [], event.at)
        except IllegalTransition:
            return  # a report older than what is recorded
        batch.states[row.client_order_id] = (target, order.filled)
        batch.reports[row.client_order_id] = event
        if row.position_pk is None or target.may_be_live:
            return
        if row.kind in PROTECTIVE and target is not OrderState.FILLED:
            batch.unprotected.add(row.position_pk)  # ended unexecuted: is a stop still resting?
        else:
            batch.positions.add(row.position_pk)

    async def _record(self, batch: _Batch) -> None:
        """The reports kept and the executed orders the trades named, in one transaction (the last forward
        report of each row)."""
        if not batch.reports and not batch.executed:
            return
        async with self.ctx.store.transaction() as tx:
            for client_id, executed_id in batch.executed.items():
                await tx.orders.note_executed(self.ctx.account, client_id, executed_id)
            for client_id, event in batch.reports.items():
                try:
                    await tx.orders.record(self.ctx.account, client_id, event.order, event.at)
                except IllegalTransition:  # moved meanwhile (it cannot: the lock is held) - left as it is
                    log.warning("user_stream_report_not_recorded", client_id=client_id)

    def _traded(self, event: TradeUpdate, batch: _Batch) -> None:
        """A trade of a resting entry sends the keeper to that entry; a closing trade (a leg's, or
        any on the closing side of an open position) to its position. Each trade id counts once.

        A trade under a conditional leg's client id but another order id is the order its trigger created
        (Binance's algo stop): noted on the leg, so the close booked from the stream files the fill under the
        stop, and records the stop filled rather than cancelling it, even when the algo update naming that
        order comes later."""
        fill = event.fill
        key = (fill.symbol, fill.trade_id)
        if key in self._trades:
            return
        self._trades[key] = None
        if len(self._trades) > SEEN_TRADES:
            self._trades.popitem(last=False)
        self._fills.setdefault(fill.symbol, deque(maxlen=FILLS_KEPT)).append(fill)
        row = batch.rows.get(event.client_id or "")
        if row is not None and row.kind is OrderKind.ENTRY:
            if row.position_pk is None or row.state in LIVE_STATES:
                batch.entries.add(row.client_order_id)
            return
        if row is not None and row.conditional and fill.order_id not in (None, row.exchange_order_id):
            batch.executed.setdefault(row.client_order_id, fill.order_id)
        position = batch.open_positions.get(fill.symbol)
        if position is None:
            return
        if (row is not None and row.kind in CLOSING_KINDS) or fill.side is OrderSide.closing(position.side):
            batch.positions.add(position.id)

    async def _look_at(self, position_pk: int) -> None:
        """Booked from the stream's fills when they prove the close, else synced against the exchange."""
        async with self.ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
        if position is None or position.status is not PositionStatus.OPEN:
            return  # booked already
        fills = await self._closed_by_stream(position_pk)
        if fills is not None:
            await self.keeper.booking.book_close(position_pk, fills)
        else:
            await self.keeper.sync_position(position_pk)

    def _position_reported(self, update: PositionUpdate) -> None:
        known = self._positions.get(update.symbol)
        if known is None or update.at >= known.at:
            self._positions[update.symbol] = update

    async def _closed_by_stream(self, position_pk: int) -> list[Fill] | None:
        """The position's fills, when the stream alone proves it closed: it delivered every fill of the
        entry and exits for as much as the entry filled, and either the exchange reported the position flat
        after it opened, or nothing else traded on the opening side and the position was never resized
        (its account update may trail the fills). None whenever anything is missing: the keeper then reads
        the exchange (REST)."""
        async with self.ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
            legs = await tx.orders.for_position(position_pk)
        if position is None or position.status is not PositionStatus.OPEN:
            return None
        reported = self._positions.get(position.symbol)
        reported_flat = reported is not None and reported.qty == 0 and reported.at >= position.opened_at
        entries = [row for row in legs if row.kind is OrderKind.ENTRY and row.exchange_order_id]
        entry_ids = {row.exchange_order_id for row in entries}
        filled = sum((row.filled_qty for row in entries), ZERO)
        fills = list(self._fills.get(position.symbol, ()))
        entry_fills = [fill for fill in fills if fill.order_id in entry_ids]
        if not entry_fills or sum((fill.qty for fill in entry_fills), ZERO) != filled:
            return None
        opened = min(fill.timestamp for fill in entry_fills)
        closing = OrderSide.closing(position.side)
        exits = [
            fill
            for fill in fills
            if fill.side is closing and fill.timestamp >= opened and fill.order_id not in entry_ids
        ]
        if sum((fill.qty for fill in exits), ZERO) != filled:
            return None
        if not reported_flat:  # the account update may be a moment behind the fills: they prove it alone
            added = [f for f in fills if f.side is not closing and f.timestamp >= opened]
            if len(added) != len(entry_fills) or position.qty != filled:
                return None
        return [*entry_fills, *exits]


@dataclass
class _Batch:
    """One batch of events: the rows it names, and what it asks to record and to look at."""

    rows: dict[str, OrderRow]
    open_positions: dict[str, PositionRow]
    by_exchange_id: dict[tuple[str, str], OrderRow]
    """The rows of the batch's orders that carry no client id, by (symbol, exchange id)."""
    states: dict[str, tuple[OrderState, Decimal]] = field(default_factory=dict)
    """Each row's state and filled quantity as the batch's reports have moved them so far."""
    reports: dict[str, OrderUpdate] = field(default_factory=dict)
    entries: set[str] = field(default_factory=set)
    """Resting entries (client ids) the batch reports filled or ended: only these are looked up."""
    positions: set[int] = field(default_factory=set)
    unprotected: set[int] = field(default_factory=set)
    """Positions whose stop (or take-profit) ended without executing."""
    executed: dict[str, str] = field(default_factory=dict)
    """Conditional legs' executed orders as their trades name them, by client id."""


def _symbol_of(event: UserEvent) -> str:
    if isinstance(event, OrderUpdate):
        return event.order.symbol
    if isinstance(event, TradeUpdate):
        return event.fill.symbol
    assert isinstance(event, PositionUpdate), event  # gaps never reach `apply`
    return event.symbol


def _differs(position: PositionRow, update: PositionUpdate) -> bool:
    """The exchange's position is not the open one recorded: gone, the other side, or another size."""
    return update.qty == 0 or update.side is not position.side or update.qty != position.qty
