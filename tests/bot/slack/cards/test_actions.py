"""Action ids and button values."""

from __future__ import annotations

import pytest

from bot.slack.cards import actions as ids


def test_ids_are_distinct_and_within_limits():
    names = [name for name in dir(ids) if name.isupper()]
    values = [getattr(ids, name) for name in names]
    assert len(set(values)) == len(values)
    assert all(isinstance(v, str) and 0 < len(v) <= 255 for v in values)
    assert ids.PLAN_RUN == "kaizen.plan.run"
    assert ids.APPROVAL_DENY == "kaizen.approval.deny"
    assert ids.EDIT_MODAL == "kaizen.edit"
    assert ids.REJECT_MODAL == "kaizen.reject"


def test_approval_values_round_trip():
    value = ids.approval_value("run:with:colons", "deploy")
    assert value == "run:with:colons:deploy"
    assert ids.parse_approval_value(value) == ("run:with:colons", "deploy")


@pytest.mark.parametrize("value", ["", "nocolon", ":step", "run:"])
def test_bad_approval_values_are_refused(value):
    with pytest.raises(ValueError, match="approval value"):
        ids.parse_approval_value(value)


def test_approval_value_refuses_what_it_could_not_parse_back():
    with pytest.raises(ValueError, match="step_id"):
        ids.approval_value("run", "a:b")
    with pytest.raises(ValueError, match="non-empty"):
        ids.approval_value("", "a")


def test_id_values_round_trip():
    assert ids.id_value(42) == "42"
    assert ids.parse_id_value("42") == 42
    with pytest.raises(ValueError, match="not an id"):
        ids.parse_id_value("4x")
