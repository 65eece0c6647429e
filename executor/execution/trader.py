"""Signals to orders: decide through the risk engine, store the decision, send entry and stop.

One consumer per account takes stored signals in arrival order. The decision and the order rows
(with their deterministic client ids) are committed in one transaction before the entry leaves, so
a crash at any point leaves rows that reconciliation can resolve by client id.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal

import structlog

from executor.crashpoints import CrashPoint, crash_point
from executor.domain import account as exchange_account
from executor.domain import market as exchange_market
from executor.domain.account import MarginMode
from executor.domain.client_ids import client_order_id
from executor.domain.enums import (
    Action,
    EntryType,
    EventKind,
    OrderKind,
    PositionStatus,
    Side,
    SignalSource,
    SignalStatus,
)
from executor.domain.notices import AlertKind, Figure, NoticeEvent, Unit, operator_action
from executor.domain.order_state import OrderState
from executor.domain.orders import EntryRequest, OrderSide, OrderType, ProtectedEntry
from executor.domain.reasons import ReasonCode
from executor.domain.signal import Instruction, InvalidInstruction
from executor.execution.alerts import Alerter
from executor.execution.context import AccountContext
from executor.execution.operator import current_pause
from executor.execution.orders import intent
from executor.execution.positions import PositionKeeper, describe_legs
from executor.execution.snapshots import risk_account, risk_market, risk_signal
from executor.observability.console import market_grid
from executor.observability.logging import get_logger
from executor.ports.errors import AmbiguousWriteError, ExchangeError
from executor.ports.exchange import ORDER_DEPARTURES, urgent_reads
from executor.risk import Decision, decide
from executor.store.models import DecisionRow, OrderRow, PositionRow, SignalRow

log = get_logger("executor.trader")

MARGIN_MODE = MarginMode.ISOLATED
"""Isolated margin: a position's loss is bounded by its own margin, and the risk engine's liquidation
price (RISK_SPEC §2.8) is the isolated formula."""


_FINISHED = {Action.CLOSE: EventKind.SIGNAL_CLOSE, Action.MOVE_STOP: EventKind.SIGNAL_MOVE_STOP}
"""The audit event of a close or move_stop signal (an open one is audited by its decision row)."""


def decision_row(
    row: SignalRow, account: str, symbol: str, side: Side | None, decision: Decision, now: datetime
) -> DecisionRow:
    """The decision as stored beside its signal: what `explain` and `GET /signals/{id}` show."""
    return DecisionRow(
        signal_pk=row.id,
        account=account,
        accepted=decision.accepted,
        reason=decision.reason,
        message=decision.message,
        symbol=symbol,
        side=side,
        qty=decision.qty,
        leverage=decision.leverage,
        entry=decision.entry,
        stop=decision.stop,
        take_profit=decision.take_profit[0] if decision.take_profit else None,
        notional=decision.notional,
        margin=decision.margin,
        risk=decision.risk,
        risk_pct=decision.risk_pct,
        liquidation_price=decision.liquidation_price,
        binding=decision.binding,
        risk_budget=decision.risk_budget,
        order_price=decision.order_price,
        steps=[step.to_dict() for step in decision.steps],
        decided_at=now,
    )


def rejection(signal_id: str, reason: ReasonCode, message: str) -> Decision:
    return Decision(accepted=False, reason=reason, message=message, signal_id=signal_id)


DONE_REMEMBERED = 4096
"""Signal rows the consumer remembers having processed, so one handed over and also read is decided once."""

IN_FLIGHT = (OrderState.PENDING, OrderState.UNKNOWN, OrderState.OPEN)
"""Entry states whose order may still become (or grow) a position on the exchange."""


def _slippage(signal: Instruction, decision: Decision, fill_price: Decimal | None) -> str | None:
    """How far the fill is beyond the reference price, per unit, on the paying side (negative: better)."""
    if fill_price is None or decision.entry is None or signal.side is None:
        return None
    return str((fill_price - decision.entry) * signal.side.sign)


class Unsettled(Exception):
    """The signal cannot be handled until the account's orders are resolved against the exchange."""


class Trader:
    def __init__(
        self,
        ctx: AccountContext,
        keeper: PositionKeeper,
        alerter: Alerter,
        settle: Callable[[], Awaitable[object]],
    ) -> None:
        self.ctx = ctx
        self.keeper = keeper
        self.alerter = alerter
        self._settle = settle
        """Reconciliation: resolves every unsettled order by client id and records what it finds."""
        self._unsettled = False
        self._symbols: dict[str, str] = {}
        self._handed: deque[SignalRow] = deque()
        self._drained = False
        """The last read of the queue found its end, and every row read was processed: the rows handed
        over since are the whole queue, in order."""
        self._done: deque[int] = deque(maxlen=DONE_REMEMBERED)
        self._done_set: set[int] = set()
        """The signal rows processed lately: a handed row among them was read from the queue already."""
        self._unhanded = 0
        """How many times a signal was queued without being handed over (`queued_elsewhere`)."""
        self.on_done: Callable[[str], None] = lambda _signal_id: None
        """Told each signal id the consumer is done with (decided or failed, its orders sent): the outcome
        waiters (executor/service/explanation.py, `Finished`)."""

    def hand(self, row: SignalRow) -> None:
        """The inbox's stored row, handed over in memory once it is committed: the next pass takes it
        without reading the queue from the database (which stays the record, and the fallback)."""
        self._handed.append(row)

    def queued_elsewhere(self) -> None:
        """A signal was queued without being handed over (an operator's control): read the queue next."""
        self._drained = False
        self._unhanded += 1

    async def process_queued(
        self, limit: int = 50, keep_going: Callable[[], bool] = lambda: True, *, poll: bool = True
    ) -> int:
        """Decide queued signals, oldest first, while `keep_going()`; the count processed.

        Without `poll`, and while the queue is known to be drained, the rows handed over in memory are
        the queue; otherwise it is read from the database (the consumer polls it every second anyway).
        A signal that failed part-way (a database outage after its order went out) may have left an
        order the database does not know the outcome of, so nothing more is decided until a
        reconciliation has resolved the account's orders against the exchange and recorded them; until
        it succeeds this raises and the queue waits.
        """
        if self._unsettled:
            log.warning("consumer_settling", detail="resolving in-flight orders before the next signal")
            await self._settle()
            self._unsettled = False
            log.info("consumer_settled")
        from_memory = self._drained and not poll
        unhanded = self._unhanded
        if from_memory:
            rows = self._take_handed(limit)
        else:
            async with self.ctx.store.read() as tx:
                rows = list(await tx.signals.queued(self.ctx.account, limit))
        drained = from_memory or len(rows) < limit
        self._drained = False
        processed = 0
        for row in rows:
            if not keep_going():
                break
            try:
                await self.process(row)
            except Unsettled as exc:
                log.warning("signal_deferred", signal_id=row.signal_id, reason=str(exc))
                self._unsettled = True
                break
            except BaseException:
                self._unsettled = True
                raise
            self._remember(row.id)
            self.on_done(row.signal_id)
            processed += 1
        else:
            self._drained = drained and unhanded == self._unhanded
        if not from_memory:
            self._handed = deque(row for row in self._handed if row.id not in self._done_set)
        return processed

    def _take_handed(self, limit: int) -> list[SignalRow]:
        rows: list[SignalRow] = []
        while self._handed and len(rows) < limit:
            row = self._handed.popleft()
            if row.id not in self._done_set:
                rows.append(row)
        return sorted(rows, key=lambda row: row.id)

    def _remember(self, pk: int) -> None:
        if len(self._done) == self._done.maxlen:
            self._done_set.discard(self._done[0])
        self._done.append(pk)
        self._done_set.add(pk)

    async def process(self, row: SignalRow) -> None:
        with structlog.contextvars.bound_contextvars(signal_id=row.signal_id), urgent_reads():
            try:
                signal = Instruction.from_payload(row.payload)
            except InvalidInstruction as exc:
                await self._fail(row, f"stored payload no longer valid: {exc}")
                return
            symbol = await self.resolve_symbol(signal.symbol)
            section = self.ctx.lock.symbol(symbol) if symbol is not None else self.ctx.lock
            async with section:
                if signal.action is Action.OPEN:
                    await self._open(row, signal)
                elif signal.action is Action.CLOSE:
                    await self._close(row, signal)
                else:
                    await self._move_stop(row, signal)

    async def _fail(self, row: SignalRow, error: str) -> None:
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            if not await tx.signals.settle(row.id, SignalStatus.FAILED, now, error):
                return
            await tx.events.append(
                account=self.ctx.account,
                at=now,
                kind=EventKind.SIGNAL_FAILED,
                signal_id=row.signal_id,
                data={"error": error},
            )
        log.warning("signal_failed", error=error)

    async def resolve_symbol(self, symbol: str) -> str | None:
        """A unified symbol (SOL/USDT:USDT) or the exchange's id (SOLUSDT) to the unified symbol."""
        if symbol not in self._symbols:
            markets = await self.ctx.exchange.markets()
            self._symbols = {m.exchange_symbol: m.symbol for m in markets.values()} | {s: s for s in markets}
        return self._symbols.get(symbol)

    # ------------------------------------------------------------------ open

    async def _open(self, row: SignalRow, signal: Instruction) -> None:
        """One transaction from the queued row to the decision and its order rows, then the wire.

        Exchange data comes from the adapter's caches before the transaction opens; inside it the signal
        is settled first (a conditional update, so it is decided once), the equity's new peak or day is
        saved, and only the open positions and in-flight entries are read, so a signal costs two commits
        (inbox, decision) before its entry leaves.
        """
        ctx = self.ctx
        now = ctx.now()
        symbol = await self.resolve_symbol(signal.symbol)
        gathered = await self._exchange_inputs(signal, symbol)
        equity = None if isinstance(gathered, Decision) else gathered[1].equity
        orders: list[OrderRow] = []
        stale: list[OrderRow] = []
        ended = None
        async with ctx.store.transaction() as tx:
            if not await tx.signals.settle(row.id, SignalStatus.DECIDED, now):
                return  # decided already (by an earlier run that crashed after committing)
            if equity is not None:
                ended = await ctx.book.record_equity(tx, equity, now)
            pause = await current_pause(tx, ctx.account)
            if pause.paused:
                decision = rejection(signal.id, ReasonCode.PAUSED, pause.describe())
            elif isinstance(gathered, Decision):
                decision = gathered
            else:
                assert symbol is not None
                positions = await tx.positions.with_status(ctx.account, PositionStatus.OPEN)
                entries = await tx.orders.unadopted_entries(ctx.account, symbol, IN_FLIGHT)
                held = self._held(symbol, positions, entries, gathered[1])
                decision = self._decide(signal, symbol, gathered, positions, held, now)
            if decision.accepted:
                assert symbol is not None
                orders = self._intents(row, signal, symbol, decision, now)
            await tx.decisions.add(
                decision_row(row, ctx.account, symbol or signal.symbol, signal.side, decision, now), *orders
            )
            if decision.accepted:
                assert symbol is not None
                stale = await self.keeper.legs.stale_in(tx, symbol)
        if equity is not None:
            ctx.book.announce(ended, equity)
        ctx.metrics.decisions.labels(reason=decision.reason.value if decision.reason else "accepted").inc()
        filters = None if isinstance(gathered, Decision) else gathered[0].filters
        log.info(
            "decision",
            accepted=decision.accepted,
            reason=decision.reason.value if decision.reason else None,
            message=decision.message,
            qty=str(decision.qty) if decision.qty is not None else None,
            leverage=decision.leverage,
            **market_grid(filters),
        )
        if decision.accepted:
            crash_point(CrashPoint.DECISION_STORED)
            assert symbol is not None and signal.side is not None
            await self._send(row, signal, symbol, decision, orders, stale, filters)

    async def _exchange_inputs(
        self, signal: Instruction, symbol: str | None
    ) -> Decision | tuple[exchange_market.MarketSnapshot, exchange_account.AccountSnapshot]:
        """The market and account snapshots (cached when fresh), or the rejection when they cannot be had."""
        ctx = self.ctx
        if symbol is None:
            return rejection(
                signal.id,
                ReasonCode.SYMBOL_NOT_ALLOWED,
                f"{signal.symbol} is not listed on {ctx.exchange.name}",
            )
        banned = ctx.exchange.banned_until
        if banned is not None and banned > datetime.now(UTC):  # the ban runs on the host's clock
            return rejection(
                signal.id, ReasonCode.DATA_MISSING, f"the exchange bans requests until {banned.isoformat()}"
            )
        try:
            market = await ctx.exchange.market_snapshot(symbol)
            account = await ctx.accounts.for_decision()
        except ExchangeError as exc:
            return rejection(signal.id, ReasonCode.DATA_MISSING, f"exchange data unavailable: {exc}")
        return market, account

    @staticmethod
    def _held(
        symbol: str,
        positions: Sequence[PositionRow],
        entries: Sequence[OrderRow],
        account: exchange_account.AccountSnapshot,
    ) -> str | None:
        """Why `symbol` counts as held: a position row, an entry that may still fill or whose fill has no
        position row yet, or the exchange's own position (which the rows may not know of yet)."""
        if any(position.symbol == symbol for position in positions):
            return f"a position on {symbol} is already open"
        if entries:
            return f"an entry on {symbol} ({entries[0].client_order_id}) is still in flight"
        live = account.position(symbol)
        if live is not None and live.qty > 0:
            return f"the exchange holds a position on {symbol}"
        return None

    def _decide(
        self,
        signal: Instruction,
        symbol: str,
        snapshots: tuple[exchange_market.MarketSnapshot, exchange_account.AccountSnapshot],
        positions: Sequence[PositionRow],
        held: str | None,
        now: datetime,
    ) -> Decision:
        market, account = snapshots
        return decide(
            risk_signal(signal, symbol),
            risk_account(
                account, positions, self.ctx.book, stale=False, held={symbol: held} if held else None
            ),
            risk_market(
                market,
                max_price_age_ms=self.ctx.settings.max_price_age_ms,
                clock_offset=self.ctx.clock.offset,
            ),
            self.ctx.profile,
            self.ctx.book.state,
            now,
        )

    def _intents(
        self,
        row: SignalRow,
        signal: Instruction,
        symbol: str,
        decision: Decision,
        now: datetime,
    ) -> list[OrderRow]:
        """The write-ahead rows of an accepted decision's entry, stop and take-profit, PENDING."""
        assert signal.side is not None and signal.entry is not None
        assert decision.qty is not None and decision.stop is not None
        side = signal.side
        limit = signal.entry.type is EntryType.LIMIT
        legs: list[tuple[OrderKind, OrderSide, OrderType, Decimal | None, Decimal | None]] = [
            (
                OrderKind.ENTRY,
                OrderSide.opening(side),
                OrderType.LIMIT if limit else OrderType.MARKET,
                decision.order_price if limit else None,
                None,
            ),
            (OrderKind.STOP, OrderSide.closing(side), OrderType.STOP_MARKET, None, decision.stop),
        ]
        if decision.take_profit:
            target = decision.take_profit[0]
            legs.append(
                (OrderKind.TAKE_PROFIT, OrderSide.closing(side), OrderType.TAKE_PROFIT_MARKET, None, target)
            )
        return [
            intent(
                account=self.ctx.account,
                client_id=client_order_id(signal.id, kind),
                kind=kind,
                symbol=symbol,
                side=order_side,
                order_type=order_type,
                qty=decision.qty,
                price=price,
                trigger_price=trigger,
                signal_pk=row.id,
                now=now,
            )
            for kind, order_side, order_type, price, trigger in legs
        ]

    async def _send(
        self,
        row: SignalRow,
        signal: Instruction,
        symbol: str,
        decision: Decision,
        orders: list[OrderRow],
        stale: list[OrderRow],
        filters: exchange_market.MarketFilters | None,
    ) -> None:
        """`stale`: legs of closed positions on the symbol, read with the decision, cancelled first."""
        ctx = self.ctx
        assert signal.side is not None and signal.entry is not None
        assert decision.qty is not None and decision.stop is not None and decision.leverage is not None
        entry_row, stop_row = orders[0], orders[1]
        stuck = await self.keeper.clear_stale_legs(symbol, stale)
        if stuck:
            legs = describe_legs(stuck, filters)
            note = f"legs of an earlier position on {symbol} still rest and could not be cancelled: {legs}"
            await self._not_sent(orders, note)
            self.alerter.raise_alert(AlertKind.STALE_LEG, note, symbol=symbol, filters=filters)
            return
        try:
            await ctx.exchange.ensure_leverage(symbol, decision.leverage, MARGIN_MODE)
        except ExchangeError as exc:
            await self._not_sent(orders, f"leverage/margin mode not set: {exc}")
            return
        request = EntryRequest(
            symbol=symbol,
            side=signal.side,
            qty=decision.qty,
            entry_type=signal.entry.type,
            limit_price=decision.order_price if signal.entry.type is EntryType.LIMIT else None,
            price_bound=decision.order_price if signal.entry.type is EntryType.MARKET else None,
            stop_price=decision.stop,
            entry_client_id=entry_row.client_order_id,
            stop_client_id=stop_row.client_order_id,
        )
        departures: list[float] = []
        token = ORDER_DEPARTURES.set(departures)
        try:
            result = await ctx.exchange.open_with_stop(request)
        except AmbiguousWriteError as exc:
            await self._mark(orders[:1], OrderState.UNKNOWN, str(exc))
            self.alerter.raise_alert(
                AlertKind.ORDER_UNRESOLVED,
                "entry outcome unknown",
                Figure("qty", decision.qty, Unit.QTY),
                Figure("error", str(exc)),
                symbol=symbol,
                filters=filters,
            )
            return
        except ExchangeError as exc:
            await self._mark(orders[:1], OrderState.REJECTED, str(exc))
            await self._not_sent(orders[1:], "entry rejected")
            log.warning("entry_rejected", error=str(exc))
            return
        finally:
            ORDER_DEPARTURES.reset(token)
            if departures:  # observed once the entry has gone: to its departure, throttle waits included
                ctx.metrics.signal_to_wire.observe(max(0.0, departures[0] - row.received_at.timestamp()))
        await self._record_entry(signal, decision, orders, result, filters)

    async def _mark(self, rows: list[OrderRow], state: OrderState, note: str) -> None:
        now = self.ctx.now()
        async with self.ctx.store.transaction() as tx:
            for row in rows:
                await tx.orders.move(self.ctx.account, row.client_order_id, state, now, note)

    async def _not_sent(self, rows: list[OrderRow], note: str) -> None:
        await self._mark(rows, OrderState.NOT_SENT, note)

    async def _record_entry(
        self,
        signal: Instruction,
        decision: Decision,
        orders: list[OrderRow],
        result: ProtectedEntry,
        filters: exchange_market.MarketFilters | None,
    ) -> None:
        ctx = self.ctx
        now = ctx.now()
        entry, stop = result.entry, result.stop
        stop_id = orders[1].client_order_id
        async with ctx.store.transaction() as tx:
            entry_row = await tx.orders.record(ctx.account, orders[0].client_order_id, entry, now)
            if stop is not None:
                await tx.orders.record(ctx.account, stop_id, stop, now)
            elif entry.filled == 0 and entry.status.is_final:
                await tx.orders.move(ctx.account, stop_id, OrderState.NOT_SENT, now, result.stop_error)
            elif entry.filled > 0:
                await tx.orders.move(ctx.account, stop_id, OrderState.REJECTED, now, result.stop_error)
        log.info(
            "entry_placed",
            entry_state=entry.status.value,
            filled=str(entry.filled),
            reference_price=str(decision.entry),
            order_price=str(decision.order_price),
            fill_price=str(entry.average_price) if entry.average_price is not None else None,
            slippage=_slippage(signal, decision, entry.average_price),
            stop_price=str(decision.stop),
            **market_grid(filters),
            stop=stop.exchange_id if stop else None,
            stop_error=result.stop_error,
        )
        crash_point(CrashPoint.ENTRY_STORED)
        if entry.filled == 0:
            if entry.is_open:
                self.keeper.entry_placed(entry_row.client_order_id, stop_id if result.stop_attached else None)
            return
        if stop is None:
            self.alerter.raise_alert(
                AlertKind.STOP_NOT_PLACED,
                "stop not confirmed",
                Figure("filled", entry.filled, Unit.QTY),
                Figure("error", result.stop_error or "unknown"),
                symbol=entry_row.symbol,
                filters=filters,
            )
        # Creates the position and confirms exactly one stop rests (placing it again, or closing, if not).
        position_pk = await self.keeper.adopt_filled_entry(entry_row, signal, entry)
        if position_pk is not None and len(orders) > 2:
            await self.keeper.protection.place_take_profit(position_pk, orders[2].client_order_id)

    # ------------------------------------------------------------------ close and move_stop

    async def _open_position_for(self, row: SignalRow, signal: Instruction) -> PositionRow | None:
        symbol = await self.resolve_symbol(signal.symbol)
        for position in await self.keeper.open_positions():
            if position.symbol == symbol and (signal.side is None or position.side is signal.side):
                return position
        message = f"no open position on {signal.symbol}"
        if symbol is not None and await self._exchange_holds(symbol):
            async with self.ctx.store.read() as tx:
                entries = await tx.orders.unadopted_entries(self.ctx.account, symbol, IN_FLIGHT)
            if entries:
                # The exchange holds what an entry of ours opened but its outcome is not recorded yet
                # (a database outage after it was sent): settle it first, then handle this signal.
                raise Unsettled(f"{signal.action.value} on {symbol} waits for {entries[0].client_order_id}")
            message = f"the exchange holds a position on {symbol} that this daemon did not open; not touched"
            self.alerter.raise_alert(AlertKind.FOREIGN_POSITION, message, symbol=symbol)
        await self._finish(row, signal, message, ok=False)
        return None

    async def _exchange_holds(self, symbol: str) -> bool:
        """A fresh read: does the exchange hold a position on `symbol`? (unreadable counts as yes)."""
        try:
            live = (await self.ctx.accounts.refresh()).position(symbol)
        except ExchangeError as exc:
            raise Unsettled(f"the exchange's positions are unreadable: {exc}") from exc
        return live is not None and live.qty > 0

    async def _finish(self, row: SignalRow, signal: Instruction, message: str, *, ok: bool) -> None:
        now = self.ctx.now()
        status = SignalStatus.DECIDED if ok else SignalStatus.FAILED
        async with self.ctx.store.transaction() as tx:
            if not await tx.signals.settle(row.id, status, now, None if ok else message):
                return
            await tx.events.append(
                account=self.ctx.account,
                at=now,
                kind=_FINISHED[signal.action],
                signal_id=row.signal_id,
                data={"ok": ok, "message": message},
            )
        log.info("signal_done", ok=ok, message=message)

    async def _close(self, row: SignalRow, signal: Instruction) -> None:
        position = await self._open_position_for(row, signal)
        if position is None:
            return
        reason = f"close signal {signal.id}"
        if row.source is SignalSource.OPERATOR:
            headline = f"closing {position.symbol} at market, as the operator asked"
            self.alerter.notify(operator_action(NoticeEvent.OPERATOR_CLOSE, headline, symbol=position.symbol))
        await self.keeper.request_close(position.id, reason)
        await self._finish(row, signal, f"closing {position.symbol} at market", ok=True)
        if await self.keeper.close_at_market(position.id, reason) is None:
            self.alerter.raise_alert(
                AlertKind.CLOSE_DEFERRED,
                "the close was not carried out yet; it is retried",
                symbol=position.symbol,
            )

    async def _move_stop(self, row: SignalRow, signal: Instruction) -> None:
        position = await self._open_position_for(row, signal)
        if position is None:
            return
        assert signal.stop is not None
        side = position.side
        current = position.stop_price
        toward_profit = current is None or (signal.stop - current) * side.sign > 0
        if not toward_profit and not self.ctx.settings.allow_stop_away_from_profit:
            await self._finish(
                row, signal, f"stop {signal.stop} is not toward profit from {current}", ok=False
            )
            return
        mark = None
        try:
            snapshot = await self.ctx.exchange.market_snapshot(position.symbol)
            mark = snapshot.mark_price
        except ExchangeError:
            mark = None
        if mark is None or (mark - signal.stop) * side.sign <= 0:
            await self._finish(
                row, signal, f"stop {signal.stop} is past the mark price {mark}; not moved", ok=False
            )
            return
        moved = await self.keeper.protection.move_stop(position.id, signal.stop, signal.id)
        await self._finish(row, signal, moved, ok=True)
