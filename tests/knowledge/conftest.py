"""Database fixtures: every test that uses ``empty_db``, ``db`` or ``db_url`` runs twice, on
SQLite and on PostgreSQL.

PostgreSQL is a throwaway server started once per session (:mod:`tests.support.postgres`), and
only when a test actually asks for the ``postgresql`` variant: ``pytest tests/engine`` starts
nothing. Set ``KAIZEN_TEST_POSTGRES_URL`` to run against an existing server instead. There is no
skipping: without PostgreSQL's server binaries the ``postgresql`` tests fail and say what to
install (``make test`` installs them).

Per-test databases are cheap copies of a database migrated once per session: a copied SQLite
file, or ``CREATE DATABASE … TEMPLATE kaizen_template`` on PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from knowledge.store.database import Database
from knowledge.store.migrate import upgrade
from tests.support.postgres import TEST_URL_ENV, PostgresServer, postgres_for_tests

BACKENDS = ["sqlite", "postgresql"]
#: The migrated database each PostgreSQL test database is copied from. On a shared server
#: (KAIZEN_TEST_POSTGRES_URL) the name is made unique so parallel sessions do not collide.
TEMPLATE_DATABASE = (
    f"kaizen_template_{uuid.uuid4().hex[:8]}" if os.environ.get(TEST_URL_ENV) else "kaizen_template"
)


def _database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


def _sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the session (a throwaway one on 127.0.0.1 with fsync off, unless
    KAIZEN_TEST_POSTGRES_URL names one), holding ``kaizen_template`` migrated to head."""
    server = postgres_for_tests(durable=False)
    try:
        server.drop_database(TEMPLATE_DATABASE)
        server.create_database(TEMPLATE_DATABASE)
        template = Database(server.url(TEMPLATE_DATABASE))
        try:
            upgrade(template)
        finally:
            template.dispose()  # CREATE DATABASE … TEMPLATE needs it without connections
        yield server
    finally:
        try:
            server.drop_database(TEMPLATE_DATABASE)
        finally:
            server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session (copying it is ~20× faster than
    migrating each test's database)."""
    path = tmp_path_factory.mktemp("sqlite-template") / "kaizen.db"
    template = Database(_sqlite_url(path))
    try:
        upgrade(template)
        with template.engine.connect().execution_options(
            isolation_level="AUTOCOMMIT"
        ) as connection:
            # Fold the WAL into the main file, so copying that one file copies everything.
            connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        template.dispose()
    return path


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """``sqlite`` or ``postgresql``: tests using the database fixtures run on both."""
    return str(request.param)


@pytest.fixture
def empty_db(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh, empty database (no tables, no alembic_version) on the current backend."""
    if backend == "sqlite":
        database = Database(_sqlite_url(tmp_path / "empty.db"))
        try:
            yield database
        finally:
            database.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = _database_name()
    server.create_database(name)
    database = Database(server.url(name))
    try:
        yield database
    finally:
        database.dispose()
        server.drop_database(name)


@pytest.fixture
def db(request: pytest.FixtureRequest, backend: str, tmp_path: Path) -> Iterator[Database]:
    """A fresh database already at the newest migration, on the current backend."""
    if backend == "sqlite":
        path = tmp_path / "kaizen.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        database = Database(_sqlite_url(path))
        try:
            yield database
        finally:
            database.dispose()
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    name = _database_name()
    server.create_database(name, template=TEMPLATE_DATABASE)
    database = Database(server.url(name))
    try:
        yield database
    finally:
        database.dispose()
        server.drop_database(name)


@pytest.fixture
def db_url(db: Database) -> str:
    """The URL of ``db`` (password included), for tests that start subprocesses."""
    return db.url
