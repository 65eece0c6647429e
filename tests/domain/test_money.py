"""Numbers given as text are read in ASCII decimal notation only; Decimal() and int() alone accept more."""

from __future__ import annotations

from decimal import Decimal

import pytest

from executor.domain.money import NotANumber, to_decimal, to_int

UNICODE_DIGITS = ["١٤٠", "１４０", "१४०", "٧٤.١٠", "７４．１０", "74.1０", "1_000", "  ", "", "1e", "0x10"]


@pytest.mark.parametrize("text", ["140", "74.10", "-0.5", ".5", "5.", "1e3", "1E-05", " 74.10 ", "+3"])
def test_ascii_decimal_text_is_read_exactly(text: str) -> None:
    assert to_decimal(text) == Decimal(text.strip())


@pytest.mark.parametrize("text", UNICODE_DIGITS)
def test_any_other_digits_or_notation_are_not_a_number(text: str) -> None:
    with pytest.raises(NotANumber, match="ASCII"):
        to_decimal(text)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-inf", float("nan"), float("inf")])
def test_non_finite_values_are_not_a_number(value: object) -> None:
    with pytest.raises(NotANumber):
        to_decimal(value)


def test_floats_and_ints_enter_through_their_ascii_text() -> None:
    assert to_decimal(0.1) == Decimal("0.1") and to_decimal(140) == Decimal(140)


def test_whole_numbers_from_ascii_digits_only() -> None:
    assert (to_int("5000"), to_int(" -7 "), to_int(42)) == (5000, -7, 42)
    for bad in ("٥٠٠٠", "５０００", "5.0", "1_000", True, 5.0, None):
        with pytest.raises(NotANumber):
            to_int(bad)
