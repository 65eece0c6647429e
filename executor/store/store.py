"""The store: one engine, short transactions, and a repository per table behind each transaction."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from executor.store import migrate
from executor.store.engine import READ_ONLY, create_engine, session_factory
from executor.store.repositories import OrderObserver, Repositories


class Store:
    def __init__(self, engine: AsyncEngine, on_order_moved: OrderObserver | None = None) -> None:
        self.engine = engine
        self._sessions: async_sessionmaker[AsyncSession] = session_factory(engine)
        self._on_order_moved = on_order_moved
        self._failing = False
        self.on_recovered: Callable[[], None] = lambda: None
        """Told when the database answers again after a failure: a transaction succeeded after one failed
        on the database, or the health probe found it writable again (the daemon ends its loops' restart
        pauses: executor/service/supervisor.py)."""

    @classmethod
    def open(cls, url: str, on_order_moved: OrderObserver | None = None) -> Store:
        return cls(create_engine(url), on_order_moved)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def close(self) -> None:
        await self.engine.dispose()

    async def upgrade(self) -> None:
        await migrate.upgrade(self.engine)

    async def is_at_head(self) -> bool:
        return await migrate.is_at_head(self.engine)

    async def ping(self) -> None:
        async with self.engine.connect() as connection:
            await connection.execution_options(**READ_ONLY)
            await connection.execute(text("SELECT 1"))

    def recovered(self) -> None:
        """The database answers again (also the health probe's word): tell `on_recovered` once per failure."""
        if self._failing:
            self._failing = False
            self.on_recovered()

    @asynccontextmanager
    async def _watched(self) -> AsyncIterator[None]:
        """A failure on the database marks the store failing; the next success after one is `recovered`."""
        try:
            yield
        except (DBAPIError, OSError):
            self._failing = True
            raise
        self.recovered()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Repositories]:
        """Commit on success, roll back on any exception: no partial writes. On SQLite it holds the write
        lock from its start (`BEGIN IMMEDIATE`): for anything that only reads, use `read()`."""
        async with self._watched(), self._sessions() as session, session.begin():
            yield Repositories(session, self._on_order_moved)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[Repositories]:
        """A transaction that only reads: one consistent view, no write lock taken (SQLite: a deferred
        `BEGIN` under `PRAGMA query_only`; PostgreSQL: READ ONLY), and any write in it is refused."""
        async with self._watched(), self._sessions() as session, session.begin():
            await session.connection(execution_options=READ_ONLY)
            yield Repositories(session, self._on_order_moved)
