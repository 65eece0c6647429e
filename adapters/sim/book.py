"""The simulated order book: levels a side around the prices a taker fills at now (both dialects)."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from adapters.sim.config import Instrument, SimConfig
from adapters.sim.engine import Engine
from adapters.sim.model import BOOK_DEPTH_QTY, fmt

BPS = Decimal("0.0001")


def book_sides(engine: Engine, config: SimConfig, inst: Instrument, limit: int) -> dict[str, list[list[str]]]:
    """`{"bids": [[price, qty]…], "asks": […]}`, best first: at most `book_levels` (and `limit`) levels,
    `book_step_bps` apart (at least a tick), each showing the quantity the top-of-book answers show."""
    bid, ask = engine.book_top(inst.symbol)
    levels = min(limit, config.book_levels)
    size = fmt(BOOK_DEPTH_QTY)
    return {
        "bids": [[fmt(p), size] for p in _ladder(inst, bid, -1, levels, config.book_step_bps)],
        "asks": [[fmt(p), size] for p in _ladder(inst, ask, 1, levels, config.book_step_bps)],
    }


def _ladder(inst: Instrument, top: Decimal, sign: int, levels: int, step_bps: Decimal) -> Iterator[Decimal]:
    price = top
    rounding = ROUND_CEILING if sign > 0 else ROUND_FLOOR
    for _ in range(levels):
        if price <= 0:
            return
        yield price
        stepped = (price * (1 + sign * step_bps * BPS) / inst.tick).to_integral_value(
            rounding=rounding
        ) * inst.tick
        price = stepped if stepped != price else price + sign * inst.tick
