"""What the fuzz modules share: the running daemon they attack."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from harness.e2e import Daemon

FUZZ_SECRET: Final = "fuzz-ingress-secret-0123456789"
"""The `secured` daemon's ingress.secret."""


@dataclass(frozen=True)
class Running:
    """A daemon under attack: its process, its SQLite file, and its Redis stream (when configured)."""

    daemon: Daemon
    database_path: str
    redis_url: str
    stream: str
