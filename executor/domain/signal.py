"""A trading signal as the daemon acts on it: validated, typed, Decimal prices.

The ingress validates the wire message (executor/signals/schema.py, ``SignalMessage``) and hands on an
``Instruction``: it is what the inbox stores (``payload``) and what the execution layer reads back
(``Instruction.from_payload``), so nothing past the ingress depends on the wire schema. An open
becomes the risk engine's ``Signal`` once its symbol is resolved on the exchange.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    ConfigDict,
    GetCoreSchemaHandler,
    Strict,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidatorFunctionWrapHandler,
    with_config,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from executor.domain.enums import Action, EntryType, Regime, Setup, Side
from executor.domain.validation import FIX, Says

_UNIFIED_SYMBOL = re.compile(r"[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,12}:[A-Za-z0-9]{1,12}")
_SPOT_SYMBOL = re.compile(r"[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,12}")
_EXCHANGE_SYMBOL = re.compile(r"[A-Za-z0-9_]{2,40}")


class _PerpetualSymbol:
    """Annotation on `str`: a ccxt unified perpetual symbol or the exchange's own id.

    A spot symbol (no settle currency) is the likeliest slip, so its fix is spelled out with the
    symbol the sender most probably meant."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(cls._spot_hint, handler(source))

    @staticmethod
    def _spot_hint(value: Any, handler: ValidatorFunctionWrapHandler) -> str:
        try:
            return str(handler(value))
        except ValidationError:
            if isinstance(value, str) and len(value) <= 40 and _SPOT_SYMBOL.fullmatch(value):
                raise PydanticCustomError(
                    FIX,
                    "{symbol} is a spot symbol; a perpetual is written with its settle currency, "
                    "e.g. {symbol}:{settle}",
                    {"symbol": value, "settle": value.split("/")[1]},
                ) from None
            raise


Symbol = Annotated[
    str,
    Strict(),
    StringConstraints(max_length=40, pattern=f"^(?:{_UNIFIED_SYMBOL.pattern}|{_EXCHANGE_SYMBOL.pattern})$"),
    Says('must be a ccxt unified perpetual symbol like "SOL/USDT:USDT" or the exchange\'s id like "SOLUSDT"'),
    _PerpetualSymbol,
]
"""A symbol as a sender or the operator writes it, resolved on the exchange when it is acted on."""
_SYMBOL: TypeAdapter[str] = TypeAdapter(Symbol)


class InvalidSymbol(ValueError):
    """Not a perpetual's symbol; the message is the fix."""


def perpetual_symbol(text: str) -> str:
    """`text` if it is written as a perpetual's symbol, else InvalidSymbol saying how to write it."""
    try:
        return _SYMBOL.validate_python(text)
    except ValidationError as exc:
        raise InvalidSymbol(exc.errors()[0]["msg"]) from None


@dataclass(frozen=True, slots=True)
class Entry:
    type: EntryType
    price: Decimal | None = None


class InvalidInstruction(ValueError):
    """A stored payload that is not an instruction (written by another version, or by hand)."""


REQUIRED_FIELDS: Mapping[Action, tuple[str, ...]] = {
    Action.OPEN: ("side", "entry", "stop"),
    Action.CLOSE: (),
    Action.MOVE_STOP: ("stop",),
}
"""What each action cannot do without (the wire schema asks the sender for the same)."""


@with_config(ConfigDict(extra="forbid"))
@dataclass(frozen=True, slots=True)
class Instruction:
    """What a sender asked, already validated by the ingress: open a position, close it, or move its stop.

    `symbol` is as the sender wrote it (unified or the exchange's id), resolved when it is acted on.
    """

    id: str
    symbol: str
    action: Action = Action.OPEN
    side: Side | None = None
    entry: Entry | None = None
    stop: Decimal | None = None
    take_profit: Decimal | None = None
    conviction: Decimal | None = None
    strength: Decimal | None = None
    setup: Setup | None = None
    volatility: Decimal | None = None
    regime: Regime | None = None
    expires_at: datetime | None = None
    strategy: str | None = None

    def __post_init__(self) -> None:
        missing = [name for name in REQUIRED_FIELDS[self.action] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"{self.action.value} needs {', '.join(missing)}")

    def payload(self) -> dict[str, Any]:
        """The JSON form the inbox stores: prices as exact strings, times in ISO 8601, no empty field."""
        stored: dict[str, Any] = _STORED.dump_python(self, mode="json", exclude_none=True)
        return stored

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> Instruction:
        """Read a stored instruction back; InvalidInstruction names each problem on one line."""
        try:
            return _STORED.validate_python(payload)
        except ValidationError as exc:
            problems = (
                f"{'.'.join(map(str, e['loc'])) or 'payload'}: {e['msg']}"
                for e in exc.errors(include_url=False, include_input=False)
            )
            raise InvalidInstruction("; ".join(problems)) from None


_STORED: TypeAdapter[Instruction] = TypeAdapter(Instruction)


@dataclass(frozen=True, slots=True)
class Signal:
    """An open as the risk engine decides on it: the symbol resolved, the side, entry and stop certain."""

    id: str
    symbol: str
    side: Side
    entry: Entry
    stop: Decimal
    take_profits: tuple[Decimal, ...] = ()
    conviction: Decimal | None = None
    strength: Decimal | None = None
    setup: Setup = Setup.PRIMARY
    volatility: Decimal | None = None
    regime: Regime | None = None
    expires_at: datetime | None = None
