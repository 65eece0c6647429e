"""The daemon's time: the exchange's clock, so trading days and expiries follow the venue, not the host.

Live, the offset is milliseconds; against the simulator, whose clock tests advance, it is whatever the
simulator says, so a day rollover in the simulator is a day rollover in the daemon.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from executor.observability.logging import get_logger
from executor.ports.exchange import ExchangePort, ServerTime

log = get_logger("executor.clock")

MAX_ROUND_TRIP = timedelta(seconds=1)
"""A server-time answer is placed at the middle of its round trip, so the offset is wrong by up to half
of it. A read that waited in ccxt's throttle (tens of seconds while the rate window is full) would move
the daemon's clock ahead by half the wait and expire a signal valid for a second before it is decided;
such a sample is discarded once an offset is known."""


class ExchangeClock:
    def __init__(self) -> None:
        self._offset = timedelta(0)
        self._synced = False

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def sync(self, reading: ServerTime, received_at: datetime) -> bool:
        """Offset from one server-time reading taken at `received_at` (this host's clock); False, the
        offset kept, when its round trip was longer than `MAX_ROUND_TRIP` and an offset is known."""
        if self._synced and reading.round_trip > MAX_ROUND_TRIP:
            return False
        self._offset = reading.at + reading.round_trip / 2 - received_at
        self._synced = True
        return True

    @property
    def offset(self) -> timedelta:
        return self._offset


async def sync_clock(exchange: ExchangePort, clock: ExchangeClock) -> None:
    """One server-time read, as any other poller's (its wait in the read lane is not in its round trip)."""
    reading = await exchange.server_time()
    if not clock.sync(reading, datetime.now(UTC)):
        log.warning(
            "clock_sync_discarded",
            round_trip_ms=round(reading.round_trip.total_seconds() * 1000),
            offset_ms=round(clock.offset.total_seconds() * 1000),
            detail="the server-time answer came too late to place it; the last offset stays",
        )
