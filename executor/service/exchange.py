"""The exchange port the configuration names, built from plain values handed to the adapters.

The adapters never see the daemon's settings: the `[exchange]` section is read here. The simulator's
code is imported only when the configuration asks for the embedded simulator, so a live daemon never
loads it (tests/architecture checks both).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Literal

from adapters.ccxt_base import MARK_MAX_AGE, AdapterSettings, CcxtAdapter, Credentials
from adapters.factory import build_adapter
from adapters.ratelimit import Venue
from adapters.streams import StreamSettings
from executor import crashpoints
from executor.config.paths import config_dir
from executor.config.settings import ExchangeSettings, Settings
from executor.domain.enums import ExchangeFamily, ExchangeId
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
        venue=None if exchange.rate_limits == "auto" else Venue(exchange.rate_limits),
    )


class SimulatorStateError(RuntimeError):
    """The embedded simulator's state file cannot be used (the message is one line with the fix)."""


def simulator_state_path(database_url: str, exchange: ExchangeId) -> Path | None:
    """Where the embedded simulator keeps its state: beside the SQLite file (`var/executor.db` →
    `var/executor.sim-binance.json`), in `var/` for PostgreSQL, nowhere for an in-memory database."""
    if not database_url.startswith("sqlite"):
        return Path("var") / f"{exchange.value}.json"
    database = database_url.partition(":///")[2].partition("?")[0]
    if database in ("", ":memory:"):
        return None
    path = Path(database)
    return path.with_name(f"{path.stem}.{exchange.value}.json")


async def start_embedded_simulator(
    family: ExchangeFamily, state_path: Path | None = None
) -> tuple[str, Closer]:
    """The simulator in this process, speaking ``family``'s dialect: its URL and how to stop it."""
    # only in simulated mode: see the module docstring
    from adapters.sim import SimServer, SimStateError, load_sim_config

    dialect: Literal["binance", "phemex"] = "binance" if family is ExchangeFamily.BINANCE else "phemex"
    try:
        server = SimServer(
            load_sim_config(defaults_dir=config_dir() / "sim"), exchange=dialect, state_path=state_path
        )
    except SimStateError as exc:
        raise SimulatorStateError(str(exc)) from None
    url = await server.start()
    log.info(
        "simulator_embedded",
        url=url,
        exchange=dialect,
        state=str(state_path) if state_path else None,
        restored=server.restored,
    )
    return url, server.stop


async def open_exchange(settings: Settings, closers: list[Closer], *, keep_state: bool = True) -> CcxtAdapter:
    """The adapter (and, for a simulated exchange without `sim_url`, the embedded simulator first).

    Each one's close is put at the front of ``closers``, so the adapter closes before the simulator.
    ``keep_state=False``: an embedded simulator in memory only (a CLI's look must not write the daemon's
    simulator state file, which a running daemon owns).
    """
    sim_url = settings.exchange.sim_url or None
    if settings.exchange.name.simulated and sim_url is None:
        sim_url, stop_simulator = await start_embedded_simulator(
            settings.exchange.name.family,
            simulator_state_path(settings.database.url, settings.exchange.name) if keep_state else None,
        )
        closers.insert(0, stop_simulator)
    adapter = adapter_from_settings(
        settings.exchange,
        sim_base_url=sim_url,
        settings=AdapterSettings(
            refresh_interval=timedelta(seconds=settings.execution.market_refresh_seconds),
            price_max_age=timedelta(milliseconds=settings.execution.max_price_age_ms),
            mark_max_age=max(MARK_MAX_AGE, timedelta(milliseconds=settings.execution.max_price_age_ms)),
            timeout_ms=round(settings.exchange.request_timeout_seconds * 1000),
            request_window_ms=settings.exchange.request_window_ms,
            not_found_grace=timedelta(seconds=settings.execution.not_found_grace_seconds),
            streams=StreamSettings(stall_after=timedelta(milliseconds=settings.exchange.stream_stall_ms))
            if settings.exchange.streams
            else None,
        ),
        observer=crashpoints.at_entry_step if settings.testing.crash_at else None,
    )
    closers.insert(0, adapter.aclose)
    return adapter
