"""`executor explain SIGNAL_ID` on decisions stored the way the daemon stores them, with real step logs."""

from __future__ import annotations

import json
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest

from executor.config.risk_profiles import load_profile
from executor.domain.enums import SignalSource, SignalStatus
from executor.risk import Decision
from executor.store.store import Store
from tests.support.cli import (
    ACCOUNT,
    NOW,
    SOL_LONG,
    cli_env,
    decide_scenario,
    invoke,
    scenario,
    store_decided_signal,
    store_position_with_orders,
)

SQLITE_ONLY = pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
TIGHT_LONG: dict[str, Any] = {
    "id": "sol-tight-1",
    "symbol": "SOL/USDT:USDT",
    "side": "long",
    "entry": {"type": "market"},
    "stop": "149.90",
    "conviction": "10",
    "strategy": "breakout-4h",
}
WEAK_LONG: dict[str, Any] = {**SOL_LONG, "id": "sol-weak-1", "conviction": "2"}
NO_SLIPPAGE = load_profile("handbook", {"entry_slippage_pct": 0})
"""The tight stop sized without a slippage allowance, so leverage binds and explain shows a [binding] step."""


async def accepted(store: Store) -> Decision:
    decision = decide_scenario(scenario(TIGHT_LONG, NOW), NO_SLIPPAGE)
    assert decision.accepted and decision.binding == "leverage"
    signal_pk = await store_decided_signal(store, TIGHT_LONG, decision, NOW)
    await store_position_with_orders(store, signal_pk, TIGHT_LONG["id"], decision, NOW)
    return decision


async def rejected(store: Store) -> Decision:
    decision = decide_scenario(scenario(WEAK_LONG, NOW))
    assert not decision.accepted and decision.reason is not None
    await store_decided_signal(store, WEAK_LONG, decision, NOW)
    return decision


async def test_an_accepted_decision_is_told_step_by_step_with_its_orders(
    store: Store, migrated_database_url: str
) -> None:
    decision = await accepted(store)

    result = await invoke(["explain", "sol-tight-1"], cli_env(migrated_database_url))

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "signal sol-tight-1 · from websocket · received 2026-06-02 14:00:00 UTC"
    assert (
        lines[1]
        == "  open · long · SOL/USDT:USDT · entry market · stop 149.90 · conviction 10 · strategy breakout-4h"
    )
    assert lines[2] == f"ACCEPTED 2026-06-02 14:00:00 UTC: {decision.message}"
    assert (
        f"qty {decision.qty} · leverage {decision.leverage}" in lines[3] and "bound by leverage" in lines[3]
    )
    assert decision.risk is not None and decision.risk_pct is not None
    cents = Decimal("0.01")
    risk, share = (v.quantize(cents, ROUND_HALF_UP) for v in (decision.risk, decision.risk_pct))
    assert f" · risk {risk} · of equity {share}% · " in lines[3]  # money and percentages with 2 decimals
    assert lines[4] == f"steps ({len(decision.steps)})"
    step_lines = lines[5 : 5 + len(decision.steps)]
    for number, (line, step) in enumerate(zip(step_lines, decision.steps, strict=True), start=1):
        assert line.startswith(f"{number:>3}. {step.step} ")
        assert " → " in line
        assert line.endswith(f"  · {step.note}") if step.note else "  · " not in line
        assert ("[binding]" in line) is step.binding
    [daily_loss] = [line for line in step_lines if " daily_loss " in line]
    assert "loss=0.00, limit=300.00, basis=equity → tripped=false" in daily_loss
    orders = lines[5 + len(decision.steps) :]
    assert orders[0] == "orders"
    assert " · entry · SOL/USDT:USDT market buy 333 · filled (filled 333 @ 150.02)" in orders[1]
    assert " · stop · SOL/USDT:USDT stop_market sell 333 trigger 149.90 · open" in orders[2]
    assert orders[3] == "position #1 open · SOL/USDT:USDT long 333 @ 150.02 · stop 149.90"


async def test_on_a_day_that_gained_the_daily_loss_step_says_a_gain_never_a_negative_loss(
    store: Store, migrated_database_url: str
) -> None:
    gained = {**SOL_LONG, "id": "sol-gained-1"}
    decision = decide_scenario(scenario(gained, NOW, equity="10003.456"))
    assert decision.accepted, decision.message
    await store_decided_signal(store, gained, decision, NOW)

    result = await invoke(["explain", "sol-gained-1"], cli_env(migrated_database_url))

    assert result.exit_code == 0, result.output
    [daily_loss] = [line for line in result.stdout.splitlines() if " daily_loss " in line]
    assert " gain=3.46, limit=300.00, basis=equity → tripped=false  · " in daily_loss, daily_loss
    assert daily_loss.endswith("· daily loss none: a gain of 3.46 (equity), under the limit 300.00"), (
        daily_loss
    )


async def test_the_decisions_message_shows_the_quantity_on_the_step_as_ccxt_gives_it(
    store: Store, migrated_database_url: str
) -> None:
    stepped = {**SOL_LONG, "id": "sol-stepped-1"}
    data = scenario(stepped, NOW)
    data["market"]["amount_step"] = "1.0"  # Binance's SOL step as ccxt reports it (a float: 1.0)
    decision = decide_scenario(data)
    assert decision.accepted and decision.qty is not None, decision.message
    await store_decided_signal(store, stepped, decision, NOW)

    result = await invoke(["explain", "sol-stepped-1"], cli_env(migrated_database_url))

    assert result.exit_code == 0, result.output
    whole = f"{decision.qty:.0f}"
    assert f"ACCEPTED 2026-06-02 14:00:00 UTC: Long {whole} SOL at " in result.stdout, result.stdout
    [filters] = [line for line in result.stdout.splitlines() if " exchange_filters " in line]
    assert f"→ qty={whole}, notional=" in filters and filters.endswith(
        "· quantity rounded down to the step 1"
    )


async def test_a_rejected_decision_gives_its_reason_message_and_the_steps_taken(
    store: Store, migrated_database_url: str
) -> None:
    decision = await rejected(store)

    result = await invoke(["explain", "sol-weak-1"], cli_env(migrated_database_url))

    assert result.exit_code == 0, result.output
    assert f"REJECTED 2026-06-02 14:00:00 UTC: LOW_CONVICTION — {decision.message}" in result.stdout
    assert f"steps ({len(decision.steps)})" in result.stdout
    assert result.stdout.rstrip().endswith("orders: none")


@SQLITE_ONLY
async def test_json_carries_the_stored_step_log_unchanged(store: Store, migrated_database_url: str) -> None:
    decision = await accepted(store)

    result = await invoke(["explain", "sol-tight-1", "--json"], cli_env(migrated_database_url))

    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["signal"]["signal_id"] == "sol-tight-1" and found["signal"]["status"] == "decided"
    assert found["decision"]["steps"] == [step.to_dict() for step in decision.steps]
    assert found["decision"]["accepted"] is True and found["decision"]["binding"] == "leverage"
    assert [(order["kind"], order["state"]) for order in found["orders"]] == [
        ("entry", "filled"),
        ("stop", "open"),
    ]
    assert [position["status"] for position in found["positions"]] == ["open"]


@SQLITE_ONLY
async def test_a_signal_still_in_the_inbox_is_reported_undecided(
    store: Store, migrated_database_url: str
) -> None:
    async with store.transaction() as tx:
        await tx.signals.store(
            account=ACCOUNT,
            signal_id="late-1",
            source=SignalSource.WEBHOOK,
            payload=SOL_LONG,
            received_at=NOW,
        )

    result = await invoke(["explain", "late-1"], cli_env(migrated_database_url))

    assert result.exit_code == 0
    assert "not decided yet: it waits in the inbox for the daemon" in result.stdout


@SQLITE_ONLY
async def test_an_unknown_id_fails_with_a_clear_message(store: Store, migrated_database_url: str) -> None:
    await accepted(store)

    result = await invoke(["explain", "SOL-TIGHT-1"], cli_env(migrated_database_url))

    assert result.exit_code == 1 and result.stdout == ""
    assert "no signal 'SOL-TIGHT-1' in account 'main'" in result.stderr and "case-sensitive" in result.stderr


@SQLITE_ONLY
async def test_a_malformed_id_is_bad_input(store: Store, migrated_database_url: str) -> None:
    result = await invoke(["explain", "not an id"], cli_env(migrated_database_url))

    assert result.exit_code == 2 and "1–64 characters" in result.stderr


@SQLITE_ONLY
async def test_a_close_signal_is_reported_done_or_failed_with_the_daemons_error(
    store: Store, migrated_database_url: str
) -> None:
    close = {"id": "close-1", "action": "close", "symbol": "SOL/USDT:USDT"}
    async with store.transaction() as tx:
        done, _ = await tx.signals.store(
            account=ACCOUNT,
            signal_id="close-1",
            source=SignalSource.WEBSOCKET,
            payload=close,
            received_at=NOW,
        )
        await tx.signals.settle(done.id, SignalStatus.DECIDED, NOW)
        failed, _ = await tx.signals.store(
            account=ACCOUNT,
            signal_id="close-2",
            source=SignalSource.WEBSOCKET,
            payload=close | {"id": "close-2"},
            received_at=NOW,
        )
        await tx.signals.settle(failed.id, SignalStatus.FAILED, NOW, "no open position on SOL/USDT:USDT")
    env = cli_env(migrated_database_url)

    first = await invoke(["explain", "close-1"], env)
    second = await invoke(["explain", "close-2"], env)

    assert first.exit_code == 0 and "  close · SOL/USDT:USDT" in first.stdout
    assert "DONE 2026-06-02 14:00:00 UTC: a close is carried out on the open position" in first.stdout
    assert second.exit_code == 0
    assert "FAILED 2026-06-02 14:00:00 UTC: no open position on SOL/USDT:USDT" in second.stdout
