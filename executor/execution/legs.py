"""The order legs of a position (stop, take-profit, close): written ahead, sent once, settled by lookup.

Every method expects the caller to hold the account's execution lock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal

from executor.domain.client_ids import client_order_id
from executor.domain.enums import OrderKind
from executor.domain.order_state import OrderState
from executor.domain.orders import Order, OrderSide, OrderType
from executor.execution.context import AccountContext
from executor.execution.orders import exchange_view, intent
from executor.observability.logging import get_logger
from executor.ports.errors import ErrorClass, ExchangeError, OrderNotFoundError
from executor.store.models import OrderRow, PositionRow
from executor.store.repositories import Repositories

log = get_logger("executor.legs")

LIVE_STATES = (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)
PROTECTIVE = (OrderKind.STOP, OrderKind.TAKE_PROFIT)


class OrderLegs:
    def __init__(self, ctx: AccountContext) -> None:
        self.ctx = ctx

    async def _signal_id(self, tx: Repositories, position: PositionRow) -> str:
        if position.signal_pk is not None:
            signal = await tx.signals.by_pk(position.signal_pk)
            if signal is not None:
                return signal.signal_id
        return f"position-{position.id}"

    async def _next_client_id(self, tx: Repositories, position: PositionRow, kind: OrderKind) -> str:
        """The next client id of this leg: successive stops and closes of a position never share one."""
        signal_id = await self._signal_id(tx, position)
        taken = {row.client_order_id for row in await tx.orders.for_position(position.id)}
        for sequence in range(1000):
            candidate = client_order_id(signal_id, kind, sequence)
            if candidate not in taken and await tx.orders.by_client_id(self.ctx.account, candidate) is None:
                return candidate
        raise RuntimeError(f"position {position.id} ran out of {kind.value} client ids")

    async def write(
        self,
        position_pk: int,
        kind: OrderKind,
        order_type: OrderType,
        *,
        qty: Decimal | None = None,
        trigger_price: Decimal | None = None,
    ) -> tuple[PositionRow, OrderRow]:
        """The PENDING row of a new leg, committed before its request may leave."""
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            position = await tx.positions.get(position_pk)
            assert position is not None
            row = intent(
                account=self.ctx.account,
                client_id=await self._next_client_id(tx, position, kind),
                kind=kind,
                symbol=position.symbol,
                side=OrderSide.closing(position.side),
                order_type=order_type,
                qty=qty if qty is not None else position.qty,
                trigger_price=trigger_price,
                signal_pk=position.signal_pk,
                position_pk=position.id,
                now=now,
            )
            await tx.orders.add(row)
        return position, row

    async def record(
        self, client_id: str, order: Order | None, state: OrderState | None = None, note: str = ""
    ) -> None:
        """Store what the exchange said of an order, or a state the daemon settled on."""
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            if order is not None:
                await tx.orders.record(self.ctx.account, client_id, order, now)
            elif state is not None:
                await tx.orders.move(self.ctx.account, client_id, state, now, note)

    async def send(self, row: OrderRow, request: Callable[[], Awaitable[Order]]) -> Order | None:
        """Send a written leg; a failure leaves it UNKNOWN (ambiguous) or REJECTED, never silently PENDING."""
        try:
            order = await request()
        except ExchangeError as exc:
            state = OrderState.UNKNOWN if exc.error_class is ErrorClass.AMBIGUOUS else OrderState.REJECTED
            await self.record(row.client_order_id, None, state, str(exc))
            log.warning("order_leg_failed", kind=row.kind, client_id=row.client_order_id, error=str(exc))
            return None
        await self.record(row.client_order_id, order)
        return order

    async def stale_on(self, symbol: str) -> list[OrderRow]:
        """Legs on `symbol` the exchange may still hold although their position is closed.

        Left behind when a cancel failed at the close: exchanges keep GTC reduce-only stops and
        take-profits after the position is flat, and they then act on the next position on the symbol.
        """
        async with self.ctx.store.read() as tx:
            return await self.stale_in(tx, symbol)

    async def stale_in(self, tx: Repositories, symbol: str) -> list[OrderRow]:
        """`stale_on` in the caller's transaction (the signal path reads them with its decision)."""
        return list(await tx.orders.legs_of_ended_positions(self.ctx.account, symbol, LIVE_STATES))

    async def live(self, position_pk: int, kinds: Sequence[OrderKind] = PROTECTIVE) -> list[OrderRow]:
        """The position's legs of these kinds that the exchange may still hold."""
        async with self.ctx.store.read() as tx:
            rows = await tx.orders.for_position(position_pk)
        return [row for row in rows if row.kind in kinds and row.state in LIVE_STATES]

    async def cancel(self, row: OrderRow) -> bool:
        """Cancel a leg we wrote; True once it no longer rests (one never received is settled as not sent)."""
        if row.exchange_order_id is None:
            found = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
            if found is None:
                await self.record(row.client_order_id, None, OrderState.NOT_SENT, "not on the exchange")
                return True
            if not found.is_open:
                await self.record(row.client_order_id, found)
                return True
            row.exchange_order_id = found.exchange_id
        try:
            order = await self.ctx.exchange.cancel_order(exchange_view(row))
        except OrderNotFoundError:
            await self.record(row.client_order_id, None, OrderState.CANCELED, "gone from the exchange")
            return True
        except ExchangeError as exc:
            log.warning("cancel_failed", client_id=row.client_order_id, error=str(exc))
            return False
        await self.record(row.client_order_id, order)
        return not order.is_open

    async def cancel_exchange_order(self, order: Order, row: OrderRow | None) -> None:
        """Cancel an order as the exchange lists it (it may have no client id of ours)."""
        try:
            final = await self.ctx.exchange.cancel_order(order)
        except OrderNotFoundError:
            final = None
        except ExchangeError as exc:
            log.warning("cancel_failed", exchange_id=order.exchange_id, error=str(exc))
            return
        if row is not None:
            if final is not None:
                await self.record(row.client_order_id, final)
            else:
                await self.record(row.client_order_id, None, OrderState.CANCELED, "gone from the exchange")

    async def settle_absent(self, row: OrderRow) -> None:
        """A live row whose order is not resting: looked up by its client id to learn how it ended.

        An acknowledged order the lookup cannot find (Phemex's attached stop has no client id of
        ours) simply ended; an unacknowledged one was never placed.
        """
        found = await self.ctx.exchange.fetch_order(row.symbol, row.client_order_id)
        if found is not None:
            await self.record(row.client_order_id, found)
        elif row.exchange_order_id is not None and row.state is OrderState.OPEN:
            await self.record(
                row.client_order_id, None, OrderState.CANCELED, "no longer resting on the exchange"
            )
        else:
            await self.record(row.client_order_id, None, OrderState.NOT_SENT, "not on the exchange")
