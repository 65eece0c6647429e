"""What every ingress source answers for one message, in the same shape whatever the transport."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from executor.signals.schema import FieldError


class IngressStatus(StrEnum):
    QUEUED = "queued"
    """Stored in the inbox before this answer was given; it will be decided."""
    DUPLICATE = "duplicate"
    """The id was stored before; nothing new was written and it will not be decided twice."""
    INVALID = "invalid"
    UNAUTHORIZED = "unauthorized"
    UNAVAILABLE = "unavailable"
    """Not stored: the database cannot take writes now; resend it unchanged later."""


@dataclass(frozen=True, slots=True)
class IngressResult:
    signal_id: str | None
    status: IngressStatus
    errors: tuple[FieldError, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """The JSON answer: {"signal_id", "status", "errors": [{"field", "message"}]}."""
        return {
            "signal_id": self.signal_id,
            "status": self.status.value,
            "errors": [error.as_dict() for error in self.errors],
        }


OutcomeWaiter = Callable[[str, float], Awaitable[dict[str, Any]]]
"""(signal id, seconds) → the signal's outcome once settled, or as it stands after the seconds.

The daemon's one lookup (executor/service/explanation.py, `wait_for_outcome`) behind both the webhook's
`?wait=` and the WebSocket's pushed outcomes."""
