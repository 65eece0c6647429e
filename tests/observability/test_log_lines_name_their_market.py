"""The trader's log lines carry their market's grid, so the console can show their prices to the tick and
their quantities to the step: a signal opened in-process against the simulator (tests/support/flow.py)."""

from __future__ import annotations

import io
import json
import re

from executor.observability.logging import configure_logging
from tests.support.flow import flow

LONG_SOL = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140", "conviction": 8}


async def _lines(sqlite_url: str, fmt: str) -> tuple[dict[str, str], str]:
    """The SOL market's grid, and what the decision and the entry printed in `fmt`."""
    out = io.StringIO()
    async with flow("binance", sqlite_url) as f:
        filters = (await f.adapter.markets())["SOL/USDT:USDT"].filters
        configure_logging(fmt=fmt, stream=out)
        try:
            await f.submit(id="grid-1", **LONG_SOL)
        finally:
            configure_logging(fmt="json", stream=io.StringIO())
    grid = {"price_tick": format(filters.price_tick, "f"), "amount_step": format(filters.amount_step, "f")}
    return grid, out.getvalue()


async def test_the_decision_and_entry_placed_lines_carry_the_markets_tick_and_step(sqlite_url: str) -> None:
    grid, text = await _lines(sqlite_url, "json")
    lines = {line["event"]: line for line in map(json.loads, text.splitlines())}
    decision, entry = lines["decision"], lines["entry_placed"]
    assert decision["accepted"] is True
    assert {key: decision[key] for key in grid} == grid == {key: entry[key] for key in grid}


async def test_on_the_console_the_trader_shows_quantities_on_the_step_prices_on_the_tick_and_not_the_grid(
    sqlite_url: str,
) -> None:
    grid, text = await _lines(sqlite_url, "console")
    assert grid == {"price_tick": "0.01", "amount_step": "1.0"}  # SOL on the simulated Binance
    [decision] = [line for line in text.splitlines() if " decision " in line]
    [entry] = [line for line in text.splitlines() if " entry_placed " in line]
    # the decision's Decimal carries a decimal place (7.0); on a step of 1 it reads as whole units
    assert re.search(r" qty=\d+ ", decision) and re.search(r" filled=\d+ ", entry), (decision, entry)
    assert "stop_price=140.00" in entry and re.search(r" fill_price=\d+\.\d\d ", entry), entry
    assert not [line for line in (decision, entry) if "price_tick" in line or "amount_step" in line]
