"""Translate what the exchange and the store know into the risk engine's inputs, and nothing more.

An open ``Instruction`` becomes the risk engine's ``Signal``; the exchange's snapshots, the risk book and the
stored positions become the engine's ``RiskAccount`` and ``RiskMarket`` (why the engine keeps its own
views: executor/risk/inputs.py). This module is the only place that knows both shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import timedelta
from decimal import Decimal

from executor.domain import account as exchange_account
from executor.domain import market as exchange_market
from executor.domain.enums import Setup, Side
from executor.domain.signal import Instruction, Signal
from executor.execution.riskbook import RiskBook
from executor.risk import LeverageBracket, OpenPosition, RiskAccount, RiskMarket
from executor.store.models import PositionRow

UNBOUNDED_NOTIONAL = Decimal(10) ** 18


def risk_signal(signal: Instruction, symbol: str) -> Signal:
    assert signal.side is not None and signal.entry is not None and signal.stop is not None
    return Signal(
        id=signal.id,
        symbol=symbol,
        side=signal.side,
        entry=signal.entry,
        stop=signal.stop,
        take_profits=() if signal.take_profit is None else (signal.take_profit,),
        conviction=signal.conviction,
        strength=signal.strength,
        setup=signal.setup or Setup.PRIMARY,
        volatility=signal.volatility,
        regime=signal.regime,
        expires_at=signal.expires_at,
    )


def risk_market(
    snapshot: exchange_market.MarketSnapshot, *, max_price_age_ms: int, clock_offset: timedelta
) -> RiskMarket:
    """`clock_offset` moves the host-clock read times onto the exchange's clock the engine's `now` is on."""
    filters = snapshot.filters
    funding = snapshot.funding
    quoted_at = snapshot.book_at if snapshot.book_at is not None else snapshot.mark_at
    interval = funding.interval if funding is not None else None
    return RiskMarket(
        price=snapshot.mark_price,
        amount_step=filters.amount_step if filters else None,
        price_tick=filters.price_tick if filters else None,
        min_amount=filters.min_amount if filters else None,
        min_notional=filters.min_notional if filters else None,
        price_band_down=filters.price_band_down if filters else None,
        price_band_up=filters.price_band_up if filters else None,
        max_leverage=_max_leverage(snapshot),
        leverage_tiers=tuple(
            LeverageBracket(
                max_notional=tier.notional_cap if tier.notional_cap is not None else UNBOUNDED_NOTIONAL,
                max_leverage=int(tier.max_leverage),
                mmr=tier.maintenance_margin_rate,
                cum=tier.maintenance_amount,
            )
            for tier in snapshot.tiers
        ),
        taker_fee=snapshot.taker_fee,
        funding_rate=funding.rate if funding is not None else None,
        funding_interval_hours=(
            Decimal(int(interval.total_seconds())) / 3600 if interval is not None else Decimal(8)
        ),
        insurance_fund=snapshot.insurance_fund,
        stale=not snapshot.is_complete,
        bid=snapshot.bid,
        ask=snapshot.ask,
        quoted_at=quoted_at + clock_offset if quoted_at is not None else None,
        max_price_age_ms=max_price_age_ms,
    )


def risk_account(
    account: exchange_account.AccountSnapshot | None,
    positions: Sequence[PositionRow],
    book: RiskBook,
    *,
    stale: bool,
    held: Mapping[str, str] | None = None,
) -> RiskAccount:
    """Equity from the exchange; the day, peak, history and breaker from the book; stops from the store."""
    day = book.day
    return RiskAccount(
        equity=account.equity if account is not None else None,
        free_margin=account.free_margin if account is not None else None,
        start_of_day_equity=day.start_of_day_equity if day is not None else None,
        peak_equity=book.peak_equity,
        positions=tuple(
            OpenPosition(
                symbol=row.symbol,
                side=Side(row.side),
                qty=row.qty,
                entry=row.entry_price,
                stop=row.stop_price if row.stop_price is not None else row.entry_price,
                leverage=row.leverage,
                opened_at=row.opened_at,
            )
            for row in positions
        ),
        history=tuple(book.history),
        realized_pnl_today=day.net if day is not None else None,
        breaker=book.state.breaker,
        stale=stale or account is None,
        held=dict(held or {}),
    )


def _max_leverage(snapshot: exchange_market.MarketSnapshot) -> int | None:
    """The market's own maximum, else the first tier's (exchanges publish it only on the brackets)."""
    if snapshot.filters is not None and snapshot.filters.max_leverage:
        return int(snapshot.filters.max_leverage)
    leverages = [int(tier.max_leverage) for tier in snapshot.tiers]
    return max(leverages) if leverages else None
