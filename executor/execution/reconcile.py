"""Compare the database with the exchange and settle every difference before trading goes on.

Runs at start-up before any signal is read, and then periodically. Orders are resolved by client
order id only (never by time windows); "not found" settles an unacknowledged row as never sent, so it
is never placed late. What cannot be explained halts trading with the reason: fail closed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from executor.config.settings import ForeignPolicy
from executor.domain.client_ids import parse_client_order_id
from executor.domain.enums import EventKind, OrderKind, PositionStatus
from executor.domain.notices import AlertKind
from executor.domain.order_state import OrderState
from executor.execution.alerts import Alerter
from executor.execution.context import AccountContext
from executor.execution.positions import PositionKeeper
from executor.observability.logging import get_logger
from executor.ports.errors import ExchangeError
from executor.risk import trip
from executor.signals.schema import SignalMessage
from executor.store.models import OrderRow

log = get_logger("executor.reconcile")

NOT_FOUND_DEADLINE = timedelta(seconds=15)
"""An unknown row (its write had an ambiguous answer) the exchange does not find is settled as never sent
only this long after its last change: exchanges answer "does not exist" for orders that do, for a while
after placement."""


@dataclass
class ReconcileReport:
    resolved_orders: int = 0
    booked_closes: int = 0
    protected: int = 0
    orphans_cancelled: int = 0
    unexplained: list[str] = field(default_factory=list)


class Reconciler:
    def __init__(self, ctx: AccountContext, keeper: PositionKeeper, alerter: Alerter) -> None:
        self.ctx = ctx
        self.keeper = keeper
        self.alerter = alerter

    async def run(self) -> ReconcileReport:
        report = ReconcileReport()
        async with self.ctx.lock:
            account = await self.ctx.accounts.refresh()
            await self.ctx.book.observe_equity(account.equity, self.ctx.now())
            await self._resolve_unsettled_orders(report)
            await self.keeper.sync_resting_entries(self.ctx.now())
            await self._adopt_unbooked_entries()
            await self._positions(report)
            await self._foreign_positions(report)
            await self._orphans(report)
            if report.unexplained:
                await self.halt(report.unexplained)
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
        """PENDING and UNKNOWN rows: what does the exchange know under their client id?"""
        async with self.ctx.store.transaction() as tx:
            rows = await tx.orders.in_states(self.ctx.account, [OrderState.PENDING, OrderState.UNKNOWN])
        unsettled = (OrderState.PENDING, OrderState.UNKNOWN)
        for row in rows:
            async with self.ctx.store.transaction() as tx:
                current = await tx.orders.by_client_id(self.ctx.account, row.client_order_id)
            if current is None or current.state not in unsettled:
                continue  # settled meanwhile, e.g. a stop adopted when its entry's position was opened
            found = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
            now = self.ctx.now()
            if (
                found is None
                and row.kind is OrderKind.STOP
                and (current.position_pk is not None or await self._entry_resting(row))
            ):
                continue  # judged against the resting orders when its position is protected
            if (
                found is None
                and current.state is OrderState.UNKNOWN
                and now - current.updated_at < NOT_FOUND_DEADLINE
            ):
                continue  # one miss is no proof (Binance -2013 for orders that exist): unknown until then
            async with self.ctx.store.transaction() as tx:
                if found is None:
                    await tx.orders.move(
                        self.ctx.account,
                        row.client_order_id,
                        OrderState.NOT_SENT,
                        now,
                        "not on the exchange after restart",
                    )
                else:
                    await tx.orders.record(self.ctx.account, row.client_order_id, found, now)
            report.resolved_orders += 1
            if found is not None and row.kind is OrderKind.ENTRY and found.filled > 0:
                await self._adopt_entry(row)

    async def _adopt_unbooked_entries(self) -> None:
        """Filled entries whose position row was not written before a crash."""
        async with self.ctx.store.transaction() as tx:
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
        async with self.ctx.store.transaction() as tx:
            siblings = await tx.orders.for_signal(stop.signal_pk)
        return any(
            row.kind is OrderKind.ENTRY and row.state is OrderState.OPEN and row.filled_qty == 0
            for row in siblings
        )

    async def _adopt_entry(self, row: OrderRow) -> None:
        """An entry that filled while the daemon was down (or before its answer was stored)."""
        async with self.ctx.store.transaction() as tx:
            entry = await tx.orders.by_client_id(self.ctx.account, row.client_order_id)
            signal = await tx.signals.by_pk(row.signal_pk) if row.signal_pk is not None else None
        if entry is None or signal is None or entry.position_pk is not None:
            return
        order = await self.ctx.exchange.fetch_order(entry.symbol, entry.client_order_id)
        if order is not None:
            await self.keeper.adopt_filled_entry(entry, SignalMessage.from_object(signal.payload), order)

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
        account = self.ctx.accounts.latest
        assert account is not None
        ours = {position.symbol for position in await self.keeper.open_positions()}
        for live in account.positions:
            if live.qty > 0 and live.symbol not in ours:
                message = f"position {live.side.value} {live.qty} {live.symbol} was not opened by this daemon"
                self.alerter.raise_alert(AlertKind.FOREIGN_POSITION, message)
                if self.ctx.settings.on_foreign_position is ForeignPolicy.HALT:
                    report.unexplained.append(message)

    async def _orphans(self, report: ReconcileReport) -> None:
        """Our protective orders resting for positions that are closed: cancel them.

        On a symbol with no open position every leg of ours goes; on one with an open position, the
        legs recorded for the symbol's closed positions (they would act on the open one).
        """
        async with self.ctx.store.transaction() as tx:
            open_symbols = {
                p.symbol for p in await tx.positions.with_status(self.ctx.account, PositionStatus.OPEN)
            }
            known = await tx.orders.symbols(self.ctx.account)
        for symbol in sorted(open_symbols):
            stale = len(await self.keeper.legs.stale_on(symbol))
            stuck = await self.keeper.clear_stale_legs(symbol)
            report.orphans_cancelled += stale - len(stuck)
            if stuck:
                self.alerter.raise_alert(
                    AlertKind.STALE_LEG, f"legs of a closed position still rest: {stuck}", symbol=symbol
                )
        for symbol in sorted(known):
            try:
                orders = await self.ctx.exchange.open_orders(symbol)
            except ExchangeError as exc:
                report.unexplained.append(f"open orders of {symbol} unreadable: {exc}")
                continue
            for order in orders:
                parts = parse_client_order_id(order.client_id)
                if parts is None or parts.kind is OrderKind.ENTRY or symbol in open_symbols:
                    continue
                async with self.ctx.store.transaction() as tx:
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
