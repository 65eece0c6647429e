"""What the service tells the outside about itself: readiness and why it is not ready.

Start-up and shutdown set the phase (`mark_ready`, `mark_not_ready`). Parts that can fail while the
daemon runs (the Redis consumer, the database) are watched: each answers its problem, or None, when
asked, so /ready and /metrics show the state of the moment, never a stale flag.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Check = Callable[[], str | None]
"""A part's problem right now, or None while it works."""

OK = "ok"


@dataclass
class ServiceState:
    phase_ready: bool = False
    phase_reason: str | None = "starting"
    checks: dict[str, Check] = field(default_factory=dict)
    streams: Callable[[], dict[str, dict[str, Any]]] = dict
    """The exchange's market streams, shown in /ready without deciding it (REST stands in for one down)."""

    def mark_ready(self) -> None:
        self.phase_ready, self.phase_reason = True, None

    def mark_not_ready(self, reason: str) -> None:
        self.phase_ready, self.phase_reason = False, reason

    def watch(self, name: str, check: Check) -> None:
        """Keep the daemon not ready while `check` reports a problem."""
        self.checks[name] = check

    def components(self) -> dict[str, str]:
        """Each watched part: "ok" or its problem."""
        return {name: check() or OK for name, check in self.checks.items()}

    @property
    def ready(self) -> bool:
        return self.phase_ready and all(state == OK for state in self.components().values())

    @property
    def not_ready_reason(self) -> str | None:
        if not self.phase_ready:
            return self.phase_reason
        return next((f"{name}: {state}" for name, state in self.components().items() if state != OK), None)
