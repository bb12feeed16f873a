"""The prompt registry: versions, activation, fitness running mean, lineage."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from knowledge.history import (
    InvalidArgumentError,
    NotFoundError,
    activate_prompt,
    active_prompt,
    add_prompt,
    get_prompt,
    prompt_lineage,
    query_audit,
    record_fitness,
)


def test_versions_number_up_per_name_and_default_to_the_newest_parent(db):
    with db.session() as s:
        p1 = add_prompt(s, "planner", "You plan.", author="U1")
        p2 = add_prompt(s, "planner", "You plan well.", author="U1", note="clearer")
        other = add_prompt(s, "summarize", "Summarize.", author="U2")
    assert (p1.version, p1.parent_id, p1.active) == (1, None, False)
    assert (p2.version, p2.parent_id, p2.note) == (2, p1.id, "clearer")
    assert (other.version, other.parent_id) == (1, None)


def test_explicit_parent_and_lineage_to_the_root(db):
    with db.session() as s:
        root = add_prompt(s, "planner", "v1", author="U1")
        v2 = add_prompt(s, "planner", "v2", author="U1")
        v3 = add_prompt(s, "planner", "v3 from v1", author="U1", parent=root.id)
        v4 = add_prompt(s, "planner", "v4", author="U1")
        fork = add_prompt(s, "planner_fast", "fork of v2", author="U1", parent=v2.id)
        assert [p.version for p in prompt_lineage(s, v4.id)] == [4, 3, 1]
        assert [p.id for p in prompt_lineage(s, fork.id)] == [fork.id, v2.id, root.id]
        assert prompt_lineage(s, root.id) == [get_prompt(s, root.id)]
        assert v3.parent_id == root.id
        with pytest.raises(NotFoundError, match="prompt #999"):
            add_prompt(s, "planner", "x", author="U1", parent=999)
        with pytest.raises(NotFoundError):
            prompt_lineage(s, 999)


def test_active_prompt_is_the_active_one_else_the_newest(db):
    with db.session() as s:
        with pytest.raises(NotFoundError, match="no prompts yet"):
            active_prompt(s, "planner")
        v1 = add_prompt(s, "planner", "v1", author="U1")
        assert active_prompt(s, "planner").id == v1.id
        v2 = add_prompt(s, "planner", "v2", author="U1", activate=True)
        add_prompt(s, "planner", "v3", author="U1")
        assert active_prompt(s, "planner").id == v2.id
        activate_prompt(s, v1.id, by="U9")
        assert active_prompt(s, "planner").id == v1.id
        assert [get_prompt(s, p).active for p in (v1.id, v2.id)] == [True, False]
        with pytest.raises(NotFoundError, match="known: planner"):
            active_prompt(s, "plan")
        actions = [(e.action, e.actor, e.subject_id) for e in query_audit(s, action="prompt.*")]
    assert actions[0] == ("prompt.activated", "U9", "planner@v1")
    assert ("prompt.created", "U1", "planner@v3") in actions
    assert sum(a == "prompt.activated" for a, _, _ in actions) == 2


def test_fitness_is_a_running_mean_over_samples(db):
    with db.session() as s:
        prompt = add_prompt(s, "planner", "v1", author="U1")
        assert prompt.fitness is None and prompt.fitness_samples == 0
        first = record_fitness(s, prompt.id, 0.5)
        assert (first.fitness, first.fitness_samples) == (0.5, 1)
        second = record_fitness(s, prompt.id, 0.8, samples=3)  # (0.5 + 3 × 0.8) / 4
        assert second.fitness == pytest.approx(0.725) and second.fitness_samples == 4
    with db.session() as s:
        assert get_prompt(s, prompt.id).fitness == pytest.approx(0.725)


def test_fitness_errors(db):
    with db.session() as s:
        prompt = add_prompt(s, "planner", "v1", author="U1")
        with pytest.raises(InvalidArgumentError):
            record_fitness(s, prompt.id, 0.5, samples=0)
        with pytest.raises(InvalidArgumentError):
            record_fitness(s, prompt.id, float("nan"))
        with pytest.raises(InvalidArgumentError):
            add_prompt(s, "planner", "   ", author="U1")
    with db.session() as s, pytest.raises(NotFoundError, match="prompt #999"):
        record_fitness(s, 999, 0.5)


def test_concurrent_fitness_records_are_not_lost(db):
    with db.session() as s:
        prompt_id = add_prompt(s, "planner", "v1", author="U1").id

    def record(score: float) -> None:
        with db.session() as s:
            record_fitness(s, prompt_id, score)

    scores = [i / 40 for i in range(40)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(record, scores))
    with db.session() as s:
        info = get_prompt(s, prompt_id)
    assert info.fitness_samples == 40
    assert info.fitness == pytest.approx(sum(scores) / 40)
