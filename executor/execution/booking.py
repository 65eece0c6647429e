"""Booking a closed position from the exchange's own record: fills unique by trade id, funding as rows.

The carried risk state and the day's ledger change in the same transaction as the position row, so a
close is booked completely or not at all, and booking it again finds nothing new to count.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

from executor.crashpoints import CrashPoint, crash_point
from executor.domain.enums import EventKind, OrderKind, PositionStatus
from executor.domain.money import ZERO
from executor.domain.notices import AlertKind, Figure, Notice, NoticeEvent, Severity, Unit, risk_multiple
from executor.domain.orders import Fill, OrderSide
from executor.execution.alerts import Alerter
from executor.execution.context import AccountContext
from executor.execution.legs import LIVE_STATES, PROTECTIVE, OrderLegs
from executor.observability.logging import get_logger
from executor.store.models import DecisionRow, FillRow, FundingPaymentRow, OrderRow, PositionRow

log = get_logger("executor.booking")

FILL_LOOKBACK = timedelta(minutes=5)
ENTRY_FILL_TOLERANCE = timedelta(seconds=5)

OnBooked = Callable[[PositionRow], Awaitable[None]]


class Booking:
    def __init__(self, ctx: AccountContext, legs: OrderLegs, alerter: Alerter) -> None:
        self.ctx = ctx
        self.legs = legs
        self.alerter = alerter
        self.on_booked: OnBooked | None = None

    async def book_close(self, position_pk: int) -> None:
        """The exchange shows no position: book the close from its fills and funding, cancel siblings."""
        ctx = self.ctx
        async with ctx.store.transaction() as tx:
            position = await tx.positions.get(position_pk)
            orders = await tx.orders.for_position(position_pk)
        if position is None or position.status is not PositionStatus.OPEN:
            return
        fills = await ctx.exchange.fills_since(position.symbol, position.opened_at - FILL_LOOKBACK)
        payments = await ctx.exchange.funding_payments_since(symbol=position.symbol, since=position.opened_at)
        for row in orders:
            if row.kind in PROTECTIVE and row.state in LIVE_STATES:
                await self.legs.cancel(row)
        async with ctx.store.transaction() as tx:
            orders = await tx.orders.for_position(position_pk)
        entry_fills, exit_fills = self._attribute(position, orders, fills)
        ours = {row.exchange_order_id: row for row in orders if row.exchange_order_id}
        ours |= {row.executed_order_id: row for row in orders if row.executed_order_id}
        now = ctx.now()
        async with ctx.store.transaction() as tx:
            still_open = await tx.positions.open_one(position_pk)
            if still_open is None:
                return
            entries = [
                f for f in entry_fills if await tx.fills.add(self._fill_row(f, ours.get(f.order_id or "")))
            ]
            exits = [
                f for f in exit_fills if await tx.fills.add(self._fill_row(f, ours.get(f.order_id or "")))
            ]
            crash_point(CrashPoint.FILLS_INSERTED)
            funding = ZERO
            for payment in payments:
                payment_row = FundingPaymentRow(
                    account=ctx.account,
                    payment_id=payment.payment_id,
                    position_pk=position_pk,
                    symbol=payment.symbol,
                    amount=payment.amount,
                    asset=payment.asset,
                    paid_at=payment.timestamp,
                )
                if await tx.funding.add(payment_row):
                    funding += payment.amount
            exit_qty = sum((f.qty for f in exits), ZERO)
            exit_value = sum((f.qty * f.price for f in exits), ZERO)
            closed = await tx.positions.close(
                still_open,
                exit_price=exit_value / exit_qty if exit_qty else None,
                realized_pnl=still_open.side.sign * (exit_value - exit_qty * still_open.entry_price),
                fees=sum((f.fee for f in [*entries, *exits]), ZERO),
                funding=funding,
                closed_at=max((f.timestamp for f in exits), default=now),
            )
            if exit_qty < closed.qty:
                self.alerter.raise_alert(
                    AlertKind.UNEXPLAINED_STATE,
                    "position gone from the exchange without fills for all of it (liquidation or manual)",
                    symbol=closed.symbol,
                    qty=str(closed.qty),
                    exit_qty=str(exit_qty),
                )
            decision = await tx.decisions.for_signal(closed.signal_pk) if closed.signal_pk else None
            await ctx.book.record_close(tx, closed, now)
            await tx.events.append(
                account=ctx.account,
                at=now,
                kind=EventKind.POSITION_CLOSED,
                data={
                    "symbol": closed.symbol,
                    "exit_price": str(closed.exit_price),
                    "realized_pnl": str(closed.realized_pnl),
                    "fees": str(closed.fees),
                    "funding": str(closed.funding),
                },
            )
        log.info(
            "position_closed",
            symbol=closed.symbol,
            pnl=str(closed.realized_pnl),
            fees=str(closed.fees),
            funding=str(closed.funding),
        )
        exit_kinds = {leg.kind for f in exits if (leg := ours.get(f.order_id or "")) is not None}
        by_take_profit = OrderKind.TAKE_PROFIT in exit_kinds
        self.alerter.notify(position_closed(closed, decision, by_take_profit=by_take_profit))
        crash_point(CrashPoint.FILL_BOOKED)
        if self.on_booked is not None:
            await self.on_booked(closed)

    @staticmethod
    def _attribute(
        position: PositionRow, orders: Sequence[OrderRow], fills: list[Fill]
    ) -> tuple[list[Fill], list[Fill]]:
        """The position's entry and exit fills among the symbol's recent fills.

        Phemex's trade list carries no order id: an unattributed fill on the opening side from the
        entry's time on is the entry's. Exits are fills on the closing side after the entry. A fill
        already booked by an earlier position is not inserted again, so it is never counted twice.
        """
        closing = OrderSide.closing(position.side)
        entry_ids = {row.exchange_order_id for row in orders if row.kind is OrderKind.ENTRY}
        earliest = position.opened_at - ENTRY_FILL_TOLERANCE
        entries = [
            f
            for f in fills
            if f.order_id in entry_ids
            or (f.order_id is None and f.side is not closing and f.timestamp >= earliest)
        ]
        opened = min((f.timestamp for f in entries), default=position.opened_at)
        exits = [
            f for f in fills if f.side is closing and f.timestamp >= opened and f.order_id not in entry_ids
        ]
        return entries, exits

    def _fill_row(self, fill: Fill, order: OrderRow | None) -> FillRow:
        return FillRow(
            account=self.ctx.account,
            trade_id=fill.trade_id,
            order_pk=order.id if order is not None else None,
            client_order_id=order.client_order_id if order is not None else None,
            exchange_order_id=fill.order_id,
            symbol=fill.symbol,
            side=fill.side,
            qty=fill.qty,
            price=fill.price,
            fee=fill.fee,
            fee_asset=fill.fee_asset or "",
            realized_pnl=None,
            executed_at=fill.timestamp,
        )


def position_closed(position: PositionRow, decision: DecisionRow | None, *, by_take_profit: bool) -> Notice:
    """PnL after fees and funding, and the R multiple: that PnL ÷ the risk taken at entry.

    The risk at entry is the distance from the entry price to the decision's stop (the first one, not a
    moved one) times the quantity filled.
    """
    pnl = position.realized_pnl - position.fees + position.funding
    stop = decision.stop if decision is not None else None
    risk = abs(position.entry_price - stop) * position.qty if stop is not None else None
    figures = [
        Figure("side", position.side.value),
        Figure("quantity", position.qty, Unit.QTY),
        Figure("entry", position.entry_price, Unit.PRICE),
    ]
    if position.exit_price is not None:
        figures.append(Figure("exit", position.exit_price, Unit.PRICE))
    figures += [
        Figure("PnL", pnl, Unit.PNL),
        Figure("fees", position.fees, Unit.MONEY),
        Figure("funding", position.funding, Unit.PNL),
    ]
    multiple = risk_multiple(pnl, risk)
    if multiple is not None:
        figures.append(Figure("R", multiple, Unit.R))
    event = NoticeEvent.TAKE_PROFIT if by_take_profit else NoticeEvent.POSITION_CLOSED
    what = "take profit filled" if by_take_profit else "position closed"
    return Notice(
        event,
        f"{what}: {position.side.value} {position.symbol}",
        symbol=position.symbol,
        figures=tuple(figures),
        severity=Severity.SUCCESS if pnl >= 0 else Severity.WARNING,
    )
