"""The JSON scenario of `executor size`, parsed strictly: a malformed field is an error naming it.

Numbers may be JSON numbers or strings (strings are read exactly). Account and market numbers that are
absent or null are *unknown*, which the pipeline turns into a DATA_MISSING rejection, not an error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from executor.domain.enums import BreakerStatus, EntryType, Regime, Setup, Side
from executor.domain.money import NotANumber, to_decimal
from executor.risk.inputs import (
    AccountSnapshot,
    ClosedTrade,
    Entry,
    LeverageTier,
    MarketSnapshot,
    OpenPosition,
    Signal,
)

E = TypeVar("E", bound=StrEnum)
T = TypeVar("T")


SIGNAL_FIELDS = (
    *("id", "symbol", "side", "entry", "stop", "take_profit", "conviction", "strength", "setup"),
    *("volatility", "regime", "expires_at"),
)
ACCOUNT_FIELDS = (
    *("equity", "free_margin", "start_of_day_equity", "peak_equity", "positions", "history"),
    *("realized_pnl_today", "breaker", "stale"),
)
MARKET_FIELDS = (
    *("price", "amount_step", "price_tick", "min_amount", "min_notional", "max_leverage", "taker_fee"),
    *("funding_rate", "funding_interval_hours", "insurance_fund", "leverage_tiers", "avg_volatility"),
    *("correlations", "stale"),
)


class ScenarioError(ValueError):
    """The scenario is malformed; the message names the field and what is expected."""


@dataclass(frozen=True, slots=True)
class Scenario:
    profile: str
    now: datetime
    signal: Signal
    account: AccountSnapshot
    market: MarketSnapshot


class _Obj:
    def __init__(self, data: Any, path: str, allowed: tuple[str, ...]) -> None:
        if not isinstance(data, Mapping):
            raise ScenarioError(f"{path}: expected a JSON object, got {_show(data)}")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ScenarioError(f"{path}.{unknown[0]}: unknown field; allowed: {', '.join(allowed)}")
        self.data, self.path = data, path

    def at(self, key: str) -> str:
        return f"{self.path}.{key}"

    def has(self, key: str) -> bool:
        return self.data.get(key) is not None

    def required(self, key: str) -> Any:
        if self.data.get(key) is None:
            raise ScenarioError(f"{self.at(key)}: required field is missing")
        return self.data[key]

    def decimal(self, key: str, required: bool = False) -> Decimal | None:
        if not self.has(key):
            if required:
                self.required(key)
            return None
        return _decimal(self.data[key], self.at(key))

    def req_decimal(self, key: str) -> Decimal:
        value = self.decimal(key, required=True)
        assert value is not None
        return value

    def integer(self, key: str) -> int | None:
        if not self.has(key):
            return None
        value = self.data[key]
        number = _decimal(value, self.at(key))
        if number != number.to_integral_value():
            raise ScenarioError(f"{self.at(key)}: expected a whole number, got {_show(value)}")
        return int(number)

    def text(self, key: str) -> str:
        value = self.required(key)
        if not isinstance(value, str) or not value:
            raise ScenarioError(f"{self.at(key)}: expected a non-empty string, got {_show(value)}")
        return value

    def choice(self, key: str, enum: type[E], default: E | None = None) -> E:
        if not self.has(key) and default is not None:
            return default
        value = self.required(key)
        try:
            return enum(value)
        except ValueError:
            options = ", ".join(member.value for member in enum)
            raise ScenarioError(f"{self.at(key)}: expected one of {options}, got {_show(value)}") from None

    def time(self, key: str, required: bool = False) -> datetime | None:
        if not self.has(key):
            if required:
                self.required(key)
            return None
        return _time(self.data[key], self.at(key))

    def boolean(self, key: str) -> bool:
        value = self.data.get(key, False)
        if not isinstance(value, bool):
            raise ScenarioError(f"{self.at(key)}: expected true or false, got {_show(value)}")
        return value

    def items(self, key: str, parse: Callable[[Any, str], T]) -> tuple[T, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list):
            raise ScenarioError(f"{self.at(key)}: expected a list, got {_show(value)}")
        return tuple(parse(item, f"{self.at(key)}[{index}]") for index, item in enumerate(value))


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _decimal(value: Any, path: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | str | Decimal):
        raise ScenarioError(f"{path}: expected a number or a numeric string, got {_show(value)}")
    try:
        return to_decimal(value)
    except NotANumber:
        raise ScenarioError(f"{path}: expected a number or a numeric string, got {_show(value)}") from None


def _time(value: Any, path: str) -> datetime:
    if not isinstance(value, str):
        raise ScenarioError(f"{path}: expected an ISO 8601 time string, got {_show(value)}")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(f"{path}: expected an ISO 8601 time string, got {_show(value)}") from None
    if moment.tzinfo is None:
        raise ScenarioError(f"{path}: the time needs a zone (e.g. a trailing Z), got {_show(value)}")
    return moment


def parse_scenario(data: Any) -> Scenario:
    top = _Obj(data, "input", ("profile", "now", "signal", "account", "market"))
    profile = "handbook" if not top.has("profile") else top.text("profile")
    now = top.time("now", required=True)
    assert now is not None
    return Scenario(
        profile=profile,
        now=now,
        signal=_signal(top.required("signal"), "signal"),
        account=_account(top.required("account"), "account"),
        market=_market(top.required("market"), "market"),
    )


def _signal(data: Any, path: str) -> Signal:
    s = _Obj(
        data,
        path,
        SIGNAL_FIELDS,
    )
    entry = _Obj(s.required("entry"), s.at("entry"), ("type", "price"))
    entry_type = entry.choice("type", EntryType)
    price = entry.decimal("price", required=entry_type is EntryType.LIMIT)
    raw_targets = s.data.get("take_profit")
    if raw_targets is None:
        targets: tuple[Decimal, ...] = ()
    elif isinstance(raw_targets, list):
        targets = tuple(_decimal(item, f"{s.at('take_profit')}[{i}]") for i, item in enumerate(raw_targets))
    else:
        targets = (_decimal(raw_targets, s.at("take_profit")),)
    conviction = s.decimal("conviction")
    if conviction is not None and not 0 <= conviction <= 10:
        raise ScenarioError(f"{s.at('conviction')}: expected a score from 0 to 10, got {conviction}")
    strength = s.decimal("strength")
    if strength is not None and not 0 <= strength <= 1:
        raise ScenarioError(f"{s.at('strength')}: expected a number from 0 to 1, got {strength}")
    volatility = s.decimal("volatility")
    if volatility is not None and volatility < 0:
        raise ScenarioError(f"{s.at('volatility')}: expected a non-negative fraction, got {volatility}")
    regime = s.choice("regime", Regime) if s.has("regime") else None
    return Signal(
        id=s.text("id"),
        symbol=s.text("symbol"),
        side=s.choice("side", Side),
        entry=Entry(entry_type, price),
        stop=s.req_decimal("stop"),
        take_profits=targets,
        conviction=conviction,
        strength=strength,
        setup=s.choice("setup", Setup, Setup.PRIMARY),
        volatility=volatility,
        regime=regime,
        expires_at=s.time("expires_at"),
    )


def _position(data: Any, path: str) -> OpenPosition:
    s = _Obj(data, path, ("symbol", "side", "qty", "entry", "stop", "leverage", "opened_at"))
    leverage = s.integer("leverage")
    if leverage is None or leverage < 1:
        raise ScenarioError(f"{s.at('leverage')}: expected a whole number ≥ 1")
    return OpenPosition(
        symbol=s.text("symbol"),
        side=s.choice("side", Side),
        qty=s.req_decimal("qty"),
        entry=s.req_decimal("entry"),
        stop=s.req_decimal("stop"),
        leverage=leverage,
        opened_at=s.time("opened_at"),
    )


def _trade(data: Any, path: str) -> ClosedTrade:
    s = _Obj(data, path, ("opened_at", "closed_at", "pnl", "equity_before", "setup", "symbol"))
    opened, closed = s.time("opened_at", required=True), s.time("closed_at", required=True)
    assert opened is not None and closed is not None
    return ClosedTrade(
        opened_at=opened,
        closed_at=closed,
        pnl=s.req_decimal("pnl"),
        equity_before=s.decimal("equity_before"),
        setup=s.choice("setup", Setup, Setup.PRIMARY),
        symbol=s.text("symbol") if s.has("symbol") else None,
    )


def _account(data: Any, path: str) -> AccountSnapshot:
    s = _Obj(
        data,
        path,
        ACCOUNT_FIELDS,
    )
    history = s.items("history", _trade)
    for index in range(1, len(history)):
        if history[index].closed_at < history[index - 1].closed_at:
            raise ScenarioError(f"{s.at('history')}[{index}].closed_at: history must be oldest first")
    return AccountSnapshot(
        equity=s.decimal("equity"),
        free_margin=s.decimal("free_margin"),
        start_of_day_equity=s.decimal("start_of_day_equity"),
        peak_equity=s.decimal("peak_equity"),
        positions=s.items("positions", _position),
        history=history,
        realized_pnl_today=s.decimal("realized_pnl_today"),
        breaker=s.choice("breaker", BreakerStatus, BreakerStatus.ACTIVE),
        stale=s.boolean("stale"),
    )


def _tier(data: Any, path: str) -> LeverageTier:
    s = _Obj(data, path, ("max_notional", "max_leverage", "mmr", "cum"))
    leverage = s.integer("max_leverage")
    if leverage is None or leverage < 1:
        raise ScenarioError(f"{s.at('max_leverage')}: expected a whole number ≥ 1")
    mmr = s.req_decimal("mmr")
    if not 0 <= mmr < 1:
        raise ScenarioError(f"{s.at('mmr')}: expected a rate from 0 to below 1, got {mmr}")
    return LeverageTier(
        max_notional=s.req_decimal("max_notional"),
        max_leverage=leverage,
        mmr=mmr,
        cum=s.decimal("cum") or Decimal(0),
    )


def _market(data: Any, path: str) -> MarketSnapshot:
    s = _Obj(
        data,
        path,
        MARKET_FIELDS,
    )
    tiers = s.items("leverage_tiers", _tier)
    for index in range(1, len(tiers)):
        if tiers[index].max_notional <= tiers[index - 1].max_notional:
            raise ScenarioError(f"{s.at('leverage_tiers')}[{index}].max_notional: tiers must be ascending")
    interval = s.decimal("funding_interval_hours")
    if interval is not None and interval <= 0:
        raise ScenarioError(f"{s.at('funding_interval_hours')}: expected a positive number of hours")
    raw_corr = s.data.get("correlations") or {}
    if not isinstance(raw_corr, Mapping):
        raise ScenarioError(f"{s.at('correlations')}: expected an object of symbol → correlation")
    correlations = {str(k): _decimal(v, f"{s.at('correlations')}.{k}") for k, v in raw_corr.items()}
    return MarketSnapshot(
        price=s.decimal("price"),
        amount_step=s.decimal("amount_step"),
        price_tick=s.decimal("price_tick"),
        min_amount=s.decimal("min_amount"),
        min_notional=s.decimal("min_notional"),
        max_leverage=s.integer("max_leverage"),
        leverage_tiers=tiers,
        taker_fee=s.decimal("taker_fee"),
        funding_rate=s.decimal("funding_rate"),
        funding_interval_hours=interval or Decimal(8),
        insurance_fund=s.decimal("insurance_fund"),
        avg_volatility=s.decimal("avg_volatility"),
        correlations=correlations,
        stale=s.boolean("stale"),
    )
