"""Failed dashboard sign-ins limited per client address, so the secret cannot be guessed at the network's
speed: after `max_failures` within `window`, `POST /login` answers 429 with Retry-After until the oldest of
them leaves the window, even to the right secret (else the limit would only hide which guess was wrong).

Memory is bounded: at most `max_clients` addresses are remembered, and the one whose last failure is
oldest is forgotten first. Behind a reverse proxy every browser shares the proxy's address.
"""

from __future__ import annotations

import math
from collections import OrderedDict, deque
from datetime import datetime, timedelta
from typing import Final

MAX_FAILURES: Final = 5
WINDOW: Final = timedelta(minutes=1)
MAX_CLIENTS: Final = 1024


class LoginThrottle:
    def __init__(
        self, max_failures: int = MAX_FAILURES, window: timedelta = WINDOW, max_clients: int = MAX_CLIENTS
    ) -> None:
        self.max_failures, self.window, self.max_clients = max_failures, window, max_clients
        self._failures: OrderedDict[str, deque[datetime]] = OrderedDict()

    def _recent(self, client: str, now: datetime) -> deque[datetime]:
        failures = self._failures.get(client, deque(maxlen=self.max_failures))
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures

    def retry_after(self, client: str, now: datetime) -> int | None:
        """Whole seconds until `client` may try again, or None when it may now."""
        failures = self._recent(client, now)
        if len(failures) < self.max_failures:
            return None
        return max(1, math.ceil((failures[0] + self.window - now).total_seconds()))

    def failed(self, client: str, now: datetime) -> None:
        failures = self._recent(client, now)
        failures.append(now)
        self._failures[client] = failures
        self._failures.move_to_end(client)
        while len(self._failures) > self.max_clients:
            self._failures.popitem(last=False)

    def succeeded(self, client: str) -> None:
        self._failures.pop(client, None)

    def __len__(self) -> int:
        """How many addresses are remembered."""
        return len(self._failures)
