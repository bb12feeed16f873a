"""Patterns: upsert by tool sequence, listing, states."""

from __future__ import annotations

import hashlib
import json

import pytest

from knowledge.history import (
    InvalidArgumentError,
    NotFoundError,
    PatternState,
    list_patterns,
    pattern_key,
    set_pattern_state,
    upsert_pattern,
)

SEQ = ["svc.deploy", "svc.health", "chat.post"]


def test_upsert_creates_then_refreshes(db):
    with db.session() as s:
        first = upsert_pattern(s, SEQ, support=3, success_rate=0.5, example_runs=["r1"])
    assert first.key == hashlib.sha256(json.dumps(SEQ).encode()).hexdigest() == pattern_key(SEQ)
    assert (first.tools, first.support, first.state) == (SEQ, 3, PatternState.NEW)
    with db.session() as s:
        set_pattern_state(s, first.id, PatternState.DISMISSED)
    with db.session() as s:
        again = upsert_pattern(s, SEQ, support=5, success_rate=0.8, example_runs=["r7", "r9"])
        assert len(list_patterns(s)) == 1
    assert again.id == first.id
    assert (again.support, again.success_rate, again.example_runs) == (5, 0.8, ["r7", "r9"])
    assert again.state is PatternState.DISMISSED  # a dismissed pattern stays dismissed
    assert again.first_seen == first.first_seen
    assert again.last_seen > first.last_seen


def test_order_matters_in_the_key(db):
    with db.session() as s:
        a = upsert_pattern(s, SEQ, support=2, success_rate=1.0, example_runs=[])
        b = upsert_pattern(s, list(reversed(SEQ)), support=2, success_rate=1.0, example_runs=[])
    assert a.key != b.key and a.id != b.id


def test_list_patterns_filters_and_order(db):
    with db.session() as s:
        low = upsert_pattern(s, ["a.x"], support=1, success_rate=1.0, example_runs=[])
        high = upsert_pattern(s, ["b.x"], support=9, success_rate=0.2, example_runs=[])
        mid_good = upsert_pattern(s, ["c.x"], support=4, success_rate=0.9, example_runs=[])
        mid_bad = upsert_pattern(s, ["d.x"], support=4, success_rate=0.1, example_runs=[])
        set_pattern_state(s, high.id, PatternState.POSTED)
        assert [p.id for p in list_patterns(s)] == [high.id, mid_good.id, mid_bad.id, low.id]
        assert [p.id for p in list_patterns(s, min_support=4)] == [high.id, mid_good.id, mid_bad.id]
        assert [p.id for p in list_patterns(s, state=PatternState.POSTED)] == [high.id]
        assert [p.id for p in list_patterns(s, min_support=5, state=PatternState.NEW)] == []


def test_pattern_errors(db):
    with db.session() as s:
        with pytest.raises(InvalidArgumentError):
            upsert_pattern(s, [], support=1, success_rate=1.0, example_runs=[])
        with pytest.raises(InvalidArgumentError):
            upsert_pattern(s, SEQ, support=1, success_rate=1.5, example_runs=[])
        info = upsert_pattern(s, SEQ, support=1, success_rate=1.0, example_runs=[])
        with pytest.raises(InvalidArgumentError, match="unknown pattern state"):
            set_pattern_state(s, info.id, "archived")  # type: ignore[arg-type]
        with pytest.raises(NotFoundError):
            set_pattern_state(s, 999, PatternState.SAVED)
        assert set_pattern_state(s, info.id, "saved").state is PatternState.SAVED  # type: ignore[arg-type]
