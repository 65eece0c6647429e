"""The check after the fill (RISK_SPEC 2.5, docs/risk.md "After the fill"): the risk at the stop from the
price paid, fees included, against R × (1 + risk_tolerance_pct), and the excess quantity to close."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from executor.domain.enums import Side
from executor.risk.fill import check_fill

D = Decimal
LONG, SHORT = Side.LONG, Side.SHORT

CASES = [
    # id, side, qty, fill, reference, stop, taker, R, tolerance, step → risk, excess, slippage
    ("docs: within the allowance", LONG, "10", "74.27", "74.20", "73.20", "0", "10.70", "0.05", "0.01",
     "10.70", "0", "0.07"),
    ("docs: 16.00 at risk against 10.50 keeps 6.25", LONG, "10", "74.80", "74.20", "73.20", "0", "10", "0.05",
     "0.01", "16.00", "3.75", "0.60"),
    ("exactly R plus the tolerance is kept whole", LONG, "10", "101.05", "101", "100", "0", "10", "0.05", "1",
     "10.50", "0", "0.05"),
    ("a cent past the tolerance keeps what R carries", LONG, "10", "101.06", "101", "100", "0", "10", "0.05",
     "1", "10.60", "1", "0.06"),
    ("fees count: 0.3% taker on both legs", LONG, "10", "101", "101", "100", "0.003", "10", "0.05", "0.1",
     "16.030", "3.8", "0"),
    ("a short filled below its reference", SHORT, "4", "99", "100", "102", "0", "10", "0.05", "1",
     "12", "1", "1"),
    ("a short filled better: negative slippage", SHORT, "4", "100.5", "100", "102", "0", "10", "0.05", "1",
     "6.0", "0", "-0.5"),
    ("R that carries not one step closes everything", LONG, "3", "110", "100", "100.5", "0", "5", "0.05", "1",
     "28.5", "3", "10"),
    ("no tolerance: any risk over R is reduced", LONG, "10", "101.01", "101", "100", "0", "10", "0", "1",
     "10.10", "1", "0.01"),
    ("a long filled under its stop: no loss", LONG, "5", "99", "100", "99.5", "0", "1", "0.05", "1",
     "0", "0", "-1"),
]  # fmt: skip


@pytest.mark.parametrize(
    (
        "side",
        "qty",
        "fill",
        "reference",
        "stop",
        "taker",
        "budget",
        "tolerance",
        "step",
        "risk",
        "excess",
        "slip",
    ),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_the_fill_check_table(
    side: Side,
    qty: str,
    fill: str,
    reference: str,
    stop: str,
    taker: str,
    budget: str,
    tolerance: str,
    step: str,
    risk: str,
    excess: str,
    slip: str,
) -> None:
    check = check_fill(
        side, D(qty), D(fill), D(reference), D(stop), D(taker), D(budget), D(tolerance), D(step)
    )
    assert (check.risk, check.excess_qty, check.slippage) == (D(risk), D(excess), D(slip))
    assert check.limit == D(budget) * (1 + D(tolerance))


prices = st.decimals(min_value=D("1"), max_value=D("1000"), places=2)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([LONG, SHORT]),
    st.integers(1, 10_000).map(lambda n: D(n) / 100),
    prices,
    prices,
    st.decimals(min_value=D("0.1"), max_value=D("500"), places=2),
    st.sampled_from([D("0"), D("0.0002"), D("0.0005"), D("0.001")]),
    st.sampled_from([D("0"), D("0.05"), D("0.2")]),
)
def test_what_the_check_keeps_risks_at_most_r_and_it_only_reduces_beyond_the_tolerance(
    side: Side,
    qty: Decimal,
    fill: Decimal,
    stop: Decimal,
    budget: Decimal,
    taker: Decimal,
    tolerance: Decimal,
) -> None:
    step = D("0.01")
    check = check_fill(side, qty, fill, fill, stop, taker, budget, tolerance, step)
    per_unit = (fill - stop) * side.sign + taker * (fill + stop)
    assert 0 <= check.excess_qty <= qty and check.excess_qty % step == 0
    if check.risk <= budget * (1 + tolerance):
        assert check.excess_qty == 0
    else:
        kept = qty - check.excess_qty
        assert kept * per_unit <= budget
        assert (kept + step) * per_unit > budget or kept == qty  # nothing closed that R could carry
