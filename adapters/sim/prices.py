"""Where marks come from when nobody sets them: a seeded random walk, a CSV path, or nothing (static)."""

from __future__ import annotations

import bisect
import csv
import random
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from adapters.sim.config import Instrument, PricePathConfig, PricePathKind
from executor.domain.money import to_decimal

BPS = Decimal("0.0001")


class PricePath(Protocol):
    def next_mark(self, inst: Instrument, current: Decimal, now_ms: int) -> Decimal | None:
        """The mark for `now_ms`, or None to leave it where it is."""


class StaticPath:
    def next_mark(self, inst: Instrument, current: Decimal, now_ms: int) -> Decimal | None:
        return None


class RandomWalk:
    """Gaussian steps in basis points, rounded to the tick; reproducible for a given seed and call order."""

    def __init__(self, seed: int, volatility_bps: Decimal) -> None:
        self._rng = random.Random(seed)
        self._sigma = float(volatility_bps)

    def next_mark(self, inst: Instrument, current: Decimal, now_ms: int) -> Decimal | None:
        move = Decimal(str(round(self._rng.gauss(0.0, self._sigma), 4))) * BPS
        raw = current * (1 + move)
        stepped = (raw / inst.tick).to_integral_value() * inst.tick
        return max(stepped, inst.tick)


class CsvPath:
    """Rows `timestamp_ms,symbol,mark`; the mark at a time is the latest row at or before it."""

    def __init__(self, path: Path) -> None:
        self._series: dict[str, tuple[list[int], list[Decimal]]] = {}
        with path.open(newline="", encoding="utf-8") as handle:
            rows = sorted(
                (int(r[0]), r[1].strip(), to_decimal(r[2]))
                for r in csv.reader(handle)
                if r and not r[0].strip().startswith("#") and r[0].strip().isdigit()
            )
        for ts, symbol, mark in rows:
            times, marks = self._series.setdefault(symbol, ([], []))
            times.append(ts)
            marks.append(mark)

    def next_mark(self, inst: Instrument, current: Decimal, now_ms: int) -> Decimal | None:
        series = self._series.get(inst.symbol) or self._series.get(inst.unified)
        if series is None:
            return None
        times, marks = series
        index = bisect.bisect_right(times, now_ms) - 1
        return marks[index] if index >= 0 else None


def build_price_path(config: PricePathConfig, seed: int) -> PricePath:
    if config.kind is PricePathKind.RANDOM_WALK:
        return RandomWalk(seed, config.volatility_bps)
    if config.kind is PricePathKind.CSV:
        if config.csv is None:
            raise ValueError("price_path.kind = 'csv' needs price_path.csv")
        return CsvPath(config.csv)
    return StaticPath()
