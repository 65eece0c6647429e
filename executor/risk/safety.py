"""Steps 8–10 of RISK_SPEC section 2: liquidation distance, portfolio heat with correlation groups,
and the adverse-funding gate."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from executor.domain.enums import RiskStep, Side
from executor.domain.money import ZERO, ceil_to_step, floor_to_step
from executor.domain.reasons import ReasonCode
from executor.risk.decision import Value
from executor.risk.inputs import OpenPosition
from executor.risk.liquidation import liquidation_for_tiers, liquidation_violation
from executor.risk.profile import HeatPolicy
from executor.risk.proposal import Proposal, Reject
from executor.risk.sizing import funding_paid_rate, on_grid

ONE = Decimal(1)
EIGHT_HOURS = Decimal(8)


def liquidation_at(p: Proposal, qty: Decimal, leverage: int) -> Decimal | None:
    """The expected liquidation price, rounded to the tick toward the entry (the pessimistic side)."""
    raw = liquidation_for_tiers(p.signal.side, qty, p.entry, leverage, p.market.leverage_tiers)
    if raw is None:
        return None
    if p.signal.side is Side.LONG:
        return on_grid(ceil_to_step(raw, p.price_tick), p.price_tick)
    return on_grid(floor_to_step(raw, p.price_tick), p.price_tick)


def liquidation_problem(p: Proposal, liq: Decimal | None) -> str | None:
    """Which of the configured distance requirements fails, or None when all hold."""
    if liq is None:
        return "the notional is beyond the exchange's last leverage bracket"
    return liquidation_violation(
        p.signal.side, p.entry, p.stop, liq, p.profile.liquidation, p.signal.volatility, p.price_tick
    )


def liquidation(p: Proposal) -> None:
    """Lower leverage one step at a time until every distance requirement holds; reject at 1x."""
    start = p.leverage
    before: dict[str, Value] = {"leverage": start, "qty": p.qty}
    need = _needed_distance(p)
    sign = p.sign
    to_stop = (p.entry - p.stop) * sign
    liq: Decimal | None = None
    for candidate in range(min(start, _leverage_bound(p, need)), 0, -1):
        qty = floor_to_step(p.qty_at(candidate), p.amount_step)
        if qty <= 0:
            shrank = p.set_leverage(candidate) if candidate != start else False
            p.liquidation = None
            after: dict[str, Value] = {"leverage": p.leverage, "qty": p.qty}
            p.record(RiskStep.LIQUIDATION, before, after, shrank, note="no quantity left")
            return
        liq = liquidation_at(p, qty, candidate)
        if liq is not None and (to_liq := (p.entry - liq) * sign) >= need and to_liq > to_stop:
            shrank = p.set_leverage(candidate) if candidate != start else False
            _margin_still_orderable(p)
            p.liquidation, p.liquidation_key = liq, (qty, candidate)
            note = (
                ("liquidation {} at {}x", (liq, candidate))
                if candidate == start
                else ("liquidation {} at {}x (lowered from {}x)", (liq, candidate, start))
            )
            after = {"leverage": p.leverage, "qty": p.qty, "liquidation": liq}
            p.record(RiskStep.LIQUIDATION, before, after, shrank, note)
            return
    p.set_leverage(1)
    _margin_still_orderable(p)
    message = f"Even at 1x the liquidation is too close: {liquidation_problem(p, liq)}."
    p.record(RiskStep.LIQUIDATION, before, {"rejected": ReasonCode.LIQUIDATION_TOO_CLOSE.value}, note=message)
    raise Reject(ReasonCode.LIQUIDATION_TOO_CLOSE, message)


def _needed_distance(p: Proposal) -> Decimal:
    """The smallest |entry − liquidation| that meets all of liquidation_problem's requirements."""
    config, entry = p.profile.liquidation, p.entry
    to_stop = (entry - p.stop) * p.sign
    need = max(config.safety_multiple * to_stop, to_stop + config.stop_buffer * entry)
    if p.signal.volatility is not None:
        need = max(need, config.vol_multiple * p.signal.volatility * entry)
    return need


def _leverage_bound(p: Proposal, need: Decimal) -> int:
    """No leverage above this can meet the distance requirements, whatever the tier: the distance to
    liquidation is at most entry / (L·(1 − mmr)) for a long and entry / L for a short (cum ≤ notional·mmr),
    with mmr the highest of the brackets the quantity can still be in. Starting the step-down here skips
    only leverages that are sure to fail."""
    entry = p.entry
    if p.signal.side is Side.SHORT:
        return max(1, int(entry / need))
    notional = p.qty * entry
    worst_mmr = ZERO
    for tier in p.market.leverage_tiers:
        worst_mmr = max(worst_mmr, tier.mmr)
        if notional <= tier.max_notional:
            break
    return max(1, int(entry / (need * (ONE - worst_mmr))))


def _margin_still_orderable(p: Proposal) -> None:
    if "margin" in p.ceilings and not p.orderable(p.ceilings["margin"]):
        message = f"At {p.leverage}x the free margin cannot carry the minimum order."
        p.record(RiskStep.LIQUIDATION, {}, {"rejected": ReasonCode.INSUFFICIENT_MARGIN.value}, note=message)
        raise Reject(ReasonCode.INSUFFICIENT_MARGIN, message)


def base_asset(symbol: str) -> str:
    return symbol.split("/", 1)[0]


@lru_cache(maxsize=1024)
def group_names(groups: tuple[tuple[str, ...], ...], symbol: str) -> frozenset[str]:
    """Every symbol and base asset named by a configured group that names this symbol or its base asset."""
    base = base_asset(symbol)
    return frozenset(name for group in groups if symbol in group or base in group for name in group)


def correlated(p: Proposal) -> list[OpenPosition]:
    """The open positions in this signal's group: the same symbol, a configured correlation group shared
    (by symbol or base asset), or a correlation ≥ the threshold."""
    own = p.signal.symbol
    names = group_names(p.profile.portfolio.correlation_groups, own)
    correlations = p.market.correlations
    threshold = p.profile.portfolio.correlation_threshold
    members = []
    for pos in p.account.positions:
        symbol = pos.symbol
        if (
            symbol == own
            or (names and (symbol in names or base_asset(symbol) in names))
            or (
                correlations
                and (correlation := correlations.get(symbol)) is not None
                and correlation >= threshold
            )
        ):
            members.append(pos)
    return members


def portfolio_heat(p: Proposal) -> None:
    """Seed 003: open risk plus this trade's ≤ the heat cap; shrink to fit or reject by policy."""
    config = p.profile.portfolio
    if config.heat_cap is None:
        p.record(RiskStep.PORTFOLIO_HEAT, {}, {"cap": None}, note="portfolio heat cap off in this profile")
        return
    open_risk = ZERO
    for pos in p.account.positions:  # OpenPosition.open_risk, inlined: ten positions on every decision
        per_unit = pos.entry - pos.stop if pos.side is Side.LONG else pos.stop - pos.entry
        if per_unit > 0:
            open_risk += pos.qty * per_unit
    limit = p.equity * config.heat_cap
    this_risk = p.qty * p.cost_per_unit
    before: dict[str, Value] = {"open_risk": open_risk, "trade_risk": this_risk, "cap": limit}
    if open_risk + this_risk <= limit:
        p.record(
            RiskStep.PORTFOLIO_HEAT,
            before,
            {"qty": p.qty},
            note=("heat within {}%", (config.heat_cap * 100,)),
        )
        return
    room = limit - open_risk
    ceiling = room / p.cost_per_unit if room > 0 else ZERO
    if config.policy is HeatPolicy.REJECT or not p.orderable(ceiling):
        message = (
            f"Open risk {open_risk} plus this trade's {this_risk.quantize(Decimal('0.01'))} exceeds the "
            f"portfolio heat cap {limit}"
            + (
                " (policy reject)."
                if config.policy is HeatPolicy.REJECT
                else "; the rest is under the minimum."
            )
        )
        p.record(RiskStep.PORTFOLIO_HEAT, before, {"rejected": ReasonCode.HEAT_CAP.value}, note=message)
        raise Reject(ReasonCode.HEAT_CAP, message)
    bound = p.cap("portfolio_heat", ceiling)
    p.record(RiskStep.PORTFOLIO_HEAT, before, {"qty": p.qty}, bound, "shrunk to fit the portfolio heat cap")


def correlation_group(p: Proposal) -> None:
    """Correlated positions count as one: their leverage adds up and is capped as a group."""
    cap = p.profile.portfolio.max_group_leverage
    members = correlated(p)
    used = sum([pos.leverage for pos in members])
    before: dict[str, Value] = {
        "group_positions": len(members),
        "group_leverage": used,
        "leverage": p.leverage,
    }
    if not members:
        p.record(
            RiskStep.CORRELATION_GROUP, before, {"leverage": p.leverage}, note="no correlated open position"
        )
        return
    room = cap - used
    if room < 1:
        message = f"Correlated positions already use {used}x of the {cap}x group leverage."
        p.record(RiskStep.CORRELATION_GROUP, before, {"rejected": ReasonCode.HEAT_CAP.value}, note=message)
        raise Reject(ReasonCode.HEAT_CAP, message)
    if p.leverage > room:
        bound = p.set_leverage(room)
        _margin_still_orderable(p)
        note = f"group leverage {used}x + this ≤ {cap}x: leverage lowered to {room}x"
        p.record(RiskStep.CORRELATION_GROUP, before, {"leverage": p.leverage, "qty": p.qty}, bound, note)
        return
    p.record(
        RiskStep.CORRELATION_GROUP,
        before,
        {"leverage": p.leverage},
        note=("group leverage within {}x", (cap,)),
    )


def funding(p: Proposal) -> None:
    assert p.market.funding_rate is not None
    paid = funding_paid_rate(p.signal.side, p.market.funding_rate)
    per_8h = paid * EIGHT_HOURS / p.market.funding_interval_hours
    limit = p.profile.funding.max_adverse
    before: dict[str, Value] = {"funding_rate": p.market.funding_rate, "paid_per_8h": per_8h}
    if per_8h > limit:
        message = f"This {p.signal.side.value} would pay funding {per_8h} per 8 h, above the maximum {limit}."
        p.record(RiskStep.FUNDING, before, {"rejected": ReasonCode.FUNDING_ADVERSE.value}, note=message)
        raise Reject(ReasonCode.FUNDING_ADVERSE, message)
    note = "pays funding" if paid > 0 else "receives or pays no funding"
    p.record(RiskStep.FUNDING, before, {"allowed": True}, note=note)
