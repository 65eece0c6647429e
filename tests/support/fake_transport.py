"""Canned HTTP answers behind ccxt's ``fetch``: ccxt builds and parses, nothing leaves the process."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

# ccxt's recorded requests and responses, carried in the checkout (tests/fixtures/ccxt/README.md).
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "ccxt"


def load_fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@dataclass
class Sent:
    method: str
    path: str
    query: dict[str, list[str]]
    body: str | None
    headers: dict[str, str]


@dataclass
class FakeTransport:
    routes: dict[tuple[str, str], Any] = field(default_factory=dict)
    sent: list[Sent] = field(default_factory=list)

    def on(self, method: str, path: str, response: Any) -> None:
        self.routes[(method, path)] = response

    async def fetch(self, url: str, method: str = "GET", headers: Any = None, body: Any = None) -> Any:
        parts = urlsplit(url)
        self.sent.append(Sent(method, parts.path, parse_qs(parts.query), body, dict(headers or {})))
        answer = self.routes[(method, parts.path)]
        if isinstance(answer, BaseException):
            raise answer
        return answer


def binance_symbol(symbol: str, base: str, tick: str = "0.10", step: str = "0.001") -> dict[str, Any]:
    return {
        "symbol": symbol,
        "pair": symbol,
        "contractType": "PERPETUAL",
        "status": "TRADING",
        "baseAsset": base,
        "quoteAsset": "USDT",
        "marginAsset": "USDT",
        "pricePrecision": 2,
        "quantityPrecision": 3,
        "orderTypes": ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET"],
        "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
        "filters": [
            {"filterType": "PRICE_FILTER", "tickSize": tick, "minPrice": "0.1", "maxPrice": "1000000"},
            {"filterType": "LOT_SIZE", "stepSize": step, "minQty": step, "maxQty": "1000"},
            {"filterType": "MARKET_LOT_SIZE", "stepSize": step, "minQty": step, "maxQty": "1000"},
            {"filterType": "MIN_NOTIONAL", "notional": "100"},
        ],
    }


BINANCE_EXCHANGE_INFO = {
    "symbols": [
        binance_symbol("BTCUSDT", "BTC"),
        binance_symbol("LTCUSDT", "LTC", tick="0.01"),
        binance_symbol("ETHUSDT", "ETH", tick="0.01"),
    ]
}


def phemex_product(symbol: str, base: str, tick: str, step: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "type": "PerpetualV2",
        "baseCurrency": base,
        "quoteCurrency": "USDT",
        "settleCurrency": "USDT",
        "status": "Listed",
        "tickSize": tick,
        "qtyStepSize": step,
        "minOrderValueRv": "1",  # as in ccxt's perpProductsV2 sample (phemex.py:1031)
        "maxLeverage": 100,
        "priceScale": 0,
        "ratioScale": 0,
        "fundingInterval": 28800,
    }


PHEMEX_PRODUCTS = {
    "code": 0,
    "msg": "",
    "data": {
        "ratioScale": 8,
        "currencies": [
            {"currency": c, "valueScale": 8, "minValueEv": 1, "maxValueEv": 5000000000000000000, "name": c}
            for c in ("USDT", "BTC", "LTC", "SOL")
        ],
        "products": [],
        "perpProductsV2": [
            phemex_product("BTCUSDT", "BTC", "0.1", "0.001"),
            phemex_product("LTCUSDT", "LTC", "0.01", "0.1"),
            phemex_product("SOLUSDT", "SOL", "0.01", "0.01"),
        ],
        "riskLimitsV2": [
            {
                "symbol": "BTCUSDT",
                "steps": "2000K",
                "riskLimits": [
                    {"limit": 2000000, "initialMarginRr": "0.01", "maintenanceMarginRr": "0.005"},
                    {"limit": 4000000, "initialMarginRr": "0.015", "maintenanceMarginRr": "0.0075"},
                    {"limit": 6000000, "initialMarginRr": "0.02", "maintenanceMarginRr": "0.01"},
                ],
            }
        ],
    },
}
PHEMEX_V1_PRODUCTS = {"code": 0, "msg": "", "data": []}
PHEMEX_V1_PRODUCTS_PATH = "/v1/exchange/public/products"
