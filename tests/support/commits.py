"""The database transactions a piece of work commits, as the driver sees them (SQLAlchemy engine events)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event

from executor.store.store import Store

WRITES = ("INSERT", "UPDATE", "DELETE")
RECORDED = ("SELECT", *WRITES)
"""What is recorded of a transaction: its reads and writes (not BEGIN or savepoints)."""


@dataclass
class Transactions:
    """Every committed transaction, in order, as the first words of its statements."""

    committed: list[list[str]] = field(default_factory=list)

    @property
    def writes(self) -> list[list[str]]:
        """The committed transactions that wrote something."""
        return [statements for statements in self.committed if any(s.startswith(WRITES) for s in statements)]


@contextmanager
def transactions(store: Store) -> Iterator[Transactions]:
    """While open, record each commit on `store` (a read-only transaction commits too)."""
    engine = store.engine.sync_engine
    pending: dict[int, list[str]] = {}
    seen = Transactions()

    def executed(conn: Any, cursor: Any, statement: str, *_args: Any) -> None:
        words = " ".join(statement.split()[:3]).upper()
        if words.startswith(RECORDED):
            pending.setdefault(id(conn), []).append(words)

    def committed(conn: Any) -> None:
        seen.committed.append(pending.pop(id(conn), []))

    def rolled_back(conn: Any) -> None:
        pending.pop(id(conn), None)

    event.listen(engine, "before_cursor_execute", executed)
    event.listen(engine, "commit", committed)
    event.listen(engine, "rollback", rolled_back)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", executed)
        event.remove(engine, "commit", committed)
        event.remove(engine, "rollback", rolled_back)
