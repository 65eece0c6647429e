"""The sizers of RISK_SPEC section 4. Each proposes a bound; none may ever risk more than R.

`dynamic` and `conservative` propose a fraction of equity used as margin (notional = equity × f × L);
`kelly` caps the risk fraction R / equity; `vol_target` caps exposure (notional / equity) and leverage.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from executor.domain.enums import Regime
from executor.domain.money import ZERO
from executor.risk.profile import ConservativeSizer, DynamicSizer, Kelly, VolTarget
from executor.risk.state import CarriedState

ONE = Decimal(1)
TWO = Decimal(2)
THREE = Decimal(3)

REGIME_FACTOR = {Regime.TRENDING: ONE, Regime.RANGING: ZERO, Regime.VOLATILE: -ONE}


def clamp(value: Decimal, low: Decimal, high: Decimal) -> Decimal:
    return low if value < low else high if value > high else value


@dataclass(frozen=True, slots=True)
class SizerInputs:
    """What the factor models look at; a missing input makes its factor neutral (0)."""

    strength: Decimal | None
    volatility: Decimal | None
    avg_volatility: Decimal | None
    regime: Regime | None
    drawdown: Decimal
    max_drawdown: Decimal


@dataclass(frozen=True, slots=True)
class Fraction:
    value: Decimal
    factors: dict[str, Decimal]


def signal_factor(strength: Decimal | None) -> Decimal:
    return ZERO if strength is None else clamp(TWO * strength - ONE, -ONE, ONE)


def volatility_factor(current: Decimal | None, average: Decimal | None) -> Decimal:
    if current is None or average is None or average <= 0:
        return ZERO
    return clamp(ONE - current / average, -ONE, ONE)


def regime_factor(regime: Regime | None) -> Decimal:
    return ZERO if regime is None else REGIME_FACTOR[regime]


def streak_factor(state: CarriedState, window: int) -> Decimal:
    return clamp(Decimal(state.streak_score(window)) / THREE, -ONE, ONE)


def drawdown_factor(drawdown: Decimal, max_drawdown: Decimal) -> Decimal:
    """+1 at the peak, 0 halfway to the maximum drawdown, −1 at it."""
    return clamp(ONE - TWO * drawdown / max_drawdown, -ONE, ONE)


def kelly_edge(state: CarriedState, config: Kelly) -> Decimal | None:
    """Full-Kelly f* = (b·p − q)/b over the decisive closed trades, or None before `min_trades`."""
    if state.trades < config.min_trades:
        return None
    decisive = state.wins + state.losses
    if state.wins == 0 or decisive == 0:
        return ZERO
    p = Decimal(state.wins) / Decimal(decisive)
    if state.losses == 0 or state.loss_total <= 0:
        return p
    b = (state.win_total / state.wins) / (state.loss_total / state.losses)
    return (b * p - (ONE - p)) / b


def kelly_risk_cap(state: CarriedState, config: Kelly) -> Decimal | None:
    """Fractional Kelly as a cap on R / equity; a non-positive edge caps it at zero."""
    edge = kelly_edge(state, config)
    return None if edge is None else max(ZERO, edge) * config.fraction


def kelly_factor(state: CarriedState, config: Kelly) -> Decimal:
    """Edge mapped to [−1, 1] (a full-Kelly fraction of 50 % or more is +1); neutral before min_trades."""
    edge = kelly_edge(state, config)
    return ZERO if edge is None else clamp(TWO * edge, -ONE, ONE)


def dynamic_fraction(inputs: SizerInputs, state: CarriedState, config: DynamicSizer) -> Fraction:
    factors = {
        "signal": signal_factor(inputs.strength),
        "volatility": volatility_factor(inputs.volatility, inputs.avg_volatility),
        "regime": regime_factor(inputs.regime),
        "streak": streak_factor(state, config.streak_window),
    }
    weighted = (
        config.signal_weight * factors["signal"]
        + config.volatility_weight * factors["volatility"]
        + config.regime_weight * factors["regime"]
        + config.streak_weight * factors["streak"]
    )
    return Fraction(clamp(config.base + weighted, config.min, config.max), factors)


def conservative_fraction(
    inputs: SizerInputs, state: CarriedState, config: ConservativeSizer, kelly: Kelly
) -> Fraction:
    factors = {
        "signal": signal_factor(inputs.strength),
        "volatility": volatility_factor(inputs.volatility, inputs.avg_volatility),
        "streak": streak_factor(state, config.streak_window),
        "drawdown": drawdown_factor(inputs.drawdown, inputs.max_drawdown),
        "kelly": kelly_factor(state, kelly),
    }
    weighted = (
        config.signal_weight * factors["signal"]
        + config.volatility_weight * factors["volatility"]
        + config.streak_weight * factors["streak"]
        + config.drawdown_weight * factors["drawdown"]
        + config.kelly_weight * factors["kelly"]
    )
    return Fraction(clamp(config.base + weighted, config.min, config.max), factors)


def vol_target_exposure(daily_volatility: Decimal, config: VolTarget) -> Decimal:
    """Target annual volatility / the asset's annualised volatility (daily × √periods)."""
    annual = daily_volatility * Decimal(config.periods_per_year).sqrt()
    return config.target_annual / annual
