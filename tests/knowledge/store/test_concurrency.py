"""Concurrent writers on one database: transactions that read, then write, never fail with
"database is locked" on SQLite (they take the write lock when they begin) and never lose an
update on either backend."""

from __future__ import annotations

import threading

from sqlalchemy import select

from knowledge.store.database import Database
from knowledge.store.models import AuditEntry
from knowledge.store.types import utcnow


def test_read_then_write_transactions_from_many_threads_all_commit(db: Database):
    other = Database(db.url)  # a second engine: like a second process
    with db.session() as session:
        session.add(
            AuditEntry(
                actor="t", action="counter", subject_type="c", subject_id="0", detail={"n": 0}
            )
        )
    errors: list[BaseException] = []

    def bump(database: Database, times: int) -> None:
        try:
            for _ in range(times):
                with database.session() as session:
                    # SELECT … FOR UPDATE on PostgreSQL; SQLite holds the write lock already
                    entry = session.scalars(
                        select(AuditEntry).where(AuditEntry.action == "counter").with_for_update()
                    ).one()
                    entry.detail = {"n": entry.detail["n"] + 1}
                    entry.at = utcnow()
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=bump, args=(database, 25)) for database in (db, other, db, other)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    other.dispose()
    assert errors == []
    with db.session() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "counter")).one()
    assert entry.detail == {"n": 100}


def test_a_reader_does_not_hold_up_a_writer(db: Database):
    """``Database.reading`` does not take SQLite's write lock: the run recorder never waits
    for someone listing runs."""
    other = Database(db.url)
    try:
        with db.reading() as reader:
            reader.execute(select(AuditEntry)).all()  # a read transaction is open
            done = threading.Event()

            def write() -> None:
                with other.session() as session:
                    session.add(
                        AuditEntry(
                            actor="w", action="a", subject_type="s", subject_id="1", detail={}
                        )
                    )
                done.set()

            thread = threading.Thread(target=write)
            thread.start()
            assert done.wait(2), "the writer waited for a reader"
            thread.join()
    finally:
        other.dispose()
