"""Phemex's minimum order value (`minOrderValueRv`, 11115 below it), which ccxt 4.5.90 does not read: the
risk engine refuses an order under it with its reason before anything is sent."""

from __future__ import annotations

from decimal import Decimal

from adapters.sim import load_sim_config
from adapters.sim.config import SimConfig
from executor.domain.reasons import ReasonCode
from tests.support.flow import flow

MINIMUM = Decimal(5_000)


def with_phemex_sol_minimum(minimum: Decimal) -> SimConfig:
    config = load_sim_config().for_dialect("phemex")
    instruments = tuple(
        item.model_copy(update={"min_notional": minimum}) if item.symbol == "SOLUSDT" else item
        for item in config.instruments
    )
    return config.with_overrides(instruments=instruments, dialects={})


async def test_an_entry_under_phemexs_minimum_order_value_is_refused_unsent(sqlite_url: str) -> None:
    async with flow("phemex", sqlite_url, sim_config=with_phemex_sol_minimum(MINIMUM)) as f:
        signal = {"symbol": "SOLUSDT", "side": "long", "entry": {"type": "market"}, "stop": "140"}
        await f.submit(id="small", **signal)
        async with f.store.transaction() as tx:
            row = await tx.signals.get("main", "small")
            assert row is not None
            decision = await tx.decisions.for_signal(row.id)
        assert decision is not None and decision.reason == ReasonCode.BELOW_MIN_NOTIONAL
        assert decision.message is not None and "minimum notional 5000" in decision.message
        posted = [
            r["path"] for r in (await f.control("GET", "requests"))["requests"] if r["method"] == "POST"
        ]
        assert "/g-orders" not in posted and not any("order" in path for path in posted)
