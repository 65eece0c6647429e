"""SQLAlchemy's aiosqlite adapter, with each statement one trip to the driver's thread instead of four, and a
write transaction's statements on the event loop itself.

aiosqlite runs every call on its own thread and hands the answer back to the event loop: a trip of
~60-150 µs on this project's 2-core machine, and a turn of the loop in which whatever else is ready runs
first. SQLAlchemy's adapter (sqlalchemy/connectors/asyncio.py, `AsyncAdapt_dbapi_cursor`) makes four of them
per query (open a cursor, execute, fetch all, close) and three per write. Here a statement is one function:
execute, read the description, the rows, the row count and the last row id, close.

A write transaction (`BEGIN IMMEDIATE`, executor/store/engine.py) runs its statements and its commit on the
loop, without a trip: the signal path's two (the inbox's, the decision's with its order rows) made about 15,
and at each the loop ran whatever else was ready first (the ingress's answer, the streams' messages).
SQLite's statements on a local file take microseconds, and in WAL mode a transaction holding the write lock
never waits on a lock (readers never block it; a commit's automatic checkpoint is PASSIVE: it copies the log
back and syncs the file, every 1,000 pages written, without waiting for anyone). Only taking the write lock
may wait: `BEGIN IMMEDIATE` is tried on the loop without waiting (busy timeout 0), and when another
connection holds the lock it is taken on the driver's thread instead, where the busy timeout waits for it
without holding the loop. Transactions that only read (`Store.read()`: the status pages, history, reports,
which can be long) stay on the thread.

It reaches `aiosqlite.Connection._execute` (queue a function for the connection's thread) and `_conn`,
as SQLAlchemy's own adapter does (`_tx`, `_conn`, for its isolation level); both are pinned in the lock
file, and every store test runs through this cursor. The sqlite3 connection is opened with
`check_same_thread=False`: each connection's statements still run one at a time, on its thread or on the
loop, never both at once.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Callable, Sequence
from typing import Any, Final, TypeVar

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection, AsyncIODBAPIConnection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

Description = tuple[tuple[Any, ...], ...] | None
T = TypeVar("T")

BUSY_TIMEOUT_MS: Final = 5000
"""How long a connection waits for another's write lock (`PRAGMA busy_timeout`, set at connect)."""
BEGIN_WRITE: Final = "BEGIN IMMEDIATE"
"""The statement that starts a write transaction (executor/store/engine.py): from it to the commit or
rollback, the connection's statements run on the loop."""
QUERY_ONLY: Final = {True: "PRAGMA query_only=ON", False: "PRAGMA query_only=OFF"}
"""A pooled connection's switch between read-only and write transactions (executor/store/engine.py): a flag
on the connection, never waiting, so run on the loop (a trip for it made a write transaction on a connection
last used to read, the inbox's on the signal path among them, wait a turn of the loop)."""


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, results and close are one call on the driver's thread."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")
    _awaitable_cursor_close = False
    """Nothing to close on the thread: the driver's cursor is closed where it ran."""

    def __init__(self, adapt_connection: AsyncAdapt_dbapi_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Description = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Description:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    def close(self) -> None:
        self._rows.clear()

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        raw = self._connection
        assert isinstance(raw, aiosqlite.Connection)

        def run() -> tuple[Description, int, int | None, list[Any] | None]:
            cursor = raw._conn.cursor()
            try:
                cursor.execute(operation, () if parameters is None else parameters)
                rows = cursor.fetchall() if cursor.description else None
                return cursor.description, cursor.rowcount, cursor.lastrowid, rows
            finally:
                cursor.close()

        connection = self._adapt_connection
        assert isinstance(connection, OneTripConnection)
        if operation == BEGIN_WRITE:
            await connection.begin_write(run)
            rows = None
        elif operation in QUERY_ONLY.values():
            run()
            rows = None
        else:
            self._description, self._rowcount, self._lastrowid, rows = await connection.run(run)
        self._rows = collections.deque(rows or ())

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        raw = self._connection
        assert isinstance(raw, aiosqlite.Connection)

        def run() -> tuple[int, int | None]:
            cursor = raw._conn.cursor()
            try:
                cursor.executemany(operation, seq_of_parameters)
                return cursor.rowcount, cursor.lastrowid
            finally:
                cursor.close()

        connection = self._adapt_connection
        assert isinstance(connection, OneTripConnection)
        self._rowcount, self._lastrowid = await connection.run(run)
        self._description = None
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    """A connection whose write transactions run on the loop (see the module's docstring)."""

    __slots__ = ("inline",)
    _cursor_cls = OneTripCursor

    def __init__(self, dbapi: Any, connection: AsyncIODBAPIConnection) -> None:
        super().__init__(dbapi, connection)
        self.inline = False
        """In a write transaction: its statements, commit and rollback run on the loop."""

    async def run(self, function: Callable[[], T]) -> T:
        """One function on the driver's connection: on the loop in a write transaction, else on its thread."""
        if self.inline:
            return function()
        raw = self._connection
        assert isinstance(raw, aiosqlite.Connection)
        async with self._execute_mutex:
            return await raw._execute(function)

    async def begin_write(self, begin: Callable[[], object]) -> None:
        """`BEGIN IMMEDIATE` on the loop if the write lock is free now; else on the thread, waiting for it."""
        raw = self._connection
        assert isinstance(raw, aiosqlite.Connection)
        driver = raw._conn
        driver.execute("PRAGMA busy_timeout=0")
        try:
            begin()
            held = True
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:  # SQLITE_BUSY and its extended codes
                raise
            held = False
        finally:
            driver.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        if not held:
            await self.run(begin)
        self.inline = True

    def commit(self) -> None:
        if not self.inline:
            super().commit()
            return
        self.inline = False
        try:
            self._connection._conn.commit()
        except Exception as error:
            self._handle_exception(error)

    def rollback(self) -> None:
        """On the loop in a write transaction, and nothing at all outside one (the pool's reset of a
        connection whose transaction was committed: a trip to the thread for nothing)."""
        raw = self._connection
        if not self.inline and (not raw._connection or raw._conn.in_transaction):
            super().rollback()
            return
        self.inline = False
        try:
            raw._conn.rollback()
        except Exception as error:
            self._handle_exception(error)


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI module whose connections hand out `OneTripCursor`s (create_engine's `module`)."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        kw["check_same_thread"] = False  # a write transaction's statements run on the loop's thread
        return OneTripConnection(self, super().connect(*arg, **kw)._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
