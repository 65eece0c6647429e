"""One way to validate what a person writes: frozen pydantic models, and one formatter for their errors.

The daemon's settings, the risk profiles, the simulator's TOML and the `executor size` scenario are
each a tree of frozen models built from the field types below; `explain` turns any of their
validation errors into one line per problem — `key = value: what is wrong and the fix` — with
secrets shown as `(redacted)` and URL credentials masked. It lives in the domain (pure, no I/O) so the
adapters' simulator may share it without depending on the daemon's configuration.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, Final, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from executor.domain.money import NotANumber, to_decimal, to_int
from executor.domain.redaction import redact_url, redact_urls

E = TypeVar("E", bound=StrEnum)
_SHOWN_CHARS: Final = 60
_NO_VALUE: Final = object()


class Frozen(BaseModel):
    """A section of input: immutable, and a key it does not define is an error, never ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class FieldProblem(ValueError):
    """Raised by a model validator to blame fields of its section by name (pydantic blames the section).

    pydantic keeps the exception in the error's context, where the formatters find `problems`.
    """

    def __init__(self, field: str, message: str, *more: tuple[str, str]) -> None:
        self.problems: tuple[tuple[str, str], ...] = ((field, message), *more)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.problems))

    @classmethod
    def of(cls, problems: Sequence[tuple[str, str]]) -> FieldProblem:
        return cls(*problems[0], *problems[1:])


# --- field validators: each takes what TOML or JSON gave and returns the value or says what is expected ---


def _range_text(low: object, high: object, what: str) -> str:
    if low is not None and high is not None:
        return f"expected {what} from {low} to {high}"
    if low is not None:
        return f"expected {what} ≥ {low}"
    if high is not None:
        return f"expected {what} ≤ {high}"
    return f"expected {what}"


def _decimal_in(low: Decimal | int | None, high: Decimal | int | None) -> Callable[[object], Decimal]:
    expected = _range_text(low, high, "a number")

    def check(value: object) -> Decimal:
        if isinstance(value, float | int | str | Decimal) and not isinstance(value, bool):
            try:
                parsed = to_decimal(value)
            except NotANumber:
                raise ValueError(f"{expected}, written with ASCII digits 0-9") from None
            if (low is None or parsed >= low) and (high is None or parsed <= high):
                return parsed
        raise ValueError(expected)

    return check


def number(low: Decimal | int | None = None, high: Decimal | int | None = None) -> BeforeValidator:
    """An exact decimal from a number or a string in ASCII decimal notation, within [low, high]."""
    return BeforeValidator(_decimal_in(low, high))


def positive() -> BeforeValidator:
    """An exact decimal above zero (a tick, a step, an interval)."""
    inner = _decimal_in(None, None)

    def check(value: object) -> Decimal:
        try:
            parsed = inner(value)
        except ValueError:
            raise ValueError("expected a number > 0, written with ASCII digits 0-9") from None
        if parsed <= 0:
            raise ValueError("expected a number > 0")
        return parsed

    return BeforeValidator(check)


def number_or_off(low: Decimal | int | None = None, high: Decimal | int | None = None) -> BeforeValidator:
    """`number`, or `false` (TOML has no null) meaning the rule is off."""
    inner = _decimal_in(low, high)

    def check(value: object) -> Decimal | None:
        if value is False or value is None:
            return None
        try:
            return inner(value)
        except ValueError as exc:
            raise ValueError(f"{exc}, or false to turn the rule off") from None

    return BeforeValidator(check)


def whole(low: int | None = None, high: int | None = None) -> BeforeValidator:
    """A whole number (`3`, `3.0` or `"3"`) within [low, high]."""
    expected = _range_text(low, high, "a whole number")

    def check(value: object) -> int:
        if isinstance(value, float | int | str | Decimal) and not isinstance(value, bool):
            try:
                parsed = to_decimal(value)
            except NotANumber:
                raise ValueError(expected) from None
            if parsed == parsed.to_integral_value():
                result = to_int(int(parsed))
                if (low is None or result >= low) and (high is None or result <= high):
                    return result
        raise ValueError(expected)

    return BeforeValidator(check)


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError("expected true or false")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError("expected a non-empty string")
    return value


def _texts(value: object) -> tuple[str, ...]:
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
        raise ValueError('expected a list of non-empty strings, e.g. ["BTC/USDT:USDT"]')
    return tuple(value)


def choice(enum: type[E]) -> BeforeValidator:
    """A member of `enum` by its value; the message lists the values."""
    options = ", ".join(member.value for member in enum)

    def check(value: object) -> E:
        if isinstance(value, enum):
            return value
        if isinstance(value, str) and value in enum._value2member_map_:
            return enum(value)
        raise ValueError(f"expected one of {options}")

    return BeforeValidator(check)


def instant(value: object) -> datetime:
    """An ISO 8601 time with its zone (a trailing Z or ±hh:mm)."""
    if not isinstance(value, str | datetime):
        raise ValueError('expected an ISO 8601 time string, e.g. "2026-06-02T14:00:00Z"')
    try:
        moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    except ValueError:
        raise ValueError('expected an ISO 8601 time string, e.g. "2026-06-02T14:00:00Z"') from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError('the time needs a zone, e.g. a trailing Z: "2026-06-02T14:00:00Z"')
    return moment


FLAG: Final = BeforeValidator(_flag)
TEXT: Final = BeforeValidator(_text)
TEXTS: Final = BeforeValidator(_texts)
INSTANT: Final = BeforeValidator(instant)


# --- the formatter ---


def prefixed(prefix: str, message: str) -> str:
    """Each line of `message` led by `prefix: `, so every problem still says where it comes from."""
    return "\n".join(f"{prefix}: {line}" for line in message.splitlines())


def _shown(value: object) -> str:
    if isinstance(value, bool):
        text = "true" if value else "false"
    elif value is None:
        text = "null"
    elif isinstance(value, int | Decimal):
        text = str(value)
    else:
        text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def _key(loc: Sequence[int | str]) -> str:
    key = ""
    for part in loc:
        key += f"[{part}]" if isinstance(part, int) else (f".{part}" if key else str(part))
    return key


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field's annotation holds (directly, optionally, or as items of a tuple/list/dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _model_in(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType, tuple, list, dict):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _known_keys(root: type[BaseModel], loc: Sequence[int | str]) -> str:
    """The keys the section holding `loc` defines, to suggest the right spelling."""
    model: type[BaseModel] | None = root
    for part in loc[:-1]:
        if model is None:
            return ""
        if isinstance(part, str) and part in model.model_fields:
            model = _model_in(model.model_fields[part].annotation)
    return ", ".join(model.model_fields) if model is not None else ""


def explain(
    exc: ValidationError,
    root: type[BaseModel],
    *,
    secret_keys: Collection[str] = (),
    noun: str = "setting",
    location: Callable[[Sequence[int | str]], Sequence[int | str]] | None = None,
) -> list[str]:
    """One line per problem: `key = value: message` (`key: message` when there is no single value).

    `root` is the model validated (its field names suggest the spelling of an unknown key);
    `secret_keys` are field names whose values are shown as `(redacted)`; URL credentials are masked;
    `noun` is what the input calls its keys ("setting" in configuration, "field" in JSON);
    `location` maps pydantic's location of a problem to where the input has it, if they differ.
    """
    lines = []
    for error in exc.errors(include_url=False):
        loc = list(location(error["loc"]) if location else error["loc"])
        value = error.get("input", _NO_VALUE)
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, FieldProblem):
            section = value if isinstance(value, dict) else {}
            for field, message in cause.problems:
                lines.append(_line([*loc, field], section.get(field, _NO_VALUE), message, secret_keys))
            continue
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            known = _known_keys(root, error["loc"])
            message = f"is not a known {noun}; the {noun}s here are: {known}"
        elif error["type"] in ("model_type", "dict_type", "model_attributes_type"):
            message = f"expected a table (a JSON object) of {noun}s"
        elif error["type"] in ("tuple_type", "list_type"):
            message = "expected a list"
        elif error["type"] == "missing":
            message, value = "is required; add it", _NO_VALUE
        lines.append(_line(loc, value, message, secret_keys))
    return lines


def _line(loc: Sequence[int | str], value: object, message: str, secret_keys: Collection[str]) -> str:
    key = _key(loc)
    if value is _NO_VALUE or isinstance(value, dict):
        return redact_urls(f"{key}: {message}" if key else message)
    if isinstance(value, str) and "://" in value:
        value = redact_url(value)  # the whole value is the URL: exact, whatever characters it holds
    shown = "(redacted)" if set(map(str, loc)) & set(secret_keys) else _shown(value)
    return redact_urls(f"{key} = {shown}: {message}")
