"""Numbers as people read them, the one place every human output (CLI tables, console log lines,
notifications) formats them: prices to the market's tick, quantities down to its step, money and
percentages with 2 decimals; a PnL that is a loss keeps its minus sign, and money that may be a loss is
said in words (`pnl_words`), so nothing reads as a "negative loss". JSON keeps the exact decimals and
never comes through here.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Final

from executor.domain.market import MarketFilters
from executor.domain.money import ZERO, floor_to_step, grid_places

CENT: Final = Decimal("0.01")
LOSS_FIELDS: Final = frozenset({"loss", "loss_at_resume"})
"""Money named as a loss (positive: lost), as the breaker's step log and log lines name it."""
NONE: Final = "—"
"""What a table shows where there is no number (no risk to measure R against, no loss for a ratio)."""


def money(value: Decimal) -> str:
    """`1,234.57`, `-12.34`: 2 decimals, half up, thousands separated; a loss keeps its minus."""
    return f"{value.quantize(CENT, rounding=ROUND_HALF_UP):,.2f}"


def pnl_words(value: Decimal) -> str:
    """`profit 1.50` or `loss 1.50`: money that may be a loss, said in words (a loss is never negative)."""
    return f"{'loss' if value < ZERO else 'profit'} {money(abs(value))}"


def loss_pair(key: str, value: Decimal) -> str:
    """`loss=3.46`, or `gain=3.46` where the loss is negative: a day that gained, said as the gain it is."""
    return f"gain={money(-value)}" if value < ZERO else f"{key}={money(value)}"


def step_pairs(values: object) -> str:
    """A step log's (or an event's) values as `key=value, …` for people: a loss as money, a negative loss
    as the gain it is (the JSON keeps the signed loss); `—` when there are none."""
    if not isinstance(values, Mapping) or not values:
        return NONE
    return ", ".join(_pair(str(key), value) for key, value in values.items())


def _pair(key: str, value: object) -> str:
    if key in LOSS_FIELDS and isinstance(value, str):
        return loss_pair(key, Decimal(value))
    if value is None:
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={'true' if value else 'false'}"
    return f"{key}={value}"


def percent(value: Decimal) -> str:
    """A percentage already ×100: `12.35%`."""
    return f"{money(value)}%"


def r_multiple(value: Decimal) -> str:
    """`-1.02 R`, `2.10 R`."""
    return f"{money(value)} R"


def price(value: Decimal, filters: MarketFilters | None) -> str:
    """To the market's tick (nearest, as an exchange shows it); unknown market: as given."""
    return to_tick(value, filters.price_tick if filters is not None else None)


def to_tick(value: Decimal, tick: Decimal | None) -> str:
    """A price to `tick` (nearest); no tick known: as given."""
    if tick is None or tick <= 0:
        return f"{value.normalize():f}"
    ticks = (value / tick).to_integral_value(rounding=ROUND_HALF_UP)
    return f"{(ticks * tick).quantize(grid_places(tick)):f}"


def quantity(value: Decimal, filters: MarketFilters | None) -> str:
    """Down to the market's step, like every quantity the daemon sends; unknown market: as given."""
    return to_step(value, filters.amount_step if filters is not None else None)


def to_step(value: Decimal, step: Decimal | None) -> str:
    """A quantity down to `step`; no step known: as given."""
    if step is None or step <= 0:
        return f"{value.normalize():f}"
    return f"{floor_to_step(value, step).quantize(grid_places(step)):f}"
