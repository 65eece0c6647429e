from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from executor.config.risk_profiles import load_profile
from executor.domain.enums import BreakerStatus, PositionStatus
from executor.execution.riskbook import DayLedger, RiskBook
from executor.risk import RiskProfile, resume, trip
from executor.store.models import PositionRow
from executor.store.store import Store

NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)
ACCOUNT = "main"


@pytest.fixture
def profile() -> RiskProfile:
    return load_profile("handbook")


async def test_first_equity_of_a_day_becomes_start_of_day_equity_and_survives_a_reload(
    store: Store, profile: RiskProfile
) -> None:
    book = RiskBook(store, ACCOUNT, profile)
    await book.load()
    assert await book.observe_equity(Decimal("1000"), NOW) is True
    assert await book.observe_equity(Decimal("900"), NOW + timedelta(hours=1)) is False
    again = RiskBook(store, ACCOUNT, profile)
    await again.load()
    assert again.day is not None and again.day.start_of_day_equity == Decimal("1000")
    assert again.peak_equity == Decimal("1000")
    assert await again.observe_equity(Decimal("950"), NOW + timedelta(days=1)) is True
    assert again.day is not None and again.day.start_of_day_equity == Decimal("950")


async def test_an_operator_halt_written_meanwhile_is_not_overwritten_by_the_daemon(
    store: Store, profile: RiskProfile
) -> None:
    daemon = RiskBook(store, ACCOUNT, profile)
    await daemon.load()
    await daemon.observe_equity(Decimal("1000"), NOW)

    operator = RiskBook(store, ACCOUNT, profile)
    await operator.load()
    async with store.transaction() as tx:
        await operator.set_breaker(tx, lambda s: trip(s, NOW, "manual halt"), NOW)

    # The daemon still holds the old version; its next save must land on top of the halt, not erase it.
    await daemon.observe_equity(Decimal("1100"), NOW + timedelta(minutes=1))
    assert daemon.state.breaker is BreakerStatus.TRIPPED and daemon.peak_equity == Decimal("1100")
    fresh = RiskBook(store, ACCOUNT, profile)
    await fresh.load()
    assert (fresh.state.breaker, fresh.state.trip_reason) == (BreakerStatus.TRIPPED, "manual halt")


async def test_refresh_picks_up_a_resume_by_the_operator(store: Store, profile: RiskProfile) -> None:
    daemon = RiskBook(store, ACCOUNT, profile)
    await daemon.load()
    async with store.transaction() as tx:
        await daemon.set_breaker(tx, lambda s: trip(s, NOW, "limit"), NOW)
    assert await daemon.refresh_if_changed() is False

    operator = RiskBook(store, ACCOUNT, profile)
    await operator.load()
    async with store.transaction() as tx:
        await operator.set_breaker(tx, lambda s: resume(s, NOW, "checked"), NOW)
    assert await daemon.refresh_if_changed() is True
    assert daemon.state.breaker is BreakerStatus.ACTIVE and daemon.state.resume_note == "checked"


async def test_a_closed_position_moves_the_streak_and_the_days_ledger(
    store: Store, profile: RiskProfile
) -> None:
    book = RiskBook(store, ACCOUNT, profile)
    await book.load()
    await book.observe_equity(Decimal("1000"), NOW)
    async with store.transaction() as tx:
        position = await tx.positions.add(
            PositionRow(
                account=ACCOUNT,
                symbol="SOL/USDT:USDT",
                side="long",
                status=PositionStatus.CLOSED.value,
                qty=Decimal("7"),
                entry_price=Decimal("150"),
                stop_price=Decimal("140"),
                leverage=5,
                setup="primary",
                equity_before=Decimal("1000"),
                exit_price=Decimal("140"),
                realized_pnl=Decimal("-70"),
                fees=Decimal("1.01"),
                funding=Decimal("-0.5"),
                opened_at=NOW,
                closed_at=NOW + timedelta(minutes=5),
            )
        )
        await book.record_close(tx, position, NOW + timedelta(minutes=5))
    reloaded = RiskBook(store, ACCOUNT, profile)
    await reloaded.load()
    assert reloaded.state.loss_streak == 1
    assert reloaded.day is not None and reloaded.day.net == Decimal("-71.51")
    assert [trade.pnl for trade in reloaded.history] == [Decimal("-71.51")]


async def test_the_trading_day_rollover_hands_the_ended_day_and_the_new_equity_to_the_daily_summary(
    store: Store, profile: RiskProfile
) -> None:
    book = RiskBook(store, ACCOUNT, profile)
    await book.load()
    ended: list[tuple[DayLedger, Decimal]] = []
    book.on_day_ended = lambda day, equity: ended.append((day, equity))
    await book.observe_equity(Decimal("1000"), NOW)
    await book.observe_equity(Decimal("990"), NOW + timedelta(hours=1))
    assert ended == []

    await book.observe_equity(Decimal("980"), NOW + timedelta(days=1))

    assert [(day.trading_day, day.start_of_day_equity, equity) for day, equity in ended] == [
        (NOW.date(), Decimal("1000"), Decimal("980"))
    ]
