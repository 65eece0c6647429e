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
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final, NoReturn, Self

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    model_validator,
)
from pydantic_core import ErrorDetails

from executor.domain.enums import EntryType, Regime, Setup, Side
from executor.domain.money import ASCII_DECIMAL, NotANumber, to_decimal
from executor.domain.validation import FieldProblem

MAX_BODY_BYTES: Final = 64 * 1024
"""A signal is a few hundred bytes; anything over this is refused before it is parsed."""

BODY: Final = "body"
"""The `field` of an error about the message as a whole rather than one of its fields."""

_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
_UNIFIED_SYMBOL = re.compile(r"[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,12}:[A-Za-z0-9]{1,12}")
_SPOT_SYMBOL = re.compile(r"[A-Za-z0-9]{1,20}/[A-Za-z0-9]{1,12}")
_EXCHANGE_SYMBOL = re.compile(r"[A-Za-z0-9_]{2,40}")
_MAX_PRICE = Decimal(10) ** 15
_MAX_FRACTION_DIGITS = 18
_MAX_SIGNIFICANT_DIGITS = 30
_MAX_TEXT = 64


class Action(StrEnum):
    OPEN = "open"
    CLOSE = "close"
    MOVE_STOP = "move_stop"


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


# --- field validators: each takes what JSON gave and returns the value or raises with the fix ---


def _signal_id(value: object) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise ValueError(
            'must be 1–64 characters of A-Z a-z 0-9 . _ : - (e.g. "sol-20260602-1"); '
            "it is the idempotency key, so reuse it only to resend the same signal"
        )
    return value


def _symbol(value: object) -> str:
    if isinstance(value, str) and len(value) <= 40:
        if _UNIFIED_SYMBOL.fullmatch(value) or _EXCHANGE_SYMBOL.fullmatch(value):
            return value
        if _SPOT_SYMBOL.fullmatch(value):
            raise ValueError(
                f"{value} is a spot symbol; a perpetual is written with its settle currency, "
                f"e.g. {value}:{value.split('/')[1]}"
            )
    raise ValueError(
        'must be a ccxt unified perpetual symbol like "SOL/USDT:USDT" or the exchange\'s id like "SOLUSDT"'
    )


def _member(enum: type[StrEnum]) -> Any:
    choices = " or ".join(f'"{m.value}"' for m in enum)

    def check(value: object) -> object:
        if value is None:
            return None
        if isinstance(value, str) and value in enum._value2member_map_:
            return enum(value)
        raise ValueError(f"must be {choices} (lower case)")

    return check


def _number(value: object) -> Decimal:
    """An exact decimal from a JSON number (already a Decimal or int) or a decimal string."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError('must be a number, e.g. 74.10 or "74.10"')
    if isinstance(value, str) and not ASCII_DECIMAL.fullmatch(value.strip()):
        raise ValueError('must be a number in ASCII digits 0-9, e.g. 74.10 or "74.10"')
    try:
        number = to_decimal(value)
    except NotANumber:
        raise ValueError("must be a finite number") from None
    digits = number.as_tuple()
    exponent = digits.exponent
    assert isinstance(exponent, int)
    if exponent < -_MAX_FRACTION_DIGITS or len(digits.digits) > _MAX_SIGNIFICANT_DIGITS:
        raise ValueError(
            f"has more than {_MAX_FRACTION_DIGITS} decimal places or {_MAX_SIGNIFICANT_DIGITS} digits; "
            "round it to the market's tick"
        )
    return number


def _price(value: object) -> Decimal | None:
    if value is None:
        return None
    number = _number(value)
    if not 0 < number < _MAX_PRICE:
        raise ValueError("must be a positive price below 10^15, e.g. 74.10")
    return number


def _bounded(low: Decimal, high: Decimal, example: str) -> Any:
    def check(value: object) -> Decimal | None:
        if value is None:
            return None
        number = _number(value)
        if not low <= number <= high:
            raise ValueError(f"must be from {low} to {high}, e.g. {example}")
        return number

    return check


def _volatility(value: object) -> Decimal | None:
    if value is None:
        return None
    number = _number(value)
    if not 0 < number < _MAX_PRICE:
        raise ValueError("must be a positive number, e.g. 0.035")
    return number


def _expires_at(value: object) -> datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, datetime):
            parsed = value
        elif isinstance(value, str) and len(value) <= _MAX_TEXT:
            parsed = datetime.fromisoformat(value)
        else:
            raise ValueError(value)
        if parsed.tzinfo is None or parsed.utcoffset() is None:
            raise ValueError(value)
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise ValueError(
            'must be an ISO 8601 time with its zone, e.g. "2026-06-02T14:00:00Z" '
            "(a time without Z or +hh:mm is ambiguous)"
        ) from None


def _strategy(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= _MAX_TEXT or not value.isprintable():
        raise ValueError(f'must be a name of 1–{_MAX_TEXT} printable characters, e.g. "breakout-4h"')
    return value


def _token(value: object) -> object:
    if value is not None and not isinstance(value, str):
        raise ValueError("must be a string: the shared secret configured as ingress.secret")
    return value


def _entry(value: object) -> object:
    if value is not None and not isinstance(value, Mapping | EntryMessage):
        raise ValueError('must be an object: {"type": "market"} or {"type": "limit", "price": 74.10}')
    return value


Price = Annotated[Decimal | None, BeforeValidator(_price)]


class EntryMessage(BaseModel):
    """How to enter: at market, or a limit order at `price`."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: Annotated[EntryType, BeforeValidator(_member(EntryType))]
    price: Price = None

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
_REQUIRED: Mapping[Action, tuple[str, ...]] = {
    Action.OPEN: ("side", "entry", "stop"),
    Action.CLOSE: (),
    Action.MOVE_STOP: ("stop",),
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
        for name in _REQUIRED[action]
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

    id: Annotated[str, BeforeValidator(_signal_id)]
    action: Annotated[Action, BeforeValidator(_member(Action))] = Action.OPEN
    symbol: Annotated[str, BeforeValidator(_symbol)]
    side: Annotated[Side | None, BeforeValidator(_member(Side))] = None
    entry: Annotated[EntryMessage | None, BeforeValidator(_entry)] = None
    stop: Price = None
    take_profit: Price = None
    conviction: Annotated[Decimal | None, BeforeValidator(_bounded(Decimal(0), Decimal(10), "8"))] = None
    strength: Annotated[Decimal | None, BeforeValidator(_bounded(Decimal(0), Decimal(1), "0.7"))] = None
    setup: Annotated[Setup | None, BeforeValidator(_member(Setup))] = None
    volatility: Annotated[Decimal | None, BeforeValidator(_volatility)] = None
    regime: Annotated[Regime | None, BeforeValidator(_member(Regime))] = None
    expires_at: Annotated[datetime | None, BeforeValidator(_expires_at)] = None
    strategy: Annotated[str | None, BeforeValidator(_strategy)] = None
    token: Annotated[SecretStr | None, BeforeValidator(_token)] = Field(
        default=None, exclude=True, repr=False
    )
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

    def payload(self) -> dict[str, Any]:
        """The JSON-safe form stored in the inbox (prices as exact strings, no token)."""
        return self.model_dump(mode="json", exclude_none=True)


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
        elif kind == "value_error":
            errors.append(FieldError(path, printable(detail["msg"].removeprefix("Value error, "))))
        elif kind == "model_type" and not loc:
            errors.append(FieldError(BODY, "must be a JSON object"))
        elif kind == "string_unicode":
            errors.append(FieldError(path or BODY, "contains a lone surrogate escape; send valid Unicode"))
        else:
            errors.append(FieldError(path or BODY, printable(detail["msg"])))
    return errors


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
