"""Builders for risk-engine inputs: a plain SOL market and a flat 1,000 USDT account, tweakable per test."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from executor.config.risk_profiles import load_profile
from executor.domain.enums import EntryType, Setup, Side
from executor.risk import (
    CarriedState,
    ClosedTrade,
    Decision,
    Entry,
    LeverageBracket,
    OpenPosition,
    RiskAccount,
    RiskMarket,
    RiskProfile,
    Signal,
    decide,
    derive_state,
)

D = Decimal
NOW = datetime(2026, 6, 2, 14, 0, tzinfo=UTC)

TIERS = (
    LeverageBracket(D(50_000), 50, D("0.005"), D(0)),
    LeverageBracket(D(250_000), 20, D("0.01"), D(250)),
    LeverageBracket(D(1_000_000), 10, D("0.025"), D(4000)),
)


def market(**changes: Any) -> RiskMarket:
    base = RiskMarket(
        price=D("74.20"),
        amount_step=D("0.01"),
        price_tick=D("0.01"),
        min_amount=D("0.01"),
        min_notional=D(5),
        max_leverage=50,
        leverage_tiers=TIERS,
        taker_fee=D(0),
        funding_rate=D(0),
        insurance_fund=D(500_000_000),
        quoted_at=NOW,
    )
    return replace(base, **changes)


def account(equity: str | int = 1000, **changes: Any) -> RiskAccount:
    value = D(equity)
    base = RiskAccount(equity=value, free_margin=value, start_of_day_equity=value, peak_equity=value)
    return replace(base, **changes)


def signal(
    stop: str = "74.10",
    side: Side = Side.LONG,
    entry: str | None = None,
    tp: tuple[str, ...] = (),
    **changes: Any,
) -> Signal:
    base = Signal(
        id="s1",
        symbol="SOL/USDT:USDT",
        side=side,
        entry=Entry(EntryType.MARKET) if entry is None else Entry(EntryType.LIMIT, D(entry)),
        stop=D(stop),
        take_profits=tuple(D(t) for t in tp),
    )
    return replace(base, **changes)


def position(
    symbol: str = "BTC/USDT:USDT",
    qty: str = "0.01",
    entry: str = "60000",
    stop: str = "59400",
    leverage: int = 10,
    side: Side = Side.LONG,
    opened_at: datetime | None = None,
) -> OpenPosition:
    return OpenPosition(symbol, side, D(qty), D(entry), D(stop), leverage, opened_at)


def trade(
    pnl: str | int, minutes_ago: int = 600, equity_before: str | int = 1000, setup: Setup = Setup.PRIMARY
) -> ClosedTrade:
    closed = NOW - timedelta(minutes=minutes_ago)
    return ClosedTrade(closed - timedelta(minutes=30), closed, D(pnl), D(equity_before), setup)


def profile(name: str = "handbook", **overrides: Any) -> RiskProfile:
    return load_profile(name, overrides)


def run(
    sig: Signal | None = None,
    acct: RiskAccount | None = None,
    mkt: RiskMarket | None = None,
    prof: RiskProfile | None = None,
    state: CarriedState | None = None,
    now: datetime = NOW,
) -> Decision:
    sig = sig or signal()
    acct = acct or account()
    mkt = mkt or market()
    prof = prof or profile()
    if state is None:
        state = derive_state(acct, prof, now)
    return decide(sig, acct, mkt, prof, state, now)


def step(decision: Decision, name: str) -> Any:
    for item in decision.steps:
        if item.step == name:
            return item
    raise AssertionError(f"no step {name} in {[s.step for s in decision.steps]}")
