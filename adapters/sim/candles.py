"""One-minute mark and last-price bars: a generated past, then the marks the simulator actually had.

A symbol's bars start the first time anyone asks for them (klines, 24h tickers, open interest), so a
simulator nobody asks costs nothing: its past is `HISTORY_MINUTES` bars drawn from the configured price
path (the CSV rows for those minutes; a seeded random walk of the same volatility, walked backwards so it
ends at the mark of that moment; flat for a static path). From then on each observation (every price
step and every market-data request) updates the current minute's bar. Bars are not persisted: after a
restart the past is drawn again, ending at the restored mark.
"""

from __future__ import annotations

import math
import random
import zlib
from dataclasses import dataclass
from decimal import Decimal

from adapters.sim.config import Instrument, PricePathConfig, PricePathKind
from adapters.sim.engine import Engine
from adapters.sim.model import Fill, OrderSide
from adapters.sim.prices import CsvPath

MINUTE_MS = 60_000
HISTORY_MINUTES = 7 * 1440
"""A week of one-minute bars: 2,016 five-minute or 168 hourly candles, more than a bot's start-up needs."""


@dataclass
class Bar:
    open_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal

    def update(self, price: Decimal) -> None:
        self.high = max(self.high, price)
        self.low = min(self.low, price)
        self.close = price


@dataclass
class Series:
    """Contiguous one-minute bars of the mark and of the last price, oldest first."""

    first_ms: int
    marks: list[Bar]
    lasts: list[Bar]

    def observe(self, minute_ms: int, mark: Decimal, last: Decimal) -> None:
        for bars, price in ((self.marks, mark), (self.lasts, last)):
            while bars[-1].open_ms < minute_ms:  # minutes nobody observed stay flat at the last close
                close = bars[-1].close
                bars.append(Bar(bars[-1].open_ms + MINUTE_MS, close, close, close, close))
            bars[-1].update(price)


class CandleBook:
    def __init__(self, price_path: PricePathConfig, seed: int) -> None:
        self._config = price_path
        self._seed = seed
        csv = price_path.csv if price_path.kind is PricePathKind.CSV else None
        self._csv = CsvPath(csv) if csv is not None else None
        self._series: dict[str, Series] = {}

    def observe(self, engine: Engine) -> None:
        """Fold the engine's current marks and last prices into the current minute of every symbol whose
        bars exist (called at every price step)."""
        minute = engine.clock.now_ms() // MINUTE_MS * MINUTE_MS
        for symbol, series in self._series.items():
            series.observe(minute, engine.marks[symbol], engine.lasts[symbol])

    def bars(self, engine: Engine, inst: Instrument) -> Series:
        """The symbol's bars up to now, funding settled first (a market-data request observes too)."""
        engine.catch_up()
        symbol = inst.symbol
        return self.series(inst, engine.clock.now_ms(), engine.marks[symbol], engine.lasts[symbol])

    def series(self, inst: Instrument, now_ms: int, mark: Decimal, last: Decimal) -> Series:
        """The symbol's bars up to and including the current minute (started with a generated past)."""
        series = self._series.get(inst.symbol)
        if series is None:
            series = self._series[inst.symbol] = self._start(inst, now_ms // MINUTE_MS * MINUTE_MS, mark)
        series.observe(now_ms // MINUTE_MS * MINUTE_MS, mark, last)
        return series

    def _start(self, inst: Instrument, minute_ms: int, mark: Decimal) -> Series:
        first = minute_ms - HISTORY_MINUTES * MINUTE_MS
        closes = self._past_closes(inst, first, mark)
        bars = []
        previous = closes[0]
        for index, close in enumerate(closes):
            high, low = max(previous, close), min(previous, close)
            bars.append(Bar(first + index * MINUTE_MS, previous, high, low, close))
            previous = close
        bars.append(Bar(minute_ms, previous, max(previous, mark), min(previous, mark), mark))
        return Series(first, bars, [Bar(b.open_ms, b.open, b.high, b.low, b.close) for b in bars])

    def _past_closes(self, inst: Instrument, first_ms: int, mark: Decimal) -> list[Decimal]:
        """The close of each past minute, oldest first; the last one is where the mark is now."""
        if self._csv is not None:
            closes: list[Decimal] = []
            for index in range(HISTORY_MINUTES):
                found = self._csv.next_mark(inst, mark, first_ms + (index + 1) * MINUTE_MS - 1)
                closes.append(found if found is not None else (closes[-1] if closes else mark))
            return closes
        if self._config.kind is not PricePathKind.RANDOM_WALK:
            return [mark] * HISTORY_MINUTES
        rng = random.Random(self._seed ^ zlib.crc32(inst.symbol.encode()))
        steps_per_minute = 60 / self._config.step_seconds
        sigma = float(self._config.volatility_bps) / 10_000 * math.sqrt(steps_per_minute)
        price = float(mark)
        backwards = [mark]
        for _ in range(HISTORY_MINUTES - 1):
            price /= math.exp(rng.gauss(0.0, sigma))
            stepped = (Decimal(repr(price)) / inst.tick).to_integral_value() * inst.tick
            backwards.append(max(stepped, inst.tick))
        return backwards[::-1]


def public_tape(engine: Engine, symbol: str) -> list[Fill]:
    """Every account's fills in the symbol, oldest first: the simulator's whole public trade history."""
    found = [f for a in engine.accounts.values() for f in a.fills if f.symbol == symbol]
    return sorted(found, key=lambda f: f.trade_id)


def taker_bought(fill: Fill) -> bool:
    """The tape's side of a fill: the taker bought (a taking buy, or a resting sell that was taken)."""
    return (fill.side is OrderSide.BUY) != fill.maker
