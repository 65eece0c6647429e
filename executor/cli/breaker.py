"""`executor halt` and `executor resume --force`: the operator sets the daily-loss breaker by hand.

Both write the risk-state row the daemon reads, through RiskBook's compare-and-swap so neither the
daemon nor the operator silently overwrites the other; mirror it on today's daily_loss row; and
record an event. The running daemon re-reads the row's version every few seconds, so the change
takes effect there without a restart. A manual halt, like an automatic trip, ends at the next
trading-day boundary unless it is resumed earlier.
"""

from __future__ import annotations

import getpass
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import click

from executor.cli.access import fail, with_store
from executor.cli.common import EXIT_BAD_INPUT, config_option, settings_or_exit
from executor.cli.status import when
from executor.domain.enums import EventKind
from executor.execution.riskbook import RiskBook
from executor.risk import CarriedState, RiskProfile, resume, trip
from executor.service.status import breaker_resets_at
from executor.store.store import Store

MAX_TEXT = 500
OPERATOR_NAME_LIMIT = 64


@dataclass(frozen=True, slots=True)
class BreakerChange:
    """What the command found and left: `changed` is False when the breaker already was as asked."""

    changed: bool
    state: CarriedState
    version: int


def _unchanged(state: CarriedState) -> CarriedState:
    return state


async def halt_trading(
    store: Store, account: str, profile: RiskProfile, now: datetime, reason: str, by: str
) -> BreakerChange:
    """Trip the breaker with `reason`; an existing trip (the day's record) is left as it is."""
    book = RiskBook(store, account, profile)
    await book.load()
    if book.halted:
        return BreakerChange(False, book.state, book.version)
    async with store.transaction() as tx:
        await book.set_breaker(tx, lambda state: trip(state, now, reason), now)
        ours = book.state.tripped_at == now and book.state.trip_reason == reason
        if ours:
            # Only a trip that is ours goes on the day's record: the daemon may have tripped first.
            await book.set_breaker(tx, _unchanged, now, tripped_at=now, trip_reason=reason)
            await tx.events.append(
                account=account,
                at=now,
                kind=EventKind.OPERATOR_HALT,
                data={"reason": reason, "by": by, "version": book.version},
            )
    return BreakerChange(ours, book.state, book.version)


async def resume_trading(
    store: Store, account: str, profile: RiskProfile, now: datetime, note: str, by: str
) -> BreakerChange:
    """Reset a tripped breaker for the rest of the day; an active one is left untouched."""
    book = RiskBook(store, account, profile)
    await book.load()
    if not book.halted:
        return BreakerChange(False, book.state, book.version)
    previous = book.state
    async with store.transaction() as tx:
        await book.set_breaker(tx, lambda state: resume(state, now, note), now, resumed_at=now, resumed_by=by)
        await tx.events.append(
            account=account,
            at=now,
            kind=EventKind.OPERATOR_RESUME,
            data={
                "note": note,
                "by": by,
                "version": book.version,
                "trip_reason": previous.trip_reason,
                "tripped_at": None if previous.tripped_at is None else previous.tripped_at.isoformat(),
            },
        )
    return BreakerChange(True, book.state, book.version)


def operator_name() -> str:
    """Who ran the command, for the audit record (containers may have no user name)."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):
        name = ""
    return f"cli:{name or 'unknown'}"[:OPERATOR_NAME_LIMIT]


def text_option(value: str, option: str) -> str:
    """An operator's free text: one printable line of bounded length, else exit 2 naming the option."""
    text = value.strip()
    if not 1 <= len(text) <= MAX_TEXT or not text.isprintable():
        fail(f"{option} must be 1–{MAX_TEXT} printable characters on one line", EXIT_BAD_INPUT)
    return text


@click.command()
@click.option(
    "--reason",
    default="halted by the operator",
    show_default=True,
    help="Why; shown by `executor status` and in the HALTED rejections.",
)
@config_option
def halt(reason: str, config_path: Path | None) -> None:
    """Trip the daily-loss breaker by hand: no new entries until resumed or the trading day ends."""
    text = text_option(reason, "--reason")
    settings = settings_or_exit(config_path)
    profile, account, now = settings.risk_profile(), settings.exchange.account, datetime.now(UTC)
    change = with_store(
        settings, lambda store: halt_trading(store, account, profile, now, text, operator_name())
    )
    state = change.state
    resets = when(breaker_resets_at(state, profile, now))
    if not change.changed:
        click.echo(
            f"already halted since {when(state.tripped_at)}: {state.trip_reason}; nothing changed "
            f"(resets {resets} or with `executor resume --force`)"
        )
        return
    click.echo(
        f"halted at {when(now)}: {text} (risk state version {change.version}); "
        f"a running daemon stops opening within seconds; resets {resets} or with `executor resume --force`"
    )


@click.command(name="resume")
@click.option("--force", is_flag=True, help="Confirm the override: trade again today despite the breaker.")
@click.option(
    "--note",
    default="resumed by the operator",
    show_default=True,
    help="Why; kept with the resume in the risk state and the event log.",
)
@config_option
def resume_command(force: bool, note: str, config_path: Path | None) -> None:
    """Reset a tripped daily-loss breaker by hand (a deliberate override; needs --force)."""
    if not force:
        fail(
            "resume resets the daily-loss breaker by hand and lets the daemon open positions again "
            "today, overriding the loss limit; it is a deliberate override, so run "
            "`executor resume --force` (with --note WHY) if that is what you mean",
            EXIT_BAD_INPUT,
        )
    text = text_option(note, "--note")
    settings = settings_or_exit(config_path)
    profile, account, now = settings.risk_profile(), settings.exchange.account, datetime.now(UTC)
    change = with_store(
        settings, lambda store: resume_trading(store, account, profile, now, text, operator_name())
    )
    if not change.changed:
        click.echo(f"breaker is {change.state.breaker.value}, not tripped; nothing to resume")
        return
    click.echo(
        f"resumed at {when(now)}: {text} (risk state version {change.version}); "
        "a running daemon accepts new entries within seconds"
    )
