"""Exactly one resting exchange-side stop per position, judged by the exchange's own open orders.

Every method expects the caller to hold the account's execution lock.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

from executor.domain.client_ids import parse_client_order_id
from executor.domain.enums import EventKind, OrderKind, PositionStatus
from executor.domain.notices import Figure, Notice, NoticeEvent, Unit
from executor.domain.order_state import OrderState
from executor.domain.orders import Order, OrderSide, OrderType
from executor.execution.alerts import Alerter
from executor.execution.context import AccountContext
from executor.execution.legs import LIVE_STATES, OrderLegs
from executor.observability.logging import get_logger
from executor.store.models import OrderRow

log = get_logger("executor.protection")


class Protection:
    def __init__(self, ctx: AccountContext, legs: OrderLegs, alerter: Alerter) -> None:
        self.ctx = ctx
        self.legs = legs
        self.alerter = alerter

    async def place_stop(self, position_pk: int, trigger_price: Decimal) -> Order | None:
        position, row = await self.legs.write(
            position_pk, OrderKind.STOP, OrderType.STOP_MARKET, trigger_price=trigger_price
        )
        return await self.legs.send(
            row,
            lambda: self.ctx.exchange.place_stop(
                position.symbol, position.side, position.qty, trigger_price, row.client_order_id
            ),
        )

    async def place_take_profit(self, position_pk: int, client_id: str) -> Order | None:
        async with self.ctx.store.read() as tx:
            row = await tx.orders.by_client_id(self.ctx.account, client_id)
            position = await tx.positions.get(position_pk)
        assert row is not None and position is not None and row.trigger_price is not None
        trigger = row.trigger_price
        return await self.legs.send(
            row,
            lambda: self.ctx.exchange.place_take_profit(
                position.symbol, position.side, position.qty, trigger, client_id
            ),
        )

    async def move_stop(self, position_pk: int, trigger_price: Decimal, signal_id: str) -> str:
        """Replace the stop: the new one rests before the old one is cancelled."""
        old_rows = [
            row
            for row in await self.legs.live(position_pk, (OrderKind.STOP,))
            if row.state is OrderState.OPEN
        ]
        new = await self.place_stop(position_pk, trigger_price)
        if new is None or not new.is_open:
            return f"new stop at {trigger_price} not placed; the old stop stays"
        lingering = [old.client_order_id for old in old_rows if not await self.legs.cancel(old)]
        async with self.ctx.store.transaction() as tx:
            position, previous = await tx.positions.move_stop(position_pk, trigger_price)
            await tx.events.append(
                account=self.ctx.account,
                at=self.ctx.now(),
                kind=EventKind.STOP_MOVED,
                signal_id=signal_id,
                data={
                    "symbol": position.symbol,
                    "from": str(previous),
                    "to": str(trigger_price),
                    # the orders this signal placed or cancelled, which `executor explain` lists
                    "orders": [new.client_id, *(old.client_order_id for old in old_rows)],
                },
            )
        self.alerter.notify(
            Notice(
                NoticeEvent.STOP_MOVED,
                f"stop moved on the {position.side.value} position",
                symbol=position.symbol,
                figures=(
                    Figure("from", previous, Unit.PRICE) if previous is not None else Figure("from", "none"),
                    Figure("to", trigger_price, Unit.PRICE),
                    Figure("quantity", position.qty, Unit.QTY),
                ),
            )
        )
        if lingering:
            return (
                f"stop moved from {previous} to {trigger_price}; the old stop could not be cancelled yet "
                "(reconciliation keeps the new one and cancels it)"
            )
        return f"stop moved from {previous} to {trigger_price}"

    async def fit_stop(self, position_pk: int) -> None:
        """After the position shrank: a stop for exactly what is left, resting before the larger one goes.

        At no moment does less than the position have a stop; if the new one cannot be placed, or the
        larger one not cancelled, the larger one (reduce-only, so it never opens) still covers it all.
        """
        async with self.ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
        if position is None or position.status is not PositionStatus.OPEN or position.stop_price is None:
            return
        larger = [
            row
            for row in await self.legs.live(position_pk, (OrderKind.STOP,))
            if row.state is OrderState.OPEN and row.qty != position.qty
        ]
        if not larger:
            return
        new = await self.place_stop(position_pk, position.stop_price)
        if new is None or not new.is_open:
            log.warning("stop_not_fitted", symbol=position.symbol, qty=str(position.qty))
            return
        for row in larger:
            await self.legs.cancel(row)

    async def ensure(self, position_pk: int) -> bool:  # noqa: C901 - one pass from what rests to exactly one stop; split, its safety argument would be spread
        """True when exactly one stop rests afterwards (adopted, extras of ours cancelled, or placed), or one
        that no longer rests is still reported open (fired, executing).

        A resting stop is adopted even without a client id of ours (Phemex's attached stop); False means
        none could be placed and the caller must close the position (RISK_SPEC §0).
        """
        async with self.ctx.store.read() as tx:
            position = await tx.positions.get(position_pk)
            rows = [row for row in await tx.orders.for_position(position_pk) if row.kind is OrderKind.STOP]
        if position is None or position.status is not PositionStatus.OPEN:
            return True
        closing = OrderSide.closing(position.side)
        resting = [
            order
            for order in await self.ctx.exchange.open_orders(position.symbol)
            if order.conditional and order.type is OrderType.STOP_MARKET and order.side is closing
        ]
        by_exchange_id = {row.exchange_order_id: row for row in rows if row.exchange_order_id}
        by_client_id = {row.client_order_id: row for row in rows}

        def row_of(order: Order) -> OrderRow | None:
            return by_exchange_id.get(order.exchange_id) or by_client_id.get(order.client_id or "")

        covering = [order for order in resting if order.qty >= position.qty]
        if not covering:
            # None rests, or only stops for less than the position (it grew): a whole one goes in first.
            resting_ids = {order.exchange_id for order in resting}
            for row in rows:
                if row.state in LIVE_STATES and row.exchange_order_id not in resting_ids:
                    await self.legs.settle_absent(row)
            if working := [
                row
                for row in await self.legs.live(position_pk, (OrderKind.STOP,))
                if row.state is OrderState.OPEN and row.exchange_order_id not in resting_ids
            ]:
                # Not resting, yet its lookup says open: fired and on its way to the matching engine
                # (Binance algo TRIGGERING). Working, not missing: another stop would be sent twice.
                log.warning("stop_triggering", symbol=position.symbol, client_id=working[0].client_order_id)
                return True
            live = (await self.ctx.accounts.refresh()).position(position.symbol)
            if live is None or live.qty == 0:
                return True  # the stop already fired (a gap right after the entry): nothing to guard
            assert position.stop_price is not None
            placed = await self.place_stop(position_pk, position.stop_price)
            if placed is None or not placed.is_open:
                return False
            resting, covering = [placed, *resting], [placed]
            stop_rows = await self.legs.live(position_pk, (OrderKind.STOP,))
            rows = list({row.client_order_id: row for row in [*rows, *stop_rows]}.values())
            by_client_id = {row.client_order_id: row for row in rows}
            by_exchange_id = {row.exchange_order_id: row for row in rows if row.exchange_order_id}
        keep = self._keeper_of(covering, position.stop_price, row_of)
        kept_row = await self._adopt(position_pk, keep, row_of(keep))
        for extra in resting:
            if extra is keep:
                continue
            if extra.client_id and parse_client_order_id(extra.client_id) is None:
                log.warning("foreign_stop_left_alone", client_id=extra.client_id, symbol=position.symbol)
                continue
            await self.legs.cancel_exchange_order(extra, row_of(extra))
        resting_ids = {order.exchange_id for order in resting}
        for row in rows:
            if (
                row.state in LIVE_STATES
                and row.exchange_order_id not in resting_ids
                and row.client_order_id != kept_row
            ):
                await self.legs.settle_absent(row)
        return True

    @staticmethod
    def _keeper_of(
        resting: list[Order], stop_price: Decimal | None, row_of: Callable[[Order], OrderRow | None]
    ) -> Order:
        """The stop to keep: the one at the position's stop price, else our newest, else the first."""
        at_price = [
            order for order in resting if stop_price is not None and order.trigger_price == stop_price
        ]
        if at_price:
            return at_price[0]

        def sequence(order: Order) -> int:
            parts = parse_client_order_id(order.client_id)
            return parts.sequence if parts is not None else -1

        ours = [order for order in resting if row_of(order) is not None]
        return max(ours, key=sequence) if ours else resting[0]

    async def _adopt(self, position_pk: int, order: Order, row: OrderRow | None) -> str:
        """Record a resting stop on its row, the position's unacknowledged stop row, or a new row."""
        if row is None:
            live = await self.legs.live(position_pk, (OrderKind.STOP,))
            row = next((r for r in live if r.exchange_order_id is None), None)
        if row is None:
            _, row = await self.legs.write(
                position_pk, OrderKind.STOP, OrderType.STOP_MARKET, trigger_price=order.trigger_price
            )
        async with self.ctx.store.transaction() as tx:
            await tx.orders.adopt(self.ctx.account, row.client_order_id, order, self.ctx.now())
        return row.client_order_id
