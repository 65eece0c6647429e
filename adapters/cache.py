"""Freshness-limited values, so the critical path reads memory and knows how old it is."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Entry(Generic[V]):
    value: V
    fetched_at: datetime


class FreshnessCache(Generic[K, V]):
    """Values with the time they were fetched; older than ``max_age`` means stale, not gone.

    A stale value is still returned (the caller decides), but flagged, so a snapshot can say which
    of its parts are too old instead of silently using them.
    """

    def __init__(self, max_age: timedelta, clock: Callable[[], datetime] = utc_now) -> None:
        if max_age <= timedelta(0):
            raise ValueError("max_age must be positive")
        self.max_age = max_age
        self._clock = clock
        self._entries: dict[K, Entry[V]] = {}

    def put(self, key: K, value: V) -> None:
        self._entries[key] = Entry(value, self._clock())

    def entry(self, key: K) -> Entry[V] | None:
        return self._entries.get(key)

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        return entry.value if entry is not None else None

    def is_fresh(self, key: K, within: timedelta | None = None) -> bool:
        """Fetched no longer than ``max_age`` ago, or ``within`` for a use that needs it younger."""
        entry = self._entries.get(key)
        limit = self.max_age if within is None else min(within, self.max_age)
        return entry is not None and self._clock() - entry.fetched_at <= limit

    def needs_refresh(self, key: K, fraction: float = 0.5) -> bool:
        """Refresh ahead of expiry, so a background task keeps the value fresh."""
        entry = self._entries.get(key)
        return entry is None or self._clock() - entry.fetched_at > self.max_age * fraction
