"""Paper and simulated modes are chosen by configuration; the URLs are checked without any network."""

from __future__ import annotations

import pytest

from adapters.binance import BinanceUsdmAdapter
from adapters.ccxt_base import Credentials
from adapters.factory import build_adapter, build_ccxt
from adapters.phemex import PhemexAdapter
from executor.config.settings import ExchangeSettings
from executor.ports.exchange import ExchangePort
from executor.service.exchange import adapter_from_settings

KEYS = Credentials("k", "s")


async def test_binance_paper_is_demo_trading() -> None:
    exchange = build_ccxt("binance", "paper", KEYS)
    try:
        assert exchange.urls["api"]["fapiPrivate"] == "https://demo-fapi.binance.com/fapi/v1"
        assert exchange.urls["api"]["fapiPublicV3"] == "https://demo-fapi.binance.com/fapi/v3"
        assert exchange.options["enableDemoTrading"] is True
        assert not exchange.options.get("sandboxMode")
    finally:
        await exchange.close()


async def test_binance_live_urls_and_options() -> None:
    exchange = build_ccxt("binance", "live", KEYS)
    try:
        assert exchange.urls["api"]["fapiPrivate"] == "https://fapi.binance.com/fapi/v1"
        assert exchange.options["fetchCurrencies"] is False
        assert exchange.options["maxRetriesOnFailure"] == 0
        assert exchange.rateLimiterAlgorithm == "rollingWindow"
    finally:
        await exchange.close()


async def test_phemex_paper_is_the_testnet() -> None:
    exchange = build_ccxt("phemex", "paper", KEYS)
    try:
        assert exchange.urls["api"]["private"] == "https://testnet-api.phemex.com"
        assert exchange.urls["api"]["public"] == "https://testnet-api.phemex.com/exchange/public"
        assert exchange.options["maxRetriesOnFailure"] == 0
    finally:
        await exchange.close()
    live = build_ccxt("phemex", "live", KEYS)
    try:
        assert live.implode_hostname(live.urls["api"]["private"]) == "https://api.phemex.com"
    finally:
        await live.close()


async def test_simulated_exchanges_are_the_same_classes_on_a_local_url() -> None:
    binance = build_adapter("sim-binance", sim_base_url="http://127.0.0.1:1234")
    phemex = build_adapter("sim-phemex", sim_base_url="http://127.0.0.1:1234")
    try:
        assert type(binance) is BinanceUsdmAdapter and type(phemex) is PhemexAdapter
        assert binance.exchange.urls["api"]["fapiPrivateV3"] == "http://127.0.0.1:1234/fapi/v3"
        assert phemex.exchange.urls["api"]["private"] == "http://127.0.0.1:1234"
    finally:
        await binance.aclose()
        await phemex.aclose()


def test_live_needs_credentials_and_sim_needs_its_url() -> None:
    with pytest.raises(ValueError, match="API key"):
        build_adapter("binance", "live")
    with pytest.raises(ValueError, match="base URL"):
        build_adapter("sim-phemex")


async def test_both_adapters_implement_the_whole_port() -> None:
    for name in ("sim-binance", "sim-phemex"):
        adapter = build_adapter(name, sim_base_url="http://127.0.0.1:1234")
        try:
            assert isinstance(adapter, ExchangePort)
        finally:
            await adapter.aclose()


async def test_paper_mode_is_selected_by_the_exchange_configuration() -> None:
    keys = {"mode": "paper", "api_key": "k", "api_secret": "s"}
    binance = adapter_from_settings(ExchangeSettings.model_validate({"name": "binance", **keys}))
    phemex = adapter_from_settings(ExchangeSettings.model_validate({"name": "phemex", **keys}))
    sim = adapter_from_settings(
        ExchangeSettings.model_validate({"name": "sim-phemex", "sim_url": "http://127.0.0.1:9"})
    )
    try:
        assert binance.exchange.urls["api"]["fapiPrivate"].startswith("https://demo-fapi.binance.com/")
        assert phemex.exchange.urls["api"]["private"] == "https://testnet-api.phemex.com"
        assert sim.exchange.urls["api"]["private"] == "http://127.0.0.1:9"
        assert binance.exchange.secret != "s" or "k" not in repr(binance)
    finally:
        for adapter in (binance, phemex, sim):
            await adapter.aclose()
