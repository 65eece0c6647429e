"""Compare the database with the exchange and settle every difference before trading goes on.

Runs at start-up before any signal is read, and then periodically. Orders are resolved by client
order id only (never by time windows); "not found" settles an unacknowledged row as never sent, so it
is never placed late. What cannot be explained halts trading with the reason: fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from executor.config.settings import ForeignPolicy
from executor.domain.account import Position
from executor.domain.client_ids import client_order_id, parse_client_order_id
from executor.domain.display import quantity
from executor.domain.enums import EventKind, OrderKind, PositionStatus
from executor.domain.notices import AlertKind, Figure, Unit
from executor.domain.order_state import OrderState
from executor.domain.orders import Order, OrderSide, OrderType
from executor.domain.signal import Instruction
from executor.execution.alerts import Alerter
from executor.execution.context import AccountContext
from executor.execution.legs import LIVE_STATES
from executor.execution.orders import intent
from executor.execution.positions import PositionKeeper, describe_legs
from executor.observability.logging import get_logger
from executor.ports.errors import ExchangeError
from executor.risk import trip
from executor.store.models import OrderRow

log = get_logger("executor.reconcile")

LATE_FILL_LOOKBACK = timedelta(days=1)
"""How far back entries settled `not_sent`/`canceled` are looked up when the exchange shows a position the
daemon does not know: the one that filled late is among them."""


@dataclass
class ReconcileReport:
    resolved_orders: int = 0
    booked_closes: int = 0
    protected: int = 0
    orphans_cancelled: int = 0
    unexplained: list[str] = field(default_factory=list)
    guarded: set[str] = field(default_factory=set)
    """Symbols whose position is most likely a hidden fill of ours, guarded by a stop the orphan sweep
    must leave alone (`_guard_unconfirmed`)."""


class Reconciler:
    def __init__(self, ctx: AccountContext, keeper: PositionKeeper, alerter: Alerter) -> None:
        self.ctx = ctx
        self.keeper = keeper
        self.alerter = alerter
        self.covers_since: datetime | None = None
        """When (host clock) the latest completed run began reading: it accounts for everything before."""

    async def run(self) -> ReconcileReport:
        report = ReconcileReport()
        async with self.ctx.lock:
            began = datetime.now(UTC)
            account = await self.ctx.accounts.refresh()
            await self.ctx.book.observe_equity(account.equity, self.ctx.now())
            await self._resolve_unsettled_orders(report)
            await self.keeper.sync_resting_entries(self.ctx.now())
            await self._adopt_unbooked_entries()
            await self._adopt_late_fills()
            await self._positions(report)
            await self._foreign_positions(report)
            await self._orphans(report)
            if report.unexplained:
                await self.halt(report.unexplained)
            self.covers_since = began
        log.info(
            "reconciled",
            resolved_orders=report.resolved_orders,
            booked_closes=report.booked_closes,
            protected=report.protected,
            orphans_cancelled=report.orphans_cancelled,
            unexplained=report.unexplained,
        )
        return report

    async def _resolve_unsettled_orders(self, report: ReconcileReport) -> None:
        """PENDING and UNKNOWN rows: what does the exchange know under their client id?

        One miss is no proof (Binance answers -2013 for orders that exist, for a while after placement,
        and a request sent just before a crash may still execute within its window): a row missed by the
        lookup and by the open orders is UNKNOWN until `not_found_grace_seconds` after its last change,
        and only then settled NOT_SENT.
        """
        async with self.ctx.store.read() as tx:
            rows = await tx.orders.in_states(self.ctx.account, [OrderState.PENDING, OrderState.UNKNOWN])
        unsettled = (OrderState.PENDING, OrderState.UNKNOWN)
        grace = timedelta(seconds=self.ctx.settings.not_found_grace_seconds)
        for row in rows:
            async with self.ctx.store.read() as tx:
                current = await tx.orders.by_client_id(self.ctx.account, row.client_order_id)
            if current is None or current.state not in unsettled:
                continue  # settled meanwhile, e.g. a stop adopted when its entry's position was opened
            found = await self._find(row)
            now = self.ctx.now()
            if (
                found is None
                and row.kind is OrderKind.STOP
                and (current.position_pk is not None or await self._entry_resting(row))
            ):
                continue  # judged against the resting orders when its position is protected
            if found is None and now - current.updated_at < grace:
                if current.state is OrderState.PENDING:
                    await self._move(row, OrderState.UNKNOWN, "not found yet after a restart")
                continue
            async with self.ctx.store.transaction() as tx:
                if found is None:
                    await tx.orders.move(
                        self.ctx.account,
                        row.client_order_id,
                        OrderState.NOT_SENT,
                        now,
                        f"not on the exchange {grace.total_seconds():g} s after its last change",
                    )
                else:
                    await tx.orders.record(self.ctx.account, row.client_order_id, found, now)
            report.resolved_orders += 1
            if found is not None and row.kind is OrderKind.ENTRY and found.filled > 0:
                await self._adopt_entry(row)

    async def _find(self, row: OrderRow) -> Order | None:
        """By client id, then in the symbol's open orders (a lookup can miss what a list shows)."""
        found = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
        if found is not None:
            return found
        resting = await self.ctx.exchange.open_orders(row.symbol)
        return next((order for order in resting if order.client_id == row.client_order_id), None)

    async def _move(self, row: OrderRow, state: OrderState, note: str) -> None:
        async with self.ctx.store.transaction() as tx:
            await tx.orders.move(self.ctx.account, row.client_order_id, state, self.ctx.now(), note)

    async def _adopt_late_fills(self) -> None:
        """An exchange position on a symbol without one of ours: an entry settled NOT_SENT or CANCELED may
        have filled after all (it executed late, or was hidden from lookups). The exchange is the truth:
        the row takes its state with an audit note, an `order.late_fill` event is recorded, and the fill
        becomes a protected position instead of a "foreign position" halt."""
        account = self.ctx.accounts.latest
        assert account is not None
        ours = {position.symbol for position in await self.keeper.open_positions()}
        strangers = {live.symbol for live in account.positions if live.qty > 0 and live.symbol not in ours}
        if not strangers:
            return
        settled = await self._settled_entries(strangers, self.ctx.now() - LATE_FILL_LOOKBACK)
        for row in sorted(settled, key=lambda r: r.updated_at, reverse=True):
            found = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
            if found is None or found.filled == 0:
                continue
            now = self.ctx.now()
            async with self.ctx.store.transaction() as tx:
                await tx.orders.record(self.ctx.account, row.client_order_id, found, now)
                await tx.events.append(
                    account=self.ctx.account,
                    at=now,
                    kind=EventKind.ORDER_LATE_FILL,
                    data={
                        "client_id": row.client_order_id,
                        "symbol": row.symbol,
                        "settled": row.state.value,
                        "filled": str(found.filled),
                    },
                )
            log.warning("late_fill_adopted", client_id=row.client_order_id, settled=row.state.value)
            await self._adopt_entry(row)

    async def _settled_entries(self, symbols: set[str], since: datetime) -> list[OrderRow]:
        """Entries on `symbols` settled `not_sent`/`canceled` unfilled since `since`: one may have filled."""
        async with self.ctx.store.read() as tx:
            return [
                row
                for row in await tx.orders.in_states(
                    self.ctx.account, [OrderState.NOT_SENT, OrderState.CANCELED]
                )
                if row.kind is OrderKind.ENTRY
                and row.symbol in symbols
                and row.position_pk is None
                and row.filled_qty == 0
                and row.updated_at >= since
            ]

    async def _adopt_unbooked_entries(self) -> None:
        """Filled entries whose position row was not written before a crash."""
        async with self.ctx.store.read() as tx:
            rows = [
                row
                for row in await tx.orders.in_states(self.ctx.account, [OrderState.FILLED, OrderState.OPEN])
                if row.kind is OrderKind.ENTRY and row.position_pk is None and row.filled_qty > 0
            ]
        for row in rows:
            await self._adopt_entry(row)

    async def _entry_resting(self, stop: OrderRow) -> bool:
        """Its entry still rests unfilled: a stop placed beside a limit entry (Binance) or armed by its
        fill (Phemex attached) is neither missing nor an orphan."""
        if stop.signal_pk is None:
            return False
        async with self.ctx.store.read() as tx:
            siblings = await tx.orders.for_signal(stop.signal_pk)
        return any(
            row.kind is OrderKind.ENTRY and row.state is OrderState.OPEN and row.filled_qty == 0
            for row in siblings
        )

    async def _adopt_entry(self, row: OrderRow) -> None:
        """An entry that filled while the daemon was down (or before its answer was stored)."""
        async with self.ctx.store.read() as tx:
            entry = await tx.orders.by_client_id(self.ctx.account, row.client_order_id)
            signal = await tx.signals.by_pk(row.signal_pk) if row.signal_pk is not None else None
        if entry is None or signal is None or entry.position_pk is not None:
            return
        order = await self.ctx.exchange.fetch_order(entry.symbol, entry.client_order_id)
        if order is not None:
            await self.keeper.adopt_filled_entry(entry, Instruction.from_payload(signal.payload), order)

    async def _positions(self, report: ReconcileReport) -> None:
        account = self.ctx.accounts.latest
        assert account is not None
        for position in await self.keeper.open_positions():
            live = account.position(position.symbol)
            if live is None or live.qty == 0 or live.side is not position.side:
                await self.keeper.booking.book_close(position.id)
                report.booked_closes += 1
                continue
            await self.keeper.ensure_protected(position.id)
            report.protected += 1

    async def _foreign_positions(self, report: ReconcileReport) -> None:
        """A position the daemon did not open is unexplained (halt, by default); not yet, though, on a symbol
        whose entry was settled `not_sent`/`canceled` less than `not_found_grace_seconds` ago: that settling
        rested on a miss, and one miss is no proof (the exchange may still show the entry filled; a later run
        adopts it, or halts once the grace is over)."""
        account = self.ctx.accounts.latest
        assert account is not None
        ours = {position.symbol for position in await self.keeper.open_positions()}
        strangers = {live.symbol for live in account.positions if live.qty > 0 and live.symbol not in ours}
        grace = timedelta(seconds=self.ctx.settings.not_found_grace_seconds)
        recent = {
            row.symbol: row
            for row in sorted(
                await self._settled_entries(strangers, self.ctx.now() - grace), key=lambda r: r.updated_at
            )
        }
        for live in account.positions:
            entry = recent.get(live.symbol)
            if live.qty > 0 and entry is not None and _may_be_the_fill_of(entry, live):
                log.warning("foreign_position_unconfirmed", symbol=live.symbol, grace_s=grace.total_seconds())
                await self._guard_unconfirmed(live, entry)
                report.guarded.add(live.symbol)
            elif live.qty > 0 and live.symbol not in ours:
                filters = await self.keeper.filters(live.symbol)
                held = f"{live.side.value} {quantity(live.qty, filters)} {live.symbol}"
                message = f"position {held} was not opened by this daemon"
                self.alerter.raise_alert(
                    AlertKind.FOREIGN_POSITION,
                    message,
                    Figure("qty", live.qty, Unit.QTY),
                    symbol=live.symbol,
                    filters=filters,
                )
                if self.ctx.settings.on_foreign_position is ForeignPolicy.HALT:
                    report.unexplained.append(message)

    async def _guard_unconfirmed(self, live: Position, entry: OrderRow) -> None:
        """A stop for a position that is most likely `entry`'s fill, still hidden: it waits for the exchange
        to show the fill (then it is adopted) or for the grace to end (then it is foreign), and meanwhile it
        must not be without a stop (RISK_SPEC §0). The stop goes at the entry's planned trigger, written
        ahead under the entry's signal like any leg, so the adoption finds and keeps it; a closed or
        flattened position leaves it to the orphan sweep."""
        if entry.signal_pk is None:
            return
        async with self.ctx.store.read() as tx:
            legs = [leg for leg in await tx.orders.for_signal(entry.signal_pk) if leg.kind is OrderKind.STOP]
            signal = await tx.signals.by_pk(entry.signal_pk)
        planned = next((leg.trigger_price for leg in legs if leg.trigger_price is not None), None)
        if signal is None or planned is None or any(leg.state in LIVE_STATES for leg in legs):
            return  # nothing planned to guard it with, or a guard of an earlier run is on its way
        closing = OrderSide.closing(live.side)
        if any(
            order.conditional and order.type is OrderType.STOP_MARKET and order.side is closing
            for order in await self.ctx.exchange.open_orders(live.symbol)
        ):
            return
        taken = {leg.client_order_id for leg in legs}
        client_id = next(
            candidate
            for sequence in range(1, 1000)
            if (candidate := client_order_id(signal.signal_id, OrderKind.STOP, sequence)) not in taken
        )
        row = intent(
            account=self.ctx.account,
            client_id=client_id,
            kind=OrderKind.STOP,
            symbol=live.symbol,
            side=closing,
            order_type=OrderType.STOP_MARKET,
            qty=live.qty,
            trigger_price=planned,
            signal_pk=entry.signal_pk,
            now=self.ctx.now(),
        )
        async with self.ctx.store.transaction() as tx:
            await tx.orders.add(row)
        await self.keeper.legs.send(
            row, lambda: self.ctx.exchange.place_stop(live.symbol, live.side, live.qty, planned, client_id)
        )

    async def _orphans(self, report: ReconcileReport) -> None:
        """Our protective orders resting for positions that are closed: cancel them.

        On a symbol with no open position every leg of ours goes; on one with an open position, the
        legs recorded for the symbol's closed positions (they would act on the open one).
        """
        async with self.ctx.store.read() as tx:
            open_symbols = {
                p.symbol for p in await tx.positions.with_status(self.ctx.account, PositionStatus.OPEN)
            }
            known = await tx.orders.symbols(self.ctx.account)
        for symbol in sorted(open_symbols):
            stale = len(await self.keeper.legs.stale_on(symbol))
            stuck = await self.keeper.clear_stale_legs(symbol)
            report.orphans_cancelled += stale - len(stuck)
            if stuck:
                filters = await self.keeper.filters(symbol)
                self.alerter.raise_alert(
                    AlertKind.STALE_LEG,
                    f"legs of a closed position still rest: {describe_legs(stuck, filters)}",
                    symbol=symbol,
                    filters=filters,
                )
        for symbol in sorted(known):
            try:
                orders = await self.ctx.exchange.open_orders(symbol)
            except ExchangeError as exc:
                report.unexplained.append(f"open orders of {symbol} unreadable: {exc}")
                continue
            for order in orders:
                parts = parse_client_order_id(order.client_id)
                if parts is None or parts.kind is OrderKind.ENTRY or symbol in open_symbols | report.guarded:
                    continue
                async with self.ctx.store.read() as tx:
                    row = await tx.orders.by_client_id(self.ctx.account, order.client_id or "")
                if row is not None and await self._entry_resting(row):
                    continue  # a resting limit entry's stop guards its fill, even while the daemon is down
                await self.keeper.legs.cancel_exchange_order(order, row)
                report.orphans_cancelled += 1
                log.warning("orphan_cancelled", symbol=symbol, client_id=order.client_id)

    async def halt(self, reasons: list[str]) -> None:
        """Trip the breaker with what could not be explained: fail closed, and tell the operator."""
        now = self.ctx.now()
        reason = "reconciliation: " + "; ".join(reasons)
        async with self.ctx.store.transaction() as tx:
            await self.ctx.book.set_breaker(
                tx, lambda state: trip(state, now, reason), now, tripped_at=now, trip_reason=reason
            )
            await tx.events.append(
                account=self.ctx.account, at=now, kind=EventKind.RECONCILE_HALTED, data={"reasons": reasons}
            )
        self.alerter.raise_alert(AlertKind.UNEXPLAINED_STATE, reason)


def _may_be_the_fill_of(entry: OrderRow, live: Position) -> bool:
    """The exchange's position could be what `entry` filled: its side, and no more than its quantity."""
    return entry.side is OrderSide.opening(live.side) and live.qty <= entry.qty
