"""Opening Kaizen's database: SQLite in the data dir by default, PostgreSQL by URL.

SQLite runs in WAL mode with foreign keys on and ``synchronous=FULL``: a committed transaction
survives a crash of the process and of the machine.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

DATABASE_FILE = "kaizen.db"


class DatabaseError(Exception):
    """The database could not be opened or is not at the schema this code needs."""


def default_database_url(data_dir: Path) -> str:
    """The embedded default: a SQLite file in the data dir."""
    return f"sqlite:///{(data_dir / DATABASE_FILE).resolve()}"


def normalize_url(url: str) -> str:
    """Accept the URL spellings people paste (``postgres://``, ``postgresql://``) and pick the
    psycopg 3 driver for PostgreSQL."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy.exc.ArgumentError
        raise DatabaseError(f"KAIZEN_DATABASE_URL is not a database URL: {exc}") from None
    backend = parsed.get_backend_name()
    if backend in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise DatabaseError(
            f"unsupported database '{backend}' in KAIZEN_DATABASE_URL: use sqlite:/// or "
            "postgresql://"
        )
    return parsed.render_as_string(hide_password=False)


def _sqlite_pragmas(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
    # SQLAlchemy, not the sqlite3 module, says when transactions begin (see _begin_immediate)
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=10000")
    finally:
        cursor.close()


#: Execution option of connections that only read (see :meth:`Database.reading`).
READ_ONLY = "kaizen_read_only"


def _begin_immediate(connection: Connection) -> None:
    """Take SQLite's write lock when a transaction begins. A deferred transaction that reads
    and then writes fails at once ("database is locked") if another connection committed in
    between — the busy timeout cannot help it; an immediate one waits its turn instead."""
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # e.g. PRAGMA wal_checkpoint, which cannot run inside a transaction
    if options.get(READ_ONLY):  # readers never wait for (or hold up) the writer in WAL mode
        connection.exec_driver_sql("BEGIN")
        return
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_database_engine(url: str, *, echo: bool = False) -> Engine:
    """An SQLAlchemy engine for ``url`` with Kaizen's connection settings."""
    url = normalize_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _begin_immediate)
        return engine
    return create_engine(url, echo=echo, pool_pre_ping=True, pool_size=5, max_overflow=10)


class Database:
    """An engine and its session factory. ``session()`` is a unit of work that commits on
    success and rolls back on error."""

    def __init__(self, url: str, *, echo: bool = False) -> None:
        self.url = normalize_url(url)
        self.engine = create_database_engine(self.url, echo=echo)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A unit of work that only reads: on SQLite it does not take the write lock, so it
        never holds up the run recorder. Anything written in it is rolled back."""
        with self.sessions() as session:
            session.connection(execution_options={READ_ONLY: True})
            try:
                yield session
            finally:
                session.rollback()

    def dispose(self) -> None:
        self.engine.dispose()

    def __repr__(self) -> str:
        return f"Database({make_url(self.url).render_as_string(hide_password=True)!r})"
