"""An adapter built by the factory exactly as the daemon builds it, pointed at a running simulator."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp

from adapters.ccxt_base import AdapterSettings, CcxtAdapter
from adapters.factory import build_adapter
from adapters.ratelimit import BackoffPolicy, GateRegistry
from adapters.sim import SimServer, load_sim_config
from adapters.sim.config import PricePathConfig, PricePathKind
from executor.domain.client_ids import client_order_id
from executor.domain.enums import EntryType, OrderKind, Side
from executor.domain.orders import EntryRequest

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
EXCHANGES = ("binance", "phemex")

FAST = AdapterSettings(
    read_retry_delay=timedelta(milliseconds=5),
    fill_readback_delay=timedelta(milliseconds=10),
    timeout_ms=3_000,
    request_window_ms=1_000,
    window_margin=timedelta(milliseconds=200),
    not_found_grace=timedelta(seconds=2),
    backoff=BackoffPolicy(timedelta(milliseconds=50), timedelta(milliseconds=400), 2.0),
)


@dataclass
class Sim:
    exchange: str
    server: SimServer
    url: str
    adapter: CcxtAdapter
    session: aiohttp.ClientSession

    @property
    def order_path(self) -> str:
        return "/fapi/v1/order" if self.exchange == "binance" else "/g-orders"

    @property
    def stop_path(self) -> str:
        return "/fapi/v1/algoOrder" if self.exchange == "binance" else "/g-orders"

    @property
    def cancel_path(self) -> tuple[str, str]:
        if self.exchange == "binance":
            return ("DELETE", "/fapi/v1/algoOrder")
        return ("DELETE", "/g-orders/cancel")

    async def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.request(method, f"{self.url}/_sim/{path}", json=body) as response:
            payload = await response.json()
            assert response.status == 200, payload
            return payload

    async def mark(self, symbol: str, price: str) -> Any:
        return await self.control("POST", "mark", {"symbol": symbol.split("/")[0] + "USDT", "price": price})

    async def fault(self, **rule: Any) -> Any:
        return await self.control("POST", "faults", rule)

    async def account(self) -> dict[str, Any]:
        state = await self.control("GET", "state")
        return state["accounts"]["sim-key"]

    async def requests(self, method: str | None = None, path: str | None = None) -> list[dict[str, Any]]:
        rows = (await self.control("GET", "requests"))["requests"]
        return [
            r
            for r in rows
            if (method is None or r["method"] == method) and (path is None or r["path"] == path)
        ]

    def new_adapter(self, settings: AdapterSettings = FAST) -> CcxtAdapter:
        return build_adapter(
            f"sim-{self.exchange}", "paper", sim_base_url=self.url, settings=settings, gates=GateRegistry()
        )


@asynccontextmanager
async def running_sim(
    exchange: str, settings: AdapterSettings = FAST, **overrides: Any
) -> AsyncIterator[Sim]:
    """A simulator with a static price path (and any other `SimConfig` overrides) and an adapter on it."""
    config = load_sim_config().with_overrides(
        price_path=PricePathConfig(kind=PricePathKind.STATIC), **overrides
    )
    server = SimServer(config, exchange=exchange)  # type: ignore[arg-type]
    url = await server.start("127.0.0.1", 0)
    session = aiohttp.ClientSession()
    adapter = build_adapter(
        f"sim-{exchange}", "paper", sim_base_url=url, settings=settings, gates=GateRegistry()
    )
    try:
        yield Sim(exchange, server, url, adapter, session)
    finally:
        await adapter.aclose()
        await session.close()
        await server.stop()


async def eventually(check: Callable[[], Any], within: float = 3.0) -> Any:
    """Poll until ``check`` returns something truthy (for background work)."""
    async with asyncio.timeout(within):
        while True:
            result = check()
            if inspect.isawaitable(result):
                result = await result
            if result:
                return result
            await asyncio.sleep(0.02)


def dec(value: Any) -> Decimal:
    return Decimal(str(value))


def entry_request(
    signal: str,
    side: Side = Side.LONG,
    stop: str = "59000",
    qty: Decimal = Decimal("0.010"),
    price_bound: str | None = None,
) -> EntryRequest:
    """A BTC market entry with its stop, client ids derived from `signal`; `price_bound` makes it an IOC."""
    return EntryRequest(
        symbol=BTC,
        side=side,
        qty=qty,
        entry_type=EntryType.MARKET,
        limit_price=None,
        stop_price=Decimal(stop),
        entry_client_id=client_order_id(signal, OrderKind.ENTRY),
        stop_client_id=client_order_id(signal, OrderKind.STOP),
        price_bound=None if price_bound is None else Decimal(price_bound),
    )
