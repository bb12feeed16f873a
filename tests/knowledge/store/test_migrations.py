"""Migrations and connection settings, on SQLite and on PostgreSQL: the migrations build exactly
the models' schema, go down and up again, refuse databases from a newer Kaizen, and both
backends keep the same guarantees (foreign keys enforced, aware UTC times)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError, StatementError

from knowledge.store import migrate
from knowledge.store.database import Database, DatabaseError, normalize_url
from knowledge.store.migrate import (
    current_revision,
    downgrade,
    ensure_current,
    head_revision,
    schema_drift,
    upgrade,
)
from knowledge.store.models import AuditEntry, Base, WorkflowVersion

MODEL_TABLES = set(Base.metadata.tables)
VERSION_TABLE = "alembic_version"


def tables(db: Database) -> set[str]:
    return set(inspect(db.engine).get_table_names())


def audit_entry(at: datetime) -> AuditEntry:
    return AuditEntry(
        at=at, actor="U123", action="run.start", subject_type="run", subject_id="r1", detail={}
    )


# ---------------------------------------------------------------------------- up and down


def test_upgrade_from_empty_creates_every_model_table(empty_db):
    assert tables(empty_db) == set()
    assert current_revision(empty_db) is None

    assert upgrade(empty_db) == head_revision()

    assert tables(empty_db) == MODEL_TABLES | {VERSION_TABLE}
    assert current_revision(empty_db) == head_revision()


def test_downgrade_to_base_then_upgrade_again(db):
    assert downgrade(db) is None
    assert tables(db) <= {VERSION_TABLE}
    assert current_revision(db) is None

    assert upgrade(db) == head_revision()
    assert tables(db) == MODEL_TABLES | {VERSION_TABLE}


def test_models_match_migrations(db):
    """A model change without a migration shows up here as what autogenerate would write."""
    assert schema_drift(db) == []


# ---------------------------------------------------------------------------- on start


def test_ensure_current_upgrades_an_empty_database(empty_db):
    assert ensure_current(empty_db) == head_revision()
    assert tables(empty_db) == MODEL_TABLES | {VERSION_TABLE}


def test_ensure_current_leaves_a_current_database_alone(db, monkeypatch):
    def no_upgrade(*_args, **_kwargs):
        raise AssertionError("ensure_current migrated a database that is already at head")

    monkeypatch.setattr(migrate, "upgrade", no_upgrade)
    assert ensure_current(db) == head_revision()


def test_ensure_current_refuses_a_revision_from_a_newer_kaizen(db):
    with db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'f00dfeed9999'"))

    with pytest.raises(DatabaseError, match="f00dfeed9999"):
        ensure_current(db)
    assert current_revision(db) == "f00dfeed9999"
    assert tables(db) == MODEL_TABLES | {VERSION_TABLE}


# ---------------------------------------------------------------------------- connections


def test_sqlite_connections_are_durable_and_enforce_foreign_keys(tmp_path):
    database = Database(f"sqlite:///{tmp_path / 'kaizen.db'}")
    try:
        with database.session() as session:
            pragma = {
                name: session.execute(text(f"PRAGMA {name}")).scalar_one()
                for name in ("journal_mode", "foreign_keys", "synchronous")
            }
        assert pragma == {"journal_mode": "wal", "foreign_keys": 1, "synchronous": 2}
    finally:
        database.dispose()


def test_foreign_key_violations_are_refused(db):
    orphan = WorkflowVersion(
        workflow_id=424242,
        number=1,
        blueprint={"name": "orphan"},
        blueprint_hash="0" * 64,
        origin="user",
        author="U123",
    )
    with pytest.raises(IntegrityError), db.session() as session:
        session.add(orphan)

    with db.session() as session:
        assert session.scalars(select(WorkflowVersion)).all() == []


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "postgres://u:p@db.example:5432/kaizen",
            "postgresql+psycopg://u:p@db.example:5432/kaizen",
        ),
        ("postgresql://u:p@db.example/kaizen", "postgresql+psycopg://u:p@db.example/kaizen"),
        ("postgresql+psycopg://u@127.0.0.1/kaizen", "postgresql+psycopg://u@127.0.0.1/kaizen"),
        ("sqlite:////var/lib/kaizen/kaizen.db", "sqlite:////var/lib/kaizen/kaizen.db"),
    ],
)
def test_normalize_url_picks_psycopg_for_postgresql(url, expected):
    assert normalize_url(url) == expected


@pytest.mark.parametrize("url", ["mysql://u:p@db.example/kaizen", "not a url"])
def test_normalize_url_refuses_other_databases(url):
    with pytest.raises(DatabaseError):
        normalize_url(url)


def test_normalize_url_names_the_unsupported_database():
    with pytest.raises(DatabaseError, match="mysql"):
        normalize_url("mysql://u:p@db.example/kaizen")


# ---------------------------------------------------------------------------- time


@pytest.mark.parametrize(
    "at",
    [
        datetime(2024, 3, 1, 12, 30, 15, 123456, tzinfo=UTC),
        datetime(2024, 3, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
    ],
    ids=["utc", "utc+2"],
)
def test_aware_datetimes_come_back_aware_in_utc(db, at):
    with db.session() as session:
        session.add(audit_entry(at))

    with db.session() as session:
        stored = session.scalars(select(AuditEntry)).one().at
    assert stored == at
    assert stored.tzinfo is not None
    assert stored.utcoffset() == timedelta(0)


def test_naive_datetimes_are_refused(db):
    with pytest.raises(StatementError, match="naive datetime"), db.session() as session:
        session.add(audit_entry(datetime(2024, 3, 1, 12, 30)))

    with db.session() as session:
        assert session.scalars(select(AuditEntry)).all() == []
