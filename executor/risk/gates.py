"""Steps that refuse before any arithmetic on size: RISK_SPEC 2.1, the data check (fail closed),
the live daily-loss check and the drawdown gate of section 3."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import NoReturn

from executor.domain.enums import BreakerStatus, EntryType, RiskStep, Setup, Side
from executor.domain.money import ZERO
from executor.domain.reasons import ReasonCode
from executor.risk.breaker import evaluate_daily_loss, realized_today
from executor.risk.decision import PriceSource, Value
from executor.risk.inputs import RiskAccount
from executor.risk.price import age_ms, book_side, too_old
from executor.risk.profile import BreakerAction, LossBasis, SizerKind
from executor.risk.proposal import Proposal, Reject
from executor.risk.state import TradingMode

ONE = Decimal(1)


def gates(p: Proposal) -> None:
    state, signal, profile = p.state, p.signal, p.profile
    p.breaker_tripped = state.breaker is BreakerStatus.TRIPPED or p.account.breaker is BreakerStatus.TRIPPED
    before: dict[str, Value] = {
        "breaker": "tripped" if p.breaker_tripped else "active",
        "mode": state.mode,
    }
    halting = profile.daily_loss.action is BreakerAction.HALT
    if p.breaker_tripped and halting:
        _refuse(p, before, ReasonCode.HALTED, f"The daily-loss breaker is tripped ({_why(p)}); no new risk.")
    if state.mode is TradingMode.REDUCING:
        _refuse(p, before, ReasonCode.REDUCING, "Trading is in reduce-only mode; the signal would open risk.")
    if signal.expires_at is not None and signal.expires_at <= p.now:
        _refuse(p, before, ReasonCode.EXPIRED, f"The signal expired at {signal.expires_at.isoformat()}.")
    if profile.allowed_symbols and signal.symbol not in profile.allowed_symbols:
        _refuse(
            p,
            before,
            ReasonCode.SYMBOL_NOT_ALLOWED,
            f"{signal.symbol} is not in the profile's allowed symbols.",
        )
    held = p.account.held.get(signal.symbol)
    if held is not None:
        _refuse(p, before, ReasonCode.SYMBOL_HELD, f"{held}; one position per symbol (one-way mode).")
    if signal.setup is Setup.SECONDARY and state.in_recovery(profile):
        _refuse(
            p,
            before,
            ReasonCode.SECONDARY_DISABLED,
            f"Recovery mode ({state.recovery_remaining} trades left) refuses secondary setups.",
        )
    if profile.throttle.enabled:
        entries = recent_entries(p.account, p.now, profile.throttle.window_seconds)
        before["recent_entries"] = entries
        if entries >= profile.throttle.max_entries:
            _refuse(
                p,
                before,
                ReasonCode.THROTTLED,
                f"{entries} entries in the last {profile.throttle.window_seconds} s reach the limit of "
                f"{profile.throttle.max_entries}.",
            )
    p.record(RiskStep.GATES, before, {"passed": True})


def _why(p: Proposal) -> str:
    return p.state.trip_reason or "reported by the account"


def _refuse(p: Proposal, before: dict[str, Value], reason: ReasonCode, message: str) -> NoReturn:
    p.record(RiskStep.GATES, dict(before), {"rejected": reason.value}, note=message)
    raise Reject(reason, message)


def recent_entries(account: RiskAccount, now: datetime, window_seconds: int) -> int:
    """Entries opened in the rolling window: open positions plus closed trades, newest closes first."""
    start = now - timedelta(seconds=window_seconds)
    count = sum(1 for pos in account.positions if pos.opened_at is not None and pos.opened_at > start)
    for trade in reversed(account.history):
        if trade.closed_at <= start:
            break
        if trade.opened_at > start:
            count += 1
    return count


def data(p: Proposal) -> None:
    """Every input the rest of the pipeline needs must be present, positive where it must be, and fresh."""
    account, market, profile = p.account, p.market, p.profile
    if not _complete(p) and (missing := _missing(p)):
        message = "Required data is missing or stale: " + "; ".join(missing) + "."
        p.record(RiskStep.DATA, {}, {"rejected": ReasonCode.DATA_MISSING}, note=message)
        raise Reject(ReasonCode.DATA_MISSING, message)
    assert account.equity is not None and account.free_margin is not None
    if account.equity <= 0:
        message = f"Equity is {account.equity}: nothing to put at risk."
        p.record(RiskStep.DATA, {"equity": account.equity}, {"rejected": "INSUFFICIENT_MARGIN"}, note=message)
        raise Reject(ReasonCode.INSUFFICIENT_MARGIN, message)
    p.equity, p.free_margin = account.equity, account.free_margin
    assert market.amount_step is not None and market.price_tick is not None
    assert market.min_amount is not None and market.min_notional is not None
    p.amount_step, p.price_tick = market.amount_step, market.price_tick
    p.min_amount, p.min_notional = market.min_amount, market.min_notional
    p.taker_fee = profile.taker_fee if market.taker_fee is None else market.taker_fee
    p.record(
        RiskStep.DATA,
        {},
        {"equity": p.equity, "free_margin": p.free_margin, "taker_fee": p.taker_fee},
        note="all required inputs present and fresh"
        + ("" if market.taker_fee is not None else "; taker fee from the profile"),
    )


def _complete(p: Proposal) -> bool:
    """The common case, answered without building the list of what is missing (`_missing` says it; where
    this is stricter than that list, the list decides)."""
    account, market, signal, profile = p.account, p.market, p.signal, p.profile
    book = market.ask if signal.side is Side.LONG else market.bid
    if book is None:
        book = market.price
    return not (
        account.stale
        or market.stale
        or (signal.entry.type is EntryType.LIMIT and not (signal.entry.price and signal.entry.price > 0))
        or not (book and book > 0)
        or market.quoted_at is None
        or too_old(p.now, market.quoted_at, market.max_price_age_ms)
        or account.equity is None
        or account.free_margin is None
        or not (market.amount_step and market.amount_step > 0)
        or not (market.price_tick and market.price_tick > 0)
        or market.min_amount is None
        or market.min_notional is None
        or market.funding_rate is None
        or market.max_leverage is None
        or market.max_leverage < 1
        or not market.leverage_tiers
        or (profile.daily_loss.enabled and account.start_of_day_equity is None)
        or (profile.drawdown.enabled and account.peak_equity is None)
        or (profile.sizer is SizerKind.VOL_TARGET and not (signal.volatility and signal.volatility > 0))
    )


def _missing(p: Proposal) -> list[str]:  # noqa: C901 - a flat checklist, one branch per required input
    account, market, signal, profile = p.account, p.market, p.signal, p.profile
    missing: list[str] = []
    if account.stale:
        missing.append("account snapshot is stale")
    if market.stale:
        missing.append("market snapshot is stale")
    if signal.entry.type is EntryType.LIMIT:
        _positive(missing, "entry.price", signal.entry.price)
    book, source = book_side(signal.side, market)
    _positive(missing, "market.price" if source is PriceSource.MARK else f"market.{source.value}", book)
    if market.quoted_at is None:
        missing.append("market.quoted_at (when the price was read) is unknown")
    elif too_old(p.now, market.quoted_at, market.max_price_age_ms):
        age, limit = age_ms(p.now, market.quoted_at), market.max_price_age_ms
        missing.append(
            f"the price is {age} ms old, over the {limit} ms limit (execution.max_price_age_ms); "
            "fetch a fresh one"
        )
    for name, value in (
        ("account.equity", account.equity),
        ("account.free_margin", account.free_margin),
        ("market.amount_step", market.amount_step),
        ("market.price_tick", market.price_tick),
        ("market.min_amount", market.min_amount),
        ("market.min_notional", market.min_notional),
        ("market.funding_rate", market.funding_rate),
    ):
        if value is None:
            missing.append(f"{name} is unknown")
    for name, value in (("market.amount_step", market.amount_step), ("market.price_tick", market.price_tick)):
        if value is not None and value <= 0:
            missing.append(f"{name} must be positive")
    if market.max_leverage is None or market.max_leverage < 1:
        missing.append("market.max_leverage is unknown")
    if not market.leverage_tiers:
        missing.append("market.leverage_tiers are unknown")
    if profile.daily_loss.enabled and account.start_of_day_equity is None:
        missing.append("account.start_of_day_equity is unknown")
    if profile.drawdown.enabled and account.peak_equity is None:
        missing.append("account.peak_equity is unknown")
    if profile.sizer is SizerKind.VOL_TARGET and not (signal.volatility and signal.volatility > 0):
        missing.append("signal.volatility is unknown (the vol_target sizer needs it)")
    return missing


def _positive(missing: list[str], name: str, value: Decimal | None) -> None:
    if value is None:
        missing.append(f"{name} is unknown")
    elif value <= 0:
        missing.append(f"{name} must be positive")


def _realized_today(p: Proposal) -> Decimal:
    if p.account.realized_pnl_today is not None:
        return p.account.realized_pnl_today
    return realized_today(p.account.history, p.now, p.profile.daily_loss.timezone)


def daily_loss(p: Proposal) -> None:
    """The breaker evaluated on this very snapshot, so a trip the daemon has not yet booked still counts."""
    config = p.profile.daily_loss
    if not config.enabled:
        p.record(RiskStep.DAILY_LOSS, {}, {"enabled": False}, note="daily loss breaker off in this profile")
        return
    verdict = evaluate_daily_loss(
        config,
        start_of_day_equity=p.account.start_of_day_equity,
        equity=p.equity,
        realized_today=_realized_today(p) if config.basis is LossBasis.REALIZED else None,
        loss_at_resume=p.state.loss_at_resume,
    )
    before = {"loss": verdict.loss, "limit": verdict.limit, "basis": config.basis}
    if verdict.trips and config.action is BreakerAction.HALT:
        message = f"The daily-loss breaker trips: {verdict.reason}; no new risk today."
        p.record(RiskStep.DAILY_LOSS, before, {"rejected": ReasonCode.HALTED.value}, note=message)
        raise Reject(ReasonCode.HALTED, message)
    p.breaker_tripped = p.breaker_tripped or verdict.trips
    note = verdict.text
    if p.breaker_tripped:
        note = verdict.reason + "; action reduce: leverage capped at 1x until the reset"
    p.record(RiskStep.DAILY_LOSS, before, {"tripped": p.breaker_tripped}, note=note)


def drawdown(p: Proposal) -> None:
    """Seed 001 v2: scale R down with the drawdown from peak equity; refuse at the maximum drawdown."""
    config = p.profile.drawdown
    peak = p.account.peak_equity
    if peak is not None and peak > 0:
        p.drawdown = max(ZERO, (peak - p.equity) / peak)
    if not config.enabled:
        p.record(RiskStep.DRAWDOWN, {"drawdown": p.drawdown}, {"scale": ONE}, note="drawdown scaling off")
        return
    if p.drawdown >= config.max_drawdown:
        message = f"Drawdown {_pct(p.drawdown)} from peak reaches the maximum {_pct(config.max_drawdown)}."
        p.record(
            RiskStep.DRAWDOWN, {"drawdown": p.drawdown}, {"rejected": ReasonCode.DRAWDOWN.value}, note=message
        )
        raise Reject(ReasonCode.DRAWDOWN, message)
    p.drawdown_scale = max(config.floor, max(ZERO, ONE - p.drawdown / config.max_drawdown))
    p.record(
        RiskStep.DRAWDOWN,
        {"drawdown": p.drawdown},
        {"scale": p.drawdown_scale},
        note=("R × {} (floor {})", (p.drawdown_scale, config.floor)),
    )


def _pct(fraction: Decimal) -> str:
    return f"{(fraction * 100).quantize(Decimal('0.01'))}%"
