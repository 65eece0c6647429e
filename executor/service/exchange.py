"""The exchange port the configuration names, built from plain values handed to the adapters.

The adapters never see the daemon's settings: the `[exchange]` section is read here. The simulator's
code is imported only when the configuration asks for the embedded simulator, so a live daemon never
loads it (tests/architecture checks both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal

from adapters.ccxt_base import AdapterSettings, CcxtAdapter, Credentials
from adapters.factory import build_adapter
from executor import crashpoints
from executor.config.paths import config_dir
from executor.config.settings import ExchangeSettings, Settings
from executor.domain.enums import ExchangeFamily
from executor.observability.logging import get_logger
from executor.ports.exchange import EntryObserver

log = get_logger("executor.service")

Closer = Callable[[], Awaitable[None]]


def adapter_from_settings(
    exchange: ExchangeSettings,
    *,
    sim_base_url: str | None = None,
    settings: AdapterSettings | None = None,
    observer: EntryObserver | None = None,
) -> CcxtAdapter:
    """The adapter the daemon's `[exchange]` configuration names (secrets come from the environment)."""
    credentials = None
    if exchange.api_key is not None and exchange.api_secret is not None:
        credentials = Credentials(exchange.api_key.get_secret_value(), exchange.api_secret.get_secret_value())
    return build_adapter(
        exchange.name,
        exchange.mode,
        credentials,
        sim_base_url=sim_base_url or exchange.sim_url or None,
        settings=settings,
        observer=observer,
    )


async def start_embedded_simulator(family: ExchangeFamily) -> tuple[str, Closer]:
    """The simulator in this process, speaking ``family``'s dialect: its URL and how to stop it."""
    from adapters.sim import SimServer, load_sim_config  # only in simulated mode: see the module docstring

    dialect: Literal["binance", "phemex"] = "binance" if family is ExchangeFamily.BINANCE else "phemex"
    server = SimServer(load_sim_config(defaults_dir=config_dir() / "sim"), exchange=dialect)
    url = await server.start()
    log.info("simulator_embedded", url=url, exchange=dialect)
    return url, server.stop


async def open_exchange(settings: Settings, closers: list[Closer]) -> CcxtAdapter:
    """The adapter (and, for a simulated exchange without `sim_url`, the embedded simulator first).

    Each one's close is put at the front of ``closers``, so the adapter closes before the simulator.
    """
    sim_url = settings.exchange.sim_url or None
    if settings.exchange.name.simulated and sim_url is None:
        sim_url, stop_simulator = await start_embedded_simulator(settings.exchange.name.family)
        closers.insert(0, stop_simulator)
    adapter = adapter_from_settings(
        settings.exchange,
        sim_base_url=sim_url,
        settings=AdapterSettings(
            refresh_interval=timedelta(seconds=settings.execution.market_refresh_seconds),
            mark_max_age=timedelta(milliseconds=settings.execution.max_price_age_ms),
            timeout_ms=round(settings.exchange.request_timeout_seconds * 1000),
        ),
        observer=crashpoints.at_entry_step if settings.testing.crash_at else None,
    )
    closers.insert(0, adapter.aclose)
    return adapter
