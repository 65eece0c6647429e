"""Per-key permissions from `[sim] keys`: Binance reports them at /sapi/v1/account/apiRestrictions and
refuses a key with Futures off (-2015) on every signed USDⓈ-M request; Phemex lets such a key read and
refuses its writes (401 Insufficient privilege)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import ccxt.async_support as ccxt
import pytest

from adapters.sim import SimServer, load_sim_config
from adapters.sim.config import PricePathConfig, PricePathKind
from tests.support.simkit import binance_client, phemex_client

KEYS_TOML = """
[sim]
keys = [
  { api_key = "trader", secret = "t-secret" },
  { api_key = "reader", secret = "r-secret", trading = false },
  { api_key = "withdrawer", secret = "w-secret", withdrawals = true, ip_restrict = true },
]
"""


async def serve(exchange: str, tmp_path: Path) -> AsyncIterator[str]:
    path = tmp_path / "keys.toml"
    path.write_text(KEYS_TOML, encoding="utf-8")
    config = load_sim_config(path).with_overrides(price_path=PricePathConfig(kind=PricePathKind.STATIC))
    server = SimServer(config, exchange=exchange)  # type: ignore[arg-type]
    url = await server.start()
    try:
        yield url
    finally:
        await server.stop()


@pytest.fixture
async def binance_url(tmp_path: Path) -> AsyncIterator[str]:
    async for url in serve("binance", tmp_path):
        yield url


@pytest.fixture
async def phemex_url(tmp_path: Path) -> AsyncIterator[str]:
    async for url in serve("phemex", tmp_path):
        yield url


@pytest.mark.parametrize(
    ("key", "secret", "futures", "withdrawals", "ip_restrict"),
    [
        ("trader", "t-secret", True, False, False),
        ("reader", "r-secret", False, False, False),
        ("withdrawer", "w-secret", True, True, True),
    ],
)
async def test_binance_reports_each_keys_restrictions_in_the_documented_shape(
    binance_url: str, key: str, secret: str, futures: bool, withdrawals: bool, ip_restrict: bool
) -> None:
    client = binance_client(binance_url, apiKey=key, secret=secret)
    try:
        raw = await client.sapiGetAccountApiRestrictions()
    finally:
        await client.close()
    assert (raw["enableFutures"], raw["enableWithdrawals"], raw["ipRestrict"]) == (
        futures,
        withdrawals,
        ip_restrict,
    )
    assert raw["enableReading"] is True and isinstance(raw["createTime"], int)


async def test_binance_refuses_every_signed_futures_request_of_a_key_with_futures_off(
    binance_url: str,
) -> None:
    client = binance_client(binance_url, apiKey="reader", secret="r-secret")
    try:
        await client.load_markets()  # public
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await client.fetch_balance()
        with pytest.raises(ccxt.AuthenticationError, match="-2015"):
            await client.create_order("SOL/USDT:USDT", "market", "buy", 1)
    finally:
        await client.close()


async def test_phemex_lets_a_read_only_key_read_and_refuses_its_writes(phemex_url: str) -> None:
    client = phemex_client(phemex_url, apiKey="reader", secret="r-secret")
    try:
        await client.load_markets()
        balance = await client.fetch_balance({"type": "swap", "code": "USDT"})
        assert balance["USDT"]["total"] == 10000
        with pytest.raises(ccxt.AuthenticationError, match="401 Insufficient privilege"):
            await client.create_order("SOL/USDT:USDT", "market", "buy", 1)
    finally:
        await client.close()
