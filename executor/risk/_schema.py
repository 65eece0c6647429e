"""Strict readers for profile mappings: every error names the key, the bad value and what is allowed."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from executor.domain.money import NotANumber, to_decimal

E = TypeVar("E", bound=StrEnum)


class ProfileError(ValueError):
    """A risk profile value is missing, of the wrong type, out of range or unknown."""


class Section:
    """A view on one table of the profile that remembers which keys were read, to refuse unknown ones."""

    def __init__(self, data: Mapping[str, Any], path: str) -> None:
        if not isinstance(data, Mapping):
            raise ProfileError(f"{path or 'profile'}: {data!r} is not allowed; expected a table")
        self._data = data
        self._path = path
        self._read: set[str] = set()

    def key(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def _get(self, name: str, default: Any) -> Any:
        self._read.add(name)
        return self._data.get(name, default)

    def section(self, name: str) -> Section:
        return Section(self._get(name, {}), self.key(name))

    def raw(self, name: str, default: Any) -> Any:
        return self._get(name, default)

    def decimal(
        self, name: str, default: Decimal, low: Decimal | None = None, high: Decimal | None = None
    ) -> Decimal:
        return self._decimal_value(name, self._get(name, default), low, high)

    def optional_decimal(
        self, name: str, default: Decimal | None, low: Decimal | None = None, high: Decimal | None = None
    ) -> Decimal | None:
        """A number, or `false` meaning the rule is off."""
        value = self._get(name, default)
        if value is None or value is False:
            return None
        return self._decimal_value(name, value, low, high)

    def _decimal_value(self, name: str, value: Any, low: Decimal | None, high: Decimal | None) -> Decimal:
        allowed = _range_text(low, high)
        try:
            number = to_decimal(value)
        except NotANumber:
            raise ProfileError(f"{self.key(name)}: {value!r} is not allowed; expected {allowed}") from None
        if (low is not None and number < low) or (high is not None and number > high):
            raise ProfileError(f"{self.key(name)}: {value!r} is not allowed; expected {allowed}")
        return number

    def integer(self, name: str, default: int, low: int | None = None, high: int | None = None) -> int:
        value = self._get(name, default)
        allowed = _range_text(low, high, "a whole number")
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, str | Decimal | float) and _is_whole(value):
                value = int(Decimal(str(value)))
            else:
                raise ProfileError(f"{self.key(name)}: {value!r} is not allowed; expected {allowed}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise ProfileError(f"{self.key(name)}: {value!r} is not allowed; expected {allowed}")
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise ProfileError(f"{self.key(name)}: {value!r} is not allowed; expected true or false")
        return value

    def text(self, name: str, default: str) -> str:
        value = self._get(name, default)
        if not isinstance(value, str) or not value:
            raise ProfileError(f"{self.key(name)}: {value!r} is not allowed; expected a non-empty string")
        return value

    def choice(self, name: str, enum: type[E], default: E) -> E:
        value = self._get(name, default)
        try:
            return enum(value)
        except ValueError:
            options = ", ".join(member.value for member in enum)
            raise ProfileError(
                f"{self.key(name)}: {value!r} is not allowed; expected one of {options}"
            ) from None

    def strings(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        value = self._get(name, list(default))
        if not isinstance(value, list | tuple) or not all(isinstance(item, str) and item for item in value):
            raise ProfileError(f"{self.key(name)}: {value!r} is not allowed; expected a list of strings")
        return tuple(value)

    def finish(self) -> None:
        unknown = sorted(set(self._data) - self._read)
        if unknown:
            known = ", ".join(sorted(self._read))
            raise ProfileError(f"{self.key(unknown[0])}: unknown key; allowed keys here are {known}")


def _is_whole(value: object) -> bool:
    try:
        number = to_decimal(value)
    except NotANumber:
        return False
    return number == number.to_integral_value()


def _range_text(low: object, high: object, what: str = "a number") -> str:
    if low is not None and high is not None:
        return f"{what} from {low} to {high}"
    if low is not None:
        return f"{what} ≥ {low}"
    if high is not None:
        return f"{what} ≤ {high}"
    return what
