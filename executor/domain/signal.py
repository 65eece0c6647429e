"""A trading signal as the daemon decides on it: validated, typed, Decimal prices, the symbol resolved.

The ingress parses the wire message (executor/signals/schema.py, ``SignalMessage``) into this; the risk
engine, `executor size` scenarios and the execution layer all speak this one type.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from executor.domain.enums import EntryType, Regime, Setup, Side


@dataclass(frozen=True, slots=True)
class Entry:
    type: EntryType
    price: Decimal | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    id: str
    symbol: str
    side: Side
    entry: Entry
    stop: Decimal
    take_profits: tuple[Decimal, ...] = ()
    conviction: Decimal | None = None
    strength: Decimal | None = None
    setup: Setup = Setup.PRIMARY
    volatility: Decimal | None = None
    regime: Regime | None = None
    expires_at: datetime | None = None
