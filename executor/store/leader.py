"""One active daemon per exchange account: a PostgreSQL advisory lock, or a file lock beside SQLite.

Two daemons trading one account would each believe they own its positions; the second one waits as
a standby until the first releases the lock (exits or loses its database connection).
"""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine


def lock_key(account: str) -> int:
    """A stable signed 64-bit key for the account (PostgreSQL advisory locks take a bigint)."""
    digest = hashlib.blake2b(f"executor:{account}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class AccountLock:
    def __init__(self, engine: AsyncEngine, account: str) -> None:
        self._engine = engine
        self._account = account
        self._connection: AsyncConnection | None = None
        self._fd: int | None = None

    async def try_acquire(self) -> bool:
        if self._engine.dialect.name == "postgresql":
            return await self._try_postgres()
        return self._try_file()

    async def acquire(self, stop: asyncio.Event, poll_seconds: float = 2.0) -> bool:
        """Wait until this daemon holds the account (True) or it is told to stop first (False)."""
        while not stop.is_set():
            if await self.try_acquire():
                return True
            try:
                async with asyncio.timeout(poll_seconds):
                    await stop.wait()
            except TimeoutError:
                continue
        return False

    async def _try_postgres(self) -> bool:
        connection = await self._engine.connect()
        held = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": lock_key(self._account)}
        )
        if held:
            self._connection = connection
            return True
        await connection.close()
        return False

    def _try_file(self) -> bool:
        database = make_url(str(self._engine.url)).database or ""
        path = Path(f"{database}.{self._account}.lock") if database not in ("", ":memory:") else None
        if path is None:
            return True
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._connection is not None:
            # A pooled connection outlives close(): the session-level lock must be released explicitly.
            await self._connection.execute(
                text("SELECT pg_advisory_unlock(:key)"), {"key": lock_key(self._account)}
            )
            await self._connection.close()
            self._connection = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
