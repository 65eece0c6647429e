"""Isolated-margin liquidation prices against Binance's published USDⓈ-M formula and bracket examples."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.domain.enums import Side
from executor.risk import LeverageBracket, liquidation_price, tier_for

D = Decimal

# Binance BTCUSDT brackets as in its FAQ: 264,000 USDT → 1 %; 500,000 → maintenance amount 1,300.
BINANCE = (
    LeverageBracket(D(50_000), 125, D("0.004"), D(0)),
    LeverageBracket(D(250_000), 100, D("0.005"), D(50)),
    LeverageBracket(D(1_000_000), 50, D("0.01"), D(1300)),
)


def binance_formula(
    side: Side, qty: Decimal, entry: Decimal, wallet: Decimal, mmr: Decimal, cum: Decimal
) -> Decimal:
    """LP = (WB − TMM + UPNL + cum − side·size·EP) / (size·MMR − side·size), isolated: TMM = UPNL = 0."""
    s = D(side.sign)
    return (wallet + cum - s * qty * entry) / (qty * mmr - s * qty)


def test_binance_faq_brackets_264k_is_1pct_and_500k_has_1300_maintenance_amount() -> None:
    assert tier_for(BINANCE, D(264_000)).mmr == D("0.01")  # type: ignore[union-attr]
    assert tier_for(BINANCE, D(500_000)).cum == D(1300)  # type: ignore[union-attr]
    assert tier_for(BINANCE, D(1_000_001)) is None


def test_binance_faq_maintenance_amount_of_a_level_follows_from_the_previous_one() -> None:
    assert D(250_000) * (D("0.01") - D("0.005")) + D(50) == BINANCE[2].cum


def test_maintenance_amounts_make_the_margin_continuous_at_bracket_boundaries() -> None:
    for lower, upper in itertools.pairwise(BINANCE):
        edge = lower.max_notional
        assert edge * lower.mmr - lower.cum == edge * upper.mmr - upper.cum


@pytest.mark.parametrize(
    ("side", "qty", "entry", "leverage", "expected"),
    [
        (Side.LONG, D(1), D(10_000), 20, D(9_500) / D("0.996")),  # tier 1: 0.4 %, cum 0
        (Side.SHORT, D(1), D(10_000), 20, D(10_500) / D("1.004")),
        (Side.LONG, D(10), D(30_000), 10, D(268_700) / D("9.9")),  # 300,000 notional: tier 3, cum 1,300
    ],
)
def test_worked_examples(side: Side, qty: Decimal, entry: Decimal, leverage: int, expected: Decimal) -> None:
    tier = tier_for(BINANCE, qty * entry)
    assert tier is not None
    assert liquidation_price(side, qty, entry, leverage, tier.mmr, tier.cum) == expected


@settings(max_examples=200, deadline=None)
@given(
    side=st.sampled_from(Side),
    qty=st.decimals(D("0.001"), D(100), places=3),
    entry=st.decimals(D(1), D(100_000), places=2),
    leverage=st.integers(1, 125),
)
def test_matches_binance_formula_with_isolated_wallet_equal_to_initial_margin(
    side: Side, qty: Decimal, entry: Decimal, leverage: int
) -> None:
    tier = tier_for(BINANCE, qty * entry) or BINANCE[-1]
    ours = liquidation_price(side, qty, entry, leverage, tier.mmr, tier.cum)
    theirs = binance_formula(side, qty, entry, qty * entry / leverage, tier.mmr, tier.cum)
    expected = max(theirs, D(0)) if side is Side.LONG else theirs
    assert abs(ours - expected) <= D("1e-18") * max(expected, D(1))


def test_exchange_liquidation_after_the_fill_is_checked_with_the_same_rules() -> None:
    from executor.risk import liquidation_violation
    from executor.risk.profile import Liquidation

    config = Liquidation()
    assert liquidation_violation(Side.LONG, D(100), D(99), D("90.46"), config) is None
    assert "2 × stop distance" in str(liquidation_violation(Side.LONG, D(100), D(99), D("98.5"), config))
    assert "not beyond the stop" in str(liquidation_violation(Side.SHORT, D(100), D(101), D("100.5"), config))
    assert (
        liquidation_violation(Side.LONG, D(100), D(99), D("90.46"), config, volatility=D("0.05")) is not None
    )
    assert (
        liquidation_violation(Side.SHORT, D(100), D(101), None, config) == "the liquidation price is unknown"
    )
