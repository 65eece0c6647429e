"""Phemex's request budgets, enforced by the simulator when `rate_limits` is `mainnet` or `testnet`.

ph-docs `_generic.md` "Rate limits" and "API groups" (phemex-docs.github.io @fbb7ff5): per user, a Contract
group of 500 and an Others group of 100 weight a minute; per IP, 5,000 requests in 5 minutes, and whoever
exceeds that "would be blocked in the following 5 minutes"; "all requests to the domain
`testnet-api.phemex.com` shared across the rate limit 500/5m in total". Every answer carries
`x-ratelimit-remaining-<group>` and `x-ratelimit-capacity-<group>` (no suffix for Others); over the budget
the answer is HTTP 429 with `x-ratelimit-retry-after-<group>` (seconds). Windows roll (the harsher reading
of "in this minute"); a refused request does not count.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field

from adapters.sim.config import RateLimits

MINUTE_MS = 60_000
FIVE_MINUTES_MS = 300_000

CONTRACT_WEIGHTS: dict[tuple[str, str], int] = {
    ("POST", "/g-orders"): 1,
    ("PUT", "/g-orders/replace"): 1,
    ("DELETE", "/g-orders/cancel"): 1,
    ("DELETE", "/g-orders/all"): 3,
    ("DELETE", "/g-orders"): 1,
    ("GET", "/g-orders/activeList"): 1,
    ("GET", "/g-orders/active"): 1,
    ("PUT", "/g-orders/create"): 1,
    ("GET", "/g-accounts/accountPositions"): 1,
    ("GET", "/g-accounts/positions"): 25,
    ("POST", "/g-positions/assign"): 1,
    ("PUT", "/g-positions/leverage"): 1,
    ("PUT", "/g-positions/riskLimit"): 1,
    ("PUT", "/g-positions/switch-pos-mode-sync"): 1,
}
"""ph-docs "API groups", Contract group (the `g-` hedged-perpetual rows)."""
KLINE_PREFIX = "/exchange/public/md"
KLINE_WEIGHT = 10


@dataclass
class Bucket:
    """One rolling window: `capacity` weight per `window_ms`; `suffix` names it in the headers."""

    suffix: str
    capacity: int
    window_ms: int
    used: deque[tuple[int, int]] = field(default_factory=deque)

    def _spent(self, now_ms: int) -> int:
        while self.used and self.used[0][0] <= now_ms - self.window_ms:
            self.used.popleft()
        return sum(weight for _, weight in self.used)

    def room(self, now_ms: int) -> int:
        return self.capacity - self._spent(now_ms)

    def retry_after_s(self, now_ms: int, weight: int) -> int:
        """Whole seconds until `weight` fits again."""
        spent = self._spent(now_ms)
        for moment, used in self.used:
            spent -= used
            if spent + weight <= self.capacity:
                return max(1, math.ceil((moment + self.window_ms - now_ms) / 1000))
        return max(1, math.ceil(self.window_ms / 1000))

    def headers(self, now_ms: int) -> dict[str, str]:
        tail = f"-{self.suffix}" if self.suffix else ""
        return {
            f"x-ratelimit-remaining{tail}": str(max(0, self.room(now_ms))),
            f"x-ratelimit-capacity{tail}": str(self.capacity),
        }


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    headers: dict[str, str]


class PhemexLimits:
    """The budgets of one simulated venue; `admit` decides each request and names the headers."""

    def __init__(self, mode: RateLimits) -> None:
        self.mode = mode
        self._users: dict[tuple[str, str], Bucket] = {}
        self._ip = Bucket("", 5_000, FIVE_MINUTES_MS)
        self._testnet = Bucket("", 500, FIVE_MINUTES_MS)
        self._ip_blocked_until_ms = 0

    def _user_bucket(self, api_key: str, method: str, path: str) -> tuple[Bucket, int]:
        weight = CONTRACT_WEIGHTS.get((method, path))
        group = "contract" if weight is not None else ""
        if weight is None:
            weight = KLINE_WEIGHT if path.startswith(KLINE_PREFIX) and "kline" in path else 1
        key = (api_key, group)
        if key not in self._users:
            self._users[key] = Bucket(group, 500 if group else 100, MINUTE_MS)
        return self._users[key], weight

    def admit(self, method: str, path: str, api_key: str | None, now_ms: int) -> Verdict:
        """Take the request's weight from every budget it counts against, or refuse it (nothing taken)."""
        if self.mode is RateLimits.OFF:
            return Verdict(True, {})
        if self.mode is RateLimits.TESTNET:
            return self._take([(self._testnet, 1)], now_ms)
        if now_ms < self._ip_blocked_until_ms:
            seconds = math.ceil((self._ip_blocked_until_ms - now_ms) / 1000)
            return Verdict(False, {"x-ratelimit-retry-after": str(seconds)})
        if self._ip.room(now_ms) < 1:
            self._ip_blocked_until_ms = now_ms + FIVE_MINUTES_MS  # "blocked in the following 5 minutes"
            return Verdict(False, {"x-ratelimit-retry-after": str(FIVE_MINUTES_MS // 1000)})
        takes = [(self._ip, 1)]
        if api_key:
            takes.insert(0, self._user_bucket(api_key, method, path))
        return self._take(takes, now_ms)

    @staticmethod
    def _take(takes: list[tuple[Bucket, int]], now_ms: int) -> Verdict:
        bucket = takes[0][0]
        for candidate, candidate_weight in takes:
            if candidate.room(now_ms) < candidate_weight:
                tail = f"-{candidate.suffix}" if candidate.suffix else ""
                headers = candidate.headers(now_ms)
                wait = candidate.retry_after_s(now_ms, candidate_weight)
                headers[f"x-ratelimit-retry-after{tail}"] = str(wait)
                return Verdict(False, headers)
        for candidate, candidate_weight in takes:
            candidate.used.append((now_ms, candidate_weight))
        return Verdict(True, bucket.headers(now_ms))
