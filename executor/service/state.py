"""What the service tells the outside about itself: readiness and why it is not ready."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ServiceState:
    ready: bool = False
    not_ready_reason: str | None = "starting"

    def mark_ready(self) -> None:
        self.ready, self.not_ready_reason = True, None

    def mark_not_ready(self, reason: str) -> None:
        self.ready, self.not_ready_reason = False, reason
