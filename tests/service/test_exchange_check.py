"""`executor exchange check` against the simulator, both dialects: a good key passes, a key without
trading permission FAILs, withdrawals on WARN, `--orders` leaves nothing behind; the judgements alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from adapters.ccxt_base import Credentials
from adapters.factory import build_adapter
from adapters.ratelimit import GateRegistry
from adapters.sim import SimServer
from adapters.sim.config import ApiCredential
from executor.domain.account import MarginMode
from executor.domain.enums import ExchangeFamily, ExchangeId, ExchangeMode
from executor.domain.key_setup import KeyPermissions, PositionMode, RateBudget, SymbolSetup
from executor.service.exchange_check import (
    CheckResult,
    CheckStatus,
    CheckTarget,
    blocks_switch,
    choose_symbols,
    judge_budget,
    judge_clock,
    judge_permissions,
    judge_setup,
    passed,
    run_checks,
)
from tests.support.simkit import binance_client, phemex_client, static_config

KEYS = (
    ApiCredential(api_key="sim-key", secret="sim-secret"),
    ApiCredential(api_key="read-only", secret="ro-secret", trading=False),
    ApiCredential(api_key="withdrawer", secret="wd-secret", withdrawals=True),
)
SECRETS = {key.api_key: key.secret for key in KEYS}
SOL = "SOL/USDT:USDT"


@pytest.fixture(params=["binance", "phemex"])
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[tuple[SimServer, str]]:
    server = SimServer(static_config().with_overrides(keys=KEYS), exchange=request.param)
    url = await server.start()
    try:
        yield server, url
    finally:
        await server.stop()


async def check(sim: tuple[SimServer, str], key: str, *, orders: bool = False) -> list[CheckResult]:
    server, url = sim
    name = ExchangeId(f"sim-{server.exchange}")
    adapter = build_adapter(
        name, "paper", Credentials(key, SECRETS[key]), sim_base_url=url, gates=GateRegistry()
    )
    try:
        return await run_checks(adapter, CheckTarget(name, ExchangeMode.PAPER, (SOL,)), orders=orders)
    finally:
        await adapter.aclose()


def statuses(results: list[CheckResult]) -> dict[str, list[CheckStatus]]:
    found: dict[str, list[CheckStatus]] = {}
    for result in results:
        found.setdefault(result.name, []).append(result.status)
    return found


def lines(results: list[CheckResult]) -> str:
    return "\n".join(f"{r.status} {r.name}: {r.detail} / {r.fix}" for r in results)


async def test_a_good_key_passes_every_line_and_the_order_round_trip_leaves_nothing(
    sim: tuple[SimServer, str],
) -> None:
    server, _ = sim
    results = await check(sim, "sim-key", orders=True)
    found = statuses(results)
    assert passed(results), lines(results)
    for name in (
        "reachability and clock",
        f"position mode {SOL}",
        f"margin {SOL}",
        f"leverage tiers {SOL}",
        f"insurance fund {SOL}",
        f"funding {SOL}",
        "conditional orders",
        "rate limit",
        "equity",
        "orders",
        "orders cancelled",
    ):
        assert found[name] == [CheckStatus.OK], lines(results)
    # Binance reports the key's permissions; Phemex has no such endpoint: unknown is a WARN, not an OK
    expected = CheckStatus.OK if server.exchange == "binance" else CheckStatus.WARN
    assert found["key permissions"] == [expected, expected], lines(results)
    account = server.engine.account("sim-key")
    assert len(account.orders) >= 2 and not server.engine.open_orders(account) and not account.fills


async def test_a_key_without_trading_permission_fails_the_check(sim: tuple[SimServer, str]) -> None:
    server, _ = sim
    results = await check(sim, "read-only", orders=True)
    found = statuses(results)
    assert not passed(results), lines(results)
    if server.exchange == "binance":
        # Futures off: the key cannot use the USDⓈ-M API at all (-2015), and apiRestrictions says why
        assert CheckStatus.FAIL in found["key permissions"], lines(results)
        assert found["equity"] == [CheckStatus.FAIL], lines(results)
    else:
        # Phemex reads with a read-only key; the first write is refused (401 Insufficient privilege)
        assert found["equity"] == [CheckStatus.OK], lines(results)
        assert found["orders"] == [CheckStatus.FAIL], lines(results)
    assert not server.engine.account("read-only").orders


async def test_withdrawals_on_is_a_warning_on_binance() -> None:
    server = SimServer(static_config().with_overrides(keys=KEYS), exchange="binance")
    url = await server.start()
    try:
        results = await check((server, url), "withdrawer")
    finally:
        await server.stop()
    withdrawals = [r for r in results if r.name == "key permissions" and "withdraw" in r.detail]
    assert [r.status for r in withdrawals] == [CheckStatus.WARN] and "off" in withdrawals[0].fix
    assert passed(results), lines(results)


# --------------------------------------------------------------------------- the judgements alone


@pytest.mark.parametrize(
    ("skew_ms", "status"),
    [
        (0, CheckStatus.OK),
        (-400, CheckStatus.OK),
        (700, CheckStatus.WARN),
        (-1500, CheckStatus.FAIL),
        (6000, CheckStatus.FAIL),
    ],
)
def test_clock_skew_is_judged_against_what_signed_requests_allow(skew_ms: int, status: CheckStatus) -> None:
    result = judge_clock(timedelta(milliseconds=skew_ms), timedelta(milliseconds=20), timedelta(seconds=5))
    assert result.status is status and (status is CheckStatus.OK or "clock" in result.fix)


def test_unknown_permissions_warn_and_name_where_to_look() -> None:
    results = judge_permissions(KeyPermissions(None, None, None, "not reported"), ExchangeFamily.PHEMEX)
    assert [r.status for r in results] == [CheckStatus.WARN, CheckStatus.WARN]
    assert "--orders" in results[0].fix and "Withdraw is off" in results[1].fix


def test_hedge_mode_warns_when_flat_and_fails_with_something_open() -> None:
    hedged = SymbolSetup(SOL, PositionMode.HEDGE, MarginMode.ISOLATED, 5)
    assert judge_setup(hedged, holds_anything=False)[0].status is CheckStatus.WARN
    failed = judge_setup(hedged, holds_anything=True)[0]
    assert failed.status is CheckStatus.FAIL and "one-way" in failed.fix
    cross = judge_setup(SymbolSetup(SOL, PositionMode.ONE_WAY, MarginMode.CROSS, 5), holds_anything=False)
    assert [r.status for r in cross] == [CheckStatus.OK, CheckStatus.WARN]


def test_a_budget_above_the_venue_limit_warns() -> None:
    over = RateBudget(498.0, "500 requests per 5 minutes for everything (testnet)", False, 0.1)
    assert judge_budget(over, 0.75).status is CheckStatus.WARN
    assert judge_budget(RateBudget(1200.0, "x", True, 0.9), 0.75).status is CheckStatus.WARN
    assert judge_budget(RateBudget(1200.0, "x", True, 0.1), 0.75).status is CheckStatus.OK


def test_allowed_symbols_that_are_not_listed_fail_and_an_empty_list_checks_at_most_ten() -> None:
    chosen, problems = choose_symbols(("SOL/USDT:USDT", "XYZ/USDT:USDT"), ["BTC/USDT:USDT", "SOL/USDT:USDT"])
    assert chosen == ["SOL/USDT:USDT"] and [p.status for p in problems] == [CheckStatus.FAIL]
    listed = [f"C{i}/USDT:USDT" for i in range(12)]
    chosen, problems = choose_symbols((), listed)
    assert len(chosen) == 10 and [p.status for p in problems] == [CheckStatus.WARN]


async def test_a_hedged_phemex_symbol_is_reported_on_its_own_line() -> None:
    server = SimServer(static_config().with_overrides(keys=KEYS), exchange="phemex")
    url = await server.start()
    client = phemex_client(url)
    try:
        await client.load_markets()
        await client.set_position_mode(True, SOL)
        results = await check((server, url), "sim-key")
    finally:
        await client.close()
        await server.stop()
    mode = next(r for r in results if r.name == f"position mode {SOL}")
    assert mode.status is CheckStatus.WARN and mode.detail == "hedge mode, nothing open", lines(results)
    assert "one-way" in mode.fix


async def test_binance_hedge_mode_is_reported_for_every_symbol() -> None:
    """Binance keeps one position mode per account (`GET /fapi/v1/positionSide/dual`)."""
    server = SimServer(static_config().with_overrides(keys=KEYS), exchange="binance")
    url = await server.start()
    client = binance_client(url)
    try:
        await client.load_markets()
        await client.set_position_mode(True)
        results = await check((server, url), "sim-key")
    finally:
        await client.close()
        await server.stop()
    modes = [r for r in results if r.name.startswith("position mode")]
    assert modes and all(
        r.status is CheckStatus.WARN and r.detail == "hedge mode, nothing open" for r in modes
    )
    assert passed(results), lines(results)


def test_anything_held_blocks_a_binance_switch_but_only_its_own_symbol_on_phemex() -> None:
    assert blocks_switch({"BTC/USDT:USDT"}, SOL, ExchangeFamily.BINANCE)
    assert not blocks_switch({"BTC/USDT:USDT"}, SOL, ExchangeFamily.PHEMEX)
    assert blocks_switch({SOL}, SOL, ExchangeFamily.PHEMEX) and blocks_switch(
        None, SOL, ExchangeFamily.PHEMEX
    )
    assert not blocks_switch(set(), SOL, ExchangeFamily.BINANCE)
