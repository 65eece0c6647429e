"""The four named profiles carry the spec's table, and every value is validated with a clear message."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from pydantic import ValidationError

from executor.config.risk_profiles import available_profiles, load_profile
from executor.risk import ProfileError, RiskMode, RiskProfile, SizerKind

D = Decimal

PCT = RiskMode.PERCENT
DAILY_3PCT = (None, D("0.03"))
HEAT = (D("0.02"), D("0.05"))
# name: sizer, risk mode, R, conviction tiers, leverage cap, account cap, (position, portfolio) heat,
# drawdown scaling and throttle, daily limit (amount, pct)
SPEC_TABLE = {
    "handbook": (SizerKind.FIXED_RISK, PCT, None, True, 20, D(5), HEAT, False, DAILY_3PCT),
    "fixed-risk": (
        SizerKind.FIXED_RISK,
        RiskMode.FIXED,
        D(100),
        False,
        20,
        D(5),
        (None, None),
        False,
        (D(300), None),
    ),
    "dynamic-4x": (SizerKind.DYNAMIC, PCT, D("0.02"), False, 4, D(5), HEAT, False, DAILY_3PCT),
    "conservative-10x": (SizerKind.CONSERVATIVE, PCT, D("0.02"), False, 10, D(5), HEAT, True, DAILY_3PCT),
}


def test_the_four_named_profiles_exist() -> None:
    assert set(SPEC_TABLE) <= set(available_profiles())


@pytest.mark.parametrize("name", sorted(SPEC_TABLE))
def test_profile_matches_the_spec_table(name: str) -> None:
    sizer, mode, budget, conviction, lev, account, heat, dd_throttle, limits = SPEC_TABLE[name]
    p = load_profile(name)
    assert p.name == name and p.sizer is sizer and p.risk.mode is mode
    if mode is RiskMode.FIXED:
        assert p.risk.fixed_amount == budget
    elif budget is not None:
        assert p.risk.percent == budget
    assert p.conviction.enabled is conviction
    assert p.leverage.max_per_trade == lev and p.leverage.max_account == account
    assert (p.risk.position_heat_cap, p.portfolio.heat_cap) == heat
    assert p.drawdown.enabled is dd_throttle and p.throttle.enabled is dd_throttle
    assert (p.daily_loss.limit_amount, p.daily_loss.limit_pct) == limits
    assert p.loss_streak.enabled and p.big_loss.enabled and p.recovery.enabled and p.win_scaling.enabled
    assert not p.position_drawdown.enabled
    assert p.recovery.enabled  # seed 001 recovery_mode_losses=3 in every profile
    assert p.portfolio.correlation_groups == (("BTC", "ETH"),)


def test_profiles_equal_the_spec_defaults_where_the_table_is_silent() -> None:
    default = RiskProfile()
    for name in SPEC_TABLE:
        p = load_profile(name)
        for section in ("geometry", "liquidation", "funding", "insurance_fund", "kelly", "vol_target"):
            assert getattr(p, section) == getattr(default, section), (name, section)
        assert p.leverage.max_margin_use == D("0.95") and p.leverage.max_high_leverage_positions == 2


def test_handbook_conviction_tiers_follow_seed003() -> None:
    tiers = [(t.min_score, t.name, t.max_leverage, t.risk) for t in load_profile("handbook").conviction.tiers]
    assert tiers == [
        (D(10), "perfect", 10, D("0.01")),
        (D(8), "high", 5, D("0.0075")),
        (D(6), "medium", 2, D("0.005")),
        (D(4), "low", 1, D("0.0025")),
    ]


def test_overrides_apply_on_top_of_the_file_and_lists_replace() -> None:
    p = load_profile(
        "handbook", {"leverage": {"max_per_trade": 7}, "portfolio": {"correlation_groups": [["SOL"]]}}
    )
    assert p.leverage.max_per_trade == 7 and p.leverage.max_account == D(5)
    assert p.portfolio.correlation_groups == (("SOL",),)


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        (
            {"risk": {"percnt": 0.01}},
            "risk.percnt = 0.01: is not a known setting; the settings here are: mode, percent,",
        ),
        (
            {"leverage": {"max_per_trade": 0}},
            "leverage.max_per_trade = 0: expected a whole number from 1 to 125",
        ),
        ({"risk": {"percent": "lots"}}, "risk.percent = 'lots': expected a number from 0 to 1"),
        (
            {"daily_loss": {"action": "panic"}},
            "daily_loss.action = 'panic': expected one of halt, reduce",
        ),
        (
            {"daily_loss": {"timezone": "Mars/Olympus"}},
            "daily_loss.timezone = 'Mars/Olympus': expected an IANA",
        ),
        (
            {"conviction": {"tiers": [{"min_score": 5, "risk": 2}]}},
            "conviction.tiers[0].risk = 2: expected a number from 0 to 1",
        ),
        ({"dynamic": {"base": 0.99}}, "dynamic.base = 0.99: expected min ≤ base ≤ max"),
        ({"throttle": {"enabled": "yes"}}, "throttle.enabled = 'yes': expected true or false"),
        (
            {"portfolio": {"correlation_groups": [["BTC", ""], "ETH"]}},
            "portfolio.correlation_groups = [['BTC', ''], 'ETH']: expected a list of lists of symbols",
        ),
        (
            {"daily_loss": {"limit_pct": False}},
            "daily_loss.limit_pct = false: is false and so is limit_amount",
        ),
        ({"oops": 1}, "oops = 1: is not a known setting"),
    ],
)
def test_bad_values_name_the_key_the_value_and_what_is_allowed(
    overrides: dict[str, object], fragment: str
) -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("handbook", overrides)
    assert fragment in str(info.value)


def test_profile_by_path_and_unknown_name(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('sizer = "kelly"\n[kelly]\nmin_trades = 10\n', encoding="utf-8")
    p = load_profile(str(path))
    assert (p.name, p.sizer, p.kelly.min_trades) == ("mine", SizerKind.KELLY, 10)
    with pytest.raises(ProfileError, match=r"available profiles: .*handbook"):
        load_profile("no-such-profile")


def test_from_mapping_fills_spec_defaults() -> None:
    assert RiskProfile.from_mapping({}) == RiskProfile()


def test_every_bad_value_is_one_line_naming_the_file_the_key_and_the_fix() -> None:
    with pytest.raises(ProfileError) as info:
        load_profile("handbook", {"risk": {"percent": 2}, "kelly": {"min_trades": "many"}, "nope": {}})
    lines = str(info.value).splitlines()
    assert len(lines) == 3
    assert all(
        line.startswith("risk profile ") and "handbook.toml with overrides: " in line for line in lines
    )
    assert any("risk.percent = 2: expected a number from 0 to 1" in line for line in lines)
    assert any("kelly.min_trades = 'many': expected a whole number ≥ 1" in line for line in lines)
    assert any("nope: is not a known setting; the settings here are: name, sizer," in line for line in lines)


def test_a_profile_is_frozen_and_equal_by_value() -> None:
    profile = load_profile("handbook")
    with pytest.raises(ValidationError):
        profile.leverage.max_per_trade = 3  # type: ignore[misc]
    assert profile == load_profile("handbook") and hash(profile) == hash(load_profile("handbook"))
