"""The engine's answer with its reasoning: every step's input, output and whether it bound the size."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_EVEN, Decimal
from enum import Enum, StrEnum
from string import Formatter
from typing import Any, NamedTuple

from executor.domain.display import money
from executor.domain.enums import RiskStep
from executor.domain.reasons import ReasonCode

MONEY_PLACES = Decimal("0.00000001")

Value = Decimal | int | str | bool | None


class PriceSource(StrEnum):
    """Where a decision's reference price came from: the book side the entry takes, the mark where no
    book is known, or a resting limit's own price."""

    ASK = "ask"
    BID = "bid"
    MARK = "mark"
    LIMIT = "limit"


Text = str | tuple[str, tuple[object, ...]]
"""A step's note: words, or a template and the values it shows, put into words only when read.

A decision is made far more often than its log is read (the daemon stores it, `executor size` and
`explain` print it), so deciding builds no text, only a tuple; its values are bound when the step is
recorded. In a template `{!n}` shows a Decimal normalized (`0.0010` as `0.001`), `{!m}` as money with 2
decimals (`310.00`).
"""


class _NoteFormatter(Formatter):
    def convert_field(self, value: Any, conversion: str | None) -> Any:
        if conversion == "n":
            return value.normalize()
        if conversion == "m":
            return "none" if value is None else money(value)
        return super().convert_field(value, conversion)


_NOTES = _NoteFormatter()


def words(text: Text) -> str:
    return text if isinstance(text, str) else _NOTES.vformat(text[0], text[1], {})


class Step(NamedTuple):
    """Immutable like every value here; a tuple because twenty are built per decision."""

    step: RiskStep
    before: Mapping[str, Value]
    after: Mapping[str, Value]
    binding: bool = False
    text: Text = ""
    """The note as recorded; `note` reads it as words."""

    @property
    def note(self) -> str:
        return words(self.text)

    def to_dict(self) -> dict[str, Any]:
        return {
            "step": self.step,
            "before": {key: _json(value) for key, value in self.before.items()},
            "after": {key: _json(value) for key, value in self.after.items()},
            "binding": self.binding,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Decision:
    accepted: bool
    reason: ReasonCode | None
    message: str
    signal_id: str
    steps: tuple[Step, ...] = ()
    qty: Decimal | None = None
    leverage: int | None = None
    entry: Decimal | None = None
    stop: Decimal | None = None
    take_profit: tuple[Decimal, ...] = field(default=())
    notional: Decimal | None = None
    margin: Decimal | None = None
    risk: Decimal | None = None
    risk_pct: Decimal | None = None
    liquidation_price: Decimal | None = None
    binding: RiskStep | None = None
    price_source: PriceSource | None = None
    price_age_ms: int | None = None
    order_price: Decimal | None = None
    takes_liquidity: bool | None = None
    slippage_allowance: Decimal | None = None
    risk_budget: Decimal | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON object of `executor size`: order values already on the market's grid, money as
        plain decimal strings."""
        return {
            "accepted": self.accepted,
            "reason": None if self.reason is None else self.reason.value,
            "message": self.message,
            "signal_id": self.signal_id,
            "qty": _plain(self.qty),
            "leverage": self.leverage,
            "entry": _plain(self.entry),
            "price_source": None if self.price_source is None else self.price_source.value,
            "price_age_ms": self.price_age_ms,
            "order_price": _plain(self.order_price),
            "takes_liquidity": self.takes_liquidity,
            "slippage_allowance": _plain(self.slippage_allowance),
            "stop": _plain(self.stop),
            "take_profit": _take_profit(self.take_profit),
            "notional": _money(self.notional),
            "margin": _money(self.margin),
            "risk": _money(self.risk),
            "risk_pct": _money(self.risk_pct),
            "risk_budget": _money(self.risk_budget),
            "liquidation_price": _plain(self.liquidation_price),
            "binding": self.binding,
            "steps": [step.to_dict() for step in self.steps],
        }


def _take_profit(targets: tuple[Decimal, ...]) -> str | list[str] | None:
    if not targets:
        return None
    if len(targets) == 1:
        return format(targets[0], "f")
    return [format(target, "f") for target in targets]


def _plain(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")


def _money(value: Decimal | None) -> str | None:
    if value is None:
        return None
    return format(value.quantize(MONEY_PLACES, rounding=ROUND_HALF_EVEN).normalize(), "f")


def _json(value: Value) -> Any:
    if isinstance(value, Decimal):
        return _money(value) if value.as_tuple().exponent not in range(-8, 1) else format(value, "f")
    if isinstance(value, Enum):
        return value.value
    return value
