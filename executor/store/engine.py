"""Async engines for SQLite (WAL, foreign keys on) and PostgreSQL.

SQLite's Python driver opens a transaction only before a data-changing statement, so a transaction that
began with reads and a SAVEPOINT (an insert-unless-present) ran the SAVEPOINT outside any transaction,
and releasing it committed on the spot: a crash later in the "transaction" left half of it written.
The driver's own transaction handling is therefore switched off and every transaction starts with
`BEGIN IMMEDIATE`: all of it commits or none of it does, and writers queue on the busy timeout instead
of failing when another connection committed after their first read. A write transaction runs on the event
loop, a read-only one on the driver's thread, one trip a statement (executor/store/sqlite_driver.py).

A transaction that only reads (on a connection with the `READ_ONLY` execution options: `Store.read()`)
begins with a plain, deferred `BEGIN` instead and under `PRAGMA query_only`: it takes no write lock (in
WAL mode readers never block writers, so a slow status page or a test's look at the database cannot
starve the daemon's writes or its health probe), and a write inside it fails ("attempt to write a
readonly database") rather than go through unlocked. On PostgreSQL it is a READ ONLY transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from executor.store.sqlite_driver import BEGIN_WRITE, BUSY_TIMEOUT_MS, QUERY_ONLY, one_trip_dbapi

_READ_ONLY_KEY: Final = "executor_read_only"
READ_ONLY: Final = {_READ_ONLY_KEY: True, "postgresql_readonly": True}
"""Execution options of a connection whose transactions only read (see the module's docstring)."""


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Any) -> None:
    read_only = bool(connection.get_execution_options().get(_READ_ONLY_KEY, False))
    if connection.info.get(_READ_ONLY_KEY, False) != read_only:  # the pooled connection's mode, kept
        connection.exec_driver_sql(QUERY_ONLY[read_only])
        connection.info[_READ_ONLY_KEY] = read_only
    connection.exec_driver_sql("BEGIN" if read_only else BEGIN_WRITE)


def ensure_sqlite_file(url: str) -> Path | None:
    """`var/executor.db` must work on a fresh clone: create the file's directory, and the file (empty:
        an empty database) when there is none. The SQLite file; None for another database, memory or a URI
    filename (`?uri=true`: its own `mode` applies)."""
    parsed = make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or parsed.database in (None, "", ":memory:")
        or "uri" in parsed.query
    ):
        return None
    path = Path(parsed.database).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():  # an existing file is left as it is (it may be another user's, read-only)
        path.touch()
    return path


def _open_only(path: Path) -> Any:
    """Connections that open the file read-write and never create it (`mode=rw`). The driver's default
    creates a missing file: a connection the pool opened after the file was deleted under the daemon
    made a new, empty database at its path (tables missing, the old WAL beside it), and the probe saw
    it "replaced" instead of "deleted". Now such a connection fails, "unable to open database file"."""
    uri = f"{path.as_uri()}?mode=rw"

    def connect(_dialect: Any, _record: Any, cargs: list[Any], cparams: dict[str, Any]) -> None:
        cargs[:] = [uri]
        cparams["uri"] = True

    return connect


def create_engine(url: str) -> AsyncEngine:
    path = ensure_sqlite_file(url)
    one_trip = {"module": one_trip_dbapi()} if make_url(url).get_driver_name() == "aiosqlite" else {}
    engine = create_async_engine(url, pool_pre_ping=not url.startswith("sqlite"), **one_trip)
    if engine.dialect.name == "sqlite":
        if path is not None:
            event.listen(engine.sync_engine, "do_connect", _open_only(path))
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
