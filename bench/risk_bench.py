"""Decisions per second of the full risk pipeline: 10 open positions and 200 closed trades of history.

Rows: each named profile deciding on a prepared carried state (the daemon's hot path), and the same
with the state derived from the history on every call (what `executor size` does). One core, no I/O.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from executor.config.risk_profiles import load_profile
from executor.domain.enums import EntryType, Side
from executor.risk import (
    ClosedTrade,
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
GOAL = 10_000


def scenario() -> tuple[Signal, RiskAccount, RiskMarket]:
    positions = tuple(
        OpenPosition(
            f"C{i}/USDT:USDT", Side.LONG, D("10"), D("10"), D("9.9"), 3, NOW - timedelta(hours=i + 2)
        )
        for i in range(10)
    )
    history = tuple(
        ClosedTrade(
            NOW - timedelta(hours=400 - 2 * i, minutes=30),
            NOW - timedelta(hours=400 - 2 * i),
            D(12) if i % 3 else D(-10),
            D(100_000),
        )
        for i in range(200)
    )
    account = RiskAccount(D(100_000), D(90_000), D(100_000), D(101_000), positions, history)
    tiers = (
        LeverageBracket(D(50_000), 50, D("0.005"), D(0)),
        LeverageBracket(D(250_000), 20, D("0.01"), D(250)),
        LeverageBracket(D(1_000_000), 10, D("0.025"), D(4_000)),
    )
    market = RiskMarket(
        D("74.20"), D("0.01"), D("0.01"), D("0.01"), D(5), 50, tiers, D("0.0005"), D("0.0001"),
        insurance_fund=D(500_000_000), avg_volatility=D("0.05"),
        bid=D("74.19"), ask=D("74.20"), quoted_at=NOW,
    )  # fmt: skip
    signal = Signal(
        "bench", "SOL/USDT:USDT", Side.LONG, Entry(EntryType.MARKET), D("73.50"), (D("76.20"),),
        conviction=D(8), strength=D("0.7"), volatility=D("0.02"),
    )  # fmt: skip
    return signal, account, market


def rate(profile: RiskProfile, derive: bool, seconds: float = 0.5, rounds: int = 3) -> tuple[float, bool]:
    """Best of `rounds` timed runs, so a busy neighbour on a shared machine skews the figure less."""
    signal, account, market = scenario()
    state = derive_state(account, profile, NOW)
    accepted = decide(signal, account, market, profile, state, NOW).accepted
    best = 0.0
    for _ in range(rounds):
        count, start = 0, time.perf_counter()
        deadline = start + seconds
        while time.perf_counter() < deadline:
            for _ in range(50):
                if derive:
                    state = derive_state(account, profile, NOW)
                decide(signal, account, market, profile, state, NOW)
            count += 50
        best = max(best, count / (time.perf_counter() - start))
    return best, accepted


def main() -> None:
    print(
        f"{'profile':<18} {'state':<10} {'accepted':>8} {'decisions/s':>12} {'µs/decision':>12} {'goal':>6}"
    )
    for name in ("handbook", "fixed-risk", "dynamic-4x", "conservative-10x"):
        profile = load_profile(name)
        for derive in (False, True):
            per_second, accepted = rate(profile, derive)
            verdict = "ok" if per_second >= GOAL else "miss"
            label = "derived" if derive else "carried"
            micros = 1e6 / per_second
            print(f"{name:<18} {label:<10} {accepted!s:>8} {per_second:>12,.0f} {micros:>12.1f} {verdict:>6}")
    print(f"goal: ≥ {GOAL:,} decisions/s on one core with a carried state (the daemon's path)")


if __name__ == "__main__":
    main()
