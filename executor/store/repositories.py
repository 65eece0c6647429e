"""Repositories: the queries the daemon needs, one class per table, all inside one session."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, and_, cast, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from executor.domain.enums import (
    BreakerStatus,
    EventKind,
    OrderKind,
    PositionStatus,
    SignalSource,
    SignalStatus,
)
from executor.domain.order_state import FAILURE_STATES, OrderState, advance, reported_state
from executor.domain.orders import Order
from executor.domain.reasons import ReasonCode
from executor.store.models import (
    ControlRow,
    DailyLossRow,
    DecisionRow,
    EventRow,
    FillRow,
    FundingPaymentRow,
    OrderRow,
    PositionRow,
    RejectedSignalRow,
    RiskStateRow,
    SignalRow,
)

OrderObserver = Callable[[OrderKind, OrderState], None]
"""Told the kind and new state of every order state change the store makes (the daemon's metrics)."""


class _Repository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def _insert_unique(self, row: Any) -> bool:
        """Insert unless a unique key already holds it; False means the row was there already."""
        try:
            async with self.session.begin_nested():
                self.session.add(row)
                await self.session.flush()
        except IntegrityError:
            return False
        return True


class SignalRepository(_Repository):
    async def store(
        self,
        *,
        account: str,
        signal_id: str,
        source: SignalSource,
        payload: dict[str, Any],
        received_at: datetime,
    ) -> tuple[SignalRow, bool]:
        """Store a signal once; a second arrival of the same id returns the first row and True.

        One `INSERT … ON CONFLICT DO NOTHING RETURNING id` (SQLite and PostgreSQL alike): the arrival path's
        write, without the savepoint and the ORM flush an insert-unless-present otherwise takes."""
        values: dict[str, Any] = {
            "account": account,
            "signal_id": signal_id,
            "source": source,
            "payload": payload,
            "status": SignalStatus.QUEUED,
            "received_at": received_at,
        }
        dialect = postgresql if self.session.get_bind().dialect.name == "postgresql" else sqlite
        table = SignalRow.__table__
        pk = await self.session.scalar(
            dialect.insert(table)
            .values(values)
            .on_conflict_do_nothing(index_elements=[table.c.account, table.c.signal_id])
            .returning(table.c.id)
        )
        if pk is not None:
            return SignalRow(id=pk, error=None, decided_at=None, **values), False
        existing = await self.get(account, signal_id)
        assert existing is not None
        return existing, True

    async def get(self, account: str, signal_id: str) -> SignalRow | None:
        return await self.session.scalar(
            select(SignalRow).where(SignalRow.account == account, SignalRow.signal_id == signal_id)
        )

    async def by_pk(self, signal_pk: int) -> SignalRow | None:
        return await self.session.get(SignalRow, signal_pk)

    async def queued(self, account: str, limit: int = 100) -> Sequence[SignalRow]:
        result = await self.session.scalars(
            select(SignalRow)
            .where(SignalRow.account == account, SignalRow.status == SignalStatus.QUEUED)
            .order_by(SignalRow.id)
            .limit(limit)
        )
        return result.all()

    async def settle(
        self, signal_pk: int, status: SignalStatus, at: datetime, error: str | None = None
    ) -> bool:
        """Settle a queued signal as decided or failed, once: False when it was no longer queued.

        One conditional UPDATE, so two deciders can never both settle it (on PostgreSQL the row stays
        locked until the caller's transaction ends).
        """
        assert status is not SignalStatus.QUEUED
        result = await self.session.execute(
            update(SignalRow)
            .where(SignalRow.id == signal_pk, SignalRow.status == SignalStatus.QUEUED)
            .values(status=status, decided_at=at, error=error)
            .execution_options(synchronize_session="fetch")
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def with_outcome(
        self,
        account: str,
        *,
        since: datetime | None = None,
        status: SignalStatus | None = None,
        reason: ReasonCode | None = None,
        limit: int = 100,
    ) -> Sequence[tuple[SignalRow, DecisionRow | None]]:
        """The newest signals first, each with its decision (None before it is decided, or for a close or
        move_stop, which are carried out without one); `reason` keeps only decisions refused with it."""
        query = (
            select(SignalRow, DecisionRow)
            .outerjoin(DecisionRow, DecisionRow.signal_pk == SignalRow.id)
            .where(SignalRow.account == account)
        )
        if since is not None:
            query = query.where(SignalRow.received_at >= since)
        if status is not None:
            query = query.where(SignalRow.status == status)
        if reason is not None:
            query = query.where(DecisionRow.reason == reason)
        result = await self.session.execute(query.order_by(SignalRow.id.desc()).limit(limit))
        return [(signal, decision) for signal, decision in result]


class RejectedSignalRepository(_Repository):
    MAX_RAW = 65536

    async def add(
        self,
        *,
        account: str,
        source: SignalSource,
        raw: str,
        errors: list[Any],
        received_at: datetime,
        signal_id: str | None = None,
    ) -> RejectedSignalRow:
        row = RejectedSignalRow(
            account=account,
            source=source,
            signal_id=signal_id,
            raw=raw[: self.MAX_RAW],
            errors=errors,
            received_at=received_at,
        )
        self.session.add(row)
        await self.session.flush()
        return row

    async def count(self, account: str) -> int:
        count = await self.session.scalar(
            select(func.count()).select_from(RejectedSignalRow).where(RejectedSignalRow.account == account)
        )
        return int(count or 0)

    async def recent(
        self, account: str, *, since: datetime | None = None, limit: int = 100
    ) -> Sequence[RejectedSignalRow]:
        """The newest invalid messages first (received at or after `since`)."""
        query = select(RejectedSignalRow).where(RejectedSignalRow.account == account)
        if since is not None:
            query = query.where(RejectedSignalRow.received_at >= since)
        newest = (RejectedSignalRow.received_at.desc(), RejectedSignalRow.id.desc())
        result = await self.session.scalars(query.order_by(*newest).limit(limit))
        return result.all()

    async def count_between(self, account: str, start: datetime, end: datetime) -> int:
        """Invalid messages received in [start, end)."""
        count = await self.session.scalar(
            select(func.count())
            .select_from(RejectedSignalRow)
            .where(
                RejectedSignalRow.account == account,
                RejectedSignalRow.received_at >= start,
                RejectedSignalRow.received_at < end,
            )
        )
        return int(count or 0)


class DecisionRepository(_Repository):
    async def add(self, row: DecisionRow, *intents: OrderRow) -> DecisionRow:
        """The decision with the write-ahead rows of the orders it accepted, in one flush (one INSERT per
        table); like `OrderRepository.add`, raises IntegrityError if a client id exists."""
        self.session.add(row)
        self.session.add_all(intents)
        await self.session.flush()
        return row

    async def for_signal(self, signal_pk: int) -> DecisionRow | None:
        return await self.session.scalar(select(DecisionRow).where(DecisionRow.signal_pk == signal_pk))

    async def rejections_between(
        self, account: str, start: datetime, end: datetime
    ) -> dict[ReasonCode | None, int]:
        """How many signals decided in [start, end) were rejected, by reason (a day's report)."""
        result = await self.session.execute(
            select(DecisionRow.reason, func.count())
            .where(
                DecisionRow.account == account,
                DecisionRow.accepted.is_(False),
                DecisionRow.decided_at >= start,
                DecisionRow.decided_at < end,
            )
            .group_by(DecisionRow.reason)
        )
        return {reason: int(count) for reason, count in result.all()}


class OrderRepository(_Repository):
    """Order rows and their life: every state change goes through `move`, `record` or `adopt`, which
    apply the order state machine (domain/order_state.py) to the row as it is in this transaction."""

    def __init__(self, session: AsyncSession, on_moved: OrderObserver | None = None) -> None:
        super().__init__(session)
        self._on_moved = on_moved

    async def add(self, row: OrderRow) -> OrderRow:
        """Write-ahead: raises IntegrityError if the client id exists, so an order is never written twice."""
        self.session.add(row)
        await self.session.flush()
        return row

    async def by_client_id(self, account: str, client_order_id: str) -> OrderRow | None:
        return await self.session.scalar(
            select(OrderRow).where(OrderRow.account == account, OrderRow.client_order_id == client_order_id)
        )

    async def by_exchange_id(self, account: str, symbol: str, exchange_order_id: str) -> OrderRow | None:
        """By the exchange's id, within its symbol (Binance numbers orders per symbol)."""
        return await self.session.scalar(
            select(OrderRow).where(
                OrderRow.account == account,
                OrderRow.symbol == symbol,
                OrderRow.exchange_order_id == exchange_order_id,
            )
        )

    async def move(
        self, account: str, client_order_id: str, target: OrderState, at: datetime, note: str | None = None
    ) -> OrderRow:
        """Move an order to `target` (IllegalTransition if its life does not allow it); the note of a
        failure state is its error."""
        row = await self._existing(account, client_order_id)
        self._move(row, target, at, note)
        await self.session.flush()
        return row

    async def record(self, account: str, client_order_id: str, order: Order, at: datetime) -> OrderRow:
        """Record what the exchange says of an order: its ids, its fill and the state they mean."""
        row = await self._existing(account, client_order_id)
        row.exchange_order_id = order.exchange_id or row.exchange_order_id
        row.executed_order_id = order.executed_order_id or row.executed_order_id
        row.filled_qty = order.filled
        if order.average_price is not None:
            row.average_price = order.average_price
        target, note = reported_state(order)
        self._move(row, target, at, note)
        await self.session.flush()
        return row

    async def note_executed(self, account: str, client_order_id: str, executed_order_id: str) -> None:
        """The order a triggered conditional order executed, named by its trade before its own report."""
        row = await self._existing(account, client_order_id)
        row.executed_order_id = row.executed_order_id or executed_order_id
        await self.session.flush()

    async def executed(
        self, account: str, client_order_id: str, filled: Decimal, average_price: Decimal, at: datetime
    ) -> OrderRow:
        """A leg whose executing order's fills, seen before any report of its end, cover it: FILLED."""
        row = await self._existing(account, client_order_id)
        row.filled_qty = filled
        row.average_price = average_price
        self._move(row, OrderState.FILLED, at, "its order's fills cover it")
        await self.session.flush()
        return row

    async def adopt(self, account: str, client_order_id: str, order: Order, at: datetime) -> OrderRow:
        """A stop found resting on the exchange is this row's order: its id and trigger, and OPEN."""
        row = await self._existing(account, client_order_id)
        row.exchange_order_id = order.exchange_id
        row.trigger_price = order.trigger_price or row.trigger_price
        self._move(row, OrderState.OPEN, at, None)
        await self.session.flush()
        return row

    async def attach(
        self, account: str, client_order_id: str, position_pk: int, kinds: Sequence[OrderKind]
    ) -> OrderRow:
        """The entry, and its signal's legs of these kinds, belong to the position its fill opened."""
        entry = await self._existing(account, client_order_id)
        entry.position_pk = position_pk
        if entry.signal_pk is not None:
            for leg in await self.for_signal(entry.signal_pk):
                if leg.kind in kinds:
                    leg.position_pk = position_pk
        await self.session.flush()
        return entry

    async def _existing(self, account: str, client_order_id: str) -> OrderRow:
        row = await self.by_client_id(account, client_order_id)
        if row is None:
            raise LookupError(f"no order {client_order_id} for account {account}")
        return row

    def _move(self, row: OrderRow, target: OrderState, at: datetime, note: str | None) -> None:
        state, history = advance(row.state, target, list(row.state_history), at, note)
        changed = state is not row.state
        row.state, row.state_history, row.updated_at = state, history, at
        if note and target in FAILURE_STATES:
            row.error = note
        if changed and self._on_moved is not None:
            self._on_moved(row.kind, state)

    async def in_states(self, account: str, states: Sequence[OrderState]) -> Sequence[OrderRow]:
        result = await self.session.scalars(
            select(OrderRow)
            .where(OrderRow.account == account, OrderRow.state.in_(states))
            .order_by(OrderRow.id)
        )
        return result.all()

    async def legs_of_ended_positions(
        self, account: str, symbol: str, states: Sequence[OrderState]
    ) -> Sequence[OrderRow]:
        """Stops and take-profits on `symbol` in one of `states` whose position is no longer open: one query
        on the symbol (every decision makes it; reading the account's live orders and their positions
        hydrated each open position's legs, on every symbol, for none)."""
        result = await self.session.scalars(
            select(OrderRow)
            .join(PositionRow, OrderRow.position_pk == PositionRow.id)
            .where(
                OrderRow.account == account,
                OrderRow.symbol == symbol,
                OrderRow.kind != OrderKind.ENTRY,
                OrderRow.state.in_(states),
                PositionRow.status != PositionStatus.OPEN,
            )
            .order_by(OrderRow.id)
        )
        return result.all()

    async def unadopted_entries(
        self, account: str, symbol: str, live_states: Sequence[OrderState]
    ) -> Sequence[OrderRow]:
        """Entries on `symbol` in one of `live_states`, or with a fill but no position row yet."""
        result = await self.session.scalars(
            select(OrderRow)
            .where(
                OrderRow.account == account,
                OrderRow.symbol == symbol,
                OrderRow.kind == OrderKind.ENTRY,
                or_(
                    OrderRow.state.in_(live_states),
                    and_(
                        OrderRow.position_pk.is_(None),
                        OrderRow.state.in_([OrderState.FILLED, OrderState.CANCELED]),
                        # Money is text on SQLite: compared as a number here, so the entries that expired
                        # unfilled (every resting limit's end, without a position) stay in the table, not
                        # in every decision's read; exactly in Decimal below
                        cast(OrderRow.filled_qty, Float) > 0,
                    ),
                ),
            )
            .order_by(OrderRow.id)
        )
        return [row for row in result.all() if row.state in live_states or row.filled_qty > 0]

    async def symbols(self, account: str) -> set[str]:
        result = await self.session.scalars(
            select(OrderRow.symbol).where(OrderRow.account == account).distinct()
        )
        return set(result.all())

    async def for_signal(self, signal_pk: int) -> Sequence[OrderRow]:
        result = await self.session.scalars(
            select(OrderRow).where(OrderRow.signal_pk == signal_pk).order_by(OrderRow.id)
        )
        return result.all()

    async def for_position(self, position_pk: int) -> Sequence[OrderRow]:
        result = await self.session.scalars(
            select(OrderRow).where(OrderRow.position_pk == position_pk).order_by(OrderRow.id)
        )
        return result.all()


class FillRepository(_Repository):
    async def add(self, row: FillRow) -> bool:
        """Book a fill once; False when its trade id was booked before."""
        return await self._insert_unique(row)

    async def by_trade_id(self, account: str, trade_id: str) -> FillRow | None:
        return await self.session.scalar(
            select(FillRow).where(FillRow.account == account, FillRow.trade_id == trade_id)
        )


class PositionRepository(_Repository):
    async def add(self, row: PositionRow) -> PositionRow:
        self.session.add(row)
        await self.session.flush()
        return row

    async def get(self, position_pk: int) -> PositionRow | None:
        return await self.session.get(PositionRow, position_pk)

    async def with_status(self, account: str, status: PositionStatus) -> Sequence[PositionRow]:
        result = await self.session.scalars(
            select(PositionRow)
            .where(PositionRow.account == account, PositionRow.status == status)
            .order_by(PositionRow.id)
        )
        return result.all()

    async def for_signal(self, signal_pk: int) -> Sequence[PositionRow]:
        result = await self.session.scalars(
            select(PositionRow).where(PositionRow.signal_pk == signal_pk).order_by(PositionRow.id)
        )
        return result.all()

    async def open_one(self, position_pk: int) -> PositionRow | None:
        """The position if it is still open, locked for this transaction on PostgreSQL."""
        return await self.session.scalar(
            select(PositionRow)
            .where(PositionRow.id == position_pk, PositionRow.status == PositionStatus.OPEN)
            .with_for_update()
        )

    async def close(
        self,
        row: PositionRow,
        *,
        exit_price: Decimal | None,
        realized_pnl: Decimal,
        fees: Decimal,
        funding: Decimal,
        closed_at: datetime,
    ) -> PositionRow:
        """Book an open position (from `open_one`) closed with what it earned and cost."""
        if row.status is not PositionStatus.OPEN:
            raise ValueError(f"position {row.id} is {row.status}, not open")
        row.exit_price, row.realized_pnl, row.fees, row.funding = exit_price, realized_pnl, fees, funding
        row.status, row.closed_at = PositionStatus.CLOSED, closed_at
        await self.session.flush()
        return row

    async def resize(self, position_pk: int, qty: Decimal) -> None:
        """The quantity the exchange holds for the position (it grew or shrank outside the daemon)."""
        await self._update(position_pk, qty=qty)

    async def request_close(self, position_pk: int, reason: str) -> None:
        """Record that the position must be closed, so a refused close is retried, not forgotten."""
        await self._update(position_pk, close_requested=reason)

    async def move_stop(self, position_pk: int, stop_price: Decimal) -> tuple[PositionRow, Decimal | None]:
        """The position's stop price is now `stop_price`: the row, and the stop price it had before."""
        row = await self.get(position_pk)
        if row is None:
            raise LookupError(f"no position {position_pk}")
        previous, row.stop_price = row.stop_price, stop_price
        await self.session.flush()
        return row, previous

    async def _update(self, position_pk: int, **values: Any) -> None:
        result = await self.session.execute(
            update(PositionRow)
            .where(PositionRow.id == position_pk)
            .values(**values)
            .execution_options(synchronize_session="fetch")
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise LookupError(f"no position {position_pk}")

    async def trades(
        self,
        account: str,
        status: PositionStatus,
        *,
        closed_since: datetime | None = None,
        symbol: str | None = None,
    ) -> Sequence[tuple[PositionRow, SignalRow | None]]:
        """Positions in `status`, each with the signal that opened it, oldest first (by close, then open);
        `closed_since` keeps positions closed at or after it."""
        query = (
            select(PositionRow, SignalRow)
            .outerjoin(SignalRow, SignalRow.id == PositionRow.signal_pk)
            .where(PositionRow.account == account, PositionRow.status == status)
        )
        if closed_since is not None:
            query = query.where(PositionRow.closed_at >= closed_since)
        if symbol is not None:
            query = query.where(PositionRow.symbol == symbol)
        result = await self.session.execute(
            query.order_by(PositionRow.closed_at, PositionRow.opened_at, PositionRow.id)
        )
        return [(position, signal) for position, signal in result]

    async def recent_closed(self, account: str, limit: int) -> Sequence[PositionRow]:
        """The newest closed positions first (the risk engine's trade history)."""
        result = await self.session.scalars(
            select(PositionRow)
            .where(PositionRow.account == account, PositionRow.status == PositionStatus.CLOSED)
            .order_by(PositionRow.closed_at.desc(), PositionRow.id.desc())
            .limit(limit)
        )
        return result.all()


class FundingRepository(_Repository):
    async def add(self, row: FundingPaymentRow) -> bool:
        """Book a funding payment once; False when its id was booked before."""
        return await self._insert_unique(row)

    async def for_position(self, position_pk: int) -> Sequence[FundingPaymentRow]:
        result = await self.session.scalars(
            select(FundingPaymentRow).where(FundingPaymentRow.position_pk == position_pk)
        )
        return result.all()


class DailyLossRepository(_Repository):
    async def get(self, account: str, trading_day: date) -> DailyLossRow | None:
        return await self.session.scalar(
            select(DailyLossRow).where(
                DailyLossRow.account == account, DailyLossRow.trading_day == trading_day
            )
        )

    async def latest(self, account: str) -> DailyLossRow | None:
        return await self.session.scalar(
            select(DailyLossRow)
            .where(DailyLossRow.account == account)
            .order_by(DailyLossRow.trading_day.desc())
            .limit(1)
        )

    async def since(self, account: str, first_day: date) -> Sequence[DailyLossRow]:
        """The ledgers from `first_day` on, oldest first (the equity curve over days)."""
        result = await self.session.scalars(
            select(DailyLossRow)
            .where(DailyLossRow.account == account, DailyLossRow.trading_day >= first_day)
            .order_by(DailyLossRow.trading_day)
        )
        return result.all()

    async def add(self, row: DailyLossRow) -> DailyLossRow:
        self.session.add(row)
        await self.session.flush()
        return row

    async def book(
        self, row: DailyLossRow, *, realized_pnl: Decimal, fees: Decimal, funding: Decimal, at: datetime
    ) -> DailyLossRow:
        """Add a closed trade's gross PnL, fees and funding to the day's ledger."""
        row.realized_pnl += realized_pnl
        row.fees += fees
        row.funding += funding
        row.updated_at = at
        await self.session.flush()
        return row

    async def set_breaker(
        self,
        row: DailyLossRow,
        breaker: BreakerStatus,
        at: datetime,
        *,
        tripped_at: datetime | None = None,
        trip_reason: str | None = None,
        resumed_at: datetime | None = None,
        resumed_by: str | None = None,
    ) -> DailyLossRow:
        """The day's breaker as the carried state has it, with the trip or resume details given."""
        row.breaker, row.updated_at = breaker, at
        if tripped_at is not None:
            row.tripped_at = tripped_at
        if trip_reason is not None:
            row.trip_reason = trip_reason
        if resumed_at is not None:
            row.resumed_at = resumed_at
        if resumed_by is not None:
            row.resumed_by = resumed_by
        await self.session.flush()
        return row


class RiskStateRepository(_Repository):
    async def get(self, account: str) -> RiskStateRow | None:
        return await self.session.get(RiskStateRow, account, populate_existing=True)

    async def current_version(self, account: str) -> int | None:
        return await self.session.scalar(select(RiskStateRow.version).where(RiskStateRow.account == account))

    async def compare_and_save(
        self,
        *,
        account: str,
        expected_version: int,
        state: dict[str, Any],
        peak_equity: Decimal | None,
        at: datetime,
    ) -> bool:
        """Write only over the version the writer read (0: no row yet); False when another writer won.

        The daemon and the `executor halt`/`resume` commands both write this row; neither may
        silently overwrite the other.
        """
        if expected_version == 0:
            row = RiskStateRow(
                account=account, state=state, peak_equity=peak_equity, version=1, updated_at=at
            )
            return await self._insert_unique(row)
        result = await self.session.execute(
            update(RiskStateRow)
            .where(RiskStateRow.account == account, RiskStateRow.version == expected_version)
            .values(state=state, peak_equity=peak_equity, version=expected_version + 1, updated_at=at)
            .execution_options(synchronize_session=False)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


class ControlRepository(_Repository):
    async def get(self, account: str) -> ControlRow | None:
        return await self.session.get(ControlRow, account, populate_existing=True)

    async def set_paused(self, account: str, paused: bool, at: datetime, by: str, note: str | None) -> None:
        """Record the pause (or its end) with who and why; the row exists from the first change on."""
        row = await self.get(account)
        if row is None:
            row = ControlRow(account=account)
            self.session.add(row)
        row.paused, row.changed_at, row.changed_by, row.note = paused, at, by, note
        await self.session.flush()


class EventRepository(_Repository):
    async def append(
        self,
        *,
        account: str,
        at: datetime,
        kind: EventKind,
        data: dict[str, Any],
        signal_id: str | None = None,
    ) -> EventRow:
        row = EventRow(account=account, at=at, kind=kind, data=data, signal_id=signal_id)
        self.session.add(row)
        await self.session.flush()
        return row

    async def for_signal(self, account: str, signal_id: str) -> Sequence[EventRow]:
        result = await self.session.scalars(
            select(EventRow)
            .where(EventRow.account == account, EventRow.signal_id == signal_id)
            .order_by(EventRow.id)
        )
        return result.all()

    async def between(
        self, account: str, start: datetime, end: datetime, kinds: Sequence[EventKind]
    ) -> Sequence[EventRow]:
        """Events of these kinds in [start, end), oldest first."""
        result = await self.session.scalars(
            select(EventRow)
            .where(
                EventRow.account == account,
                EventRow.at >= start,
                EventRow.at < end,
                EventRow.kind.in_(kinds),
            )
            .order_by(EventRow.id)
        )
        return result.all()

    async def recent(self, account: str, limit: int = 100) -> Sequence[EventRow]:
        result = await self.session.scalars(
            select(EventRow).where(EventRow.account == account).order_by(EventRow.id.desc()).limit(limit)
        )
        return result.all()


class Repositories:
    """Every repository on one session, so a unit of work spans tables atomically."""

    def __init__(self, session: AsyncSession, on_order_moved: OrderObserver | None = None) -> None:
        self.session = session
        self.signals = SignalRepository(session)
        self.rejected = RejectedSignalRepository(session)
        self.decisions = DecisionRepository(session)
        self.orders = OrderRepository(session, on_order_moved)
        self.fills = FillRepository(session)
        self.positions = PositionRepository(session)
        self.funding = FundingRepository(session)
        self.daily_loss = DailyLossRepository(session)
        self.risk_state = RiskStateRepository(session)
        self.events = EventRepository(session)
        self.controls = ControlRepository(session)
