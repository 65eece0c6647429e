"""The 20/50 position rule of seed 004: off by default, halve at 20 % of margin lost, close at 50 %."""

from __future__ import annotations

from decimal import Decimal

from executor.risk import PositionAction, position_drawdown_action
from tests.support.risk import position, profile

D = Decimal


def test_off_by_default_in_every_profile() -> None:
    for name in ("handbook", "fixed-risk", "dynamic-4x", "conservative-10x"):
        pos = position()
        verdict = position_drawdown_action(pos, D(50_000), profile(name).position_drawdown, False)
        assert verdict.action is PositionAction.HOLD


def test_reduce_by_half_at_20pct_of_margin_and_close_at_50pct() -> None:
    config = profile(position_drawdown={"enabled": True}).position_drawdown
    pos = position(qty="0.01", entry="60000", leverage=10)  # margin 60
    assert position_drawdown_action(pos, D(59_000), config, False).action is PositionAction.HOLD  # 10 lost
    reduce = position_drawdown_action(pos, D(58_800), config, False)  # 12 lost = 20 %
    assert (reduce.action, reduce.reduce_qty) == (PositionAction.REDUCE, D("0.005"))
    assert position_drawdown_action(pos, D(58_800), config, True).action is PositionAction.HOLD
    assert position_drawdown_action(pos, D(57_000), config, True).action is PositionAction.CLOSE  # 30 = 50 %
