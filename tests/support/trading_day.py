"""One trading day with known numbers, stored as the daemon leaves it: two trades closed (a winner and a
loser), one closed the next day, a rejected signal, an invalid message, and a breaker trip.

Trade 1: long 2 @ 100, risk at entry 10, exit 110: gross 20, fees 1, funding -0.5 → net 18.50, R 1.85.
Trade 2: short 1 @ 50, risk at entry 2, exit 53: gross -3, fees 0.2, funding 0.1 → net -3.10, R -1.55.
The day: net 15.40, fees 1.20, funding -0.40, average R 0.15.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from executor.domain.enums import (
    BreakerStatus,
    EventKind,
    PositionStatus,
    Setup,
    Side,
    SignalSource,
    SignalStatus,
)
from executor.domain.reasons import ReasonCode
from executor.store.models import DailyLossRow, DecisionRow, PositionRow
from executor.store.store import Store

ACCOUNT = "main"
DAY = date(2026, 6, 2)
START = datetime(2026, 6, 2, tzinfo=UTC)


def at(hours: float) -> datetime:
    return START + timedelta(hours=hours)


async def _decided(
    store: Store, signal_id: str, side: Side, stop: Decimal, when: datetime, reason: ReasonCode | None = None
) -> int:
    async with store.transaction() as tx:
        row, _ = await tx.signals.store(
            account=ACCOUNT,
            signal_id=signal_id,
            source=SignalSource.WEBSOCKET,
            payload={"id": signal_id},
            received_at=when,
        )
        await tx.decisions.add(
            DecisionRow(
                signal_pk=row.id, account=ACCOUNT, accepted=reason is None, reason=reason, message="test",
                symbol="BTC/USDT:USDT", side=side, qty=None, leverage=None, entry=None, stop=stop,
                take_profit=None, notional=None, margin=None, risk=None, risk_pct=None,
                liquidation_price=None, binding=None, steps=[], decided_at=when,
            )
        )  # fmt: skip
        await tx.signals.settle(row.id, SignalStatus.DECIDED, when)
        return row.id


async def _closed(
    store: Store,
    signal_pk: int,
    side: Side,
    trade: tuple[str, str, str, str],
    pnl: tuple[str, str, str],
    hours: tuple[float, float],
) -> None:
    """`trade`: quantity, entry, exit, risk at entry; `pnl`: gross, fees, funding."""
    qty, entry, exit_price, risk = (Decimal(value) for value in trade)
    gross, fees, funding = (Decimal(value) for value in pnl)
    async with store.transaction() as tx:
        await tx.positions.add(
            PositionRow(
                account=ACCOUNT, signal_pk=signal_pk, symbol="BTC/USDT:USDT", side=side,
                status=PositionStatus.CLOSED, qty=qty, entry_price=entry, stop_price=None, risk_at_entry=risk,
                take_profit=None, leverage=2, setup=Setup.PRIMARY, equity_before=Decimal(10000),
                exit_price=exit_price, realized_pnl=gross, fees=fees, funding=funding,
                opened_at=at(hours[0]), closed_at=at(hours[1]),
            )
        )  # fmt: skip


async def store_trading_day(store: Store) -> None:
    async with store.transaction() as tx:
        for day, equity in ((DAY, "10000"), (DAY + timedelta(days=1), "10015.40")):
            await tx.daily_loss.add(
                DailyLossRow(
                    account=ACCOUNT, trading_day=day, start_of_day_equity=Decimal(equity),
                    realized_pnl=Decimal(0), fees=Decimal(0), funding=Decimal(0),
                    breaker=BreakerStatus.ACTIVE, updated_at=START,
                )
            )  # fmt: skip
        ledger = await tx.daily_loss.get(ACCOUNT, DAY)
        assert ledger is not None
        ledger.realized_pnl, ledger.fees, ledger.funding = Decimal(17), Decimal("1.2"), Decimal("-0.4")
        ledger.breaker, ledger.tripped_at, ledger.trip_reason = BreakerStatus.TRIPPED, at(20), "operator halt"
        await tx.events.append(
            account=ACCOUNT, at=at(20), kind=EventKind.OPERATOR_HALT, data={"by": "cli:ops"}
        )
        await tx.rejected.add(
            account=ACCOUNT,
            source=SignalSource.WEBHOOK,
            raw="{",
            errors=[{"field": "body"}],
            received_at=at(3),
        )
    winner = await _decided(store, "day-win", Side.LONG, Decimal(95), at(1))
    await _closed(store, winner, Side.LONG, ("2", "100", "110", "10"), ("20", "1", "-0.5"), (1, 5))
    loser = await _decided(store, "day-lose", Side.SHORT, Decimal(52), at(6))
    await _closed(store, loser, Side.SHORT, ("1", "50", "53", "2"), ("-3", "0.2", "0.1"), (6, 9))
    await _decided(store, "day-held", Side.LONG, Decimal(90), at(7), ReasonCode.SYMBOL_HELD)
    later = await _decided(store, "next-day", Side.LONG, Decimal(95), at(25))
    await _closed(store, later, Side.LONG, ("1", "100", "120", "5"), ("20", "0", "0"), (25, 26))
    await _decided(store, "next-held", Side.LONG, Decimal(90), at(27), ReasonCode.SYMBOL_HELD)
