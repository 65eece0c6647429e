"""The JSON scenario of `executor size`, validated by frozen models: a malformed field is an error naming it.

Numbers may be JSON numbers or strings in ASCII decimal notation (strings are read exactly). Account
and market numbers that are absent or null are *unknown*, which the pipeline turns into a DATA_MISSING
rejection, not an error; elsewhere null is the same as absent. The models are pydantic used as pure data
validation (no I/O), like the risk profile's; each turns itself into the engine's input types.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Self

from pydantic import BeforeValidator, Field, ValidationError, model_validator

from executor.domain.enums import BreakerStatus, EntryType, Regime, Setup, Side
from executor.domain.signal import Entry, Signal
from executor.domain.validation import (
    FLAG,
    INSTANT,
    TEXT,
    FieldProblem,
    Frozen,
    choice,
    explain,
    number,
    positive,
    whole,
)
from executor.risk.inputs import ClosedTrade, LeverageBracket, OpenPosition, RiskAccount, RiskMarket


class ScenarioError(ValueError):
    """The scenario is malformed; one line per problem names the field and what is expected."""


@dataclass(frozen=True, slots=True)
class Scenario:
    profile: str
    now: datetime
    signal: Signal
    account: RiskAccount
    market: RiskMarket


Number = Annotated[Decimal, number()]
Known = Annotated[Decimal | None, number()]
Text = Annotated[str, TEXT]
Instant = Annotated[datetime, INSTANT]
Leverage = Annotated[int, whole(1)]


def _listed(value: object) -> object:
    """Hand-written: one take-profit may be written bare, and pydantic has no 'one or a list' type."""
    return value if isinstance(value, list | tuple) else [value]


class _Json(Frozen):
    """A JSON object of the scenario: null counts as absent."""

    @model_validator(mode="before")
    @classmethod
    def _null_is_absent(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            return {key: value for key, value in data.items() if value is not None}
        return data


class _Entry(_Json):
    type: Annotated[EntryType, choice(EntryType)]
    price: Known = None

    @model_validator(mode="after")
    def _limit_has_price(self) -> Self:
        if self.type is EntryType.LIMIT and self.price is None:
            raise FieldProblem("price", 'is required for a limit entry; add "price"')
        return self


class _Signal(_Json):
    id: Text
    symbol: Text
    side: Annotated[Side, choice(Side)]
    entry: _Entry
    stop: Number
    take_profit: Annotated[tuple[Number, ...], BeforeValidator(_listed)] = ()
    conviction: Annotated[Decimal | None, number(0, 10)] = None
    strength: Annotated[Decimal | None, number(0, 1)] = None
    setup: Annotated[Setup, choice(Setup)] = Setup.PRIMARY
    volatility: Annotated[Decimal | None, number(0)] = None
    regime: Annotated[Regime | None, choice(Regime)] = None
    expires_at: Instant | None = None

    def to_input(self) -> Signal:
        return Signal(
            id=self.id,
            symbol=self.symbol,
            side=self.side,
            entry=Entry(self.entry.type, self.entry.price),
            stop=self.stop,
            take_profits=self.take_profit,
            conviction=self.conviction,
            strength=self.strength,
            setup=self.setup,
            volatility=self.volatility,
            regime=self.regime,
            expires_at=self.expires_at,
        )


class _Position(_Json):
    symbol: Text
    side: Annotated[Side, choice(Side)]
    qty: Number
    entry: Number
    stop: Number
    leverage: Leverage
    opened_at: Instant | None = None

    def to_input(self) -> OpenPosition:
        return OpenPosition(**dict(self))


class _Trade(_Json):
    opened_at: Instant
    closed_at: Instant
    pnl: Number
    equity_before: Known = None
    setup: Annotated[Setup, choice(Setup)] = Setup.PRIMARY
    symbol: Text | None = None

    def to_input(self) -> ClosedTrade:
        return ClosedTrade(**dict(self))


class _Account(_Json):
    equity: Known = None
    free_margin: Known = None
    start_of_day_equity: Known = None
    peak_equity: Known = None
    positions: tuple[_Position, ...] = ()
    history: tuple[_Trade, ...] = ()
    realized_pnl_today: Known = None
    breaker: Annotated[BreakerStatus, choice(BreakerStatus)] = BreakerStatus.ACTIVE
    stale: Annotated[bool, FLAG] = False

    @model_validator(mode="after")
    def _oldest_first(self) -> Self:
        for index in range(1, len(self.history)):
            if self.history[index].closed_at < self.history[index - 1].closed_at:
                raise FieldProblem("history", f"must be oldest first (closed_at of [{index}] is earlier)")
        return self

    def to_input(self) -> RiskAccount:
        positions = tuple(position.to_input() for position in self.positions)
        history = tuple(trade.to_input() for trade in self.history)
        return RiskAccount(**(dict(self) | {"positions": positions, "history": history}))


class _Tier(_Json):
    max_notional: Number
    max_leverage: Leverage
    mmr: Annotated[Decimal, number(0, Decimal("0.9999"))]
    cum: Number = Decimal(0)

    def to_input(self) -> LeverageBracket:
        return LeverageBracket(**dict(self))


class _Market(_Json):
    price: Known = None
    amount_step: Known = None
    price_tick: Known = None
    min_amount: Known = None
    min_notional: Known = None
    max_leverage: Leverage | None = None
    leverage_tiers: tuple[_Tier, ...] = ()
    taker_fee: Known = None
    funding_rate: Known = None
    funding_interval_hours: Annotated[Decimal, positive()] = Decimal(8)
    insurance_fund: Known = None
    avg_volatility: Known = None
    correlations: dict[str, Annotated[Decimal, number(-1, 1)]] = Field(default_factory=dict)
    stale: Annotated[bool, FLAG] = False
    bid: Known = None
    ask: Known = None
    quoted_at: Instant | None = None
    max_price_age_ms: Annotated[int, whole(1)] = 1000
    price_band_down: Annotated[Decimal | None, positive()] = None
    price_band_up: Annotated[Decimal | None, positive()] = None

    @model_validator(mode="after")
    def _tiers_ascend(self) -> Self:
        for index in range(1, len(self.leverage_tiers)):
            if self.leverage_tiers[index].max_notional <= self.leverage_tiers[index - 1].max_notional:
                message = f"must ascend by max_notional (tier [{index}] does not)"
                raise FieldProblem("leverage_tiers", message)
        return self

    def to_input(self, now: datetime) -> RiskMarket:
        """A scenario's prices are as of its `now` unless `quoted_at` says otherwise."""
        tiers = tuple(tier.to_input() for tier in self.leverage_tiers)
        return RiskMarket(**(dict(self) | {"leverage_tiers": tiers, "quoted_at": self.quoted_at or now}))


SIGNAL_FIELDS = tuple(_Signal.model_fields)
"""The keys a scenario's signal may have."""


class _Scenario(_Json):
    profile: Text = "handbook"
    now: Instant
    signal: _Signal
    account: _Account
    market: _Market


def parse_scenario(data: Any) -> Scenario:
    """The scenario from its parsed JSON, or ScenarioError with one line per problem."""
    if not isinstance(data, Mapping):
        raise ScenarioError("input: expected a JSON object with profile, now, signal, account and market")
    try:
        parsed = _Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError("\n".join(explain(exc, _Scenario, noun="field"))) from None
    return Scenario(
        profile=parsed.profile,
        now=parsed.now,
        signal=parsed.signal.to_input(),
        account=parsed.account.to_input(),
        market=parsed.market.to_input(parsed.now),
    )
