"""Deliveries: which inbound deliveries (Slack events, interactions, commands) were handled.

Slack delivers again when it gets no quick answer (the same ``event_id``, with
``X-Slack-Retry-Num``), and a second process may receive the retry: :func:`claim_delivery`
says yes to exactly one of them. Claim in a short transaction of its own and commit before
acting, so a retry arriving meanwhile is refused at once instead of waiting for the work.
:func:`forget_deliveries` is housekeeping: Slack stops retrying within the hour.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, delete
from sqlalchemy.orm import Session

from knowledge.history._lookup import require_aware
from knowledge.history._upsert import dialect_insert
from knowledge.history.errors import InvalidArgumentError
from knowledge.store.models import Delivery
from knowledge.store.types import utcnow

#: The longest key and kind the table holds.
MAX_KEY = 200
MAX_KIND = 40


def claim_delivery(session: Session, key: str, kind: str) -> bool:
    """``True`` the first time ``key`` is claimed, ``False`` ever after (until forgotten).

    One ``INSERT … ON CONFLICT DO NOTHING``: of concurrent claims of one key, in any number of
    processes, exactly one inserts the row and gets ``True`` (on PostgreSQL the others wait
    for its transaction; if it rolls back, the next one wins instead).
    """
    if not key:
        raise InvalidArgumentError("a delivery needs its key (e.g. the Slack event_id)")
    if len(key) > MAX_KEY:
        raise InvalidArgumentError(f"a delivery key has at most {MAX_KEY} characters: {key!r}")
    if not kind or len(kind) > MAX_KIND:
        raise InvalidArgumentError(f"a delivery kind has 1 to {MAX_KIND} characters: {kind!r}")
    # On the session's connection (in its transaction): a Core execution reports its rowcount.
    connection = session.connection()
    result = connection.execute(
        _claim_statement(connection.dialect.name),
        {"key": key, "kind": kind, "received_at": utcnow()},
    )
    return result.rowcount == 1


def forget_deliveries(session: Session, older_than: datetime) -> int:
    """Forget the deliveries received before ``older_than``; how many were forgotten."""
    require_aware(older_than, "older_than")
    result = session.execute(
        delete(Delivery)
        .where(Delivery.received_at < older_than)
        .execution_options(synchronize_session=False)
    )
    return cast("CursorResult[Any]", result).rowcount


_CLAIMS: dict[str, Any] = {}


def _claim_statement(dialect: str) -> Any:
    """The claiming insert of ``dialect``, built once."""
    statement = _CLAIMS.get(dialect)
    if statement is None:
        # preserve_rowcount: SQLAlchemy reads an INSERT's rowcount only when asked to
        statement = _CLAIMS[dialect] = (
            dialect_insert(dialect, Delivery)
            .on_conflict_do_nothing(index_elements=["key"])
            .execution_options(preserve_rowcount=True)
        )
    return statement
