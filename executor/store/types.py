"""Column types that keep money exact, timestamps in UTC and enums as their text on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import DateTime, Dialect, Enum, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine

MAX_SCALE = 18
_QUANTUM = Decimal(1).scaleb(-MAX_SCALE)


class Money(TypeDecorator[Decimal]):
    """NUMERIC on PostgreSQL; on SQLite, whose NUMERIC is a float, the exact decimal text.

    Both keep at most 18 fractional digits (a value computed with more, such as a percentage, is
    rounded half-even there), so the two databases always hold the same number.
    """

    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(64))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money columns take Decimal, not {type(value).__name__}")
        if not value.is_finite():
            raise ValueError(f"money columns take finite decimals, not {value}")
        if value.as_tuple().exponent < -MAX_SCALE:  # type: ignore[operator]
            value = value.quantize(_QUANTUM)
        return format(value, "f") if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(value)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out (SQLite drops the zone; this restores it)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("timestamps must be timezone-aware")
        return value.astimezone(UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def text_enum(enum: type[StrEnum], length: int) -> Enum:
    """A domain enum stored as its value (not its name) in a VARCHAR(`length`), loaded back as the member.

    No native type and no CHECK constraint, deliberately: the DDL is the plain VARCHAR the column
    always had, so databases written before the columns were typed load unchanged and need no
    migration, and a new member needs no table rebuild on SQLite. The daemon is the only writer and
    every write goes through this type, which refuses a value outside the enum; a stored value the
    code does not know fails the read loudly (LookupError) instead of passing as a string.
    """
    return Enum(
        enum,
        native_enum=False,
        create_constraint=False,
        length=length,
        validate_strings=True,
        values_callable=lambda members: [member.value for member in members],
    )
