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
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Final

from annotated_types import Ge, Gt, Le, Predicate
from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    Strict,
    StringConstraints,
    ValidationError,
)
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from executor.domain.money import ASCII_DECIMAL
from executor.domain.redaction import redact_url, redact_urls

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


# --- field types: pydantic's own parsing and constraints, each failure worded as the field's fix ---

FIX: Final = "fix"
"""The error type of a failure worded by `Says` or `Then`: its message is the whole answer to the sender."""


def _worded(schema: CoreSchema, message: str) -> CoreSchema:
    return core_schema.custom_error_schema(schema, custom_error_type=FIX, custom_error_message=message)


@dataclass(frozen=True, slots=True)
class Says:
    """Annotation: any failure of the type as annotated so far is reported as `message` alone.

    pydantic's own wording ("Input should be a valid string") names neither the field's rules nor
    the fix; this replaces it, so a sender reads one line that says what to send instead.
    """

    message: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return _worded(handler(source), self.message)


class Then:
    """Annotation: pydantic constraints (annotated-types' `Gt`, `Le`…, or `Field(max_digits=…)`) checked
    on the value parsed so far, their failure worded as `message`; the earlier steps keep their wording."""

    __slots__ = ("constraints", "message")

    def __init__(self, message: str, *constraints: object) -> None:
        self.message = message
        self.constraints = constraints

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        check = handler.generate_schema(Annotated[(source, Strict(), *self.constraints)])
        return core_schema.chain_schema([handler(source), _worded(check, self.message)])


@dataclass(frozen=True, slots=True)
class AsciiDecimal:
    """Annotation on `Decimal`: an exact decimal from a number, or from text in ASCII decimal notation.

    pydantic's own decimal parsing goes through Python's Decimal(), which also reads Arabic-Indic and
    full-width digits ("١٤٠" is 140) that no sender means as a price; text must match ASCII_DECIMAL
    first. A float goes through its str (pydantic's way), so 0.1 stays 0.1. Each way to fail has its
    own wording: not a number at all, text in other digits, not finite.
    """

    not_a_number: str
    not_ascii: str
    not_finite: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        numbers: list[CoreSchema] = [
            core_schema.int_schema(strict=True),
            core_schema.float_schema(strict=True),
            core_schema.decimal_schema(strict=True),
        ]
        notation = core_schema.str_schema(
            strict=True, strip_whitespace=True, pattern=f"^(?:{ASCII_DECIMAL.pattern})$"
        )
        kind = core_schema.union_schema([core_schema.str_schema(strict=True), *numbers])
        return core_schema.chain_schema(
            [
                _worded(kind, self.not_a_number),
                _worded(core_schema.union_schema([notation, *numbers]), self.not_ascii),
                _worded(core_schema.decimal_schema(allow_inf_nan=False), self.not_finite),
            ]
        )


def _in_utc(moment: datetime) -> datetime:
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise ValueError("the time in UTC is outside the years 1 to 9999") from None


class WrittenTime:
    """Annotation on `datetime`: an ISO 8601 time as text, or a datetime, with or without its zone.

    Text or a datetime only: pydantic's lax datetime would also read a number (or a string of digits)
    as a Unix time, which no one writing a time means."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        iso = core_schema.str_schema(strict=True, max_length=64, pattern=r"^[0-9]{4}-[0-9]{2}-[0-9]{2}")
        text = core_schema.chain_schema([iso, core_schema.datetime_schema()])
        return core_schema.union_schema([core_schema.datetime_schema(strict=True), text])


class UtcInstant:
    """Annotation on `datetime`: a `WrittenTime` with its zone (Z or ±hh:mm), as that instant in UTC."""

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        aware = core_schema.datetime_schema(strict=True, tz_constraint="aware")
        written = WrittenTime.__get_pydantic_core_schema__(source, handler)
        return core_schema.no_info_after_validator_function(
            _in_utc, core_schema.chain_schema([written, aware])
        )


# --- the settings' field types: the same pieces and pydantic constraints, worded `expected …` for files ---


@dataclass(frozen=True, slots=True)
class _As:
    """Annotation: the value is checked as `kind` with `steps` (pydantic metadata), then handed to the
    annotated type, so `Annotated[Decimal | None, number()]` still refuses an explicit null and a
    `float` field still receives its number as a float."""

    kind: Any
    steps: tuple[object, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        checked = handler.generate_schema(Annotated[(self.kind, *self.steps)])
        return core_schema.chain_schema([_blamed_as_written(checked), handler(source)])


def _blamed_as_written(schema: CoreSchema) -> CoreSchema:
    return core_schema.no_info_wrap_validator_function(_as_written, schema)


def _as_written(value: object, check: core_schema.ValidatorFunctionWrapHandler) -> object:
    """Hand-written: pydantic blames a later step's failure on the parsed value, not the one written."""
    try:
        return check(value)
    except ValidationError as exc:
        raise PydanticCustomError(FIX, "{fix}", {"fix": exc.errors()[0]["msg"]}) from None


Bound = Decimal | int | None
"""A range's end, or None where the range is open."""


def _range_text(low: object, high: object, what: str) -> str:
    if low is not None and high is not None:
        return f"expected {what} from {low} to {high}"
    if low is not None:
        return f"expected {what} ≥ {low}"
    if high is not None:
        return f"expected {what} ≤ {high}"
    return f"expected {what}"


def _bounds(low: Bound, high: Bound) -> tuple[object, ...]:
    return (*(() if low is None else (Ge(low),)), *(() if high is None else (Le(high),)))


def _decimal_steps(low: Bound, high: Bound, suffix: str = "") -> tuple[object, ...]:
    expected = _range_text(low, high, "a number")
    number = AsciiDecimal(
        not_a_number=expected + suffix,
        not_ascii=f"{expected}, written with ASCII digits 0-9{suffix}",
        not_finite=expected + suffix,
    )
    bounds = _bounds(low, high)
    return (number, Then(expected + suffix, *bounds)) if bounds else (number,)


def number(low: Bound = None, high: Bound = None) -> _As:
    """An exact decimal from a number or a string in ASCII decimal notation, within [low, high]."""
    return _As(Decimal, _decimal_steps(low, high))


def positive() -> _As:
    """An exact decimal above zero (a tick, a step, an interval)."""
    unreadable = "expected a number > 0, written with ASCII digits 0-9"
    number = AsciiDecimal(not_a_number=unreadable, not_ascii=unreadable, not_finite=unreadable)
    return _As(Decimal, (number, Then("expected a number > 0", Gt(0))))


def _false_is_off(value: object) -> object:
    """TOML has no null, so `false` says the rule is off: the one step pydantic has no constraint for."""
    return None if value is False else value


@dataclass(frozen=True, slots=True)
class _NumberOrOff:
    """Annotation: `number`, or `false` (or null) meaning the rule is off."""

    low: Bound
    high: Bound

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        steps = _decimal_steps(self.low, self.high, ", or false to turn the rule off")
        checked = handler.generate_schema(Annotated[(Decimal, *steps)])
        off_or_number = core_schema.nullable_schema(_blamed_as_written(checked))
        return core_schema.no_info_before_validator_function(_false_is_off, off_or_number)


def number_or_off(low: Bound = None, high: Bound = None) -> _NumberOrOff:
    """`number`, or `false` (TOML has no null) meaning the rule is off."""
    return _NumberOrOff(low, high)


def whole(low: int | None = None, high: int | None = None) -> _As:
    """A whole number (`3`, `3.0` or `"3"`) within [low, high]."""
    expected = _range_text(low, high, "a whole number")
    number = AsciiDecimal(not_a_number=expected, not_ascii=expected, not_finite=expected)
    return _As(Decimal, (number, Then(expected, Field(decimal_places=0), *_bounds(low, high))))


def choice(enum: type[StrEnum]) -> _As:
    """A member of `enum` by its value; the message lists the values."""
    return _As(enum, (Says(f"expected one of {', '.join(member.value for member in enum)}"),))


def _has_text(text: str) -> bool:
    return bool(text.strip())


_ISO_EXAMPLE: Final = '"2026-06-02T14:00:00Z"'
FLAG: Final = _As(bool, (Strict(), Says("expected true or false")))
TEXT: Final = _As(str, (Strict(), Predicate(_has_text), Says("expected a non-empty string")))
NonEmpty = Annotated[str, Strict(), StringConstraints(min_length=1)]
"""A string of at least one character (a symbol or an asset in a list)."""
TEXTS: Final = _As(
    tuple[NonEmpty, ...],
    (Says('expected a list of non-empty strings, e.g. ["BTC/USDT:USDT"]'),),
)
INSTANT: Final = _As(
    datetime,
    (
        WrittenTime,
        Says(f"expected an ISO 8601 time string, e.g. {_ISO_EXAMPLE}"),
        Then(f"the time needs a zone, e.g. a trailing Z: {_ISO_EXAMPLE}", AwareDatetime),
    ),
)


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
