"""The execution rooms wired by the daemon's own builder (`build_runtime`), in-process, against a real
simulator.

Faster than the subprocess end-to-end tests, so the behaviours of trader, keeper, breaker guard and
reconciler each get a focused test; real ccxt over HTTP, a real database.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp

from adapters.ccxt_base import AdapterSettings, CcxtAdapter
from adapters.factory import build_adapter
from adapters.ratelimit import GateRegistry
from adapters.sim import SimServer, load_sim_config
from adapters.sim.config import PricePathConfig, PricePathKind, SimConfig
from executor.config.risk_profiles import load_profile
from executor.config.settings import ExecutionSettings
from executor.domain.enums import SignalSource
from executor.execution.alerts import Alerter
from executor.execution.breaker_guard import BreakerGuard
from executor.execution.context import AccountContext
from executor.execution.notifier import Notifier
from executor.execution.positions import PositionKeeper
from executor.execution.reconcile import Reconciler
from executor.execution.trader import Trader
from executor.observability.metrics import Metrics
from executor.service.runtime import build_runtime
from executor.signals.inbox import Inbox
from executor.store.store import Store
from tests.support.adapter_sim import FAST

ACCOUNT = "main"
SOL = "SOL/USDT:USDT"


@dataclass
class Flow:
    exchange: str
    sim: SimServer
    url: str
    http: aiohttp.ClientSession
    store: Store
    adapter: CcxtAdapter
    ctx: AccountContext
    inbox: Inbox
    keeper: PositionKeeper
    trader: Trader
    guard: BreakerGuard
    reconciler: Reconciler

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.http.request(method, f"{self.url}/_sim/{path}", json=body) as response:
            payload = await response.json()
            assert response.status == 200, payload
            return payload

    async def mark(self, price: str, symbol: str = "SOLUSDT") -> Any:
        return await self.control("POST", "mark", {"symbol": symbol, "price": price})

    async def sim_account(self) -> dict[str, Any]:
        return (await self.control("GET", "state"))["accounts"]["sim-key"]

    async def resting_stops(self) -> list[dict[str, Any]]:
        account = await self.sim_account()
        return [o for o in account["open_orders"] if "STOP" in str(o.get("type", "")).upper()]

    async def submit(self, **signal: Any) -> None:
        result = await self.inbox.submit(json.dumps(signal), SignalSource.WEBSOCKET)
        assert result.status.value == "queued", result
        assert await self.trader.process_queued() == 1

    async def tick(self) -> None:
        async with self.ctx.lock:
            await self.keeper.sync_all()
            await self.guard.check()


@asynccontextmanager
async def flow(
    exchange: str,
    database_url: str,
    profile: str = "handbook",
    sim_config: SimConfig | None = None,
    adapter_settings: AdapterSettings = FAST,
    execution: ExecutionSettings | None = None,
    notifier: Notifier | None = None,
    **overrides: Any,
) -> AsyncIterator[Flow]:
    """`overrides` change the risk profile; `sim_config` replaces the simulator's configured one;
    `adapter_settings` the adapter's (market streams, for one); `execution` the daemon's intervals;
    `notifier` (started by the caller) receives what the alerter notifies."""
    config = (sim_config or load_sim_config()).with_overrides(
        price_path=PricePathConfig(kind=PricePathKind.STATIC)
    )
    sim = SimServer(config, exchange=exchange)  # type: ignore[arg-type]
    url = await sim.start("127.0.0.1", 0)
    http = aiohttp.ClientSession()
    metrics = Metrics()
    store = Store.open(database_url, on_order_moved=metrics.order_moved)
    await store.upgrade()
    adapter = build_adapter(
        f"sim-{exchange}", "paper", sim_base_url=url, settings=adapter_settings, gates=GateRegistry()
    )
    alerter = Alerter(metrics, account=ACCOUNT, notifier=notifier)
    runtime = await build_runtime(
        account=ACCOUNT,
        store=store,
        exchange=adapter,
        profile=load_profile(profile, overrides),
        settings=execution or ExecutionSettings(),
        metrics=metrics,
        alerter=alerter,
    )
    inbox = Inbox(store, ACCOUNT, lambda: datetime.now(UTC), on_queued=runtime.trader.hand)
    try:
        yield Flow(
            exchange,
            sim,
            url,
            http,
            store,
            adapter,
            runtime.ctx,
            inbox,
            runtime.keeper,
            runtime.trader,
            runtime.guard,
            runtime.reconciler,
        )
    finally:
        await adapter.aclose()
        await http.close()
        await store.close()
        await sim.stop()


def dec(value: Any) -> Decimal:
    return Decimal(str(value))
