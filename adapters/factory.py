"""Build the adapter for an exchange × mode × credentials (× simulator URL), from plain values.

The daemon's configuration is read on the daemon's side (executor/service/exchange.py); this module
knows nothing of it.

The simulated exchanges are the same two adapter classes with ccxt's ``urls['api']`` rewritten,
so the code that runs against the simulator is exactly the code that runs live.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import ccxt.async_support as ccxt  # type: ignore[import-untyped]

from adapters.binance import BinanceUsdmAdapter
from adapters.ccxt_base import AdapterSettings, CcxtAdapter, Credentials, MakeUserStream
from adapters.ccxt_target import target_simulator
from adapters.phemex import PhemexAdapter
from adapters.phemex_user_stream import PhemexUserStream, build_phemex_user_stream
from adapters.ratelimit import (
    GATES,
    GateRegistry,
    Venue,
    count_each_request_once,
    default_venue,
    throttle_config,
)
from adapters.streams import StreamSettings, build_binance_streams, build_phemex_streams
from adapters.user_stream import BinanceUserStream, build_binance_user_stream
from executor.domain.enums import ExchangeFamily, ExchangeId, ExchangeMode
from executor.ports.exchange import EntryObserver

SIM_CREDENTIALS = Credentials("sim-key", "sim-secret")


def build_ccxt(
    exchange: ExchangeId | str,
    mode: ExchangeMode | str,
    credentials: Credentials | None,
    *,
    sim_base_url: str | None = None,
    timeout_ms: int = 10_000,
    request_window_ms: int = 5_000,
    venue: Venue | None = None,
) -> Any:
    """A configured ccxt instance: rolling-window throttle sized to the venue's budget (`venue`: by default
    the exchange's own, see `default_venue`), no ccxt retries, a short request window (Binance
    `recvWindow`, Phemex `x-phemex-request-expiry`), the right URLs."""
    exchange, mode = ExchangeId(exchange), ExchangeMode(mode)
    venue = venue or default_venue(exchange.family, mode is ExchangeMode.PAPER, exchange.simulated)
    config: dict[str, Any] = {"timeout": timeout_ms, **throttle_config(exchange.family, venue)}
    if credentials is not None:
        config["apiKey"] = credentials.api_key
        config["secret"] = credentials.secret
    if exchange.family is ExchangeFamily.BINANCE:
        config["options"] = {
            "fetchCurrencies": False,
            "maxRetriesOnFailure": 0,
            "defaultType": "swap",
            "recvWindow": request_window_ms,
        }
        instance = ccxt.binanceusdm(config)
        if mode is ExchangeMode.PAPER and not exchange.simulated:
            instance.enable_demo_trading(True)
    else:
        config["options"] = {
            "maxRetriesOnFailure": 0,
            "defaultType": "swap",
            "x-phemex-request-expiry": -(-request_window_ms // 1000),
        }
        instance = ccxt.phemex(config)
        if mode is ExchangeMode.PAPER and not exchange.simulated:
            instance.set_sandbox_mode(True)
        if venue is Venue.TESTNET:
            count_each_request_once(instance)
    if exchange.simulated:
        if not sim_base_url:
            raise ValueError(f"{exchange.value} needs the simulator's base URL")
        target_simulator(instance, sim_base_url)
    return instance


def build_adapter(
    exchange: ExchangeId | str,
    mode: ExchangeMode | str = ExchangeMode.PAPER,
    credentials: Credentials | None = None,
    *,
    sim_base_url: str | None = None,
    settings: AdapterSettings | None = None,
    gates: GateRegistry = GATES,
    observer: EntryObserver | None = None,
    venue: Venue | None = None,
) -> CcxtAdapter:
    """The port for a configured exchange; one per API key (the key's backoff gate is shared)."""
    exchange = ExchangeId(exchange)
    if exchange.simulated and credentials is None:
        credentials = SIM_CREDENTIALS
    if credentials is None:
        raise ValueError(f"{exchange.value} needs an API key and secret")
    settings = settings or AdapterSettings()
    instance = build_ccxt(
        exchange,
        mode,
        credentials,
        sim_base_url=sim_base_url,
        timeout_ms=settings.timeout_ms,
        request_window_ms=settings.request_window_ms,
        venue=venue,
    )
    adapter_class: type[CcxtAdapter] = (
        BinanceUsdmAdapter if exchange.family is ExchangeFamily.BINANCE else PhemexAdapter
    )
    adapter = adapter_class(
        instance,
        name=exchange,
        credentials=credentials,
        gate=gates.gate_for(exchange.family, credentials.api_key, settings.backoff),
        settings=settings,
        observer=observer,
    )
    if settings.streams is not None:
        build = build_binance_streams if exchange.family is ExchangeFamily.BINANCE else build_phemex_streams
        adapter.attach_streams(partial(build, exchange, ExchangeMode(mode), sim_base_url=sim_base_url))
        adapter.attach_user_stream(
            user_stream_maker(exchange, ExchangeMode(mode), credentials, sim_base_url, settings.streams)
        )
    return adapter


def user_stream_maker(
    exchange: ExchangeId,
    mode: ExchangeMode,
    credentials: Credentials,
    sim_base_url: str | None,
    settings: StreamSettings,
) -> MakeUserStream:
    """What builds the account's user-stream follower once the daemon gives its sink (Binance's user data
    stream, Phemex's aop_p)."""
    binance = exchange.family is ExchangeFamily.BINANCE
    build_user = partial(
        build_binance_user_stream if binance else build_phemex_user_stream,
        exchange,
        mode,
        credentials.api_key,
        credentials.secret,
        sim_base_url=sim_base_url,
        settings=settings,
    )
    follower = BinanceUserStream if binance else PhemexUserStream
    return lambda sink, markets: follower(build_user, sink, markets, settings)
