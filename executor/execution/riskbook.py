"""The risk engine's carried state and today's loss ledger, kept in memory and saved on every change.

The state row is versioned: `executor halt` and `executor resume --force` may write it while the
daemon runs, so every save is a compare-and-swap and a lost race reloads the operator's version
before the daemon's change is applied on top of it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from executor.domain.enums import BreakerStatus, EventKind
from executor.domain.money import ZERO
from executor.risk import CarriedState, ClosedTrade, RiskProfile, on_trade_closed, roll_to
from executor.risk.clock import trading_day
from executor.store.models import DailyLossRow, PositionRow
from executor.store.repositories import Repositories
from executor.store.store import Store

HISTORY_LIMIT = 500

Transition = Callable[[CarriedState], CarriedState]


@dataclass(frozen=True, slots=True)
class DayLedger:
    """Today's numbers. `realized_pnl` is gross; net = realized − fees + funding (funding > 0 received)."""

    trading_day: date
    start_of_day_equity: Decimal
    realized_pnl: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        return self.realized_pnl - self.fees + self.funding


def closed_trade(row: PositionRow) -> ClosedTrade:
    assert row.closed_at is not None
    return ClosedTrade(
        opened_at=row.opened_at,
        closed_at=row.closed_at,
        pnl=row.realized_pnl - row.fees + row.funding,
        equity_before=row.equity_before,
        setup=row.setup,
        symbol=row.symbol,
    )


class RiskBook:
    def __init__(self, store: Store, account: str, profile: RiskProfile) -> None:
        self.store = store
        self.account = account
        self.profile = profile
        self.state = CarriedState.initial()
        self.version = 0
        self.peak_equity: Decimal | None = None
        self.day: DayLedger | None = None
        self.history: list[ClosedTrade] = []
        self.on_day_ended: Callable[[DayLedger, Decimal], None] | None = None
        """Told the day that ended and the equity the next one starts with (the daily summary)."""

    @property
    def timezone(self) -> str:
        return self.profile.daily_loss.timezone

    @property
    def halted(self) -> bool:
        return self.state.breaker is BreakerStatus.TRIPPED

    async def load(self) -> None:
        async with self.store.read() as tx:
            await self._reload(tx)
            day = await tx.daily_loss.latest(self.account)
            closed = await tx.positions.recent_closed(self.account, HISTORY_LIMIT)
        if day is not None:
            self.day = DayLedger(
                day.trading_day, day.start_of_day_equity, day.realized_pnl, day.fees, day.funding
            )
        self.history = [closed_trade(row) for row in reversed(closed)]

    async def _reload(self, tx: Repositories) -> None:
        row = await tx.risk_state.get(self.account)
        if row is None:
            self.state, self.version, self.peak_equity = CarriedState.initial(), 0, None
        else:
            self.state = CarriedState.from_dict(row.state)
            self.version, self.peak_equity = row.version, row.peak_equity

    async def refresh_if_changed(self) -> bool:
        """Pick up an operator's halt or resume written by the CLI; True when the state changed."""
        async with self.store.read() as tx:
            version = await tx.risk_state.current_version(self.account)
            if version is None or version == self.version:
                return False
            await self._reload(tx)
        return True

    async def apply(
        self, tx: Repositories, transition: Transition, now: datetime, peak_equity: Decimal | None = None
    ) -> CarriedState:
        """Apply a transition and save it atomically with whatever else `tx` writes."""
        for _ in range(3):
            candidate = transition(self.state)
            peak = self.peak_equity if peak_equity is None else peak_equity
            if candidate == self.state and peak == self.peak_equity and self.version:
                return self.state
            saved = await tx.risk_state.compare_and_save(
                account=self.account,
                expected_version=self.version,
                state=candidate.to_dict(),
                peak_equity=peak,
                at=now,
            )
            if saved:
                self.state, self.peak_equity, self.version = candidate, peak, self.version + 1
                return self.state
            await self._reload(tx)
        raise RuntimeError("risk state kept changing under the daemon; refusing to guess")

    async def observe_equity(self, equity: Decimal, now: datetime) -> bool:
        """Roll the trading day and track peak equity; True when a new day began."""
        new_day = self._is_new_day(now)
        if self._unchanged(equity, now):
            return False
        async with self.store.transaction() as tx:
            ended = await self.record_equity(tx, equity, now)
        self.announce(ended, equity)
        return new_day

    def _is_new_day(self, now: datetime) -> bool:
        return self.day is None or self.day.trading_day != trading_day(now, self.timezone)

    def _unchanged(self, equity: Decimal, now: datetime) -> bool:
        """Nothing to save: the same day, no new peak, and the state saved before."""
        new_peak = self.peak_equity is None or equity > self.peak_equity
        return not self._is_new_day(now) and not new_peak and bool(self.version)

    async def record_equity(self, tx: Repositories, equity: Decimal, now: datetime) -> DayLedger | None:
        """`observe_equity` in the caller's transaction (the signal path's decision: one commit for both);
        the day that ended, if one did, for `announce` once the transaction has committed."""
        if self._unchanged(equity, now):
            return None
        today = trading_day(now, self.timezone)
        new_day = self._is_new_day(now)
        new_peak = self.peak_equity is None or equity > self.peak_equity
        ended = self.day if new_day else None
        if new_day:
            existing = await tx.daily_loss.get(self.account, today)
            if existing is None:
                existing = await tx.daily_loss.add(
                    DailyLossRow(
                        account=self.account,
                        trading_day=today,
                        start_of_day_equity=equity,
                        breaker=BreakerStatus.ACTIVE,
                        updated_at=now,
                    )
                )
            self.day = DayLedger(
                today,
                existing.start_of_day_equity,
                existing.realized_pnl,
                existing.fees,
                existing.funding,
            )
            await tx.events.append(
                account=self.account,
                at=now,
                kind=EventKind.DAY_STARTED,
                data={
                    "trading_day": today.isoformat(),
                    "start_of_day_equity": str(existing.start_of_day_equity),
                },
            )
        peak = equity if new_peak else self.peak_equity
        await self.apply(tx, lambda state: roll_to(state, now, self.profile), now, peak_equity=peak)
        return ended

    def announce(self, ended: DayLedger | None, equity: Decimal) -> None:
        """Tell `on_day_ended` of a day `record_equity` ended (after its transaction committed)."""
        if ended is not None and self.on_day_ended is not None:
            self.on_day_ended(ended, equity)

    async def record_close(self, tx: Repositories, position: PositionRow, now: datetime) -> None:
        """Book a closed position into the day's ledger and the carried state, in the caller's transaction."""
        trade = closed_trade(position)
        await self.apply(
            tx, lambda state: on_trade_closed(roll_to(state, now, self.profile), trade, self.profile), now
        )
        day = await self._day_row(tx, now)
        if day is not None:
            day = await tx.daily_loss.book(
                day,
                realized_pnl=position.realized_pnl,
                fees=position.fees,
                funding=position.funding,
                at=now,
            )
            self.day = DayLedger(
                day.trading_day, day.start_of_day_equity, day.realized_pnl, day.fees, day.funding
            )
        self.history = [*self.history, trade][-HISTORY_LIMIT:]

    async def _day_row(self, tx: Repositories, now: datetime) -> DailyLossRow | None:
        """Today's ledger row; for a writer on another clock (the CLI) the newest row the daemon made."""
        row = await tx.daily_loss.get(self.account, trading_day(now, self.timezone))
        return row if row is not None else await tx.daily_loss.latest(self.account)

    async def set_breaker(
        self,
        tx: Repositories,
        transition: Transition,
        now: datetime,
        *,
        tripped_at: datetime | None = None,
        trip_reason: str | None = None,
        resumed_at: datetime | None = None,
        resumed_by: str | None = None,
    ) -> None:
        """Change the breaker and mirror it on today's ledger row (the day's audit record) with the trip
        or resume details given (those not given stay as they are)."""
        state = await self.apply(tx, transition, now)
        day = await self._day_row(tx, now)
        if day is not None:
            await tx.daily_loss.set_breaker(
                day,
                state.breaker,
                now,
                tripped_at=tripped_at,
                trip_reason=trip_reason,
                resumed_at=resumed_at,
                resumed_by=resumed_by,
            )
