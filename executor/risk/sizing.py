"""Steps 2–5 of RISK_SPEC section 2: geometry, conviction tier, risk budget R and the stop-based size."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

from executor.domain.enums import RiskStep, Side
from executor.domain.money import ZERO, ceil_to_step, floor_to_step, grid_places
from executor.domain.reasons import ReasonCode
from executor.risk.conviction import choose_tier
from executor.risk.decision import PriceSource, Text, Value
from executor.risk.profile import RiskMode
from executor.risk.proposal import Proposal, Reject


def on_grid(value: Decimal, step: Decimal) -> Decimal:
    """Show a value already on the grid with the grid's decimals (50 on a 0.01 step prints 50.00; 14 on
    ccxt's step 1.0 prints 14, not 14.0)."""
    return value.quantize(grid_places(step))


def nearest_tick(value: Decimal, tick: Decimal) -> Decimal:
    return on_grid((value / tick).to_integral_value(rounding=ROUND_HALF_EVEN) * tick, tick)


def away_from(side: Side, price: Decimal, tick: Decimal) -> Decimal:
    """Round a price to the tick on the loss side: a stop never moves closer to the entry."""
    return floor_to_step(price, tick) if side is Side.LONG else ceil_to_step(price, tick)


def toward(side: Side, price: Decimal, tick: Decimal) -> Decimal:
    """Round a limit entry or a target to the tick: a buy never pays more, a sell never gets less than
    asked, and a long's target never sits further than given (a short's likewise)."""
    return floor_to_step(price, tick) if side is Side.LONG else ceil_to_step(price, tick)


def fee_per_unit(taker: Decimal, entry: Decimal, exit_price: Decimal) -> Decimal:
    return taker * (entry + exit_price)


def reward_risk(side: Side, entry: Decimal, stop: Decimal, target: Decimal, taker: Decimal) -> Decimal:
    """Reward:risk after taker fees on both legs of both outcomes (seed 003's "2:1 becomes 1.9:1")."""
    reward = (target - entry) * side.sign - fee_per_unit(taker, entry, target)
    risk = (entry - stop) * side.sign + fee_per_unit(taker, entry, stop)
    return reward / risk


def _bad(p: Proposal, before: dict[str, Value], message: str, reason: ReasonCode) -> Reject:
    p.record(RiskStep.GEOMETRY, before, {"rejected": reason.value}, note=message)
    return Reject(reason, message)


def geometry(p: Proposal) -> None:
    signal, side, tick, sign = p.signal, p.signal.side, p.price_tick, p.sign
    entry = p.reference
    raw_entry = signal.entry.price if p.reference_source is PriceSource.LIMIT else entry
    assert raw_entry is not None
    stop = on_grid(away_from(side, signal.stop, tick), tick)
    targets = tuple([on_grid(toward(side, tp, tick), tick) for tp in signal.take_profits])
    before: dict[str, Value] = {"entry": raw_entry, "stop": signal.stop}
    loss_side = "below" if side is Side.LONG else "above"
    if (entry - stop) * sign <= 0 or (raw_entry - signal.stop) * sign <= 0:
        through = ""
        if signal.entry.price is not None and p.reference_source is not PriceSource.LIMIT:
            through = (
                f" (the limit {signal.entry.price} is through the {p.reference_source.value}: it fills there)"
            )
        raise _bad(
            p,
            before,
            f"A {side.value} needs its stop {loss_side} the entry {entry}{through}.",
            ReasonCode.BAD_GEOMETRY,
        )
    for target in targets:
        if (target - entry) * sign <= 0:
            raise _bad(
                p,
                before,
                f"Take-profit {target} is not on the profit side of {entry}.",
                ReasonCode.BAD_GEOMETRY,
            )
    distance = (entry - stop) * sign
    minimum = max(tick, entry * p.profile.geometry.min_stop_distance)
    if distance < minimum:
        raise _bad(
            p,
            before,
            f"Stop distance {distance} is under the minimum {minimum.normalize():f} (one tick and "
            f"{p.profile.geometry.min_stop_distance * 100}% of the entry).",
            ReasonCode.BAD_GEOMETRY,
        )
    after: dict[str, Value] = {"entry": entry, "stop": stop, "distance": distance}
    note: Text = "stop rounded away from the entry to the tick"
    if targets:
        nearest = targets[0] if len(targets) == 1 else min(targets, key=lambda tp: (tp - entry) * sign)
        ratio = reward_risk(side, entry, stop, nearest, p.taker_fee)
        after["reward_risk"] = ratio
        if ratio < p.profile.geometry.min_reward_risk:
            raise _bad(
                p,
                before,
                f"Reward:risk after fees is {ratio.quantize(Decimal('0.01'))} to the nearest target "
                f"{nearest}, "
                f"under the minimum {p.profile.geometry.min_reward_risk}.",
                ReasonCode.REWARD_RISK_TOO_LOW,
            )
        note = (
            "stop rounded away from the entry to the tick; reward:risk after fees {:.3f} to {}",
            (ratio, nearest),
        )
    p.entry, p.stop, p.take_profits = entry, stop, targets
    p.record(RiskStep.GEOMETRY, before, after, note=note)


def conviction(p: Proposal) -> None:
    config = p.profile.conviction
    if not config.enabled:
        p.record(RiskStep.CONVICTION, {}, {"tier": None}, note="conviction tiers off in this profile")
        return
    choice = choose_tier(p.signal.conviction, config.default_score, config.tiers)
    before: dict[str, Value] = {"conviction": p.signal.conviction, "default": config.default_score}
    if choice is None:
        score = config.default_score if p.signal.conviction is None else p.signal.conviction
        message = f"Conviction {score} is below every tier (lowest {config.tiers[-1].min_score}): skip."
        p.record(RiskStep.CONVICTION, before, {"rejected": ReasonCode.LOW_CONVICTION.value}, note=message)
        raise Reject(ReasonCode.LOW_CONVICTION, message)
    p.tier = choice
    tier = choice.tier
    p.record(
        RiskStep.CONVICTION,
        before,
        {"tier": tier.name, "max_leverage": tier.max_leverage, "risk": tier.risk},
        note=("score {}" + (" (default)" if choice.defaulted else "") + " → {}", (choice.score, tier.name)),
    )


def risk_budget(p: Proposal) -> None:
    profile, state = p.profile, p.state
    args: tuple[object, ...]
    if profile.risk.mode is RiskMode.FIXED:
        base = profile.risk.fixed_amount
        template, args = "fixed {}", (base,)
    else:
        fraction = p.tier.tier.risk if p.tier is not None else profile.risk.percent
        base = p.equity * fraction
        template, args = "{!n:f}% of equity {}", (fraction * 100, p.equity)
    budget = base
    if state.in_recovery(profile):
        budget *= profile.recovery.risk_multiplier
        template, args = template + "; recovery × {}", (*args, profile.recovery.risk_multiplier)
    if profile.drawdown.enabled:
        budget *= p.drawdown_scale
        template, args = template + "; drawdown × {}", (*args, p.drawdown_scale)
    p.risk_budget = budget
    p.record(RiskStep.RISK_BUDGET, {"base": base}, {"risk_budget": budget}, note=(template, args))


def position_heat(p: Proposal) -> None:
    cap = p.profile.risk.position_heat_cap
    if cap is None:
        p.record(RiskStep.POSITION_HEAT, {}, {"cap": None}, note="position heat cap off in this profile")
        return
    limit = p.equity * cap
    before: dict[str, Value] = {"risk_budget": p.risk_budget, "cap": limit}
    bound = limit < p.risk_budget
    p.risk_budget = min(p.risk_budget, limit)
    p.record(
        RiskStep.POSITION_HEAT,
        before,
        {"risk_budget": p.risk_budget},
        bound,
        ("R ≤ {}% of equity", (cap * 100,)),
    )


def funding_paid_rate(side: Side, rate: Decimal) -> Decimal:
    """The rate this side pays per interval: longs pay a positive rate, shorts a negative one."""
    return rate if side is Side.LONG else -rate


def quantity(p: Proposal) -> None:
    """qty = R / (|entry − stop| + slippage + taker·(worst fill + stop) + expected adverse funding), all
    per unit, so the loss at the stop stays within R for any fill up to the order price."""
    side = p.signal.side
    sign = p.sign
    distance = (p.entry - p.stop) * sign
    slippage = (p.order_price - p.entry) * sign
    fees = fee_per_unit(p.taker_fee, p.order_price, p.stop)
    assert p.market.funding_rate is not None
    paid = funding_paid_rate(side, p.market.funding_rate)
    intervals = p.profile.funding.expected_holding_hours / p.market.funding_interval_hours
    funding = paid * p.order_price * intervals if paid > 0 else ZERO
    p.cost_per_unit = distance + slippage + fees + funding
    p.cap("quantity", p.risk_budget / p.cost_per_unit)
    p.record(
        RiskStep.QUANTITY,
        {
            "risk_budget": p.risk_budget,
            "distance": distance,
            "slippage_per_unit": slippage,
            "fees_per_unit": fees,
            "funding_per_unit": funding,
        },
        {"qty": p.qty, "notional": p.qty * p.entry},
        note="R / (stop distance + slippage allowance + round-trip taker fees + expected funding)",
    )
