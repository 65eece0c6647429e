"""The shared field types and the one formatter: one line per problem naming the key, the value, the fix."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any, Self

import pytest
from annotated_types import Ge, Le
from pydantic import Field, TypeAdapter, ValidationError, model_validator

from executor.domain.validation import (
    FIX,
    FLAG,
    TEXT,
    AsciiDecimal,
    FieldProblem,
    Frozen,
    Says,
    Then,
    UtcInstant,
    choice,
    explain,
    number,
    number_or_off,
    positive,
    prefixed,
    whole,
)


class Colour(StrEnum):
    RED = "red"
    BLUE = "blue"


class Leg(Frozen):
    price: Annotated[Decimal, positive()]
    side: Annotated[Colour, choice(Colour)] = Colour.RED


class Section(Frozen):
    share: Annotated[Decimal, number(0, 1)] = Decimal("0.5")
    cap: Annotated[Decimal | None, number_or_off(0)] = None
    count: Annotated[int, whole(1, 10)] = 1
    on: Annotated[bool, FLAG] = True
    name: Annotated[str, TEXT] = "x"
    url: str = ""
    password: str = ""
    legs: tuple[Leg, ...] = ()
    books: dict[str, Leg] = Field(default_factory=dict)
    low: Annotated[Decimal, number()] = Decimal(0)
    high: Annotated[Decimal, number()] = Decimal(1)

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.low > self.high:
            raise FieldProblem("low", "expected at most high", ("high", "expected at least low"))
        return self


class Root(Frozen):
    section: Section = Section()


def lines(data: object) -> list[str]:
    with pytest.raises(ValidationError) as caught:
        Root.model_validate(data)
    return explain(caught.value, Root, secret_keys=("password",))


def test_values_are_read_exactly_from_numbers_or_ascii_text() -> None:
    section = Root.model_validate(
        {"section": {"share": "0.25", "cap": False, "count": "3", "legs": []}}
    ).section
    assert (section.share, section.cap, section.count) == (Decimal("0.25"), None, 3)
    assert Root.model_validate({"section": {"share": 0.1}}).section.share == Decimal("0.1")


@pytest.mark.parametrize(
    ("section", "line"),
    [
        ({"share": 2}, "section.share = 2: expected a number from 0 to 1"),
        (
            {"share": "٠.٥"},
            "section.share = '٠.٥': expected a number from 0 to 1, written with ASCII digits 0-9",
        ),
        ({"share": True}, "section.share = true: expected a number from 0 to 1"),
        ({"cap": -1}, "section.cap = -1: expected a number ≥ 0, or false to turn the rule off"),
        ({"share": float("nan")}, "section.share = nan: expected a number from 0 to 1"),
        ({"share": None}, "section.share = null: expected a number from 0 to 1"),
        ({"cap": "x"}, "section.cap = 'x': expected a number ≥ 0, written with ASCII digits 0-9, or false"),
        ({"count": 2.5}, "section.count = 2.5: expected a whole number from 1 to 10"),
        ({"cap": "-1"}, "section.cap = '-1': expected a number ≥ 0, or false to turn the rule off"),
        ({"count": "11"}, "section.count = '11': expected a whole number from 1 to 10"),
        ({"count": "１"}, "section.count = '１': expected a whole number from 1 to 10"),
        ({"on": "yes"}, "section.on = 'yes': expected true or false"),
        ({"name": " "}, "section.name = ' ': expected a non-empty string"),
        ({"legs": [{"price": "0"}]}, "section.legs[0].price = '0': expected a number > 0"),
        (
            {"legs": [{"price": 1, "side": "green"}]},
            "section.legs[0].side = 'green': expected one of red, blue",
        ),
        ({"legs": [{}]}, "section.legs[0].price: is required; add it"),
        ({"legs": 5}, "section.legs = 5: expected a list"),
        ({"books": {"BTC": {"price": -1}}}, "section.books.BTC.price = -1: expected a number > 0"),
        (
            {"shares": 1},
            "section.shares = 1: is not a known setting; the settings here are: share, cap, count,",
        ),
        (
            {"legs": [{"price": 1, "size": 2}]},
            "section.legs[0].size = 2: is not a known setting; the settings here are: price, side",
        ),
        ({"password": 5}, "section.password = (redacted): Input should be a valid string"),
        ({"url": 5}, "section.url = 5: Input should be a valid string"),
    ],
)
def test_each_problem_is_one_line_naming_key_value_and_fix(section: dict[str, object], line: str) -> None:
    found = lines({"section": section})
    assert len(found) == 1 and found[0].startswith(line), found


def test_a_model_check_blames_each_named_field_with_its_value() -> None:
    assert lines({"section": {"low": 5, "high": 2}}) == [
        "section.low = 5: expected at most high",
        "section.high = 2: expected at least low",
    ]


def test_a_section_that_is_not_a_table_and_every_problem_at_once() -> None:
    assert lines({"section": 3}) == ["section = 3: expected a table (a JSON object) of settings"]
    assert len(lines({"section": {"share": 5, "count": 0, "on": 1}})) == 3


def test_url_credentials_in_a_shown_value_are_masked() -> None:
    class Urls(Frozen):
        url: Annotated[str, TEXT, Field(pattern="^https://")] = "https://x"

    with pytest.raises(ValidationError) as caught:
        Urls.model_validate({"url": "ftp://u:hunter22@h/?token=t0k"})
    [line] = explain(caught.value, Urls)
    assert "hunter22" not in line and "t0k" not in line and "ftp://u:***@h/?token=***" in line


def test_prefixed_leads_every_line() -> None:
    assert prefixed("config", "a: 1\nb: 2") == "config: a: 1\nconfig: b: 2"


NUMBER = AsciiDecimal(not_a_number="not a number", not_ascii="ASCII digits only", not_finite="not finite")
Bounded = Annotated[
    Decimal, NUMBER, Then("from 0 to 10", Ge(0), Le(10)), Then("too fine", Field(decimal_places=2))
]
moment_of: TypeAdapter[datetime] = TypeAdapter(
    Annotated[datetime, UtcInstant, Says("an ISO time with its zone")]
)


def worded(adapter: TypeAdapter[Any], value: object) -> list[tuple[str, str]]:
    with pytest.raises(ValidationError) as caught:
        adapter.validate_python(value)
    return [(error["type"], error["msg"]) for error in caught.value.errors()]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0.1, Decimal("0.1")), (7, Decimal(7)), (" 2.50 ", Decimal("2.50")), (Decimal("1E+1"), Decimal("1E+1"))],
)
def test_an_ascii_decimal_is_exact_and_a_float_goes_through_its_text(
    value: object, expected: Decimal
) -> None:
    parsed = TypeAdapter(Bounded).validate_python(value)
    assert parsed == expected and str(parsed) == str(expected)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (True, "not a number"),
        ([1], "not a number"),
        ("١٤٠", "ASCII digits only"),
        ("1_0", "ASCII digits only"),
        (float("nan"), "not finite"),
        (Decimal("Infinity"), "not finite"),
        ("11", "from 0 to 10"),
        ("0.001", "too fine"),
    ],
)
def test_each_step_of_a_field_type_fails_in_its_own_words(value: object, message: str) -> None:
    assert worded(TypeAdapter(Bounded), value) == [(FIX, message)]


def test_an_instant_is_iso_text_with_a_zone_read_as_utc_and_never_a_unix_time() -> None:
    parsed = moment_of.validate_python("2026-06-02T16:00:00+02:00")
    assert parsed == datetime(2026, 6, 2, 14, tzinfo=UTC) and parsed.utcoffset() == timedelta(0)
    for refused in (1780000000, "1780000000", "2026-06-02T14:00:00", "0001-01-01T00:00:00+01:00"):
        assert worded(moment_of, refused) == [(FIX, "an ISO time with its zone")], refused
