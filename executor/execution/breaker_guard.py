"""The daily-loss circuit breaker in action: evaluate, trip, cancel entries, flatten, and reset.

The verdict is the risk engine's (`evaluate_daily_loss`); this module acts on it. On the equity basis a
breach must hold on two consecutive readings of the account (two snapshots read apart, not one judged
twice), so one bad mark does not halt the day; on the realized basis the booked loss is a fact and trips
at once.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from decimal import Decimal

from executor.crashpoints import CrashPoint, crash_point
from executor.domain.account import AccountSnapshot
from executor.domain.display import money
from executor.domain.enums import BreakerStatus, EventKind, OrderKind
from executor.domain.notices import AlertKind, Figure, Notice, NoticeEvent, Severity, Unit, operator_action
from executor.domain.order_state import OrderState
from executor.execution.alerts import Alerter
from executor.execution.context import AccountContext
from executor.execution.operator import current_pause
from executor.execution.positions import PositionKeeper
from executor.observability.logging import get_logger
from executor.ports.exchange import urgent_reads
from executor.risk import BreakerAction, BreakerVerdict, LossBasis, anchor_resume, evaluate_daily_loss, trip
from executor.store.models import PositionRow

log = get_logger("executor.breaker")


class BreakerGuard:
    def __init__(self, ctx: AccountContext, keeper: PositionKeeper, alerter: Alerter) -> None:
        self.ctx = ctx
        self.keeper = keeper
        self.alerter = alerter
        self._breaches = 0
        self._breached_on: AccountSnapshot | None = None
        """The snapshot the latest breach was counted on."""
        self._was_tripped = ctx.book.halted
        self._was_paused: bool | None = None  # unknown until the first tick reads it

    async def on_booked(self, _position: PositionRow) -> None:
        """A booked close may trip the breaker, whose check acts on the whole account: at once when the
        booking held it, else as soon as the booking's symbol section ends."""
        await self.ctx.lock.with_account(self.check)

    async def tick(self) -> None:
        """Periodic: pick up an operator's halt or resume, then evaluate on fresh equity: at most half the
        breaker's interval old, or while the streams follow the account the tracker's latest snapshot
        (read every `streamed_account_seconds`; the breaker reads only when the tracker is a tick late).
        A breach waiting for its confirming reading reads at once: it would otherwise wait for the tracker's
        next snapshot, seconds in which a database outage stalled the trip in a crash trial (seed 93052).
        That tick's reads are urgent (`urgent_reads`), as a signal's are: the confirming read, and the halt's
        cancels and flatten it may lead to, must not wait for the pollers' share of the request budget (crash
        trial seed 100361, Phemex: the read waited a second and more in the throttle, the breaker still
        active when the trial looked)."""
        await self.ctx.book.refresh_if_changed()
        await self._notice_pause()
        settings = self.ctx.settings
        every = self.ctx.accounts.streamed_poll()
        pending = self._breached_on is not None
        if every is None or pending:
            max_age = settings.breaker_interval_seconds / 2
        else:
            max_age = every + settings.poll_interval_seconds
        with urgent_reads() if pending else contextlib.nullcontext():
            await self.ctx.accounts.get(max_age_seconds=max_age)
            async with self.ctx.lock:
                await self.check()

    async def check(self) -> None:
        """Evaluate the day's loss; the caller holds the execution lock."""
        ctx = self.ctx
        account = ctx.accounts.latest
        if account is None:
            return
        now = ctx.now()
        await ctx.book.observe_equity(account.equity, now)
        day = ctx.book.day
        config = ctx.profile.daily_loss

        def evaluate() -> BreakerVerdict:
            return evaluate_daily_loss(
                config,
                start_of_day_equity=day.start_of_day_equity if day else None,
                equity=account.equity,
                realized_today=day.net if day else None,
                loss_at_resume=ctx.book.state.loss_at_resume,
            )

        self._notify_change()
        if ctx.book.state.resume_pending and not ctx.book.halted:
            await self._anchor_resume(evaluate().loss, now)
        verdict = evaluate()
        if verdict.loss is not None:
            ctx.metrics.day_loss.set(float(verdict.loss))
        if verdict.limit is not None:
            ctx.metrics.day_loss_limit.set(float(verdict.limit))
        if ctx.book.halted:
            await self._enforce(newly=not self._was_tripped)
            return
        self._was_tripped = False
        ctx.metrics.breaker_tripped.set(0)
        if not verdict.trips or verdict.loss is None:
            self._breaches, self._breached_on = 0, None
            return
        if account is not self._breached_on:  # the checks share snapshots (`AccountCache`): count each once
            self._breaches += 1
            self._breached_on = account
        if config.basis is LossBasis.EQUITY and self._breaches < 2:
            log.warning(
                "daily_loss_breach_pending_confirmation", loss=str(verdict.loss), limit=str(verdict.limit)
            )
            return
        limit = "none" if verdict.limit is None else money(verdict.limit)
        reason = f"{verdict.reason} (loss {money(verdict.loss)} ≥ limit {limit}, {config.basis.value} basis)"
        async with ctx.store.transaction() as tx:
            await ctx.book.set_breaker(
                tx, lambda state: trip(state, now, reason), now, tripped_at=now, trip_reason=reason
            )
            await tx.events.append(
                account=ctx.account,
                at=now,
                kind=EventKind.BREAKER_TRIPPED,
                data={"reason": reason, "loss": str(verdict.loss), "limit": str(verdict.limit)},
            )
        crash_point(CrashPoint.BREAKER_TRIPPED)
        self.alerter.raise_alert(
            AlertKind.BREAKER_TRIPPED,
            reason,
            Figure("loss", verdict.loss, Unit.MONEY),
            *([] if verdict.limit is None else [Figure("limit", verdict.limit, Unit.MONEY)]),
            Figure("action", config.action.value),
        )
        await self._enforce(newly=True)

    async def _notice_pause(self) -> None:
        """An operator's pause or unpause, from the CLI or HTTP, noticed here as a halt is: the pause is
        a row another process may write, so the daemon reads it once per tick and notifies a change."""
        async with self.ctx.store.read() as tx:
            pause = await current_pause(tx, self.ctx.account)
        if self._was_paused is not None and pause.paused != self._was_paused:
            event, headline = (
                (NoticeEvent.OPERATOR_PAUSE, pause.describe())
                if pause.paused
                else (NoticeEvent.OPERATOR_UNPAUSE, "new entries allowed again")
            )
            self.alerter.notify(operator_action(event, headline, by=pause.by))
        self._was_paused = pause.paused

    def _notify_change(self) -> None:
        """A halt or resume this daemon did not make itself (an operator's, the day's rollover).

        Called before the check acts, so `_was_tripped` still says what the last check saw; the daemon's
        own trip is notified as its alert.
        """
        book = self.ctx.book
        if book.halted and not self._was_tripped:
            reason = book.state.trip_reason or "halted"
            self.alerter.notify(operator_action(NoticeEvent.OPERATOR_HALT, f"trading halted: {reason}"))
        elif self._was_tripped and not book.halted:
            self._notify_reset(operator=book.state.resume_pending)

    def _notify_reset(self, *, operator: bool) -> None:
        """The breaker is active again: an operator's resume, or the trading day's rollover."""
        if operator:
            notice = operator_action(NoticeEvent.OPERATOR_RESUME, "trading resumed by the operator")
        else:
            headline = "breaker reset: a new trading day"
            notice = Notice(NoticeEvent.BREAKER_RESET, headline, severity=Severity.SUCCESS)
        self.alerter.notify(notice)

    async def _anchor_resume(self, loss: Decimal | None, now: datetime) -> None:
        """An operator's resume: from now on the limit counts from today's loss as it stands."""
        if loss is None:
            return
        async with self.ctx.store.transaction() as tx:
            await self.ctx.book.apply(tx, lambda state: anchor_resume(state, loss), now)
        self._breaches, self._breached_on = 0, None
        log.warning(
            "breaker_resumed", loss_at_resume=str(loss), detail="the limit counts from this loss today"
        )

    async def _enforce(self, *, newly: bool) -> None:
        """A tripped breaker with the halt action: no entry may rest, and with flatten no position stays."""
        ctx = self.ctx
        ctx.metrics.breaker_tripped.set(1)
        self._was_tripped = True
        config = ctx.profile.daily_loss
        if config.action is not BreakerAction.HALT or ctx.book.state.breaker is not BreakerStatus.TRIPPED:
            return
        async with ctx.store.read() as tx:
            entries = [
                row
                for row in await tx.orders.in_states(ctx.account, [OrderState.OPEN])
                if row.kind is OrderKind.ENTRY
            ]
        for row in entries:
            await self.keeper.cancel_entry(row)
        if config.flatten:
            for position in await self.keeper.open_positions():
                if newly:
                    log.warning("breaker_flatten", symbol=position.symbol)
                await self.keeper.close_at_market(position.id, "daily-loss breaker tripped")
