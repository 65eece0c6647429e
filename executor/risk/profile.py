"""Every knob of RISK_SPEC.md as one frozen value, with the spec's defaults and strict validation.

Percentages are written as fractions everywhere (0.02 means 2 %), leverage as a whole multiple.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from executor.risk._schema import ProfileError, Section

D = Decimal
ZERO = D(0)
ONE = D(1)


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


@dataclass(frozen=True, slots=True)
class ConvictionTier:
    min_score: Decimal
    name: str
    max_leverage: int
    risk: Decimal


DEFAULT_TIERS: tuple[ConvictionTier, ...] = (
    ConvictionTier(D(10), "perfect", 10, D("0.01")),
    ConvictionTier(D(8), "high", 5, D("0.0075")),
    ConvictionTier(D(6), "medium", 2, D("0.005")),
    ConvictionTier(D(4), "low", 1, D("0.0025")),
)


@dataclass(frozen=True, slots=True)
class RiskBudget:
    mode: RiskMode = RiskMode.PERCENT
    percent: Decimal = D("0.01")
    fixed_amount: Decimal = D(100)
    position_heat_cap: Decimal | None = D("0.02")


@dataclass(frozen=True, slots=True)
class Conviction:
    enabled: bool = True
    default_score: Decimal = D(6)
    tiers: tuple[ConvictionTier, ...] = DEFAULT_TIERS


@dataclass(frozen=True, slots=True)
class Leverage:
    max_per_trade: int = 20
    max_account: Decimal = D(5)
    max_margin_use: Decimal = D("0.95")
    max_high_leverage_positions: int = 2
    high_leverage_threshold: int = 10


@dataclass(frozen=True, slots=True)
class Geometry:
    min_stop_distance: Decimal = D("0.0005")
    min_reward_risk: Decimal = D(2)


@dataclass(frozen=True, slots=True)
class Liquidation:
    safety_multiple: Decimal = D(2)
    stop_buffer: Decimal = D("0.005")
    vol_multiple: Decimal = D(3)


@dataclass(frozen=True, slots=True)
class Portfolio:
    heat_cap: Decimal | None = D("0.05")
    policy: HeatPolicy = HeatPolicy.SHRINK
    max_group_leverage: int = 10
    correlation_threshold: Decimal = D("0.8")
    correlation_groups: tuple[tuple[str, ...], ...] = (("BTC", "ETH"),)


@dataclass(frozen=True, slots=True)
class Funding:
    max_adverse: Decimal = D("0.001")
    expected_holding_hours: Decimal = D(24)


@dataclass(frozen=True, slots=True)
class InsuranceFund:
    min_balance: Decimal = D(1_000_000)
    low_leverage: int = 5


@dataclass(frozen=True, slots=True)
class LossStreak:
    enabled: bool = True
    losses: int = 2
    max_leverage: int = 5


@dataclass(frozen=True, slots=True)
class BigLoss:
    enabled: bool = True
    threshold: Decimal = D("0.20")
    trades: int = 3
    max_leverage: int = 2


@dataclass(frozen=True, slots=True)
class Recovery:
    enabled: bool = True
    losses: int = 3
    trades: int = 3
    risk_multiplier: Decimal = D("0.5")


@dataclass(frozen=True, slots=True)
class WinScaling:
    enabled: bool = True
    wins: int = 3


@dataclass(frozen=True, slots=True)
class Drawdown:
    enabled: bool = False
    max_drawdown: Decimal = D("0.15")
    floor: Decimal = D("0.25")


@dataclass(frozen=True, slots=True)
class Throttle:
    enabled: bool = False
    max_entries: int = 3
    window_seconds: int = 3600


@dataclass(frozen=True, slots=True)
class DailyLoss:
    enabled: bool = True
    limit_amount: Decimal | None = None
    limit_pct: Decimal | None = D("0.03")
    basis: LossBasis = LossBasis.EQUITY
    action: BreakerAction = BreakerAction.HALT
    flatten: bool = True
    timezone: str = "UTC"


@dataclass(frozen=True, slots=True)
class PositionDrawdown:
    enabled: bool = False
    reduce_at: Decimal = D("0.20")
    close_at: Decimal = D("0.50")
    reduce_fraction: Decimal = D("0.5")


@dataclass(frozen=True, slots=True)
class DynamicSizer:
    base: Decimal = D("0.50")
    min: Decimal = D("0.20")
    max: Decimal = D("0.95")
    signal_weight: Decimal = D("0.4")
    volatility_weight: Decimal = D("0.3")
    regime_weight: Decimal = D("0.2")
    streak_weight: Decimal = D("0.1")
    streak_window: int = 5


@dataclass(frozen=True, slots=True)
class ConservativeSizer:
    base: Decimal = D("0.20")
    min: Decimal = D("0.10")
    max: Decimal = D("0.30")
    signal_weight: Decimal = D("0.35")
    volatility_weight: Decimal = D("0.20")
    streak_weight: Decimal = D("0.15")
    drawdown_weight: Decimal = D("0.15")
    kelly_weight: Decimal = D("0.15")
    streak_window: int = 5


@dataclass(frozen=True, slots=True)
class Kelly:
    min_trades: int = 30
    fraction: Decimal = D("0.25")


@dataclass(frozen=True, slots=True)
class VolTarget:
    target_annual: Decimal = D("0.15")
    periods_per_year: int = 365


@dataclass(frozen=True, slots=True)
class RiskProfile:
    name: str = "default"
    sizer: SizerKind = SizerKind.FIXED_RISK
    allowed_symbols: tuple[str, ...] = ()
    taker_fee: Decimal = D("0.0005")
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
        return _parse(Section(data, ""))

    @property
    def streak_window(self) -> int:
        return max(self.dynamic.streak_window, self.conservative.streak_window)


FRACTION = (ZERO, ONE)


def _fraction(s: Section, name: str, default: Decimal) -> Decimal:
    return s.decimal(name, default, *FRACTION)


def _parse(top: Section) -> RiskProfile:
    d = RiskProfile()
    name = top.text("name", d.name)
    sizer = top.choice("sizer", SizerKind, d.sizer)
    allowed = top.strings("allowed_symbols", d.allowed_symbols)
    taker_fee = _fraction(top, "taker_fee", d.taker_fee)
    profile = RiskProfile(
        name=name,
        sizer=sizer,
        allowed_symbols=allowed,
        taker_fee=taker_fee,
        risk=_risk(top.section("risk")),
        conviction=_conviction(top.section("conviction")),
        leverage=_leverage(top.section("leverage")),
        geometry=_geometry(top.section("geometry")),
        liquidation=_liquidation(top.section("liquidation")),
        portfolio=_portfolio(top.section("portfolio")),
        funding=_funding(top.section("funding")),
        insurance_fund=_insurance(top.section("insurance_fund")),
        loss_streak=_loss_streak(top.section("loss_streak")),
        big_loss=_big_loss(top.section("big_loss")),
        recovery=_recovery(top.section("recovery")),
        win_scaling=_win_scaling(top.section("win_scaling")),
        drawdown=_drawdown(top.section("drawdown")),
        throttle=_throttle(top.section("throttle")),
        daily_loss=_daily_loss(top.section("daily_loss")),
        position_drawdown=_position_drawdown(top.section("position_drawdown")),
        dynamic=_dynamic(top.section("dynamic")),
        conservative=_conservative(top.section("conservative")),
        kelly=_kelly(top.section("kelly")),
        vol_target=_vol_target(top.section("vol_target")),
    )
    top.finish()
    return profile


def _risk(s: Section) -> RiskBudget:
    d = RiskBudget()
    value = RiskBudget(
        mode=s.choice("mode", RiskMode, d.mode),
        percent=_fraction(s, "percent", d.percent),
        fixed_amount=s.decimal("fixed_amount", d.fixed_amount, ZERO),
        position_heat_cap=s.optional_decimal("position_heat_cap", d.position_heat_cap, *FRACTION),
    )
    s.finish()
    return value


def _conviction(s: Section) -> Conviction:
    d = Conviction()
    enabled = s.boolean("enabled", d.enabled)
    default_score = s.decimal("default_score", d.default_score, ZERO, D(10))
    raw = s.raw("tiers", None)
    tiers = d.tiers if raw is None else _tiers(raw, s.key("tiers"))
    s.finish()
    return Conviction(enabled=enabled, default_score=default_score, tiers=tiers)


def _tiers(raw: Any, path: str) -> tuple[ConvictionTier, ...]:
    if not isinstance(raw, list | tuple) or not raw:
        raise ProfileError(f"{path}: {raw!r} is not allowed; expected a non-empty list of tables")
    tiers = []
    for index, item in enumerate(raw):
        s = Section(item, f"{path}[{index}]")
        tiers.append(
            ConvictionTier(
                min_score=s.decimal("min_score", D(0), ZERO, D(10)),
                name=s.text("name", f"tier{index}"),
                max_leverage=s.integer("max_leverage", 1, 1),
                risk=_fraction(s, "risk", ZERO),
            )
        )
        s.finish()
    ordered = tuple(sorted(tiers, key=lambda tier: tier.min_score, reverse=True))
    if len({tier.min_score for tier in ordered}) != len(ordered):
        raise ProfileError(f"{path}: {raw!r} is not allowed; each tier needs a different min_score")
    return ordered


def _leverage(s: Section) -> Leverage:
    d = Leverage()
    value = Leverage(
        max_per_trade=s.integer("max_per_trade", d.max_per_trade, 1, 125),
        max_account=s.decimal("max_account", d.max_account, ZERO),
        max_margin_use=_fraction(s, "max_margin_use", d.max_margin_use),
        max_high_leverage_positions=s.integer(
            "max_high_leverage_positions", d.max_high_leverage_positions, 0
        ),
        high_leverage_threshold=s.integer("high_leverage_threshold", d.high_leverage_threshold, 2),
    )
    s.finish()
    return value


def _geometry(s: Section) -> Geometry:
    d = Geometry()
    value = Geometry(
        min_stop_distance=_fraction(s, "min_stop_distance", d.min_stop_distance),
        min_reward_risk=s.decimal("min_reward_risk", d.min_reward_risk, ZERO),
    )
    s.finish()
    return value


def _liquidation(s: Section) -> Liquidation:
    d = Liquidation()
    value = Liquidation(
        safety_multiple=s.decimal("safety_multiple", d.safety_multiple, ONE),
        stop_buffer=_fraction(s, "stop_buffer", d.stop_buffer),
        vol_multiple=s.decimal("vol_multiple", d.vol_multiple, ZERO),
    )
    s.finish()
    return value


def _portfolio(s: Section) -> Portfolio:
    d = Portfolio()
    heat_cap = s.optional_decimal("heat_cap", d.heat_cap, *FRACTION)
    policy = s.choice("policy", HeatPolicy, d.policy)
    max_group = s.integer("max_group_leverage", d.max_group_leverage, 1)
    threshold = s.decimal("correlation_threshold", d.correlation_threshold, D(-1), ONE)
    raw = s.raw("correlation_groups", None)
    groups = d.correlation_groups if raw is None else _groups(raw, s.key("correlation_groups"))
    s.finish()
    return Portfolio(heat_cap, policy, max_group, threshold, groups)


def _groups(raw: Any, path: str) -> tuple[tuple[str, ...], ...]:
    ok = isinstance(raw, list | tuple) and all(
        isinstance(group, list | tuple) and all(isinstance(item, str) and item for item in group)
        for group in raw
    )
    if not ok:
        raise ProfileError(f"{path}: {raw!r} is not allowed; expected a list of lists of symbols or assets")
    return tuple(tuple(group) for group in raw)


def _funding(s: Section) -> Funding:
    d = Funding()
    value = Funding(
        max_adverse=_fraction(s, "max_adverse", d.max_adverse),
        expected_holding_hours=s.decimal("expected_holding_hours", d.expected_holding_hours, ZERO),
    )
    s.finish()
    return value


def _insurance(s: Section) -> InsuranceFund:
    d = InsuranceFund()
    value = InsuranceFund(
        min_balance=s.decimal("min_balance", d.min_balance, ZERO),
        low_leverage=s.integer("low_leverage", d.low_leverage, 1),
    )
    s.finish()
    return value


def _loss_streak(s: Section) -> LossStreak:
    d = LossStreak()
    value = LossStreak(
        enabled=s.boolean("enabled", d.enabled),
        losses=s.integer("losses", d.losses, 1),
        max_leverage=s.integer("max_leverage", d.max_leverage, 1),
    )
    s.finish()
    return value


def _big_loss(s: Section) -> BigLoss:
    d = BigLoss()
    value = BigLoss(
        enabled=s.boolean("enabled", d.enabled),
        threshold=_fraction(s, "threshold", d.threshold),
        trades=s.integer("trades", d.trades, 1),
        max_leverage=s.integer("max_leverage", d.max_leverage, 1),
    )
    s.finish()
    return value


def _recovery(s: Section) -> Recovery:
    d = Recovery()
    value = Recovery(
        enabled=s.boolean("enabled", d.enabled),
        losses=s.integer("losses", d.losses, 1),
        trades=s.integer("trades", d.trades, 1),
        risk_multiplier=_fraction(s, "risk_multiplier", d.risk_multiplier),
    )
    s.finish()
    return value


def _win_scaling(s: Section) -> WinScaling:
    d = WinScaling()
    value = WinScaling(enabled=s.boolean("enabled", d.enabled), wins=s.integer("wins", d.wins, 1))
    s.finish()
    return value


def _drawdown(s: Section) -> Drawdown:
    d = Drawdown()
    value = Drawdown(
        enabled=s.boolean("enabled", d.enabled),
        max_drawdown=s.decimal("max_drawdown", d.max_drawdown, D("0.0001"), ONE),
        floor=_fraction(s, "floor", d.floor),
    )
    s.finish()
    return value


def _throttle(s: Section) -> Throttle:
    d = Throttle()
    value = Throttle(
        enabled=s.boolean("enabled", d.enabled),
        max_entries=s.integer("max_entries", d.max_entries, 1),
        window_seconds=s.integer("window_seconds", d.window_seconds, 1),
    )
    s.finish()
    return value


def _daily_loss(s: Section) -> DailyLoss:
    d = DailyLoss()
    value = DailyLoss(
        enabled=s.boolean("enabled", d.enabled),
        limit_amount=s.optional_decimal("limit_amount", d.limit_amount, ZERO),
        limit_pct=s.optional_decimal("limit_pct", d.limit_pct, *FRACTION),
        basis=s.choice("basis", LossBasis, d.basis),
        action=s.choice("action", BreakerAction, d.action),
        flatten=s.boolean("flatten", d.flatten),
        timezone=_timezone(s, "timezone", d.timezone),
    )
    if value.enabled and value.limit_amount is None and value.limit_pct is None:
        raise ProfileError(
            f"{s.key('limit_amount')}: false is not allowed together with limit_pct = false while the "
            "daily loss breaker is enabled; set at least one limit or enabled = false"
        )
    s.finish()
    return value


def _timezone(s: Section, name: str, default: str) -> str:
    from executor.risk.clock import zone

    text = s.text(name, default)
    try:
        zone(text)
    except ValueError:
        raise ProfileError(f"{s.key(name)}: {text!r} is not allowed; expected an IANA time zone") from None
    return text


def _position_drawdown(s: Section) -> PositionDrawdown:
    d = PositionDrawdown()
    value = PositionDrawdown(
        enabled=s.boolean("enabled", d.enabled),
        reduce_at=_fraction(s, "reduce_at", d.reduce_at),
        close_at=_fraction(s, "close_at", d.close_at),
        reduce_fraction=_fraction(s, "reduce_fraction", d.reduce_fraction),
    )
    if value.reduce_at > value.close_at:
        raise ProfileError(
            f"{s.key('reduce_at')}: {value.reduce_at} is not allowed; expected at most close_at "
            f"({value.close_at})"
        )
    s.finish()
    return value


def _band(s: Section, base: Decimal, low: Decimal, high: Decimal) -> tuple[Decimal, Decimal, Decimal]:
    b = _fraction(s, "base", base)
    lo = _fraction(s, "min", low)
    hi = _fraction(s, "max", high)
    if not lo <= b <= hi:
        raise ProfileError(f"{s.key('base')}: {b} is not allowed; expected min ≤ base ≤ max ({lo}..{hi})")
    return b, lo, hi


def _dynamic(s: Section) -> DynamicSizer:
    d = DynamicSizer()
    base, low, high = _band(s, d.base, d.min, d.max)
    value = DynamicSizer(
        base=base,
        min=low,
        max=high,
        signal_weight=_fraction(s, "signal_weight", d.signal_weight),
        volatility_weight=_fraction(s, "volatility_weight", d.volatility_weight),
        regime_weight=_fraction(s, "regime_weight", d.regime_weight),
        streak_weight=_fraction(s, "streak_weight", d.streak_weight),
        streak_window=s.integer("streak_window", d.streak_window, 1, 1000),
    )
    s.finish()
    return value


def _conservative(s: Section) -> ConservativeSizer:
    d = ConservativeSizer()
    base, low, high = _band(s, d.base, d.min, d.max)
    value = ConservativeSizer(
        base=base,
        min=low,
        max=high,
        signal_weight=_fraction(s, "signal_weight", d.signal_weight),
        volatility_weight=_fraction(s, "volatility_weight", d.volatility_weight),
        streak_weight=_fraction(s, "streak_weight", d.streak_weight),
        drawdown_weight=_fraction(s, "drawdown_weight", d.drawdown_weight),
        kelly_weight=_fraction(s, "kelly_weight", d.kelly_weight),
        streak_window=s.integer("streak_window", d.streak_window, 1, 1000),
    )
    s.finish()
    return value


def _kelly(s: Section) -> Kelly:
    d = Kelly()
    value = Kelly(
        min_trades=s.integer("min_trades", d.min_trades, 1),
        fraction=_fraction(s, "fraction", d.fraction),
    )
    s.finish()
    return value


def _vol_target(s: Section) -> VolTarget:
    d = VolTarget()
    value = VolTarget(
        target_annual=s.decimal("target_annual", d.target_annual, D("0.0001")),
        periods_per_year=s.integer("periods_per_year", d.periods_per_year, 1),
    )
    s.finish()
    return value
