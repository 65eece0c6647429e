"""The one signal schema every ingress source converges on, validated at the edge.

A sender that gets something wrong is told which field and how to fix it, as a list of
``{"field", "message"}``; hostile input (huge, deeply nested, not JSON, not UTF-8, duplicate keys,
NaN) gives the same kind of list and never an exception of another type. Prices are parsed from the
JSON text straight into Decimal, never through a float.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, NoReturn, Self

from annotated_types import Ge, Gt, Le, Lt, Predicate
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    Strict,
    StringConstraints,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from executor.domain.enums import Action, EntryType, Regime, Setup, Side
from executor.domain.signal import REQUIRED_FIELDS, Entry, Instruction, Symbol
from executor.domain.validation import FIX, AsciiDecimal, FieldProblem, Says, Then, UtcInstant

MAX_BODY_BYTES: Final = 64 * 1024
"""A signal is a few hundred bytes; anything over this is refused before it is parsed."""

BODY: Final = "body"
"""The `field` of an error about the message as a whole rather than one of its fields."""

_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_MAX_PRICE = Decimal(10) ** 15
_MAX_FRACTION_DIGITS = 18
_MAX_SIGNIFICANT_DIGITS = 30
_MAX_TEXT = 64


@dataclass(frozen=True, slots=True)
class FieldError:
    """One thing wrong with a signal: the field (dotted path, or ``body``) and what to do about it."""

    field: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "message": self.message}


class InvalidSignal(ValueError):
    """The message is not a valid signal; ``signal_id`` is its id when the id itself was valid."""

    def __init__(self, errors: Sequence[FieldError], signal_id: str | None = None) -> None:
        super().__init__("; ".join(f"{e.field}: {e.message}" for e in errors))
        self.errors: tuple[FieldError, ...] = tuple(errors)
        self.signal_id = signal_id


def printable(text: str, limit: int = 200) -> str:
    """Text from a sender made safe to store and log: bounded, no NULs, no lone surrogates."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return cut.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _quoted(key: object) -> str:
    return json.dumps(str(key)[:40])[1:-1] or '""'


# --- field types: pydantic's parsing and constraints, each failure worded with the fix ---


def _one_of(enum: type[StrEnum]) -> Says:
    return Says(" or ".join(f'"{m.value}"' for m in enum).join(("must be ", " (lower case)")))


_NUMBER = AsciiDecimal(
    not_a_number='must be a number, e.g. 74.10 or "74.10"',
    not_ascii='must be a number in ASCII digits 0-9, e.g. 74.10 or "74.10"',
    not_finite="must be a finite number",
)
_ON_TICK = Then(
    f"has more than {_MAX_FRACTION_DIGITS} decimal places or {_MAX_SIGNIFICANT_DIGITS} digits; "
    "round it to the market's tick",
    Field(max_digits=_MAX_SIGNIFICANT_DIGITS, decimal_places=_MAX_FRACTION_DIGITS),
)
"""Digits are counted as pydantic counts them, without trailing zeros (74.1000 has one decimal place)."""


def _number_from(low: Decimal, high: Decimal, example: str) -> Then:
    return Then(f"must be from {low} to {high}, e.g. {example}", Ge(low), Le(high))


SignalId = Annotated[
    str,
    Strict(),
    StringConstraints(pattern=f"^{_ID.pattern}$"),
    Says(
        'must be 1–64 characters of A-Z a-z 0-9 . _ : - (e.g. "sol-20260602-1"); '
        "it is the idempotency key, so reuse it only to resend the same signal"
    ),
]
Price = Annotated[
    Decimal,
    _NUMBER,
    Then("must be a positive price below 10^15, e.g. 74.10", Gt(0), Lt(_MAX_PRICE)),
    _ON_TICK,
]
Volatility = Annotated[
    Decimal, _NUMBER, Then("must be a positive number, e.g. 0.035", Gt(0), Lt(_MAX_PRICE)), _ON_TICK
]
Conviction = Annotated[Decimal, _NUMBER, _number_from(Decimal(0), Decimal(10), "8"), _ON_TICK]
Strength = Annotated[Decimal, _NUMBER, _number_from(Decimal(0), Decimal(1), "0.7"), _ON_TICK]
Expiry = Annotated[
    datetime,
    UtcInstant,
    Says(
        'must be an ISO 8601 time with its zone, e.g. "2026-06-02T14:00:00Z" '
        "(a time without Z or +hh:mm is ambiguous)"
    ),
]
Strategy = Annotated[
    str,
    Strict(),
    StringConstraints(min_length=1, max_length=_MAX_TEXT),
    Predicate(str.isprintable),
    Says(f'must be a name of 1–{_MAX_TEXT} printable characters, e.g. "breakout-4h"'),
]
Token = Annotated[SecretStr, Says("must be a string: the shared secret configured as ingress.secret")]


class EntryMessage(BaseModel):
    """How to enter: at market, or a limit order at `price`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Annotated[EntryType, _one_of(EntryType)]
    price: Price | None = None

    @model_validator(mode="after")
    def _price_matches_type(self) -> Self:
        if self.type is EntryType.LIMIT and self.price is None:
            hint = 'a limit entry needs its price, e.g. {"type": "limit", "price": 74.10}'
            raise FieldProblem("price", hint)
        if self.type is EntryType.MARKET and self.price is not None:
            raise FieldProblem("price", 'a market entry has no price; remove it or use "type": "limit"')
        return self


_COMMON = frozenset({"id", "action", "symbol", "strategy", "expires_at", "token"})
_ALLOWED: Mapping[Action, frozenset[str]] = {
    Action.CLOSE: _COMMON | {"side"},
    Action.MOVE_STOP: _COMMON | {"side", "stop"},
}
_REQUIRED_HINT: Mapping[str, str] = {
    "side": 'add "side": "long" or "short"',
    "entry": 'add "entry": {"type": "market"} or {"type": "limit", "price": …}',
    "stop": 'add "stop": the stop-loss price, e.g. 74.10',
}


def _action_problems(action: Action, present: Iterable[str]) -> list[tuple[str, str]]:
    """Fields the action needs but lacks, and fields it would silently ignore."""
    present = set(present)
    problems = [
        (name, f'is required for action "{action.value}"; {_REQUIRED_HINT[name]}')
        for name in REQUIRED_FIELDS[action]
        if name not in present
    ]
    allowed = _ALLOWED.get(action)
    if allowed is not None:
        problems += [
            (name, f'is not used by action "{action.value}"; remove it') for name in sorted(present - allowed)
        ]
    return problems


class SignalMessage(BaseModel):
    """A trade instruction from a strategy; `id` makes every source's delivery idempotent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: SignalId
    action: Annotated[Action, _one_of(Action)] = Action.OPEN
    symbol: Symbol
    side: Annotated[Side, _one_of(Side)] | None = None
    entry: EntryMessage | None = None
    stop: Price | None = None
    take_profit: Price | None = None
    conviction: Conviction | None = None
    strength: Strength | None = None
    setup: Annotated[Setup, _one_of(Setup)] | None = None
    volatility: Volatility | None = None
    regime: Annotated[Regime, _one_of(Regime)] | None = None
    expires_at: Expiry | None = None
    strategy: Strategy | None = None
    token: Token | None = Field(default=None, exclude=True, repr=False)
    """TradingView's way to authenticate; checked by ingress and never part of the stored payload."""

    @model_validator(mode="after")
    def _fits_action_and_prices(self) -> Self:
        present = [name for name in type(self).model_fields if getattr(self, name) is not None]
        problems = _action_problems(self.action, present)
        problems += self._price_order()
        if problems:
            raise FieldProblem.of(problems)
        return self

    def _price_order(self) -> list[tuple[str, str]]:
        """Stop below and take-profit above the entry for a long (mirrored for a short)."""
        if self.action is not Action.OPEN or self.side is None or self.stop is None:
            return []
        sign = self.side.sign
        problems = []
        if self.entry is not None and self.entry.price is not None:
            if (self.entry.price - self.stop) * sign <= 0:
                where = "below" if self.side is Side.LONG else "above"
                message = f"must be {where} the limit price {self.entry.price} for a {self.side}"
                problems.append(("stop", message))
            if self.take_profit is not None and (self.take_profit - self.entry.price) * sign <= 0:
                where = "above" if self.side is Side.LONG else "below"
                problems.append(
                    ("take_profit", f"must be {where} the limit price {self.entry.price} for a {self.side}")
                )
        elif self.take_profit is not None and (self.take_profit - self.stop) * sign <= 0:
            where = "above" if self.side is Side.LONG else "below"
            problems.append(("take_profit", f"must be {where} the stop {self.stop} for a {self.side}"))
        return problems

    @classmethod
    def parse(cls, raw: bytes | str) -> SignalMessage:
        """The edge: bytes off the wire to a SignalMessage, or InvalidSignal with every problem found."""
        return cls.from_object(load_object(raw))

    @classmethod
    def from_object(cls, data: Mapping[str, Any]) -> SignalMessage:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            errors = _translate(exc.errors(include_url=False, include_input=False))
        errors += _missing_for_action(data, {e.field.split(".")[0] for e in errors})
        raw_id = data.get("id")
        valid_id = raw_id if isinstance(raw_id, str) and _ID.fullmatch(raw_id) else None
        raise InvalidSignal(errors, valid_id)

    def instruction(self) -> Instruction:
        """The domain's form of the signal, handed on past the ingress (the token stays here)."""
        entry = None if self.entry is None else Entry(self.entry.type, self.entry.price)
        fields = {name: getattr(self, name) for name in _HANDED_ON}
        return Instruction(**fields, entry=entry)

    def payload(self) -> dict[str, Any]:
        """The JSON-safe form stored in the inbox: the instruction's (prices as exact strings, no token)."""
        return self.instruction().payload()


_HANDED_ON = tuple(name for name in SignalMessage.model_fields if name not in ("entry", "token"))
_FIELD_NAMES = ", ".join(name for name in SignalMessage.model_fields)
_ENTRY_NAMES = ", ".join(EntryMessage.model_fields)


def _translate(details: Iterable[ErrorDetails]) -> list[FieldError]:
    errors: list[FieldError] = []
    for detail in details:
        loc = [_quoted(part) for part in detail["loc"]]
        path = ".".join(loc)
        kind = detail["type"]
        cause = (detail.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblem):
            errors += [FieldError(".".join([*loc, field]), message) for field, message in cause.problems]
        elif kind == "missing":
            errors.append(FieldError(path, f"is required; {_MISSING_HINT.get(path, 'add it')}"))
        elif kind == "extra_forbidden":
            names = _ENTRY_NAMES if len(loc) > 1 else _FIELD_NAMES
            errors.append(FieldError(path, f"is not a known field; remove it (known fields: {names})"))
        elif kind in (FIX, "value_error"):
            errors.append(FieldError(path, printable(detail["msg"].removeprefix("Value error, "))))
        elif kind == "model_type":
            errors.append(FieldError(path or BODY, _OBJECT_HINT.get(path, "must be a JSON object")))
        elif kind == "string_unicode":
            errors.append(FieldError(path or BODY, "contains a lone surrogate escape; send valid Unicode"))
        else:
            errors.append(FieldError(path or BODY, printable(detail["msg"])))
    return errors


_OBJECT_HINT: Mapping[str, str] = {
    "entry": 'must be an object: {"type": "market"} or {"type": "limit", "price": 74.10}',
}

_MISSING_HINT: Mapping[str, str] = {
    "id": 'add "id": a unique id of 1–64 characters from A-Z a-z 0-9 . _ : -',
    "symbol": 'add "symbol", e.g. "SOL/USDT:USDT" or "SOLUSDT"',
    "entry.type": 'add "type": "market" or "limit"',
}


def _missing_for_action(data: Mapping[str, Any], reported: set[str]) -> list[FieldError]:
    """Per-action requirements, also when other fields failed and the model check never ran."""
    raw = data.get("action", Action.OPEN.value)
    if not isinstance(raw, str) or raw not in Action._value2member_map_:
        return []
    present = [k for k, v in data.items() if v is not None and k in SignalMessage.model_fields]
    return [
        FieldError(field, message)
        for field, message in _action_problems(Action(raw), present)
        if field not in reported
    ]


def _reject(message: str) -> NoReturn:
    raise InvalidSignal([FieldError(BODY, message)])


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            _reject(f'the key "{_quoted(key)}" appears more than once; send each field once')
        result[key] = value
    return result


def _no_constants(name: str) -> NoReturn:
    _reject(f"{name} is not a JSON number; send a finite number")


def load_object(raw: bytes | str) -> dict[str, Any]:
    """Decode and parse a message into a JSON object, refusing anything hostile with a clear error."""
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8", "surrogatepass"))
    if size > MAX_BODY_BYTES:
        _reject(f"the message is larger than the limit; a signal must be at most {MAX_BODY_BYTES} bytes")
    if isinstance(raw, bytes):
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            _reject(f"the message is not valid UTF-8 (byte {exc.start}); send UTF-8 encoded JSON")
    else:
        text = raw
    try:
        data = json.loads(
            text, parse_float=Decimal, parse_constant=_no_constants, object_pairs_hook=_unique_keys
        )
    except RecursionError:
        _reject("the JSON is nested too deeply; a signal is a flat object with one nested entry")
    except json.JSONDecodeError as exc:
        _reject(f"the message is not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})")
    except InvalidSignal:
        raise
    except ValueError as exc:
        _reject(f"the message is not usable JSON ({printable(str(exc), 80)})")
    if not isinstance(data, dict):
        kind = "an array" if isinstance(data, list) else f"a {type(data).__name__}"
        _reject(f'the message is {kind}; a signal is a JSON object like {{"id": "…", "symbol": "…"}}')
    return data
