"""Positions from first fill to close: open, protect, move the stop, close, and book the result.

Every method expects the caller to hold the account's execution lock: exchange writes for one account
never interleave. A close is booked from the exchange's own fills (unique by trade id) and its funding
payments (their own rows), then the carried risk state and the day's ledger change in the same
transaction as the position row.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from adapters.client_ids import client_order_id, parse_client_order_id
from adapters.errors import ExchangeError, OrderNotFoundError
from executor.crashpoints import CrashPoint, crash_point
from executor.domain.account import AccountSnapshot, Position
from executor.domain.enums import OrderKind, Setup, Side
from executor.domain.money import floor_to_step
from executor.domain.orders import Fill, Order, OrderSide, OrderType
from executor.domain.signal import Signal
from executor.execution.alerts import Alerter, AlertKind
from executor.execution.context import AccountContext
from executor.execution.order_state import OrderState
from executor.execution.orders import apply_exchange_view, exchange_view, intent, move
from executor.observability.logging import get_logger
from executor.risk import OpenPosition, PositionAction, liquidation_violation, position_drawdown_action
from executor.store.models import FillRow, FundingPaymentRow, OrderRow, PositionRow, PositionStatus
from executor.store.repositories import Repositories

log = get_logger("executor.positions")

ZERO = Decimal(0)
FILL_LOOKBACK = timedelta(minutes=5)
ENTRY_FILL_TOLERANCE = timedelta(seconds=5)
LIVE_STATES = (OrderState.PENDING.value, OrderState.UNKNOWN.value, OrderState.OPEN.value)
PROTECTIVE = (OrderKind.STOP.value, OrderKind.TAKE_PROFIT.value)

OnBooked = Callable[[PositionRow], Awaitable[None]]


class PositionKeeper:
    def __init__(self, ctx: AccountContext, alerter: Alerter) -> None:
        self.ctx = ctx
        self.alerter = alerter
        self.on_booked: OnBooked | None = None
        self._liquidation_checked: set[int] = set()

    async def open_positions(self) -> Sequence[PositionRow]:
        async with self.ctx.store.transaction() as tx:
            return await tx.positions.with_status(self.ctx.account, PositionStatus.OPEN.value)

    # ------------------------------------------------------------------ order legs

    async def _signal_id(self, tx: Repositories, position: PositionRow) -> str:
        if position.signal_pk is not None:
            signal = await tx.signals.by_pk(position.signal_pk)
            if signal is not None:
                return signal.signal_id
        return f"position-{position.id}"

    async def _next_leg(self, tx: Repositories, position: PositionRow, kind: OrderKind) -> str:
        """The next client id of this leg: successive stops and closes of a position never share one."""
        signal_id = await self._signal_id(tx, position)
        taken = {row.client_order_id for row in await tx.orders.for_position(position.id)}
        for sequence in range(1000):
            candidate = client_order_id(signal_id, kind, sequence)
            if candidate not in taken and await tx.orders.by_client_id(self.ctx.account, candidate) is None:
                return candidate
        raise RuntimeError(f"position {position.id} ran out of {kind.value} client ids")

    async def _write_leg(
        self,
        position_pk: int,
        kind: OrderKind,
        order_type: OrderType,
        *,
        qty: Decimal | None = None,
        trigger_price: Decimal | None = None,
        client_id: str | None = None,
    ) -> tuple[PositionRow, OrderRow]:
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            position = await tx.positions.get(position_pk)
            assert position is not None
            if client_id is not None:
                existing = await tx.orders.by_client_id(self.ctx.account, client_id)
                if existing is not None:
                    return position, existing
            row = intent(
                account=self.ctx.account,
                client_id=client_id or await self._next_leg(tx, position, kind),
                kind=kind,
                symbol=position.symbol,
                side=OrderSide.closing(Side(position.side)),
                order_type=order_type,
                qty=qty if qty is not None else position.qty,
                trigger_price=trigger_price,
                signal_pk=position.signal_pk,
                position_pk=position.id,
                now=now,
            )
            await tx.orders.add(row)
        return position, row

    async def _record(
        self, client_id: str, order: Order | None, state: OrderState | None = None, note: str = ""
    ) -> None:
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            row = await tx.orders.by_client_id(self.ctx.account, client_id)
            assert row is not None
            if order is not None:
                apply_exchange_view(row, order, now, self.ctx.metrics)
            elif state is not None:
                move(row, state, now, self.ctx.metrics, note)

    async def _send_leg(self, row: OrderRow, send: Callable[[], Awaitable[Order]]) -> Order | None:
        """Send a written leg; an exception leaves it UNKNOWN or REJECTED, never silently PENDING."""
        try:
            order = await send()
        except ExchangeError as exc:
            ambiguous = exc.error_class.value == "ambiguous"
            await self._record(
                row.client_order_id, None, OrderState.UNKNOWN if ambiguous else OrderState.REJECTED, str(exc)
            )
            log.warning("order_leg_failed", kind=row.kind, client_id=row.client_order_id, error=str(exc))
            return None
        await self._record(row.client_order_id, order)
        return order

    async def place_stop(self, position_pk: int, trigger_price: Decimal) -> Order | None:
        position, row = await self._write_leg(
            position_pk, OrderKind.STOP, OrderType.STOP_MARKET, trigger_price=trigger_price
        )
        return await self._send_leg(
            row,
            lambda: self.ctx.exchange.place_stop(
                position.symbol, Side(position.side), position.qty, trigger_price, row.client_order_id
            ),
        )

    async def place_take_profit(self, position_pk: int, client_id: str) -> Order | None:
        async with self.ctx.store.transaction() as tx:
            row = await tx.orders.by_client_id(self.ctx.account, client_id)
            position = await tx.positions.get(position_pk)
        assert row is not None and position is not None and row.trigger_price is not None
        trigger = row.trigger_price
        return await self._send_leg(
            row,
            lambda: self.ctx.exchange.place_take_profit(
                position.symbol, Side(position.side), position.qty, trigger, client_id
            ),
        )

    async def close_at_market(
        self, position_pk: int, reason: str, *, qty: Decimal | None = None
    ) -> Order | None:
        """Reduce-only market close (of `qty`, default all); the stop stays until it is booked.

        An earlier close that may be live is looked up first, so a close is never sent twice.
        """
        for pending in await self.live_legs(position_pk, (OrderKind.CLOSE.value,)):
            found = await self.ctx.exchange.fetch_order(pending.symbol, pending.client_order_id)
            if found is None:
                await self._record(pending.client_order_id, None, OrderState.NOT_SENT, "not on the exchange")
                continue
            await self._record(pending.client_order_id, found)
            if found.filled > 0 or found.is_open:
                await self.sync_position(position_pk)
                return found
        position, row = await self._write_leg(position_pk, OrderKind.CLOSE, OrderType.MARKET, qty=qty)
        if position.status != PositionStatus.OPEN.value:
            return None
        log.info("closing_position", symbol=position.symbol, reason=reason, client_id=row.client_order_id)
        order = await self._send_leg(
            row,
            lambda: self.ctx.exchange.close_position(
                position.symbol, Side(position.side), row.qty, row.client_order_id
            ),
        )
        if order is not None and order.filled > 0:
            await self.sync_position(position_pk)
        return order

    async def live_legs(self, position_pk: int, kinds: Sequence[str] = PROTECTIVE) -> list[OrderRow]:
        async with self.ctx.store.transaction() as tx:
            rows = await tx.orders.for_position(position_pk)
        return [row for row in rows if row.kind in kinds and row.state in LIVE_STATES]

    async def move_stop(self, position_pk: int, trigger_price: Decimal, signal_id: str) -> str:
        """Replace the stop: the new one rests before the old one is cancelled."""
        old_rows = [
            row for row in await self.live_legs(position_pk, (OrderKind.STOP.value,)) if row.state == "open"
        ]
        position, row = await self._write_leg(
            position_pk, OrderKind.STOP, OrderType.STOP_MARKET, trigger_price=trigger_price
        )
        new = await self._send_leg(
            row,
            lambda: self.ctx.exchange.place_stop(
                position.symbol, Side(position.side), position.qty, trigger_price, row.client_order_id
            ),
        )
        if new is None or not new.is_open:
            return f"new stop at {trigger_price} not placed; the old stop stays"
        for old in old_rows:
            await self.cancel_leg(old)
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            fresh = await tx.positions.get(position_pk)
            assert fresh is not None
            previous = fresh.stop_price
            fresh.stop_price = trigger_price
            await tx.events.append(
                account=self.ctx.account,
                at=now,
                kind="stop.moved",
                signal_id=signal_id,
                data={"symbol": fresh.symbol, "from": str(previous), "to": str(trigger_price)},
            )
        return f"stop moved from {previous} to {trigger_price}"

    async def cancel_leg(self, row: OrderRow) -> None:
        if row.exchange_order_id is None:
            found = await self._lookup(row)
            if found is None:
                await self._record(row.client_order_id, None, OrderState.NOT_SENT, "not on the exchange")
                return
            if not found.is_open:
                await self._record(row.client_order_id, found)
                return
            row.exchange_order_id = found.exchange_id
        try:
            order = await self.ctx.exchange.cancel_order(exchange_view(row))
        except OrderNotFoundError:
            await self._record(row.client_order_id, None, OrderState.CANCELED, "gone from the exchange")
            return
        except ExchangeError as exc:
            log.warning("cancel_failed", client_id=row.client_order_id, error=str(exc))
            return
        await self._record(row.client_order_id, order)

    async def _lookup(self, row: OrderRow) -> Order | None:
        try:
            return await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
        except ExchangeError as exc:
            log.warning("order_lookup_failed", client_id=row.client_order_id, error=str(exc))
            raise

    # ------------------------------------------------------------------ following

    async def sync_all(self) -> None:
        """One tracker pass: account, limit entries, and every open position against the exchange."""
        account = await self.ctx.accounts.refresh()
        now = self.ctx.now()
        await self.ctx.book.observe_equity(account.equity, now)
        self.ctx.metrics.equity.set(float(account.equity))
        await self.sync_resting_entries(now)
        for position in await self.open_positions():
            await self.sync_position(position.id, account)

    async def sync_position(self, position_pk: int, account: AccountSnapshot | None = None) -> None:
        """Compare one position with the exchange's (freshly read unless given) and book it if gone."""
        if account is None:
            account = await self.ctx.accounts.refresh()
        async with self.ctx.store.transaction() as tx:
            position = await tx.positions.get(position_pk)
        if position is None or position.status != PositionStatus.OPEN.value:
            return
        live = account.position(position.symbol)
        if live is not None and live.qty > 0 and live.side.value == position.side:
            if live.qty != position.qty:
                await self._resize(position_pk, live.qty)
            self._check_liquidation(position, live)
            await self._position_drawdown(position, live)
            return
        await self.book_close(position_pk)

    def _check_liquidation(self, position: PositionRow, live: Position) -> None:
        """Once per position and run: the exchange's own liquidation price against the same rules."""
        if position.id in self._liquidation_checked or position.stop_price is None:
            return
        self._liquidation_checked.add(position.id)
        problem = liquidation_violation(
            Side(position.side),
            position.entry_price,
            position.stop_price,
            live.liquidation_price,
            self.ctx.profile.liquidation,
        )
        if problem is not None:
            self.alerter.raise_alert(
                AlertKind.LIQUIDATION_TOO_CLOSE,
                f"exchange liquidation price breaks the safety rules: {problem}",
                symbol=position.symbol,
                liquidation_price=str(live.liquidation_price),
            )

    async def _position_drawdown(self, position: PositionRow, live: Position) -> None:
        """The 20/50 rule (off by default): halve at 20 % of margin lost, close at 50 %."""
        config = self.ctx.profile.position_drawdown
        if not config.enabled or live.mark_price is None or position.stop_price is None:
            return
        legs = await self.live_legs(position.id, (OrderKind.CLOSE.value,))
        if legs:
            return
        async with self.ctx.store.transaction() as tx:
            reduced = any(
                row.kind == OrderKind.CLOSE.value and row.filled_qty > 0
                for row in await tx.orders.for_position(position.id)
            )
        verdict = position_drawdown_action(
            OpenPosition(
                symbol=position.symbol,
                side=Side(position.side),
                qty=position.qty,
                entry=position.entry_price,
                stop=position.stop_price,
                leverage=position.leverage,
            ),
            live.mark_price,
            config,
            reduced,
        )
        if verdict.action is PositionAction.CLOSE:
            await self.close_at_market(
                position.id, f"20/50 rule: {verdict.loss_of_margin:.2%} of margin lost"
            )
        elif verdict.action is PositionAction.REDUCE:
            market = (await self.ctx.exchange.markets()).get(position.symbol)
            qty = floor_to_step(verdict.reduce_qty, market.filters.amount_step) if market else ZERO
            if qty > 0:
                await self.close_at_market(
                    position.id, f"20/50 rule: {verdict.loss_of_margin:.2%} of margin lost", qty=qty
                )

    async def _resize(self, position_pk: int, qty: Decimal) -> None:
        async with self.ctx.store.transaction() as tx:
            position = await tx.positions.get(position_pk)
            assert position is not None
            position.qty = qty

    async def sync_resting_entries(self, now: datetime) -> None:
        """Limit entries: the first fill opens the position; expiry cancels the rest."""
        async with self.ctx.store.transaction() as tx:
            entries = [
                row
                for row in await tx.orders.in_states(self.ctx.account, [OrderState.OPEN.value])
                if row.kind == OrderKind.ENTRY.value
            ]
            payloads: dict[str, dict[str, Any] | None] = {}
            for row in entries:
                stored = await tx.signals.by_pk(row.signal_pk) if row.signal_pk is not None else None
                payloads[row.client_order_id] = stored.payload if stored is not None else None
        for row in entries:
            payload = payloads[row.client_order_id]
            if payload is None:
                continue
            signal = Signal.from_object(payload)
            order = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
            if order is None:
                continue
            expired = signal.expires_at is not None and now >= signal.expires_at
            if order.is_open and expired:
                try:
                    order = await self.ctx.exchange.cancel_order(order)
                except ExchangeError as exc:
                    log.warning("entry_expiry_cancel_failed", client_id=row.client_order_id, error=str(exc))
            await self._entry_progress(row, signal, order)

    async def _entry_progress(self, row: OrderRow, signal: Signal, order: Order) -> None:
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            fresh = await tx.orders.by_client_id(self.ctx.account, row.client_order_id)
            assert fresh is not None
            apply_exchange_view(fresh, order, now, self.ctx.metrics)
        if order.filled > 0:
            await self.adopt_filled_entry(fresh, signal, order)
        elif order.status.is_final:
            for sibling in await self._live_siblings(fresh):
                await self.cancel_leg(sibling)

    async def _live_siblings(self, entry: OrderRow) -> list[OrderRow]:
        if entry.signal_pk is None:
            return []
        async with self.ctx.store.transaction() as tx:
            rows = await tx.orders.for_signal(entry.signal_pk)
        return [row for row in rows if row.kind in PROTECTIVE and row.state in LIVE_STATES]

    async def adopt_filled_entry(self, entry: OrderRow, signal: Signal, order: Order) -> int | None:
        """The position of an entry that filled out of the signal path (a limit fill, a restart)."""
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            fresh = await tx.orders.by_client_id(self.ctx.account, entry.client_order_id)
            assert fresh is not None
            decision = await tx.decisions.for_signal(fresh.signal_pk) if fresh.signal_pk is not None else None
            if fresh.position_pk is None and decision is not None and decision.stop is not None:
                account = self.ctx.accounts.latest
                position = await tx.positions.add(
                    PositionRow(
                        account=self.ctx.account,
                        signal_pk=fresh.signal_pk,
                        symbol=fresh.symbol,
                        side=Side(decision.side).value,
                        status=PositionStatus.OPEN.value,
                        qty=order.filled,
                        entry_price=order.average_price or fresh.price or decision.entry or ZERO,
                        stop_price=decision.stop,
                        take_profit=decision.take_profit,
                        leverage=decision.leverage or 1,
                        setup=(signal.setup or Setup.PRIMARY).value,
                        equity_before=account.equity if account is not None else None,
                        exit_price=None,
                        opened_at=order.timestamp or now,
                        closed_at=None,
                    )
                )
                fresh.position_pk = position.id
                for sibling in await tx.orders.for_signal(position.signal_pk or 0):
                    if sibling.kind in PROTECTIVE:
                        sibling.position_pk = position.id
                await tx.events.append(
                    account=self.ctx.account,
                    at=now,
                    kind="position.opened",
                    signal_id=signal.id,
                    data={"symbol": position.symbol, "side": position.side, "qty": str(position.qty)},
                )
            position_pk = fresh.position_pk
        if position_pk is not None:
            await self.ensure_protected(position_pk)
        return position_pk

    async def ensure_protected(self, position_pk: int) -> None:
        """Exactly one resting stop, judged by the exchange's own open orders, not by our rows.

        A resting stop is adopted (Phemex's attached stop has no client id of ours), extras of ours are
        cancelled, and with none resting one is placed from the stored stop price; if that fails the
        position is closed (RISK_SPEC §0).
        """
        async with self.ctx.store.transaction() as tx:
            position = await tx.positions.get(position_pk)
            rows = [
                row for row in await tx.orders.for_position(position_pk) if row.kind == OrderKind.STOP.value
            ]
        if position is None or position.status != PositionStatus.OPEN.value:
            return
        closing = OrderSide.closing(Side(position.side))
        resting = [
            order
            for order in await self.ctx.exchange.open_orders(position.symbol)
            if order.conditional and order.type is OrderType.STOP_MARKET and order.side is closing
        ]
        by_exchange_id = {row.exchange_order_id: row for row in rows if row.exchange_order_id}
        by_client_id = {row.client_order_id: row for row in rows}

        def row_of(order: Order) -> OrderRow | None:
            return by_exchange_id.get(order.exchange_id) or by_client_id.get(order.client_id or "")

        if resting:
            keep = next((order for order in resting if row_of(order) is not None), resting[0])
            await self._adopt(position_pk, keep, row_of(keep))
            for extra in resting:
                if extra is keep:
                    continue
                if extra.client_id and parse_client_order_id(extra.client_id) is None:
                    log.warning("foreign_stop_left_alone", client_id=extra.client_id, symbol=position.symbol)
                    continue
                await self.cancel_exchange_order(extra, row_of(extra))
            resting_ids = {order.exchange_id for order in resting}
            for row in rows:
                if (
                    row.state in LIVE_STATES
                    and row.exchange_order_id not in resting_ids
                    and row is not row_of(keep)
                ):
                    await self._settle_absent(row)
            return
        for row in rows:
            if row.state in LIVE_STATES:
                await self._settle_absent(row)
        assert position.stop_price is not None
        placed = await self.place_stop(position_pk, position.stop_price)
        if placed is None or not placed.is_open:
            self.alerter.raise_alert(
                AlertKind.STOP_NOT_PLACED, "position without a stop; closing it", symbol=position.symbol
            )
            await self.close_at_market(position_pk, "stop could not be placed")

    async def _adopt(self, position_pk: int, order: Order, row: OrderRow | None) -> None:
        """Record a resting stop on its row, or on the position's unsettled stop row, or a new one."""
        if row is None:
            live = await self.live_legs(position_pk, (OrderKind.STOP.value,))
            row = next((r for r in live if r.exchange_order_id is None), None)
        if row is None:
            _, row = await self._write_leg(
                position_pk, OrderKind.STOP, OrderType.STOP_MARKET, trigger_price=order.trigger_price
            )
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            fresh = await tx.orders.by_client_id(self.ctx.account, row.client_order_id)
            assert fresh is not None
            fresh.exchange_order_id = order.exchange_id
            fresh.trigger_price = order.trigger_price or fresh.trigger_price
            move(fresh, OrderState.OPEN, now, self.ctx.metrics)

    async def cancel_exchange_order(self, order: Order, row: OrderRow | None) -> None:
        try:
            final = await self.ctx.exchange.cancel_order(order)
        except OrderNotFoundError:
            final = None
        except ExchangeError as exc:
            log.warning("cancel_failed", exchange_id=order.exchange_id, error=str(exc))
            return
        if row is not None:
            if final is not None:
                await self._record(row.client_order_id, final)
            else:
                await self._record(row.client_order_id, None, OrderState.CANCELED, "gone from the exchange")

    async def _settle_absent(self, row: OrderRow) -> None:
        """A live row whose order is not resting: an acknowledged one ended, others are looked up."""
        if row.exchange_order_id is not None and row.state == OrderState.OPEN.value:
            await self._record(
                row.client_order_id, None, OrderState.CANCELED, "no longer resting on the exchange"
            )
            return
        found = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
        if found is None:
            await self._record(row.client_order_id, None, OrderState.NOT_SENT, "not on the exchange")
        else:
            await self._record(row.client_order_id, found)

    # ------------------------------------------------------------------ booking

    async def book_close(self, position_pk: int) -> None:
        """The exchange shows no position: book the close from its fills and funding, cancel siblings."""
        ctx = self.ctx
        async with ctx.store.transaction() as tx:
            position = await tx.positions.get(position_pk)
            orders = await tx.orders.for_position(position_pk)
        if position is None or position.status != PositionStatus.OPEN.value:
            return
        since = position.opened_at - FILL_LOOKBACK
        fills = await ctx.exchange.fills_since(position.symbol, since)
        payments = await ctx.exchange.funding_payments_since(symbol=position.symbol, since=position.opened_at)
        for row in orders:
            if row.kind in PROTECTIVE and row.state in LIVE_STATES:
                await self.cancel_leg(row)
        now = ctx.now()
        side = Side(position.side)
        closing = OrderSide.closing(side)
        ours = {row.exchange_order_id: row for row in orders if row.exchange_order_id}
        entry_ids = {row.exchange_order_id for row in orders if row.kind == OrderKind.ENTRY.value}
        # Phemex's trade list carries no order id: an unattributed fill on the opening side from the
        # entry's time on is the entry's. A fill counts once: one already booked by an earlier
        # position is not inserted again and so not counted here.
        earliest = position.opened_at - ENTRY_FILL_TOLERANCE
        entry_fills = [
            f
            for f in fills
            if f.order_id in entry_ids
            or (f.order_id is None and f.side is not closing and f.timestamp >= earliest)
        ]
        opened = min((f.timestamp for f in entry_fills), default=position.opened_at)
        exit_fills = [
            f for f in fills if f.side is closing and f.timestamp >= opened and f.order_id not in entry_ids
        ]
        async with ctx.store.transaction() as tx:
            fresh = await tx.positions.get(position_pk)
            assert fresh is not None
            if fresh.status != PositionStatus.OPEN.value:
                return
            entry_fills = [
                f for f in entry_fills if await tx.fills.add(self._fill_row(f, ours.get(f.order_id or "")))
            ]
            exits = [
                f for f in exit_fills if await tx.fills.add(self._fill_row(f, ours.get(f.order_id or "")))
            ]
            funding = ZERO
            for payment in payments:
                if await tx.funding.add(
                    FundingPaymentRow(
                        account=ctx.account,
                        payment_id=payment.payment_id,
                        position_pk=fresh.id,
                        symbol=payment.symbol,
                        amount=payment.amount,
                        asset=payment.asset,
                        paid_at=payment.timestamp,
                    )
                ):
                    funding += payment.amount
            exit_qty = sum((f.qty for f in exits), ZERO)
            exit_value = sum((f.qty * f.price for f in exits), ZERO)
            fresh.exit_price = exit_value / exit_qty if exit_qty else None
            fresh.realized_pnl = side.sign * (exit_value - exit_qty * fresh.entry_price)
            fresh.fees = sum((f.fee for f in [*entry_fills, *exits]), ZERO)
            fresh.funding = funding
            fresh.status = PositionStatus.CLOSED.value
            fresh.closed_at = max((f.timestamp for f in exits), default=now)
            if exit_qty < fresh.qty:
                self.alerter.raise_alert(
                    AlertKind.UNEXPLAINED_STATE,
                    "position gone from the exchange without fills for all of it (liquidation or manual)",
                    symbol=fresh.symbol,
                    qty=str(fresh.qty),
                    exit_qty=str(exit_qty),
                )
            await ctx.book.record_close(tx, fresh, now)
            await tx.events.append(
                account=ctx.account,
                at=now,
                kind="position.closed",
                signal_id=None,
                data={
                    "symbol": fresh.symbol,
                    "exit_price": str(fresh.exit_price),
                    "realized_pnl": str(fresh.realized_pnl),
                    "fees": str(fresh.fees),
                    "funding": str(fresh.funding),
                },
            )
        log.info(
            "position_closed",
            symbol=fresh.symbol,
            pnl=str(fresh.realized_pnl),
            fees=str(fresh.fees),
            funding=str(fresh.funding),
        )
        crash_point(CrashPoint.FILL_BOOKED)
        if self.on_booked is not None:
            await self.on_booked(fresh)

    def _fill_row(self, fill: Fill, order: OrderRow | None) -> FillRow:
        return FillRow(
            account=self.ctx.account,
            trade_id=fill.trade_id,
            order_pk=order.id if order is not None else None,
            client_order_id=order.client_order_id if order is not None else None,
            exchange_order_id=fill.order_id,
            symbol=fill.symbol,
            side=fill.side.value,
            qty=fill.qty,
            price=fill.price,
            fee=fill.fee,
            fee_asset=fill.fee_asset or "",
            realized_pnl=None,
            executed_at=fill.timestamp,
        )
