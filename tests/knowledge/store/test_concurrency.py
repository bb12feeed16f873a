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
