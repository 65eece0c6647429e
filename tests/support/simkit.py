"""Test helpers for the simulator: the control API client, config and ccxt clients pointed at a server."""

from __future__ import annotations

from typing import Any

import aiohttp
import ccxt.async_support as ccxt

from adapters.ccxt_target import target_simulator
from adapters.sim import load_sim_config
from adapters.sim.config import PricePathConfig, PricePathKind


class Control:
    """The /_sim/ control API, as a test drives it."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.session = session

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        async with self.session.request(method, f"{self.base_url}/_sim/{path}", json=body) as response:
            payload = await response.json()
            assert response.status == 200, payload
            return payload

    async def mark(self, symbol: str, price: str) -> Any:
        return await self.call("POST", "mark", {"symbol": symbol, "price": price})

    async def state(self) -> Any:
        return await self.call("GET", "state")

    async def fault(self, **rule: Any) -> Any:
        return await self.call("POST", "faults", rule)

    async def requests(self) -> list[dict[str, Any]]:
        return (await self.call("GET", "requests"))["requests"]


def static_config() -> Any:
    return load_sim_config().with_overrides(price_path=PricePathConfig(kind=PricePathKind.STATIC))


def binance_client(url: str, **overrides: Any) -> Any:
    options = {"apiKey": "sim-key", "secret": "sim-secret", "enableRateLimit": False, **overrides}
    return target_simulator(ccxt.binanceusdm(options), url)


def phemex_client(url: str, **overrides: Any) -> Any:
    options = {
        "apiKey": "sim-key",
        "secret": "sim-secret",
        "enableRateLimit": False,
        "options": {"defaultType": "swap"},
        **overrides,
    }
    return target_simulator(ccxt.phemex(options), url)
