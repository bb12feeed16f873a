"""Deliveries: a key is claimed once, even by many processes at the same time, and old keys
are forgotten."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from knowledge.history import InvalidArgumentError, claim_delivery, forget_deliveries
from knowledge.store.database import Database
from knowledge.store.models import Delivery
from knowledge.store.types import utcnow


def test_a_key_is_claimed_the_first_time_only(db):
    with db.session() as session:
        assert claim_delivery(session, "event:Ev01", "event") is True
        assert claim_delivery(session, "event:Ev01", "event") is False
    with db.session() as session:  # a retry, later
        assert claim_delivery(session, "event:Ev01", "event") is False
        assert claim_delivery(session, "event:Ev02", "event") is True
        assert claim_delivery(session, "action:T1.2", "action") is True
        kinds = dict(session.execute(select(Delivery.key, Delivery.kind)).all())
    assert kinds == {"event:Ev01": "event", "event:Ev02": "event", "action:T1.2": "action"}


def test_a_claim_rolled_back_was_never_made(db):
    def fail_after_claiming() -> None:
        with db.session() as session:
            assert claim_delivery(session, "event:Ev01", "event") is True
            raise RuntimeError("the handler failed before committing")

    with pytest.raises(RuntimeError, match="before committing"):
        fail_after_claiming()
    with db.session() as session:
        assert claim_delivery(session, "event:Ev01", "event") is True


def test_unusable_keys_and_kinds_are_refused(db):
    with db.session() as session:
        for key, kind, message in [
            ("", "event", "needs its key"),
            ("k" * 201, "event", "at most 200"),
            ("event:Ev01", "", "kind"),
            ("event:Ev01", "k" * 41, "kind"),
        ]:
            with pytest.raises(InvalidArgumentError, match=message):
                claim_delivery(session, key, kind)
        assert claim_delivery(session, "k" * 200, "k" * 40) is True


def test_old_deliveries_are_forgotten(db):
    now = utcnow()
    with db.session() as session:
        for n, hours in enumerate([30, 25, 2, 0]):
            received = now - timedelta(hours=hours)
            session.add(Delivery(key=f"event:{n}", kind="event", received_at=received))
    with db.session() as session:
        assert forget_deliveries(session, now - timedelta(hours=24)) == 2
        assert forget_deliveries(session, now - timedelta(hours=24)) == 0
        assert session.scalar(select(func.count()).select_from(Delivery)) == 2
        assert claim_delivery(session, "event:0", "event") is True  # forgotten: new again
        assert claim_delivery(session, "event:2", "event") is False
        with pytest.raises(InvalidArgumentError, match="no time zone"):
            forget_deliveries(session, datetime(2026, 1, 1))


def test_of_racing_claims_of_one_key_exactly_one_wins(db: Database):
    """Slack's retry reaching other processes while the first delivery is being claimed."""
    racers = 20
    engines = [db, *(Database(db.url) for _ in range(3))]  # like other processes
    barrier = threading.Barrier(racers, timeout=30)
    results: list[bool] = []
    errors: list[BaseException] = []

    def claim(database: Database) -> None:
        try:
            with database.session() as session:
                barrier.wait()
                results.append(claim_delivery(session, "event:Ev42", "event"))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(engines[n % 4],)) for n in range(racers)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
    finally:
        for database in engines[1:]:
            database.dispose()
    assert errors == []
    assert sorted(results) == [False] * (racers - 1) + [True]
