"""Calendar arithmetic on a `now` that the caller supplies; the engine never reads the system clock."""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


@lru_cache(maxsize=32)
def zone(name: str) -> tzinfo:
    if name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}") from exc


def require_aware(moment: datetime, what: str) -> datetime:
    """Naive datetimes are ambiguous across machines; refuse them rather than guess a zone."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{what} must carry a time zone, got {moment.isoformat()}")
    return moment


def trading_day(moment: datetime, timezone: str) -> date:
    """The trading day `moment` belongs to: the local date in the breaker's configured zone."""
    return require_aware(moment, "time").astimezone(zone(timezone)).date()
