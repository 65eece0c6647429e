"""`executor halt` and `executor resume --force` against a real database, as the running daemon sees them."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from executor.cli.status import EXIT_NO_DAEMON
from executor.domain.enums import BreakerStatus
from executor.execution.riskbook import RiskBook
from executor.risk import CarriedState
from executor.risk.clock import trading_day
from executor.store.store import Store
from tests.support.cli import ACCOUNT, HANDBOOK, cli_env, invoke


async def daemon_book(store: Store) -> RiskBook:
    """What the daemon holds after start-up: the day's ledger opened, the risk state at version 1."""
    book = RiskBook(store, ACCOUNT, HANDBOOK)
    await book.load()
    await book.observe_equity(Decimal("10000"), datetime.now(UTC))
    return book


async def stored(store: Store) -> tuple[CarriedState, int]:
    async with store.transaction() as tx:
        row = await tx.risk_state.get(ACCOUNT)
    assert row is not None
    return CarriedState.from_dict(row.state), row.version


async def today_row(store: Store) -> tuple[str, str | None, str | None, datetime | None]:
    async with store.transaction() as tx:
        day = await tx.daily_loss.get(ACCOUNT, trading_day(datetime.now(UTC), "UTC"))
    assert day is not None
    return day.breaker, day.trip_reason, day.resumed_by, day.resumed_at


async def event_kinds(store: Store) -> list[str]:
    async with store.transaction() as tx:
        return [event.kind for event in reversed(await tx.events.recent(ACCOUNT))]


async def test_halt_trips_the_breaker_bumps_the_version_and_status_shows_it(
    store: Store, migrated_database_url: str
) -> None:
    book = await daemon_book(store)
    assert book.version == 1
    env = cli_env(migrated_database_url)

    result = await invoke(["halt", "--reason", "exchange maintenance"], env)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("halted at ") and "exchange maintenance" in result.stdout
    assert len(result.stdout.strip().splitlines()) == 1
    state, version = await stored(store)
    assert state.breaker is BreakerStatus.TRIPPED and state.trip_reason == "exchange maintenance"
    assert version == 2
    breaker, reason, _, _ = await today_row(store)
    assert (breaker, reason) == ("tripped", "exchange maintenance")
    assert (await event_kinds(store))[-1] == "operator.halt"

    status = await invoke(["status", "--json"], env)
    assert status.exit_code == EXIT_NO_DAEMON, status.output  # the report came from the database
    report = json.loads(status.stdout)
    assert report["breaker"]["status"] == "tripped"
    assert report["breaker"]["reason"] == "exchange maintenance"
    assert report["breaker"]["version"] == 2
    assert report["daemon"]["running"] is False and report["daemon"]["source"] == "database"

    assert await book.refresh_if_changed() is True
    assert book.halted and book.state.trip_reason == "exchange maintenance"


async def test_a_second_halt_keeps_the_first_reason_and_writes_nothing(
    store: Store, migrated_database_url: str
) -> None:
    await daemon_book(store)
    env = cli_env(migrated_database_url)
    assert (await invoke(["halt", "--reason", "first"], env)).exit_code == 0

    again = await invoke(["halt", "--reason", "second"], env)

    assert again.exit_code == 0
    assert again.stdout.startswith("already halted since") and "first" in again.stdout
    state, version = await stored(store)
    assert state.trip_reason == "first" and version == 2
    assert (await event_kinds(store)).count("operator.halt") == 1


async def test_the_daemon_saving_over_a_stale_version_keeps_the_operators_halt(
    store: Store, migrated_database_url: str
) -> None:
    book = await daemon_book(store)
    assert (await invoke(["halt"], cli_env(migrated_database_url))).exit_code == 0

    await book.observe_equity(Decimal("10500"), datetime.now(UTC))

    state, version = await stored(store)
    assert state.breaker is BreakerStatus.TRIPPED and state.trip_reason == "halted by the operator"
    assert version == 3 and book.peak_equity == Decimal("10500")


async def test_resume_without_force_is_refused_and_changes_nothing(
    store: Store, migrated_database_url: str
) -> None:
    await daemon_book(store)
    env = cli_env(migrated_database_url)
    assert (await invoke(["halt"], env)).exit_code == 0

    refused = await invoke(["resume"], env)

    assert refused.exit_code == 2
    assert "deliberate override" in refused.stderr and "--force" in refused.stderr
    state, version = await stored(store)
    assert state.breaker is BreakerStatus.TRIPPED and version == 2
    assert "operator.resume" not in await event_kinds(store)


async def test_resume_force_resets_the_breaker_and_records_who_and_why(
    store: Store, migrated_database_url: str
) -> None:
    book = await daemon_book(store)
    env = cli_env(migrated_database_url)
    assert (await invoke(["halt", "--reason", "fat finger"], env)).exit_code == 0

    result = await invoke(["resume", "--force", "--note", "checked the positions"], env)

    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("resumed at ") and len(result.stdout.strip().splitlines()) == 1
    state, version = await stored(store)
    assert state.breaker is BreakerStatus.ACTIVE and state.trip_reason is None
    assert state.resume_note == "checked the positions" and state.resumed_at is not None
    assert version == 3
    breaker, reason, resumed_by, resumed_at = await today_row(store)
    assert breaker == "active" and reason == "fat finger"
    assert resumed_by is not None and resumed_by.startswith("cli:") and resumed_at == state.resumed_at
    assert (await event_kinds(store))[-2:] == ["operator.halt", "operator.resume"]
    async with store.transaction() as tx:
        event = (await tx.events.recent(ACCOUNT, limit=1))[0]
    assert event.data["trip_reason"] == "fat finger" and event.data["note"] == "checked the positions"
    assert await book.refresh_if_changed() is True and not book.halted


async def test_resume_of_an_active_breaker_changes_nothing(store: Store, migrated_database_url: str) -> None:
    await daemon_book(store)

    result = await invoke(["resume", "--force"], cli_env(migrated_database_url))

    assert result.exit_code == 0 and "nothing to resume" in result.stdout
    assert (await stored(store))[1] == 1


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_halt_without_any_daemon_state_creates_the_risk_state(
    store: Store, migrated_database_url: str
) -> None:
    result = await invoke(["halt"], cli_env(migrated_database_url))

    assert result.exit_code == 0
    state, version = await stored(store)
    assert state.breaker is BreakerStatus.TRIPPED and version == 1


@pytest.mark.parametrize("migrated_database_url", ["sqlite"], indirect=True)
async def test_a_blank_reason_is_bad_input(store: Store, migrated_database_url: str) -> None:
    result = await invoke(["halt", "--reason", "  "], cli_env(migrated_database_url))

    assert result.exit_code == 2 and "--reason" in result.stderr
    async with store.transaction() as tx:
        assert await tx.risk_state.get(ACCOUNT) is None


async def test_an_unmigrated_database_is_a_failure_to_reach_with_the_fix(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"

    result = await invoke(["halt"], cli_env(url))

    assert result.exit_code == 1 and "executor db upgrade" in result.stderr
