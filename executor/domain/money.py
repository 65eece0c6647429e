"""Exact money: every price, quantity and amount is a Decimal, and floats only enter through str."""

from __future__ import annotations

from decimal import ROUND_DOWN, ROUND_UP, Decimal, InvalidOperation


class NotANumber(ValueError):
    """A value that should be money or a quantity is not a finite decimal."""


def to_decimal(value: object) -> Decimal:
    """Convert an exchange or user value to Decimal without float artefacts (0.1 stays 0.1)."""
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, bool):
        raise NotANumber(f"{value!r} is a boolean, not a number")
    elif isinstance(value, int | float | str):
        try:
            result = Decimal(str(value).strip())
        except InvalidOperation as exc:
            raise NotANumber(f"{value!r} is not a number") from exc
    else:
        raise NotANumber(f"{value!r} is not a number")
    if not result.is_finite():
        raise NotANumber(f"{value!r} is not a finite number")
    return result


def floor_to_step(value: Decimal, step: Decimal) -> Decimal:
    """Round down to a multiple of step: quantities never round risk up."""
    if step <= 0:
        raise ValueError("step must be positive")
    return (value / step).to_integral_value(rounding=ROUND_DOWN) * step


def ceil_to_step(value: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        raise ValueError("step must be positive")
    return (value / step).to_integral_value(rounding=ROUND_UP) * step
