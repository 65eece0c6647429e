"""Client-side pacing: ccxt's rolling-window throttle plus one backoff/ban gate per API key.

ccxt's default leaky bucket delays the stop that follows an entry by ~200 ms (ccxt-notes §10),
leaving the position naked for that long. A rolling window sized to the exchange's real per-minute
budget lets the two requests leave back to back and still throttles a burst. On top of it, the
gate backs off exponentially after a 429 and refuses every request while an IP ban (418) lasts.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from executor.domain.enums import ExchangeFamily

#: ccxt cost units per rolling minute = 60000 / rateLimit. ccxt's per-endpoint costs are scaled to
#: these budgets: Binance USDⓈ-M 2400 weight/min per IP and 1200 orders/min per account map to
#: ccxt's rateLimit 50 ms (1200 units/min, an order costs 1, heavy reads more); Phemex's contract
#: API allows 500 requests/min per user, ccxt's rateLimit 120.5 ms (≈ 498 units/min).
RATE_LIMIT_MS = {ExchangeFamily.BINANCE: 50.0, ExchangeFamily.PHEMEX: 120.5}
ROLLING_WINDOW_MS = 60_000.0


class Venue(StrEnum):
    """Whose request budget the throttle keeps to: the exchange's main venue or its testnet."""

    MAINNET = "mainnet"
    TESTNET = "testnet"


PHEMEX_TESTNET_WINDOW_MS = 300_000.0
PHEMEX_TESTNET_REQUESTS = 500
"""ph-docs `_generic.md` "Rate limits": "all requests to the domain `testnet-api.phemex.com` shared across the
rate limit 500/5m in total" — every request counts one, whatever its group; ccxt knows nothing of it."""


def default_venue(family: ExchangeFamily, paper: bool, simulated: bool) -> Venue:
    """Phemex's paper venue is its testnet; Binance Demo Trading's limits are undocumented (taken as
    mainnet's); a simulator enforces what its `rate_limits` says, mainnet unless told otherwise."""
    if family is ExchangeFamily.PHEMEX and paper and not simulated:
        return Venue.TESTNET
    return Venue.MAINNET


READ_SHARE = 0.75
"""Reads may fill this share of the rolling window; the rest is kept for orders, stops and cancels,
so a protective stop never queues behind polling."""

URGENT_SHARE = 0.9
"""Urgent reads (a signal's, an expiring entry's) pass the reads' share but stop here: ccxt's throttle
queues every request in one line once the window is full, so urgent reads that filled it held stops and
cancels behind them for most of a minute (bench/latency_bench.py on Phemex, whose lookups by id weigh 5);
the last tenth of the window is the writes' alone."""


def window_use(exchange: Any, pending: int = 0) -> float:
    """How full ccxt's rolling window is, from 0 to 1 (0 before the first request), with `pending`
    requests admitted but not yet recorded counted one unit each."""
    throttler = getattr(exchange, "throttler", None)
    if throttler is None:
        return 0.0
    config = throttler.config
    capacity = float(config.get("maxWeight") or 0.0)
    if capacity <= 0:
        return 0.0
    now = float(exchange.milliseconds())
    cutoff = now - float(config.get("windowSize") or ROLLING_WINDOW_MS)
    used = sum(float(entry["cost"]) for entry in throttler.timestamps if entry["timestamp"] > cutoff)
    return (used + pending) / capacity


def throttle_config(family: ExchangeFamily, venue: Venue = Venue.MAINNET) -> dict[str, Any]:
    """Constructor options that replace ccxt's leaky bucket by a rolling window of the venue's budget.

    Phemex testnet: 500 requests in a 5-minute window (ccxt's maxWeight = window / rateLimit), each
    request costing one (see `count_each_request_once`)."""
    if family is ExchangeFamily.PHEMEX and venue is Venue.TESTNET:
        window, rate_limit = PHEMEX_TESTNET_WINDOW_MS, PHEMEX_TESTNET_WINDOW_MS / PHEMEX_TESTNET_REQUESTS
    else:
        window, rate_limit = ROLLING_WINDOW_MS, RATE_LIMIT_MS[family]
    return {
        "enableRateLimit": True,
        "rateLimit": rate_limit,
        "rateLimiterAlgorithm": "rollingWindow",
        "rollingWindowSize": window,
    }


def count_each_request_once(exchange: Any) -> None:
    """On the Phemex testnet every request counts one; ccxt's per-endpoint costs (5 for an Others-group
    read, `phemex.py:232-234`) model the mainnet groups and would spend the testnet budget five times over."""
    exchange.calculate_rate_limiter_cost = lambda api, method, path, params, config=None: 1


def retry_after(headers: Mapping[str, str] | None) -> timedelta | None:
    """The server's wait hint: Binance ``Retry-After``, Phemex ``x-ratelimit-retry-after-<group>``."""
    for name, value in (headers or {}).items():
        lowered = name.lower()
        if lowered == "retry-after" or lowered.startswith("x-ratelimit-retry-after"):
            try:
                return timedelta(seconds=float(value))
            except ValueError:
                return None
    return None


def key_fingerprint(family: ExchangeFamily, api_key: str) -> str:
    """Identify a key without keeping it: the registry and logs see only this."""
    return hashlib.sha256(f"{family}:{api_key}".encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class BackoffPolicy:
    initial: timedelta = timedelta(milliseconds=500)
    maximum: timedelta = timedelta(seconds=60)
    factor: float = 2.0


class BackoffGate:
    """Shared by every request made with one API key."""

    def __init__(
        self,
        policy: BackoffPolicy | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._policy = policy or BackoffPolicy()
        self._clock = clock
        self._not_before: datetime | None = None
        self._banned_until: datetime | None = None
        self._streak = 0

    @property
    def banned_until(self) -> datetime | None:
        """The ban's expiry while it lasts, so the daemon can halt entries until then."""
        if self._banned_until is not None and self._banned_until <= self._clock():
            self._banned_until = None
        return self._banned_until

    def delay(self) -> timedelta:
        """How long the next request must wait (zero when it may go now)."""
        if self._not_before is None:
            return timedelta(0)
        return max(timedelta(0), self._not_before - self._clock())

    async def wait(self) -> None:
        remaining = self.delay()
        if remaining > timedelta(0):
            await asyncio.sleep(remaining.total_seconds())

    def on_rate_limited(self, retry_after: timedelta | None = None) -> timedelta:
        """Record a 429 and return the pause before the next request (at least the server's hint)."""
        seconds = self._policy.initial.total_seconds() * self._policy.factor**self._streak
        pause = min(max(timedelta(seconds=seconds), retry_after or timedelta(0)), self._policy.maximum)
        self._streak += 1
        self._not_before = self._clock() + pause
        return pause

    def on_banned(self, until: datetime) -> None:
        if self._banned_until is None or until > self._banned_until:
            self._banned_until = until

    def on_success(self) -> None:
        self._streak = 0
        self._not_before = None


class GateRegistry:
    """One gate per (exchange, API key): adapters built for the same key share their backoff."""

    def __init__(self) -> None:
        self._gates: dict[str, BackoffGate] = {}

    def gate_for(
        self, family: ExchangeFamily, api_key: str, policy: BackoffPolicy | None = None
    ) -> BackoffGate:
        fingerprint = key_fingerprint(family, api_key)
        gate = self._gates.get(fingerprint)
        if gate is None:
            gate = BackoffGate(policy)
            self._gates[fingerprint] = gate
        return gate


GATES = GateRegistry()
