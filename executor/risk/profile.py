"""Every knob of RISK_SPEC.md as one frozen value, with the spec's defaults and strict validation.

Percentages are written as fractions everywhere (0.02 means 2 %), leverage as a whole multiple.
Each table of a profile is a frozen pydantic model: pydantic is used here as pure data validation (no
I/O, no clock), which keeps the package pure while the field types say once what each knob accepts.
Reading the file and applying [risk.overrides] stays outside, in `executor/config/risk_profiles.py`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, ValidationError, field_validator, model_validator

from executor.domain.validation import (
    FLAG,
    TEXT,
    TEXTS,
    FieldProblem,
    Frozen,
    NonEmpty,
    Says,
    choice,
    explain,
    number,
    number_or_off,
    whole,
)

D = Decimal


class ProfileError(ValueError):
    """A risk profile value is missing, of the wrong type, out of range or unknown (one line each)."""


class SizerKind(StrEnum):
    FIXED_RISK = "fixed_risk"
    DYNAMIC = "dynamic"
    CONSERVATIVE = "conservative"
    KELLY = "kelly"
    VOL_TARGET = "vol_target"


class RiskMode(StrEnum):
    PERCENT = "percent"
    FIXED = "fixed"


class HeatPolicy(StrEnum):
    SHRINK = "shrink"
    REJECT = "reject"


class LossBasis(StrEnum):
    EQUITY = "equity"
    REALIZED = "realized"


class BreakerAction(StrEnum):
    HALT = "halt"
    REDUCE = "reduce"


Flag = Annotated[bool, FLAG]
Fraction = Annotated[Decimal, number(0, 1)]
FractionOrOff = Annotated[Decimal | None, number_or_off(0, 1)]
Amount = Annotated[Decimal, number(0)]
Count = Annotated[int, whole(1)]


def _timezone(value: object) -> str:
    """Hand-written: whether a name is a time zone is the zone database's answer, not a constraint's."""
    from executor.risk.clock import zone

    if isinstance(value, str) and value:
        try:
            zone(value)
        except ValueError:
            pass
        else:
            return value
    raise ValueError('expected an IANA time zone, e.g. "UTC" or "Europe/Berlin"')


CorrelationGroups = Annotated[
    tuple[tuple[NonEmpty, ...], ...],
    Says('expected a list of lists of symbols or assets, e.g. [["BTC", "ETH"]]'),
]


class ConvictionTier(Frozen):
    min_score: Annotated[Decimal, number(0, 10)] = D(0)
    name: Annotated[str, TEXT]
    max_leverage: Count = 1
    risk: Fraction = D(0)


DEFAULT_TIERS: tuple[ConvictionTier, ...] = (
    ConvictionTier(min_score=D(10), name="perfect", max_leverage=10, risk=D("0.01")),
    ConvictionTier(min_score=D(8), name="high", max_leverage=5, risk=D("0.0075")),
    ConvictionTier(min_score=D(6), name="medium", max_leverage=2, risk=D("0.005")),
    ConvictionTier(min_score=D(4), name="low", max_leverage=1, risk=D("0.0025")),
)


class RiskBudget(Frozen):
    mode: Annotated[RiskMode, choice(RiskMode)] = RiskMode.PERCENT
    percent: Fraction = D("0.01")
    fixed_amount: Amount = D(100)
    position_heat_cap: FractionOrOff = D("0.02")


class Conviction(Frozen):
    enabled: Flag = True
    default_score: Annotated[Decimal, number(0, 10)] = D(6)
    tiers: tuple[ConvictionTier, ...] = DEFAULT_TIERS

    @field_validator("tiers", mode="before")
    @classmethod
    def _named(cls, value: object) -> object:
        """A tier without a name is called tier0, tier1…; the list must be a non-empty list of tables."""
        if not isinstance(value, list | tuple) or not value:
            raise ValueError("expected a non-empty list of tables, e.g. [{ min_score = 8, risk = 0.01 }]")
        return [
            {"name": f"tier{index}", **item} if isinstance(item, Mapping) else item
            for index, item in enumerate(value)
        ]

    @field_validator("tiers")
    @classmethod
    def _ordered(cls, tiers: tuple[ConvictionTier, ...]) -> tuple[ConvictionTier, ...]:
        if len({tier.min_score for tier in tiers}) != len(tiers):
            raise ValueError("each tier needs a different min_score")
        return tuple(sorted(tiers, key=lambda tier: tier.min_score, reverse=True))


class Leverage(Frozen):
    max_per_trade: Annotated[int, whole(1, 125)] = 20
    max_account: Amount = D(5)
    max_margin_use: Fraction = D("0.95")
    max_high_leverage_positions: Annotated[int, whole(0)] = 2
    high_leverage_threshold: Annotated[int, whole(2)] = 10


class Geometry(Frozen):
    min_stop_distance: Fraction = D("0.0005")
    min_reward_risk: Amount = D(2)


class Liquidation(Frozen):
    safety_multiple: Annotated[Decimal, number(1)] = D(2)
    stop_buffer: Fraction = D("0.005")
    vol_multiple: Amount = D(3)


class Portfolio(Frozen):
    heat_cap: FractionOrOff = D("0.05")
    policy: Annotated[HeatPolicy, choice(HeatPolicy)] = HeatPolicy.SHRINK
    max_group_leverage: Count = 10
    correlation_threshold: Annotated[Decimal, number(-1, 1)] = D("0.8")
    correlation_groups: CorrelationGroups = (("BTC", "ETH"),)


class Funding(Frozen):
    max_adverse: Fraction = D("0.001")
    expected_holding_hours: Amount = D(24)


class InsuranceFund(Frozen):
    min_balance: Amount = D(1_000_000)
    low_leverage: Count = 5


class LossStreak(Frozen):
    enabled: Flag = True
    losses: Count = 2
    max_leverage: Count = 5


class BigLoss(Frozen):
    enabled: Flag = True
    threshold: Fraction = D("0.20")
    trades: Count = 3
    max_leverage: Count = 2


class Recovery(Frozen):
    enabled: Flag = True
    losses: Count = 3
    trades: Count = 3
    risk_multiplier: Fraction = D("0.5")


class WinScaling(Frozen):
    enabled: Flag = True
    wins: Count = 3


class Drawdown(Frozen):
    enabled: Flag = False
    max_drawdown: Annotated[Decimal, number(D("0.0001"), 1)] = D("0.15")
    floor: Fraction = D("0.25")


class Throttle(Frozen):
    enabled: Flag = False
    max_entries: Count = 3
    window_seconds: Count = 3600


class DailyLoss(Frozen):
    enabled: Flag = True
    limit_amount: Annotated[Decimal | None, number_or_off(0)] = None
    limit_pct: FractionOrOff = D("0.03")
    basis: Annotated[LossBasis, choice(LossBasis)] = LossBasis.EQUITY
    action: Annotated[BreakerAction, choice(BreakerAction)] = BreakerAction.HALT
    flatten: Flag = True
    timezone: Annotated[str, BeforeValidator(_timezone)] = "UTC"

    @model_validator(mode="after")
    def _has_a_limit(self) -> Self:
        if self.enabled and self.limit_amount is None and self.limit_pct is None:
            raise FieldProblem(
                "limit_pct",
                "is false and so is limit_amount while the daily loss breaker is enabled; "
                "set at least one limit, or enabled = false",
            )
        return self


class PositionDrawdown(Frozen):
    enabled: Flag = False
    reduce_at: Fraction = D("0.20")
    close_at: Fraction = D("0.50")
    reduce_fraction: Fraction = D("0.5")

    @model_validator(mode="after")
    def _reduce_before_close(self) -> Self:
        if self.reduce_at > self.close_at:
            raise FieldProblem("reduce_at", f"expected at most close_at ({self.close_at})")
        return self


class _Band(Frozen):
    """A sizer's fraction band: min ≤ base ≤ max."""

    base: Fraction
    min: Fraction
    max: Fraction

    @model_validator(mode="after")
    def _base_inside(self) -> Self:
        if not self.min <= self.base <= self.max:
            raise FieldProblem("base", f"expected min ≤ base ≤ max ({self.min}..{self.max})")
        return self


class DynamicSizer(_Band):
    base: Fraction = D("0.50")
    min: Fraction = D("0.20")
    max: Fraction = D("0.95")
    signal_weight: Fraction = D("0.4")
    volatility_weight: Fraction = D("0.3")
    regime_weight: Fraction = D("0.2")
    streak_weight: Fraction = D("0.1")
    streak_window: Annotated[int, whole(1, 1000)] = 5


class ConservativeSizer(_Band):
    base: Fraction = D("0.20")
    min: Fraction = D("0.10")
    max: Fraction = D("0.30")
    signal_weight: Fraction = D("0.35")
    volatility_weight: Fraction = D("0.20")
    streak_weight: Fraction = D("0.15")
    drawdown_weight: Fraction = D("0.15")
    kelly_weight: Fraction = D("0.15")
    streak_window: Annotated[int, whole(1, 1000)] = 5


class Kelly(Frozen):
    min_trades: Count = 30
    fraction: Fraction = D("0.25")


class VolTarget(Frozen):
    target_annual: Annotated[Decimal, number(D("0.0001"))] = D("0.15")
    periods_per_year: Count = 365


class RiskProfile(Frozen):
    name: Annotated[str, TEXT] = "default"
    sizer: Annotated[SizerKind, choice(SizerKind)] = SizerKind.FIXED_RISK
    allowed_symbols: Annotated[tuple[str, ...], TEXTS] = ()
    taker_fee: Fraction = D("0.0005")
    entry_slippage_pct: Fraction = D("0.001")
    """How far beyond the reference price a taking entry may fill; part of the risk (RISK_SPEC 2.5)."""
    risk_tolerance_pct: Fraction = D("0.05")
    """After the fill, risk at the stop above R by more than this is closed at once."""
    risk: RiskBudget = RiskBudget()
    conviction: Conviction = Conviction()
    leverage: Leverage = Leverage()
    geometry: Geometry = Geometry()
    liquidation: Liquidation = Liquidation()
    portfolio: Portfolio = Portfolio()
    funding: Funding = Funding()
    insurance_fund: InsuranceFund = InsuranceFund()
    loss_streak: LossStreak = LossStreak()
    big_loss: BigLoss = BigLoss()
    recovery: Recovery = Recovery()
    win_scaling: WinScaling = WinScaling()
    drawdown: Drawdown = Drawdown()
    throttle: Throttle = Throttle()
    daily_loss: DailyLoss = DailyLoss()
    position_drawdown: PositionDrawdown = PositionDrawdown()
    dynamic: DynamicSizer = DynamicSizer()
    conservative: ConservativeSizer = ConservativeSizer()
    kelly: Kelly = Kelly()
    vol_target: VolTarget = VolTarget()

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> RiskProfile:
        """Build from a TOML-shaped mapping; absent keys take the spec's defaults, unknown keys are errors."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise ProfileError("\n".join(explain(exc, cls))) from None

    @property
    def streak_window(self) -> int:
        return max(self.dynamic.streak_window, self.conservative.streak_window)
