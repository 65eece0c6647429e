"""Exact money: every price, quantity and amount is a Decimal, and floats only enter through str.

Text is read in ASCII decimal notation only: Python's Decimal() also accepts Arabic-Indic, full-width
and other Unicode digits ("١٤٠" is 140) and underscores, none of which a sender means as a price.
"""

from __future__ import annotations

import re
from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation
from typing import Final

ASCII_DECIMAL: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""The notation every number given as text must use: ASCII digits, one point, an optional exponent."""
ASCII_INTEGER: Final = re.compile(r"[+-]?[0-9]+")

ZERO: Final = Decimal(0)
"""The one zero every module compares money and quantities with."""


class NotANumber(ValueError):
    """A value that should be money or a quantity is not a finite decimal."""


def to_decimal(value: object) -> Decimal:
    """Convert an exchange or user value to Decimal without float artefacts (0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise NotANumber(f"{value!r} is a boolean, not a number")
    elif isinstance(value, int | float | str):
        text = str(value).strip()
        if isinstance(value, str) and not ASCII_DECIMAL.fullmatch(text):
            raise NotANumber(f"{value!r} is not a number in ASCII decimal notation, e.g. 74.10")
        try:
            result = Decimal(text)
        except InvalidOperation as exc:
            raise NotANumber(f"{value!r} is not a number") from exc
    else:
        raise NotANumber(f"{value!r} is not a number")
    if not result.is_finite():
        raise NotANumber(f"{value!r} is not a finite number")
    return result


def to_int(value: object) -> int:
    """A whole number from an int or from text in ASCII digits (int() alone accepts any Unicode digit)."""
    if isinstance(value, bool):
        raise NotANumber(f"{value!r} is a boolean, not a number")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and ASCII_INTEGER.fullmatch(value.strip()):
        return int(value)
    raise NotANumber(f"{value!r} is not a whole number in ASCII digits, e.g. 5000")


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of step: quantities never round risk up."""
    if step <= 0:
        raise ValueError("step must be positive")
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def grid_places(step: Decimal) -> Decimal:
    """The exponent a multiple of `step` is shown with, trailing zeros of the step dropped: 0.10 → 0.1,
    0.001 → 0.001, 1.0 (ccxt's float step) → 1, 5 → 1."""
    exponent = step.normalize().as_tuple().exponent
    return Decimal(1).scaleb(exponent if isinstance(exponent, int) and exponent < 0 else 0)


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        raise ValueError("step must be positive")
    return (value / step).to_integral_value(rounding=ROUND_UP) * step
