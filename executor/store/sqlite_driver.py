"""SQLAlchemy's aiosqlite adapter, with each statement one trip to the driver's thread instead of four.

aiosqlite runs every call on its own thread and hands the answer back to the event loop: a trip of
~60-150 µs on this project's 2-core machine. SQLAlchemy's adapter (sqlalchemy/connectors/asyncio.py,
`AsyncAdapt_dbapi_cursor`) makes four of them per query (open a cursor, execute, fetch all, close) and
three per write, so the signal path's two transactions (the inbox's, the decision's) spent about 48 trips,
a third of their time, waiting for the thread (docs/performance.md, "Where the time goes"). Here a
statement is one function run on that thread: execute, read the description, the rows, the row count and
the last row id, close. Results, errors and the transaction are the driver's own, unchanged.

It reaches `aiosqlite.Connection._execute` (queue a function for the connection's thread) and `_conn`,
as SQLAlchemy's own adapter does (`_tx`, `_conn`, for its isolation level); both are pinned in the lock
file, and every store test runs through this cursor.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
from typing import Any

import aiosqlite
from sqlalchemy.connectors.asyncio import AsyncAdapt_dbapi_connection
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)

Description = tuple[tuple[Any, ...], ...] | None


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

        async with self._adapt_connection._execute_mutex:
            self._description, self._rowcount, self._lastrowid, rows = await raw._execute(run)
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

        async with self._adapt_connection._execute_mutex:
            self._rowcount, self._lastrowid = await raw._execute(run)
        self._description = None
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor


class OneTripDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """The aiosqlite DBAPI module whose connections hand out `OneTripCursor`s (create_engine's `module`)."""

    def connect(self, *arg: Any, **kw: Any) -> OneTripConnection:
        return OneTripConnection(self, super().connect(*arg, **kw)._connection)


def one_trip_dbapi() -> OneTripDBAPI:
    return OneTripDBAPI(aiosqlite, sqlite3)
