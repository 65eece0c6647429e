"""Following positions from first fill to close: limit fills, size changes, closes, the 20/50 rule.

The keeper composes the order legs, the stop protection and the booking; every method expects the
caller to hold the account's execution lock, so exchange writes for one account never interleave.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from decimal import Decimal

from executor.config.settings import ForeignPolicy
from executor.domain.account import AccountSnapshot, Position
from executor.domain.display import price, quantity
from executor.domain.enums import EventKind, OrderKind, PositionStatus, Setup
from executor.domain.market import MarketFilters
from executor.domain.money import ZERO, floor_to_step
from executor.domain.notices import AlertKind, Figure, Notice, NoticeEvent, Severity, Unit
from executor.domain.order_state import OrderState
from executor.domain.orders import Order, OrderType
from executor.domain.signal import Instruction
from executor.execution.alerts import Alerter
from executor.execution.booking import Booking
from executor.execution.context import AccountContext
from executor.execution.fill_risk import assess, describe, slippage
from executor.execution.legs import LIVE_STATES, PROTECTIVE, OrderLegs
from executor.execution.orders import exchange_view
from executor.execution.protection import Protection
from executor.observability.logging import get_logger
from executor.ports.errors import ExchangeError
from executor.ports.exchange import urgent_reads
from executor.risk import OpenPosition, PositionAction, liquidation_violation, position_drawdown_action, trip
from executor.risk.fill import risk_at_stop
from executor.store.models import DecisionRow, OrderRow, PositionRow

log = get_logger("executor.positions")


class PositionKeeper:
    def __init__(self, ctx: AccountContext, alerter: Alerter) -> None:
        self.ctx = ctx
        self.alerter = alerter
        self.legs = OrderLegs(ctx)
        self.protection = Protection(ctx, self.legs, alerter)
        self.booking = Booking(ctx, self.legs, alerter)
        self._liquidation_checked: set[int] = set()
        self._fill_checked: set[int] = set()
        self._ban_alerted: datetime | None = None
        self._tracked_at = float("-inf")
        self._entries_looked: dict[str, float] = {}
        self._attached_stops: dict[str, str] = {}
        """The client id of the stop riding on each resting entry, by the entry's (`entry_placed`)."""
        """When each resting entry was last looked up (monotonic), for the entries loop's fallback cadence."""
        """When (monotonic) the tracker's latest pass completed."""

    async def clear_stale_legs(self, symbol: str, stale: Sequence[OrderRow] | None = None) -> list[OrderRow]:
        """Cancel the legs closed positions left on `symbol` (`stale`, when the caller read them already);
        the legs still resting after it.

        A stale stop or take-profit of an earlier position must never act on a later one, so an entry
        waits for this to come back empty (and the tracker's reconciliation clears symbols in use).
        """
        stuck = []
        for row in await self.legs.stale_on(symbol) if stale is None else stale:
            log.warning("stale_leg_cancel", symbol=symbol, client_id=row.client_order_id, kind=row.kind)
            if not await self.legs.cancel(row):
                stuck.append(row)
        return stuck

    async def open_positions(self) -> Sequence[PositionRow]:
        async with self.ctx.store.read() as tx:
            return await tx.positions.with_status(self.ctx.account, PositionStatus.OPEN)

    async def close_at_market(
        self, position_pk: int, reason: str, *, qty: Decimal | None = None
    ) -> Order | None:
        """Reduce-only market close (of `qty`, default all); the stop stays until it is booked.

        An earlier close that may be live is looked up first, so a close is never sent twice.
        """
        for pending in await self.legs.live(position_pk, (OrderKind.CLOSE,)):
            found = await self.ctx.exchange.fetch_order(pending.symbol, pending.client_order_id)
            if found is None:
                await self.legs.record(
                    pending.client_order_id, None, OrderState.NOT_SENT, "not on the exchange"
                )
                continue
            await self.legs.record(pending.client_order_id, found)
            if found.filled > 0 or found.is_open:
                await self.sync_position(position_pk)
                return found
        position, row = await self.legs.write(position_pk, OrderKind.CLOSE, OrderType.MARKET, qty=qty)
        if position.status is not PositionStatus.OPEN:
            return None
        log.info("closing_position", symbol=position.symbol, reason=reason, client_id=row.client_order_id)
        order = await self.legs.send(
            row,
            lambda: self.ctx.exchange.close_position(
                position.symbol, position.side, row.qty, row.client_order_id
            ),
        )
        if order is not None and order.filled > 0:
            await self.sync_position(position_pk)
        return order

    # ------------------------------------------------------------------ following

    async def track(self) -> None:
        """The tracker loop's pass: the account is read before any lock is taken and each symbol is looked
        at under its own, so a signal never waits behind the tracker's reads or its other symbols.

        Resting entries have a loop of their own (`sync_entries`): the account's reads wait in the throttle
        while its window is over the reads' share (a minute and more on Phemex's testnet budget), and an
        expired entry waited as long for its cancel when this pass looked at it after them.

        While the streams follow the account (`AccountCache.streamed_poll`) a pass runs only every
        `streamed_account_seconds`: the user stream's events make the daemon look at a position at once, so
        the pass is the fallback, and a read a second does not fit the Phemex testnet's budget. A gap or a
        stale stream makes the next tick a pass again."""
        try:
            every = self.ctx.accounts.streamed_poll()
            tick = self.ctx.settings.poll_interval_seconds
            if every is not None and time.monotonic() - self._tracked_at < every - tick / 2:
                return
            await self.sync_positions()
            self._tracked_at = time.monotonic()
        finally:
            self._alert_ban()

    def _alert_ban(self) -> None:
        """Once per ban, as soon as a pass has met it: the exchange refuses every request until it ends."""
        banned = self.ctx.exchange.banned_until
        now = datetime.now(UTC)  # the ban runs on the host's clock
        if banned is None or banned <= now:
            return
        if self._ban_alerted is not None and self._ban_alerted > now:
            return  # the same ban (perhaps extended) was reported already
        self._ban_alerted = banned
        self.alerter.raise_alert(
            AlertKind.EXCHANGE_BANNED,
            "the exchange bans our requests: signals are rejected and orders cannot change until it ends",
            Figure("banned_until", banned.isoformat()),
        )

    async def sync_entries(self) -> None:
        """Each symbol's resting limit entries in its section of the execution lock, judged by the time the
        section began (a wait for it may outlast an expiry). Their lookups and cancels never wait in the
        throttle, so an expired entry is cancelled whatever the account's reads wait for.

        While the streams follow the account (`AccountCache.streamed_poll`) an entry's fill arrives as an
        event, which looks at the entries at once, so this loop looks an entry up only when its expiry is
        due, or as the fallback every `streamed_account_seconds`. A lookup by id weighs 5 of the ~500 units
        a minute ccxt allows Phemex: looked up every second, one resting entry took 60 % of the window."""
        now = self.ctx.now()
        for symbol, entries in sorted(self._by_symbol(await self._resting_entries()).items()):
            due = [(row, signal) for row, signal in entries if self._entry_due(row, signal, now)]
            if not due:
                continue
            with urgent_reads():  # waiting for the section, a cancel due now makes the holder's reads urgent
                async with self.ctx.lock.symbol(symbol):
                    await self.sync_resting_entries(self.ctx.now(), symbol, polled=True)

    def _entry_due(self, row: OrderRow, signal: Instruction, now: datetime) -> bool:
        every = self.ctx.accounts.streamed_poll()
        if every is None or _expired(signal, now):
            return True
        looked = self._entries_looked.get(row.client_order_id, float("-inf"))
        return time.monotonic() - looked >= every

    async def _resting_entries(self, symbol: str | None = None) -> list[tuple[OrderRow, Instruction]]:
        """The open limit entries (on `symbol`, or all) with the signals they carry out."""
        async with self.ctx.store.read() as tx:
            entries = [
                row
                for row in await tx.orders.in_states(self.ctx.account, [OrderState.OPEN])
                if row.kind is OrderKind.ENTRY and symbol in (None, row.symbol)
            ]
            resting = []
            for row in entries:
                stored = await tx.signals.by_pk(row.signal_pk) if row.signal_pk is not None else None
                if stored is not None:
                    resting.append((row, Instruction.from_payload(stored.payload)))
        return resting

    @staticmethod
    def _by_symbol(
        entries: list[tuple[OrderRow, Instruction]],
    ) -> dict[str, list[tuple[OrderRow, Instruction]]]:
        grouped: dict[str, list[tuple[OrderRow, Instruction]]] = {}
        for row, signal in entries:
            grouped.setdefault(row.symbol, []).append((row, signal))
        return grouped

    async def sync_all(self) -> None:
        """Limit entries, then the account and every open position against the exchange."""
        await self.sync_entries()
        await self.sync_positions()

    async def sync_positions(self) -> None:
        """The account and every open position against the exchange, each symbol in its section of the
        execution lock (inside the caller's whole-account section, if it holds one)."""
        account = await self.ctx.accounts.refresh()
        # The day's row and the carried state are the whole account's: rolled under its section, so the
        # breaker's check (also whole-account) and this pass never both start the same trading day.
        await self.ctx.lock.with_account(lambda: self.ctx.book.observe_equity(account.equity, self.ctx.now()))
        self.ctx.metrics.equity.set(float(account.equity))
        positions = await self.open_positions()
        for symbol in sorted({position.symbol for position in positions}):
            async with self.ctx.lock.symbol(symbol):
                for position in await self.open_positions():
                    if position.symbol == symbol:
                        await self.sync_position(position.id, account)

    async def sync_position(self, position_pk: int, account: AccountSnapshot | None = None) -> None:
        """Compare one position with the exchange's (freshly read unless given) and book it if gone."""
        if account is None:
            account = await self.ctx.accounts.refresh()
        async with self.ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
        if position is None or position.status is not PositionStatus.OPEN:
            return
        live = account.position(position.symbol)
        if not self._holds(live, position) or (live is not None and live.qty != position.qty):
            # Missing reports do not mean flat: the snapshot may predate this position or its last
            # change (it was read before the lock), so only a fresh read under the lock may conclude
            # that the position is gone, grew or shrank.
            live = (await self.ctx.accounts.refresh()).position(position.symbol)
        if self._holds(live, position):
            assert live is not None
            if live.qty > position.qty:
                await self._grown(position, live.qty)
            elif live.qty < position.qty:
                await self._resize(position_pk, live.qty)
            await self._check_liquidation(position, live)
            if _past_stop(position, live):
                # Still open beyond its stop: the stop did not act (Binance can reject a stop after it
                # triggers, e.g. a margin check, docs/exchange-facts.md §4). Protection re-places it,
                # or, as the price is past it, closes the position.
                log.warning("position_past_its_stop", symbol=position.symbol, stop=str(position.stop_price))
                await self.ensure_protected(position.id)
                return
            if position.close_requested:
                await self._retry_close(position)
            else:
                await self.check_fill_risk(position_pk)
                await self._position_drawdown(position, live)
            return
        await self.booking.book_close(position_pk)

    @staticmethod
    def _holds(live: Position | None, position: PositionRow) -> bool:
        return live is not None and live.qty > 0 and live.side is position.side

    async def request_close(self, position_pk: int, reason: str) -> None:
        """Record that the position must be closed, so a refused close is retried, not forgotten."""
        async with self.ctx.store.transaction() as tx:
            await tx.positions.request_close(position_pk, reason)

    async def _retry_close(self, position: PositionRow) -> None:
        banned = self.ctx.exchange.banned_until
        if banned is not None and banned > datetime.now(UTC):  # the ban runs on the host's clock
            return
        if not await self.legs.live(position.id, (OrderKind.CLOSE,)):
            await self.close_at_market(position.id, position.close_requested or "close requested")

    async def _check_liquidation(self, position: PositionRow, live: Position) -> None:
        """Once per position and run: the exchange's own liquidation price against the same rules."""
        if position.id in self._liquidation_checked or position.stop_price is None:
            return
        self._liquidation_checked.add(position.id)
        filters = await self.filters(position.symbol)
        problem = liquidation_violation(
            position.side,
            position.entry_price,
            position.stop_price,
            live.liquidation_price,
            self.ctx.profile.liquidation,
            tick=filters.price_tick if filters is not None else None,
        )
        if problem is not None:
            figures = [Figure("entry_price", position.entry_price, Unit.PRICE)]
            figures.append(Figure("stop_price", position.stop_price, Unit.PRICE))
            if live.liquidation_price is not None:
                figures.append(Figure("liquidation_price", live.liquidation_price, Unit.PRICE))
            self.alerter.raise_alert(
                AlertKind.LIQUIDATION_TOO_CLOSE,
                f"exchange liquidation price breaks the safety rules: {problem}",
                *figures,
                symbol=position.symbol,
                filters=filters,
            )

    async def filters(self, symbol: str) -> MarketFilters | None:
        """The market's grid for an alert's numbers, from the adapter's cached markets; unreadable, the
        numbers show as given and the alert still goes out."""
        try:
            market = (await self.ctx.exchange.markets()).get(symbol)
        except ExchangeError as exc:
            log.warning("alert_market_unknown", symbol=symbol, error=str(exc))
            return None
        return market.filters if market is not None else None

    async def _position_drawdown(self, position: PositionRow, live: Position) -> None:
        """The 20/50 rule (off by default): halve at 20 % of margin lost, close at 50 %."""
        config = self.ctx.profile.position_drawdown
        if not config.enabled or live.mark_price is None or position.stop_price is None:
            return
        legs = await self.legs.live(position.id, (OrderKind.CLOSE,))
        if legs:
            return
        async with self.ctx.store.read() as tx:
            reduced = any(
                row.kind is OrderKind.CLOSE and row.filled_qty > 0
                for row in await tx.orders.for_position(position.id)
            )
        verdict = position_drawdown_action(
            OpenPosition(
                symbol=position.symbol,
                side=position.side,
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

    async def _grown(self, position: PositionRow, qty: Decimal) -> None:
        """More on the exchange than the daemon bought: protect all of it, then report (and halt)."""
        filters = await self.filters(position.symbol)
        grown = f"{quantity(position.qty, filters)} to {quantity(qty, filters)}"
        message = f"{position.symbol} grew from {grown} outside the daemon"
        await self._resize(position.id, qty)
        await self.ensure_protected(position.id)
        self.alerter.raise_alert(
            AlertKind.FOREIGN_POSITION,
            message,
            Figure("qty", qty, Unit.QTY),
            symbol=position.symbol,
            filters=filters,
        )
        if self.ctx.settings.on_foreign_position is ForeignPolicy.HALT:
            now = self.ctx.now()
            reason = f"unexplained position: {message}"
            async with self.ctx.store.transaction() as tx:
                await self.ctx.book.set_breaker(
                    tx, lambda state: trip(state, now, reason), now, tripped_at=now, trip_reason=reason
                )

    async def _resize(self, position_pk: int, qty: Decimal) -> None:
        async with self.ctx.store.transaction() as tx:
            await tx.positions.resize(position_pk, qty)

    async def sync_resting_entries(
        self,
        now: datetime,
        symbol: str | None = None,
        *,
        polled: bool = False,
        named: Collection[str] | None = None,
    ) -> None:
        """Limit entries (on `symbol`, or all): the first fill opens the position; expiry cancels the rest.
        `polled` (the entries loop): only the entries due a look (`_entry_due`). `named` (the user stream):
        only the entries with these client ids, those its events report filled or ended; each lookup weighs
        5 units of Phemex's window, so an event must not cost a lookup of every resting entry."""
        looked = set(self._entries_looked)
        for row, signal in await self._resting_entries(symbol):
            if (polled and not self._entry_due(row, signal, now)) or (
                named is not None and row.client_order_id not in named
            ):
                continue
            looked.discard(row.client_order_id)
            if _expired(signal, now) and row.exchange_order_id is not None:
                order = await self._cancel_expired(exchange_view(row))
            else:
                order = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
                if order is not None and order.is_open and _expired(signal, now):
                    order = await self._cancel_expired(order)
            self._entries_looked[row.client_order_id] = time.monotonic()
            if order is not None:
                await self._entry_progress(row, signal, order)
        if symbol is None and named is None:  # every resting entry was seen: forget those no longer resting
            for client_id in looked:
                del self._entries_looked[client_id]

    async def _cancel_expired(self, order: Order) -> Order | None:
        """An expired entry cancelled, as the cancel's read-back reports it (filled meanwhile, or not);
        with no lookup before it: the read-back says all a lookup would (5 units of Phemex's window
        each). None when the cancel failed or the exchange does not know the order: looked at again on
        the next pass, and reconciliation settles an order the exchange lost."""
        try:
            return await self.ctx.exchange.cancel_order(order)
        except ExchangeError as exc:
            log.warning("entry_expiry_cancel_failed", client_id=order.client_id, error=str(exc))
            return None

    def entry_placed(self, client_id: str, attached_stop: str | None = None) -> None:
        """A resting entry's placement answer is a fresh look at it: the entries loop's fallback lookup
        (`_entry_due`) counts from there rather than looking it up on its next tick. `attached_stop`: the
        client id of a stop that rides on the entry, sent under no id of its own (kept in memory: after a
        restart such a row is looked up, as any other)."""
        self._entries_looked[client_id] = time.monotonic()
        if attached_stop is not None:
            self._attached_stops[client_id] = attached_stop

    async def _entry_progress(self, row: OrderRow, signal: Instruction, order: Order) -> None:
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            entry = await tx.orders.record(self.ctx.account, row.client_order_id, order, now)
        if order.filled > 0:
            self._attached_stops.pop(row.client_order_id, None)  # armed now: a stop of the position
            await self.adopt_filled_entry(entry, signal, order)
        elif order.status.is_final:
            attached = self._attached_stops.pop(row.client_order_id, None)
            for sibling in await self._live_siblings(entry):
                if sibling.client_order_id == attached and sibling.exchange_order_id is None:
                    note = "attached to an entry that ended unfilled"
                    await self.legs.record(sibling.client_order_id, None, OrderState.NOT_SENT, note)
                else:
                    await self.legs.cancel(sibling)

    async def cancel_entry(self, row: OrderRow) -> None:
        """Cancel a resting entry; what it filled meanwhile becomes a protected position, or else its
        stop and take-profit go with it."""
        self._attached_stops.pop(row.client_order_id, None)
        await self.legs.cancel(row)
        async with self.ctx.store.read() as tx:
            cancelled = await tx.orders.by_client_id(self.ctx.account, row.client_order_id)
            stored = await tx.signals.by_pk(row.signal_pk) if row.signal_pk is not None else None
        assert cancelled is not None
        if cancelled.filled_qty > 0 and stored is not None:
            order = await self.ctx.exchange.fetch_order(cancelled.symbol, cancelled.client_order_id)
            if order is not None:
                await self.adopt_filled_entry(cancelled, Instruction.from_payload(stored.payload), order)
            return
        for sibling in await self._live_siblings(cancelled):
            await self.legs.cancel(sibling)

    async def _live_siblings(self, entry: OrderRow) -> list[OrderRow]:
        if entry.signal_pk is None:
            return []
        async with self.ctx.store.read() as tx:
            rows = await tx.orders.for_signal(entry.signal_pk)
        return [row for row in rows if row.kind in PROTECTIVE and row.state in LIVE_STATES]

    async def ensure_protected(self, position_pk: int) -> None:
        """Exactly one resting stop, or the position is closed at market with an alert (RISK_SPEC §0).

        The close is recorded as requested before it is sent: one the exchange refuses (Binance -4131, its
        price band; -4118) is sent again on every tracker pass until the position is flat."""
        if await self.protection.ensure(position_pk):
            return
        async with self.ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
        symbol = position.symbol if position is not None else "?"
        self.alerter.raise_alert(
            AlertKind.STOP_NOT_PLACED, "position without a stop; closing it", symbol=symbol
        )
        if position is not None and not position.close_requested:
            await self.request_close(position_pk, "stop could not be placed")
        await self.close_at_market(position_pk, "stop could not be placed")

    async def adopt_filled_entry(self, entry: OrderRow, signal: Instruction, order: Order) -> int | None:
        """The position of an entry that filled out of the signal path (a limit fill, a restart)."""
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            current = await tx.orders.by_client_id(self.ctx.account, entry.client_order_id)
            assert current is not None
            signal_pk = current.signal_pk
            decision = await tx.decisions.for_signal(signal_pk) if signal_pk is not None else None
            if current.position_pk is None and decision is not None and decision.stop is not None:
                account = self.ctx.accounts.latest
                slipped = slippage(decision, decision.side, order.average_price)
                entry_price = order.average_price or current.price or decision.entry or ZERO
                taker_fee = decision_taker_fee(decision, self.ctx.profile.taker_fee)
                position = await tx.positions.add(
                    PositionRow(
                        account=self.ctx.account,
                        signal_pk=signal_pk,
                        symbol=current.symbol,
                        side=decision.side,
                        status=PositionStatus.OPEN,
                        qty=order.filled,
                        entry_price=entry_price,
                        stop_price=decision.stop,
                        take_profit=decision.take_profit,
                        leverage=decision.leverage or 1,
                        setup=signal.setup or Setup.PRIMARY,
                        equity_before=account.equity if account is not None else None,
                        risk_at_entry=risk_at_stop(
                            decision.side, order.filled, entry_price, decision.stop, taker_fee
                        ),
                        exit_price=None,
                        slippage_allowed=slipped.allowed,
                        slippage=slipped.actual,
                        opened_at=order.timestamp or now,
                        closed_at=None,
                    )
                )
                await tx.orders.attach(self.ctx.account, entry.client_order_id, position.id, PROTECTIVE)
                await tx.events.append(
                    account=self.ctx.account,
                    at=now,
                    kind=EventKind.POSITION_OPENED,
                    signal_id=signal.id,
                    data={"symbol": position.symbol, "side": position.side, "qty": str(position.qty)},
                )
                opened: PositionRow | None = position
            else:
                opened = None
            position_pk = current.position_pk
        if opened is not None:
            self.alerter.notify(entry_filled(opened, decision))
        if position_pk is not None:
            await self.ensure_protected(position_pk)
            await self.check_fill_risk(position_pk)
        return position_pk

    async def check_fill_risk(self, position_pk: int) -> None:
        """RISK_SPEC 2.5 after the fill: risk at the stop above R × (1 + tolerance) closes the excess at once.

        Runs after the stop rests for the whole fill, so the reduce-only close only ever leaves a stop
        covering more than the position. Once settled for a position in this run it is not looked at again;
        the tracker calls it on every pass until then, so a reduce refused, or cut short by a crash or a
        restart, is tried again, while a close of the position that filled or may still fill (this one,
        the 20/50 rule's) means it was reduced already and nothing is sent twice.
        """
        if position_pk in self._fill_checked:
            return
        async with self.ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
            signal_pk = position.signal_pk if position is not None else None
            decision = await tx.decisions.for_signal(signal_pk) if signal_pk is not None else None
            legs = await tx.orders.for_position(position_pk)
        closes = [row for row in legs if row.kind is OrderKind.CLOSE]
        entry_filled = sum((row.filled_qty for row in legs if row.kind is OrderKind.ENTRY), ZERO)
        if any(row.state in LIVE_STATES for row in closes):
            return  # its outcome is being settled; the next pass looks again
        if (
            position is None
            or position.status is not PositionStatus.OPEN
            or position.close_requested
            or decision is None
            or any(row.filled_qty > 0 for row in closes)
        ):
            self._fill_checked.add(position_pk)
            return
        # The entry's own fill: a position grown by hand beyond it is reported by `_grown`, not cut here.
        filled = min(position.qty, entry_filled) if entry_filled > 0 else position.qty
        market = (await self.ctx.exchange.markets()).get(position.symbol)
        check = assess(position, filled, decision, market, self.ctx.profile)
        if check is None or check.excess_qty == 0:
            self._fill_checked.add(position_pk)
            return
        filters = market.filters if market is not None else None
        message = describe(position, decision, check, filters)
        if not closes:  # the first attempt: said once, however often it is retried
            async with self.ctx.store.transaction() as tx:
                signal = await tx.signals.by_pk(signal_pk) if signal_pk is not None else None
                await tx.events.append(
                    account=self.ctx.account,
                    at=self.ctx.now(),
                    kind=EventKind.POSITION_REDUCED,
                    signal_id=signal.signal_id if signal is not None else None,
                    data={
                        "symbol": position.symbol,
                        "fill_price": str(position.entry_price),
                        "reference_price": str(decision.entry),
                        "stop": str(decision.stop),
                        "risk": str(check.risk),
                        "risk_budget": str(decision.risk_budget),
                        "limit": str(check.limit),
                        "filled_qty": str(filled),
                        "excess_qty": str(check.excess_qty),
                    },
                )
            self.alerter.raise_alert(
                AlertKind.FILL_RISK_EXCEEDED,
                message,
                Figure("risk", check.risk, Unit.MONEY),
                Figure("limit", check.limit, Unit.MONEY),
                Figure("excess_qty", check.excess_qty, Unit.QTY),
                symbol=position.symbol,
                filters=filters,
            )
        order = await self.close_at_market(position_pk, f"fill risk over R: {message}", qty=check.excess_qty)
        if order is not None and order.filled > 0:
            self._fill_checked.add(position_pk)
            await self.protection.fit_stop(position_pk)


def _past_stop(position: PositionRow, live: Position) -> bool:
    """The mark is at or beyond the position's stop price (a long's at or below it, a short's at or above)."""
    if position.stop_price is None or live.mark_price is None:
        return False
    return (live.mark_price - position.stop_price) * position.side.sign <= 0


def decision_taker_fee(decision: DecisionRow, default: Decimal) -> Decimal:
    """The taker fee rate the decision sized with (its `data` step records it), else the profile's."""
    for step in decision.steps:
        if isinstance(step, dict) and step.get("step") == "data":
            fee = (step.get("after") or {}).get("taker_fee")
            if fee is not None:
                return Decimal(str(fee))
    return default


def entry_filled(position: PositionRow, decision: DecisionRow | None) -> Notice:
    """Size, entry, stop, the risk the fill took (the loss at the stop with fees in and out), leverage."""
    figures = [
        Figure("side", position.side.value),
        Figure("quantity", position.qty, Unit.QTY),
        Figure("entry", position.entry_price, Unit.PRICE),
    ]
    if position.stop_price is not None:
        figures.append(Figure("stop", position.stop_price, Unit.PRICE))
    if position.risk_at_entry is not None:
        figures.append(Figure("risk", position.risk_at_entry, Unit.MONEY))
    if decision is not None and decision.risk_pct is not None:
        figures.append(Figure("risk of equity", decision.risk_pct, Unit.PERCENT))
    if position.take_profit is not None:
        figures.append(Figure("take profit", position.take_profit, Unit.PRICE))
    figures.append(Figure("leverage", f"{position.leverage}x"))
    return Notice(
        NoticeEvent.ENTRY_FILLED,
        f"entry filled: {position.side.value} {position.symbol}",
        symbol=position.symbol,
        figures=tuple(figures),
        severity=Severity.SUCCESS,
    )


def _expired(signal: Instruction, now: datetime) -> bool:
    return signal.expires_at is not None and now >= signal.expires_at


def describe_legs(rows: Sequence[OrderRow], filters: MarketFilters | None) -> str:
    """`stop sell 14 trigger 145.00 (client id)`, one per leg: what still rests, on the market's grid."""
    described = []
    for row in rows:
        words = f"{row.kind.value} {row.side.value} {quantity(row.qty, filters)}"
        if row.trigger_price is not None:
            words += f" trigger {price(row.trigger_price, filters)}"
        if row.price is not None:
            words += f" at {price(row.price, filters)}"
        described.append(f"{words} ({row.client_order_id})")
    return "; ".join(described)
