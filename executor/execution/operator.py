"""The operator's levers on a running account: pause new entries, close positions at market.

Shared by the CLI (`executor pause|unpause|close`) and the daemon's HTTP API, so both write the same
rows. A pause is the `controls` row the trader reads inside every open's decision transaction, so it
holds from the next open signal on, also across restarts. A close is an ordinary close signal queued
in the inbox (source `operator`) with an `operator.close` event naming who asked: the daemon's
consumer takes it within a second and closes through the same path as a strategy's close (market
close, the position's stop and take-profit cancelled, the trade booked).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from executor.domain.enums import Action, EventKind, PositionStatus, SignalSource
from executor.domain.signal import Instruction, perpetual_symbol
from executor.store.models import ControlRow
from executor.store.repositories import Repositories
from executor.store.store import Store


@dataclass(frozen=True, slots=True)
class Pause:
    """The account's pause as stored: `paused` False with no `since` when never paused."""

    paused: bool
    since: datetime | None = None
    by: str | None = None
    note: str | None = None

    @classmethod
    def of(cls, row: ControlRow | None) -> Pause:
        if row is None:
            return cls(False)
        return cls(row.paused, row.changed_at, row.changed_by, row.note)

    def describe(self) -> str:
        """One sentence for a PAUSED rejection and `executor status`."""
        since = "" if self.since is None else f" at {self.since.isoformat(timespec='seconds')}"
        note = f" ({self.note})" if self.note else ""
        return f"Paused by {self.by}{since}{note}; no new entries until `executor unpause`."

    def as_dict(self) -> dict[str, str | bool | None]:
        return {
            "paused": self.paused,
            "since": None if self.since is None else self.since.isoformat(),
            "by": self.by,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class PauseChange:
    changed: bool
    pause: Pause


async def current_pause(tx: Repositories, account: str) -> Pause:
    return Pause.of(await tx.controls.get(account))


async def set_pause(
    store: Store, account: str, paused: bool, now: datetime, by: str, note: str | None = None
) -> PauseChange:
    """Pause or unpause with an `operator.pause`/`operator.unpause` event; as it was already: unchanged."""
    async with store.transaction() as tx:
        before = await current_pause(tx, account)
        if before.paused == paused:
            return PauseChange(False, before)
        await tx.controls.set_paused(account, paused, now, by, note)
        await tx.events.append(
            account=account,
            at=now,
            kind=EventKind.OPERATOR_PAUSE if paused else EventKind.OPERATOR_UNPAUSE,
            data={"by": by, "note": note},
        )
        return PauseChange(True, Pause(paused, now, by, note))


@dataclass(frozen=True, slots=True)
class QueuedClose:
    symbol: str
    signal_id: str


class NothingToClose(Exception):
    """`close --all` found no open position."""


def close_signal(symbol: str) -> Instruction:
    """The close signal for `symbol` (its symbol checked as a sender's is: InvalidSymbol says the fix)."""
    signal_id = f"operator-close-{uuid.uuid4().hex[:20]}"
    return Instruction(id=signal_id, symbol=perpetual_symbol(symbol), action=Action.CLOSE)


async def queue_closes(
    store: Store, account: str, symbols: list[str] | None, now: datetime, by: str
) -> list[QueuedClose]:
    """Queue a close signal per symbol (None: every open position) with an `operator.close` event each.

    Whether a position is there is the daemon's to find when it takes the signal (a symbol it does
    not hold ends as a failed close, shown by `executor explain`)."""
    async with store.transaction() as tx:
        if symbols is None:
            open_rows = await tx.positions.with_status(account, PositionStatus.OPEN)
            symbols = sorted({row.symbol for row in open_rows})
            if not symbols:
                raise NothingToClose("no open position to close")
        signals = [close_signal(symbol) for symbol in symbols]
        queued = []
        for signal in signals:
            await tx.signals.store(
                account=account,
                signal_id=signal.id,
                source=SignalSource.OPERATOR,
                payload=signal.payload(),
                received_at=now,
            )
            await tx.events.append(
                account=account,
                at=now,
                kind=EventKind.OPERATOR_CLOSE,
                signal_id=signal.id,
                data={"by": by, "symbol": signal.symbol},
            )
            queued.append(QueuedClose(signal.symbol, signal.id))
    return queued
