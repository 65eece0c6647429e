"""Numbers on the console as people read them (executor/domain/display.py): money with 2 decimals, a loss
said as a loss, prices to the market's tick and quantities down to its step.

A line knows its market only when its call site passes the market's grid (`market_grid`): `price_tick`
and `amount_step`, as the HTTP reports name them. The console drops them after use; JSON lines keep them
and every exact value.
"""

from __future__ import annotations

from collections.abc import Callable, MutableMapping
from decimal import Decimal, InvalidOperation
from typing import Any, Final

from executor.domain.display import LOSS_FIELDS, money, pnl_words, to_step, to_tick
from executor.domain.market import MarketFilters, grid
from executor.domain.money import ZERO

MONEY_FIELDS: Final = frozenset(
    {"pnl", "fees", "funding", "realized_pnl", "unrealized_pnl", "equity", "limit", "risk", "amount"}
)
"""Money, signed where it may be a loss (`pnl=-44.08`)."""
PRICE_FIELDS: Final = frozenset(
    {
        "reference_price",
        "order_price",
        "fill_price",
        "stop_price",
        "exit_price",
        "entry_price",
        "liquidation_price",
        "slippage",
    }
)
"""Prices (and the slippage, a price's distance), to the line's `price_tick` when it carries one."""
QTY_FIELDS: Final = frozenset({"qty", "filled", "exit_qty", "excess_qty"})
"""Quantities, down to the line's `amount_step` when it carries one."""


def market_grid(filters: MarketFilters | None) -> dict[str, str]:
    """The log fields that let the console show a line's prices and quantities on the market's grid."""
    return {} if filters is None else grid(filters)


def readable_numbers(logger: Any, method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Console only (a structlog processor): every number field of the line as people read it."""
    tick, step = _grid(event.pop("price_tick", None)), _grid(event.pop("amount_step", None))
    _apply(event, MONEY_FIELDS, money)
    _apply(event, LOSS_FIELDS, _loss)  # a negative loss is a gain: shown as `profit 3.46`
    if tick is not None:
        _apply(event, PRICE_FIELDS, lambda value: to_tick(value, tick))
    if step is not None:
        _apply(event, QTY_FIELDS, lambda value: to_step(value, step))
    return event


def _loss(value: Decimal) -> str:
    return money(value) if value >= ZERO else pnl_words(-value)


def _grid(value: Any) -> Decimal | None:
    try:
        number = Decimal(value) if isinstance(value, str | Decimal) else None
    except InvalidOperation:
        return None
    return number if number is not None and number > 0 else None


def _apply(event: MutableMapping[str, Any], fields: frozenset[str], show: Callable[[Decimal], str]) -> None:
    for key in fields & event.keys():
        value = event[key]
        if isinstance(value, str | Decimal):
            try:
                event[key] = show(Decimal(value))
            except (InvalidOperation, ValueError):
                continue
