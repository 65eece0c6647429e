"""The simulator's state on disk, so a paper account survives restarts of `executor sim` and of the daemon.

One JSON snapshot file (Decimals as strings, a `format`/`version` header) holds what the matching engine
knows: accounts with their positions, orders, fills, income, leverage and margin modes; marks, last
prices, funding rates, schedule and history; the insurance fund; the id counters; the clock's offset.
Fault rules, pinned marks and the request log are test tooling and start empty.

When it is written (by `SimServer`): after every request that can change state (any method but GET,
control API included), before its answer leaves; after every price step that filled an order or settled
funding; after steps that only moved marks at most every 5 s; and at shutdown. A write is skipped when
the document equals the last one written. Why on every change, not on an interval: an exchange never
forgets an order it acknowledged, and a daemon killed with its embedded simulator (kill -9, the crash
trials' way) must find every answered order and fill again after a restart; an interval would lose the
last seconds of them. Marks alone may lag: the price path moves them again anyway.

How: a temporary file in the same directory, flushed and fsynced, then `os.replace` over the old
one, so a crash leaves either the old file or the new one, never half of one. A file that cannot be
read, is not JSON of this shape or has another version is refused with one line naming the path and
`--fresh`, never silently replaced.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from decimal import Decimal
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from adapters.sim.engine import Engine
from adapters.sim.model import Account, FundingEvent

FORMAT = "executor-sim-state"
VERSION = 1


class SimStateError(ValueError):
    """The state file cannot be used; the message is one line naming the path and the way out."""


class EngineState(BaseModel):
    """Everything the matching engine knows, in one versioned document."""

    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    version: int = VERSION
    exchange: str
    now_ms: int
    clock_offset_ms: int
    marks: dict[str, Decimal]
    lasts: dict[str, Decimal]
    funding_rates: dict[str, Decimal]
    next_funding_ms: dict[str, int]
    funding_history: dict[str, list[FundingEvent]]
    insurance_fund: Decimal
    accounts: dict[str, Account]
    next_order_id: int
    next_trade_id: int
    next_income_id: int


def capture(engine: Engine, exchange: str) -> EngineState:
    """The engine's state as it stands (constructed, not validated: the engine's own objects, no copies)."""
    accounts = engine.accounts.values()
    return EngineState.model_construct(
        exchange=exchange,
        now_ms=engine.clock.now_ms(),
        clock_offset_ms=engine.clock.offset_ms,
        marks=engine.marks,
        lasts=engine.lasts,
        funding_rates=engine.funding_rates,
        next_funding_ms=engine.next_funding_ms,
        funding_history=engine.funding_history,
        insurance_fund=engine.insurance_fund,
        accounts=engine.accounts,
        next_order_id=1 + max((o for a in accounts for o in a.orders), default=0),
        next_trade_id=1 + max((f.trade_id for a in accounts for f in a.fills), default=0),
        next_income_id=1 + max((i.tran_id for a in accounts for i in a.income), default=0),
    )


def restore(engine: Engine, state: EngineState, path: Path) -> None:
    """Put a saved state into a freshly configured engine.

    Instruments the configuration added start at their start price; keys it added get fresh accounts.
    A saved position or open order on an instrument the configuration no longer lists is refused.
    """
    known = engine.instruments
    for account in state.accounts.values():
        orphans = {p.symbol for p in account.positions.values() if p.qty} | {
            o.symbol for o in account.orders.values() if o.status.is_open
        }
        missing = sorted(orphans - set(known))
        if missing:
            raise SimStateError(
                f"sim state: {path} holds an open position or order on {missing[0]}, which the "
                "simulator's configuration no longer lists; add the instrument back or start over with "
                "`executor sim --fresh`"
            )
    engine.clock.resume_at(max(state.now_ms, engine.clock.now_ms() + state.clock_offset_ms))
    engine.marks.update({s: p for s, p in state.marks.items() if s in known})
    engine.lasts.update({s: p for s, p in state.lasts.items() if s in known})
    engine.funding_rates.update({s: r for s, r in state.funding_rates.items() if s in known})
    engine.next_funding_ms.update({s: t for s, t in state.next_funding_ms.items() if s in known})
    engine.funding_history.update({s: h for s, h in state.funding_history.items() if s in known})
    engine.insurance_fund = state.insurance_fund
    engine.accounts.update(state.accounts)
    engine.restore_ids(state.next_order_id, state.next_trade_id, state.next_income_id)


class StateFile:
    """One simulator's snapshot file: read once at start, rewritten after each change."""

    def __init__(self, path: Path, exchange: str) -> None:
        self.path = path
        self.exchange = exchange
        self._written: bytes | None = None
        self._lock: int | None = None

    def claim(self) -> None:
        """Hold `<path>.lock` (flock) while this simulator runs: two simulators on one file would each
        overwrite the other's account. The lock dies with the process, so a crash leaves none behind."""
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle = os.open(f"{self.path}.lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise SimStateError(
                f"sim state: {self.path} cannot be kept there ({exc.strerror}); give the simulator a "
                "writable path (`executor sim --state FILE`)"
            ) from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(handle)
            raise SimStateError(
                f"sim state: {self.path} is in use by another running simulator; stop it, or give this one "
                "its own file (`executor sim --state FILE`)"
            ) from None
        self._lock = handle

    def release(self) -> None:
        if self._lock is not None:
            os.close(self._lock)  # closing the descriptor drops the flock
            self._lock = None

    def load(self, engine: Engine) -> bool:
        """Restore the engine from the file; False when there is none yet (a first start)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._refused(f"cannot be read ({exc.strerror})") from None
        state = self._parse(data)
        if state.exchange != self.exchange:
            raise self._refused(f"is a {state.exchange} simulator's state, not {self.exchange}'s")
        restore(engine, state, self.path)
        self._written = data
        return True

    def _parse(self, data: bytes) -> EngineState:
        try:
            header = EngineState.model_validate_json(data, strict=False)
        except ValidationError as exc:
            version = _version_of(data)
            if version is not None and version != VERSION:
                raise self._refused(
                    f"has state format version {version}; this simulator reads version {VERSION}"
                ) from None
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "the document"
            raise self._refused(f"is not a simulator state file ({where}: {first['msg']})") from None
        if header.format != FORMAT:
            raise self._refused(f"is not a simulator state file (format {header.format!r})")
        if header.version != VERSION:
            raise self._refused(
                f"has state format version {header.version}; this simulator reads version {VERSION}"
            )
        return header

    def _refused(self, problem: str) -> SimStateError:
        return SimStateError(
            f"sim state: {self.path} {problem}; start over with `executor sim --fresh` "
            "(which replaces it) or move the file away"
        )

    def save(self, engine: Engine) -> bool:
        """Write the engine's state if it changed since the last write; True when written."""
        data = capture(engine, self.exchange).model_dump_json().encode()
        if _without_clock(data) == _without_clock(self._written):
            return False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{self.path.name}.", dir=self.path.parent)
        try:
            with os.fdopen(handle, "wb") as sink:
                sink.write(data)
                sink.flush()
                os.fsync(sink.fileno())
            os.replace(temporary, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        self._written = data
        return True


def _without_clock(data: bytes | None) -> bytes | None:
    """The document without its `now_ms`, which changes on every capture (the clock moves on)."""
    if data is None:
        return None
    start = data.find(b'"now_ms":')
    end = data.find(b",", start)
    return data if start < 0 or end < 0 else data[:start] + data[end:]


def _version_of(data: bytes) -> int | None:
    try:
        document = json.loads(data)
    except ValueError:
        return None
    version = document.get("version") if isinstance(document, dict) else None
    return version if isinstance(version, int) else None
