"""What every part of execution shares for one exchange account."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from datetime import datetime

from executor.config.settings import ExecutionSettings
from executor.domain.account import AccountSnapshot
from executor.execution.clock import ExchangeClock
from executor.execution.riskbook import RiskBook
from executor.observability.logging import get_logger
from executor.observability.metrics import Metrics
from executor.ports.errors import ExchangeError
from executor.ports.exchange import URGENT_READS, ExchangePort, urgent_reads
from executor.risk import RiskProfile
from executor.store.store import Store

log = get_logger("executor.accounts")


class AccountCache:
    """The latest account snapshot; the tracker refreshes it, the signal path reads it if fresh."""

    def __init__(self, exchange: ExchangePort, max_age_seconds: float, streamed_seconds: float) -> None:
        self._exchange = exchange
        self._max_age = max_age_seconds
        self._streamed = streamed_seconds
        self._snapshot: AccountSnapshot | None = None
        self._fetched_at = 0.0
        self._outdated_at = float("-inf")
        self._renewal: asyncio.Task[None] | None = None
        self.followed: Callable[[], bool] = lambda: False
        """Whether the streams follow the account now (the daemon's `UserStreamApplier.follows`)."""

    def streamed_poll(self) -> float | None:
        """How often the pollers read the account while the streams follow it (`streamed_account_seconds`);
        None while they do not (a gap not yet resynced, a stream down or stalled): every pass reads."""
        return self._streamed if self.followed() else None

    @property
    def latest(self) -> AccountSnapshot | None:
        return self._snapshot

    @property
    def age_seconds(self) -> float | None:
        """How long ago the latest snapshot was read; None before the first."""
        return None if self._snapshot is None else time.monotonic() - self._fetched_at

    def fresh(self, max_age_seconds: float | None = None) -> AccountSnapshot | None:
        limit = self._max_age if max_age_seconds is None else max_age_seconds
        if self._snapshot is None or time.monotonic() - self._fetched_at > limit:
            return None
        return self._snapshot

    def outdate(self) -> None:
        """A close was booked: a snapshot read before it may still show the position, and the next signal on
        its symbol would be refused SYMBOL_HELD on it. The account is read again at once, off any signal's
        path (a read a decision made itself cost two requests on its path after every close); until that
        read is in, `fresh` has nothing (`latest` stays), and a read begun before this one is not kept."""
        self._fetched_at = float("-inf")
        self._outdated_at = time.monotonic()
        self._renewal = asyncio.create_task(self._renew())

    async def _renew(self) -> None:
        """Urgent (`urgent_reads`): the next signal may wait for it, as it would for its own read."""
        try:
            with urgent_reads():
                await self.refresh()
        except ExchangeError as exc:  # the next decision reads it on its path, and fails closed if it must
            log.warning("account_read_after_close_failed", error=str(exc))
        except Exception:  # a task of its own: nobody else would see it fail
            log.exception("account_read_after_close_failed")

    async def refresh(self) -> AccountSnapshot:
        started = time.monotonic()
        snapshot = await self._exchange.account_snapshot()
        if started >= self._outdated_at:
            self._snapshot, self._fetched_at = snapshot, time.monotonic()
        return snapshot

    async def for_decision(self) -> AccountSnapshot:
        """The snapshot a signal is decided on: the fresh one, else the read a booked close started (waited
        for, not begun again), else a read now."""
        renewal = self._renewal
        if self.fresh() is None and renewal is not None and not renewal.done():
            await asyncio.shield(renewal)
        return self.fresh() or await self.refresh()

    async def get(self, max_age_seconds: float | None = None) -> AccountSnapshot:
        return self.fresh(max_age_seconds) or await self.refresh()


Work = Callable[[], Awaitable[object]]


class _Section:
    """One holder of the account's lock: the whole account, or one symbol (with what it deferred)."""

    def __init__(self, symbol: str | None, *, nested: bool) -> None:
        self.symbol = symbol
        self.nested = nested
        """Inside this task's whole-account section: entering and leaving it changes nothing."""
        self.deferred: list[Work] = []
        self.tokens: tuple[Token[_Section | None], Token[Callable[[], bool]]] | None = None


_HELD: ContextVar[_Section | None] = ContextVar("execution_section", default=None)


class ExecutionLock:
    """The account's execution lock: whole (`async with lock`) or per symbol (`async with lock.symbol(s)`).

    Work on one symbol (a signal's decision and orders, the tracker's look at that symbol's entries and
    position) holds that symbol only, so a signal never waits behind the tracker's work on other symbols;
    work on the whole account (the breaker, reconciliation) excludes every symbol, and is preferred: while it
    waits no new symbol section starts. Inside a whole-account section, symbol sections are part of it; a
    symbol section takes no other section (it could wait forever).
    Work a symbol section needs done on the whole account (the breaker's check after a booked close) is
    deferred to its end (`with_account`): the account is taken right after the symbol is released, by the
    same task, before it does anything else (inside this task's whole-account section it runs at once).
    While a task whose reads are urgent waits (a signal, resting entries looked at for their expiry:
    `urgent_reads`), the holders' reads are urgent (`URGENT_READS`): it
    must not wait for polling the throttle holds back (issue #10 item 12). A poller waiting (the tracker,
    the breaker, a reconciliation) does not make them urgent: that let the tracker's reads past their share
    of the rate window whenever two loops met."""

    def __init__(self) -> None:
        self._changed = asyncio.Condition()
        self._account_held = False
        self._account_waiting = 0
        self._symbols_active = 0
        self._symbols: dict[str, asyncio.Lock] = {}
        self._waiting = 0

    def _contended(self) -> bool:
        return self._waiting > 0

    async def __aenter__(self) -> None:
        await self._enter(None)

    async def __aexit__(self, *exc: object) -> None:
        await self._exit()

    def symbol(self, symbol: str) -> contextlib.AbstractAsyncContextManager[None]:
        """The section for work on `symbol` alone."""
        return self._symbol_section(symbol)

    @contextlib.asynccontextmanager
    async def _symbol_section(self, symbol: str) -> AsyncIterator[None]:
        await self._enter(symbol)
        try:
            yield
        finally:
            await self._exit()

    async def with_account(self, work: Work) -> None:
        """Run `work` holding the whole account: now when it is held, else at the end of this task's symbol
        section, else after taking it."""
        held = _HELD.get()
        if held is None:
            async with self:
                await work()
        elif held.symbol is None:
            await work()
        else:
            held.deferred.append(work)

    async def _enter(self, symbol: str | None) -> None:
        held = _HELD.get()
        if held is not None:
            if held.symbol is not None and held.symbol != symbol:
                # Waiting here for another section while holding one could wait forever.
                raise RuntimeError(f"the {held.symbol} section cannot take {symbol or 'the account'}")
            self._push(_Section(symbol, nested=True))
            return
        # A waiter whose own reads are urgent (`urgent_reads`) makes the holders' reads urgent;
        # a poller waiting for a poller does not: its reads would spend the writes' reserve of the window.
        signal = URGENT_READS.get()()
        self._waiting += signal
        try:
            async with self._changed:
                if symbol is None:
                    self._account_waiting += 1
                    try:
                        await self._changed.wait_for(
                            lambda: not self._account_held and self._symbols_active == 0
                        )
                    finally:
                        self._account_waiting -= 1
                        self._changed.notify_all()  # symbols held back for a waiter that gave up go on
                    self._account_held = True
                else:
                    await self._changed.wait_for(lambda: not self._account_held and not self._account_waiting)
                    self._symbols_active += 1
            if symbol is not None:
                try:
                    await self._symbols.setdefault(symbol, asyncio.Lock()).acquire()
                except BaseException:
                    await self._leave(symbol)
                    raise
        finally:
            self._waiting -= signal
        self._push(_Section(symbol, nested=False))

    def _push(self, section: _Section) -> None:
        outer = URGENT_READS.get()
        section.tokens = (_HELD.set(section), URGENT_READS.set(lambda: outer() or self._contended()))

    async def _exit(self) -> None:
        section = _HELD.get()
        assert section is not None and section.tokens is not None, "left a section this task does not hold"
        held, urgent = section.tokens
        URGENT_READS.reset(urgent)
        _HELD.reset(held)
        if section.nested:
            await self._hand_out(section.deferred)
            return
        if section.symbol is not None:
            self._symbols[section.symbol].release()
        await self._leave(section.symbol)
        if section.deferred:
            async with self:
                for work in section.deferred:
                    await work()

    @staticmethod
    async def _hand_out(deferred: list[Work]) -> None:
        """A nested section's deferred work: now inside this task's whole-account section, else to the
        symbol section it is nested in (it was dropped: a breaker check after a close booked within a
        whole-account pass waited for the breaker's next tick)."""
        outer = _HELD.get()
        if outer is not None and outer.symbol is not None:
            outer.deferred.extend(deferred)
            return
        for work in deferred:
            await work()

    async def _leave(self, symbol: str | None) -> None:
        async with self._changed:
            if symbol is None:
                self._account_held = False
            else:
                self._symbols_active -= 1
            self._changed.notify_all()


@dataclass
class AccountContext:
    account: str
    store: Store
    exchange: ExchangePort
    profile: RiskProfile
    book: RiskBook
    clock: ExchangeClock
    metrics: Metrics
    settings: ExecutionSettings
    accounts: AccountCache
    lock: ExecutionLock = field(default_factory=ExecutionLock)
    """Serialises every sequence of exchange writes: per symbol (signals, the tracker), or for the whole
    account (breaker, reconciliation)."""

    def now(self) -> datetime:
        return self.clock.now()
