from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from adapters.cache import FreshnessCache
from adapters.ccxt_base import Credentials
from adapters.factory import build_ccxt
from adapters.ratelimit import (
    BackoffGate,
    BackoffPolicy,
    GateRegistry,
    Venue,
    key_fingerprint,
    retry_after,
    throttle_config,
)
from executor.domain.enums import ExchangeFamily


class FakeClock:
    def __init__(self) -> None:
        self.now = datetime(2025, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_throttle_is_a_rolling_window_not_the_leaky_bucket() -> None:
    config = throttle_config(ExchangeFamily.BINANCE)
    assert config["rateLimiterAlgorithm"] == "rollingWindow"
    assert config["rollingWindowSize"] == 60_000.0
    assert config["enableRateLimit"] is True


def test_backoff_grows_exponentially_up_to_the_cap_and_resets_on_success() -> None:
    clock = FakeClock()
    gate = BackoffGate(BackoffPolicy(timedelta(seconds=1), timedelta(seconds=5), 2.0), clock)
    pauses = [gate.on_rate_limited().total_seconds() for _ in range(5)]
    assert pauses == [1, 2, 4, 5, 5]
    assert gate.delay() == timedelta(seconds=5)
    clock.advance(3)
    assert gate.delay() == timedelta(seconds=2)
    gate.on_success()
    assert gate.delay() == timedelta(0)
    assert gate.on_rate_limited() == timedelta(seconds=1)


def test_ban_is_reported_until_it_expires() -> None:
    clock = FakeClock()
    gate = BackoffGate(clock=clock)
    until = clock.now + timedelta(minutes=3)
    gate.on_banned(until)
    gate.on_banned(clock.now + timedelta(minutes=1))
    assert gate.banned_until == until
    clock.advance(181)
    assert gate.banned_until is None


def test_one_gate_per_api_key() -> None:
    registry = GateRegistry()
    assert registry.gate_for(ExchangeFamily.BINANCE, "k1") is registry.gate_for(ExchangeFamily.BINANCE, "k1")
    assert registry.gate_for(ExchangeFamily.BINANCE, "k1") is not registry.gate_for(
        ExchangeFamily.BINANCE, "k2"
    )
    assert registry.gate_for(ExchangeFamily.BINANCE, "k1") is not registry.gate_for(
        ExchangeFamily.PHEMEX, "k1"
    )
    assert "k1" not in key_fingerprint(ExchangeFamily.BINANCE, "k1")


def test_cache_flags_values_older_than_the_limit_but_keeps_them() -> None:
    clock = FakeClock()
    cache: FreshnessCache[str, int] = FreshnessCache(timedelta(seconds=10), clock)
    assert not cache.is_fresh("a")
    assert cache.needs_refresh("a")
    cache.put("a", 1)
    assert cache.is_fresh("a")
    assert not cache.needs_refresh("a")
    clock.advance(6)
    assert cache.needs_refresh("a")
    assert cache.is_fresh("a")
    clock.advance(5)
    assert not cache.is_fresh("a")
    assert cache.get("a") == 1


def test_cache_refuses_a_non_positive_limit() -> None:
    with pytest.raises(ValueError, match="max_age must be positive"):
        FreshnessCache(timedelta(0))


def test_server_wait_hint_sets_the_minimum_pause_within_the_cap() -> None:
    assert retry_after({"Retry-After": "7"}) == timedelta(seconds=7)
    assert retry_after({"x-ratelimit-retry-after-CONTRACT": "60"}) == timedelta(seconds=60)
    assert retry_after({"Content-Type": "text/plain"}) is None
    gate = BackoffGate(BackoffPolicy(timedelta(seconds=1), timedelta(seconds=30), 2.0), FakeClock())
    assert gate.on_rate_limited(timedelta(seconds=7)) == timedelta(seconds=7)
    assert gate.on_rate_limited(timedelta(seconds=90)) == timedelta(seconds=30)


async def test_phemex_paper_keeps_to_the_testnet_budget_and_live_or_a_simulator_to_mainnet() -> None:
    """Testnet: 500 requests in a 5-minute window, each counting one; mainnet: ccxt's 120.5 ms per cost unit
    (≈ 498 a minute) with its per-endpoint costs (5 for an Others-group read)."""
    keys = Credentials("k", "s")
    testnet = build_ccxt("phemex", "paper", keys)
    live = build_ccxt("phemex", "live", keys)
    simulated = build_ccxt("sim-phemex", "paper", keys, sim_base_url="http://127.0.0.1:9")
    try:
        assert (testnet.rollingWindowSize, testnet.rateLimit) == (300_000.0, 600.0)
        trades: tuple[Any, ...] = (["private"], "GET", "api-data/g-futures/trades", {}, {"cost": 5})
        assert testnet.calculate_rate_limiter_cost(*trades) == 1
        for mainnet in (live, simulated):
            assert (mainnet.rollingWindowSize, mainnet.rateLimit) == (60_000.0, 120.5)
            assert mainnet.calculate_rate_limiter_cost(*trades) == 5
        url = "http://127.0.0.1:9"
        pinned = build_ccxt("sim-phemex", "paper", keys, sim_base_url=url, venue=Venue.TESTNET)
        assert pinned.rateLimit == 600.0
        await pinned.close()
    finally:
        for exchange in (testnet, live, simulated):
            await exchange.close()
