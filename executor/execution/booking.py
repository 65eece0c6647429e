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
from executor.domain.notices import AlertKind, Figure, Notice, NoticeEvent, Severity, Unit
from executor.domain.orders import Fill, FundingPayment, OrderSide
from executor.domain.performance import r_multiple
from executor.execution.alerts import Alerter
from executor.execution.context import AccountContext
from executor.execution.legs import LIVE_STATES, PROTECTIVE, OrderLegs
from executor.observability.logging import get_logger
from executor.store.models import FillRow, FundingPaymentRow, OrderRow, PositionRow

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

    async def _funding_payments(self, position: PositionRow, fills: Sequence[Fill]) -> list[FundingPayment]:
        """The position's funding, read only when a settlement may lie in its life (opened to the later of
        its last fill and now, on the exchange's clock). Binance's income read weighs 30 of the minute's
        budget and Phemex's testnet counts every request; most positions live between two settlements.
        A symbol whose schedule was never read is read."""
        until = max([self.ctx.now(), *(f.timestamp for f in fills)])
        schedule = self.ctx.exchange.funding_schedule(position.symbol)
        if schedule is not None and not schedule.may_settle_between(position.opened_at, until):
            return []
        exchange = self.ctx.exchange
        return await exchange.funding_payments_since(symbol=position.symbol, since=position.opened_at)

    async def book_close(self, position_pk: int, fills: Sequence[Fill] | None = None) -> None:
        """The exchange shows no position: book the close from its fills and funding, cancel siblings.

        A protective leg still live in the database whose own fills cover it executed (Binance's algo
        update, which reports its end, may come after the trade): it is recorded filled with the close,
        not cancelled. One not covered (its trigger's order filled in part, or not at all) is cancelled,
        and that cancel's lookup learns how it ended.

        `fills`: the position's entry and exit fills as the user data stream delivered them, when it saw
        them all (executor/execution/user_stream.py); else they are read from the exchange."""
        ctx = self.ctx
        async with ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
            orders = await tx.orders.for_position(position_pk)
        if position is None or position.status is not PositionStatus.OPEN:
            return
        if fills is None:
            fills = await ctx.exchange.fills_since(position.symbol, position.opened_at - FILL_LOOKBACK)
        payments = await self._funding_payments(position, fills)
        executed = await self._end_legs(orders, fills)
        async with ctx.store.read() as tx:
            orders = await tx.orders.for_position(position_pk)
        entry_fills, exit_fills = self._attribute(position, orders, fills)
        ours = {row.exchange_order_id: row for row in orders if row.exchange_order_id}
        ours |= {row.executed_order_id: row for row in orders if row.executed_order_id}
        now = ctx.now()
        async with ctx.store.transaction() as tx:
            still_open = await tx.positions.open_one(position_pk)
            if still_open is None:
                return
            for row, leg_fills in executed.values():
                qty = sum((f.qty for f in leg_fills), ZERO)
                average = sum((f.qty * f.price for f in leg_fills), ZERO) / qty
                await tx.orders.executed(ctx.account, row.client_order_id, qty, average, now)
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
                    Figure("qty", closed.qty, Unit.QTY),
                    Figure("exit_qty", exit_qty, Unit.QTY),
                    symbol=closed.symbol,
                )
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
        ctx.accounts.outdate()
        log.info(
            "position_closed",
            symbol=closed.symbol,
            pnl=str(closed.realized_pnl),
            fees=str(closed.fees),
            funding=str(closed.funding),
        )
        exit_kinds = {leg.kind for f in exits if (leg := ours.get(f.order_id or "")) is not None}
        by_take_profit = OrderKind.TAKE_PROFIT in exit_kinds
        self.alerter.notify(position_closed(closed, by_take_profit=by_take_profit))
        crash_point(CrashPoint.FILL_BOOKED)
        if self.on_booked is not None:
            await self.on_booked(closed)

    async def _end_legs(
        self, orders: Sequence[OrderRow], fills: Sequence[Fill]
    ) -> dict[int, tuple[OrderRow, list[Fill]]]:
        """Cancel the live protective legs that did not execute; those that did are returned, to be
        recorded filled with the close."""
        executed = executed_legs(orders, fills)
        for row in orders:
            if row.kind in PROTECTIVE and row.state in LIVE_STATES and row.id not in executed:
                await self.legs.cancel(row)
        return executed

    @staticmethod
    def _attribute(
        position: PositionRow, orders: Sequence[OrderRow], fills: Sequence[Fill]
    ) -> tuple[list[Fill], list[Fill]]:
        """The position's entry and exit fills among the symbol's recent fills.

        Fills are attributed by order id (Phemex's from `/api-data/g-futures/trades`, the history that
        names the order); a fill without one, on the opening side from the entry's time on, is the
        entry's. Exits are fills on the closing side after the entry. A fill already booked by an
        earlier position is not inserted again, so it is never counted twice.
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


def executed_legs(
    orders: Sequence[OrderRow], fills: Sequence[Fill]
) -> dict[int, tuple[OrderRow, list[Fill]]]:
    """The live protective legs whose executing order's fills cover their quantity, with those fills, by
    row id: Binance's algo order by the order its trigger created (`executed_order_id`, noted from the
    trade), Phemex's stop by its own id."""
    found: dict[int, tuple[OrderRow, list[Fill]]] = {}
    for row in orders:
        if row.kind not in PROTECTIVE or row.state not in LIVE_STATES:
            continue
        ids = {row.executed_order_id, row.exchange_order_id} - {None}
        own = list({f.trade_id: f for f in fills if f.order_id in ids}.values())
        if own and sum((f.qty for f in own), ZERO) >= row.qty:
            found[row.id] = (row, own)
    return found


def position_closed(position: PositionRow, *, by_take_profit: bool) -> Notice:
    """PnL after fees and funding, and the R multiple: that PnL ÷ the risk taken at entry (the position's
    `risk_at_entry`: the loss at the first stop for the quantity filled, fees in and out)."""
    pnl = position.realized_pnl - position.fees + position.funding
    risk = position.risk_at_entry
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
    multiple = r_multiple(pnl, risk)
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
