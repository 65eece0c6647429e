"""The daemon's time: the exchange's clock, so trading days and expiries follow the venue, not the host.

Live, the offset is milliseconds; against the simulator, whose clock tests advance, it is whatever the
simulator says, so a day rollover in the simulator is a day rollover in the daemon.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class ExchangeClock:
    def __init__(self) -> None:
        self._offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self._offset

    def sync(self, server_time: datetime, sent_at: datetime, received_at: datetime) -> None:
        """Offset from one server-time answer, taking the middle of the round trip as its moment."""
        midpoint = sent_at + (received_at - sent_at) / 2
        self._offset = server_time - midpoint

    @property
    def offset(self) -> timedelta:
        return self._offset
