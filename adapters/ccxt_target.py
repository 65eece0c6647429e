"""Point an unmodified ccxt exchange at the simulator: the only ccxt-side change the simulator needs."""

from __future__ import annotations

from types import MethodType
from typing import Any
from urllib.parse import urlsplit


def target_simulator(exchange: Any, base_url: str) -> Any:
    """Rewrite every `urls['api']` entry to `base_url` + its original path, in place, and return the exchange;
    for a ccxt.pro instance also the WebSocket bases in `urls['api']['ws']` (ws:// on the same host).

    Call after `set_sandbox_mode` / `enable_demo_trading` (both replace `urls['api']`). For Binance, the
    error-code table for USDⓈ-M (`exceptions['linear']`) is chosen by URL prefix (fapi.binance.com), so
    `get_exceptions_by_url` is rebound to pick that table for the simulator's /fapi URLs: ccxt then raises
    the same classes as live (-2019 InsufficientFunds, -2021 OrderImmediatelyFillable, -4116 InvalidOrder).
    """
    base = base_url.rstrip("/")
    api = exchange.urls["api"]
    for key, url in list(api.items()):
        if isinstance(url, str):
            api[key] = base + urlsplit(url.replace("{hostname}", "host")).path.rstrip("/")
    streams = api.get("ws")
    if isinstance(streams, dict):  # a ccxt.pro instance: the WebSocket bases, same host, ws:// scheme
        ws_base = "ws" + base.removeprefix("http")
        for key, url in list(streams.items()):
            if isinstance(url, str):
                streams[key] = ws_base + urlsplit(url).path.rstrip("/")
    if "linear" in exchange.exceptions:
        original = exchange.get_exceptions_by_url

        def by_url(self: Any, url: str | None, exact_or_broad: str) -> dict[str, Any]:
            if url is not None and url.startswith(base + "/fapi/"):
                table: dict[str, Any] = self.safe_dict(
                    self.safe_dict(self.exceptions, "linear", {}), exact_or_broad, {}
                )
                return table
            broad: dict[str, Any] = original(url, exact_or_broad)
            return broad

        exchange.get_exceptions_by_url = MethodType(by_url, exchange)
    return exchange
