"""Whether the database can take a write right now; while it cannot, the daemon is not ready and
ingress refuses signals rather than acknowledge what it cannot store.

A cheap probe, run every few seconds:

- SQLite: the file at the configured path must still be the one the daemon opened (same device and
  inode). Deleted or replaced under the running daemon, its connections would go on writing into a
  file nobody reads again; that is final until a restart. The disk holding it must have at least
  `min_free_bytes` free, and a write lock must be had within the timeout (`BEGIN IMMEDIATE` on a
  connection of the probe's own, rolled back: nothing is written). The file must also have room to
  grow under its page limit (`PRAGMA max_page_count`, as the daemon's own connections have it, less
  `page_count`, plus the free pages of `freelist_count`): at least `min_free_bytes`, and at least
  `MIN_ROOM_PAGES`. SQLite answers a write past that limit "database or disk is full" however much
  disk is free. All of it is read, nothing written, so the probe costs no write.
- PostgreSQL: a `SELECT 1` within the timeout.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from pathlib import Path
from typing import Any, Final

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from executor.domain.redaction import redact_urls
from executor.observability.logging import get_logger
from executor.store.store import Store

log = get_logger("executor.store.health")

MIB: Final = 1024 * 1024
MIN_ROOM_PAGES: Final = 64
"""Pages one of the daemon's transactions may need at most: rows in several tables and their indexes,
each of which may split a page. Less room under the page limit than this, and a write may fail."""


class StoreHealth:
    def __init__(self, store: Store, *, min_free_bytes: int = 64 * MIB, timeout: float = 2.0) -> None:
        self._store = store
        self._min_free_bytes = min_free_bytes
        self._timeout = timeout
        database = store.engine.url.database if store.dialect == "sqlite" else None
        self._path = Path(database).resolve() if database and database != ":memory:" else None
        self._identity = _identity(self._path) if self._path is not None else None
        self._lost: str | None = None
        self.problem: str | None = None
        """What keeps the database from taking a write, as of the last probe; None while it can."""

    async def probe(self) -> None:
        """Check now and keep the answer in `problem`, logging each change once."""
        problem = self._lost or await self._check()
        if problem != self.problem:
            if problem is None:
                log.info("database writable again")
                self._store.recovered()
            else:
                log.error("database cannot take writes: not ready, signals refused", problem=problem)
        self.problem = problem

    async def _check(self) -> str | None:
        if self._store.dialect != "sqlite":
            try:
                async with asyncio.timeout(self._timeout):
                    await self._store.ping()
            except TimeoutError:
                return f"unreachable: no answer within {self._timeout:g} s"
            except Exception as exc:
                return f"unreachable: {type(exc).__name__}: {redact_urls(str(exc))}"
            return None
        if self._path is None:
            return None
        try:
            async with asyncio.timeout(self._timeout + 1):
                return await self._check_file(self._path)
        except TimeoutError:
            return f"no answer from {self._path} within {self._timeout + 1:g} s"
        except OSError as exc:  # the file or its directory cannot be read at all
            return f"cannot check {self._path}: {exc}"

    async def _check_file(self, path: Path) -> str | None:
        return await asyncio.to_thread(self._check_sqlite, path) or await self._page_room(path)

    async def _page_room(self, path: Path) -> str | None:
        """Room under the page limit, read on one of the daemon's own connections: `max_page_count` is
        a setting of each connection, not of the file, so only theirs is the limit their writes meet."""
        try:
            async with self._store.engine.connect() as connection:
                pages = await connection.run_sync(_page_figures)
        except DBAPIError as exc:  # e.g. a new pooled connection to a file deleted since it was checked
            return f"cannot read {path}: {exc.orig}"
        room = (pages["max_page_count"] - pages["page_count"] + pages["freelist_count"]) * pages["page_size"]
        if room >= max(self._min_free_bytes, MIN_ROOM_PAGES * pages["page_size"]):
            return None
        return (
            f"full: {path} has {room // 1024} KiB of room left under its page limit "
            f"({pages['page_count']} of max_page_count {pages['max_page_count']} pages in use, "
            f"{pages['freelist_count']} free), under database.min_free_mib ({self._min_free_bytes // MIB}); "
            "raise the limit or delete old rows"
        )

    def _check_sqlite(self, path: Path) -> str | None:
        lost = self._replaced(path)
        if lost is not None:
            self._lost = lost
            return lost
        usage = os.statvfs(path.parent)
        free = usage.f_bavail * usage.f_frsize
        if free < self._min_free_bytes:
            return (
                f"full: {free // MIB} MiB free on the disk holding {path}, under database.min_free_mib "
                f"({self._min_free_bytes // MIB}); free space or move the database"
            )
        return self._write_lock(path)

    def _replaced(self, path: Path) -> str | None:
        try:
            identity = _identity(path)
        except FileNotFoundError:
            return f"deleted: {path} is gone from under the running daemon; restore it and restart"
        if identity != self._identity:
            return f"replaced: {path} is not the file the daemon opened; restart the daemon to use it"
        return None

    def _write_lock(self, path: Path) -> str | None:
        try:
            connection = sqlite3.connect(
                f"{path.as_uri()}?mode=rw", uri=True, timeout=self._timeout, isolation_level=None
            )
        except sqlite3.Error as exc:
            return f"cannot open {path}: {exc}"
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                return f"locked: no write lock on {path} within {self._timeout:g} s"
            return f"cannot write {path}: {exc}"
        finally:
            connection.close()
        return None


def _page_figures(connection: Connection) -> dict[str, int]:
    """The page counts, read on the pooled driver connection directly: a statement through SQLAlchemy
    would begin the store's `BEGIN IMMEDIATE` transaction and take the write lock for a read."""
    cursor: Any = connection.connection.cursor()
    try:
        figures = {}
        for pragma in ("page_count", "max_page_count", "freelist_count", "page_size"):
            cursor.execute(f"PRAGMA {pragma}")
            figures[pragma] = int(cursor.fetchone()[0])
        return figures
    finally:
        cursor.close()


def _identity(path: Path) -> tuple[int, int]:
    status = path.stat()
    return status.st_dev, status.st_ino
