"""What the ``kaizen`` command stores, and the commands that read it back: workflow versions,
durable runs, idempotency keys, crash recovery, the database schema (README: "History and
durable runs" and "The kaizen command").

Every test gets its own data dir, so its own SQLite database. A crashed run is mostly built
directly in the database (a ``running`` run owned by a process on another host whose lease ran
out, with its step records), which is what a killed Kaizen leaves behind; one test kills a real
``kaizen run`` process instead. Tests whose docstring starts with "BUG" pin a defect and fail
until it is fixed.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import jsonpatch
import pytest
import yaml
from click.testing import CliRunner, Result
from sqlalchemy import func, select, text
from sqlalchemy.exc import OperationalError

from bot.cli import main
from engine.records import fingerprint
from engine.tools.builtin import builtin_registry
from knowledge.history import find_or_add_version, history
from knowledge.store import Database, open_database
from knowledge.store.migrate import head_revision
from knowledge.store.models import Approval, Run, StepCall, VersionOrigin, WorkflowVersion
from knowledge.store.types import utcnow

ROOT = Path(__file__).resolve().parents[2]

#: A step id, or (step id, for_each item index).
Call = str | tuple[str, int]

#: A run owner on another machine: only its (expired) lease says it is gone.
OTHER_HOST_OWNER = "otherhost.invalid:1:x"

TINY = {
    "name": "tiny",
    "description": "a tiny workflow",
    "inputs": {"who": {"type": "string", "default": "world"}},
    "steps": [
        {
            "id": "greet",
            "tool": "text.render",
            "params": {"template": "hello {{ who }}", "variables": {"who": "{{ inputs.who }}"}},
        },
        {"id": "nap", "tool": "time.sleep", "params": {"seconds": 0}},
    ],
    "outputs": {"greeting": "{{ steps.greet.output }}"},
}

FAILING = {
    "name": "failing",
    "steps": [{"id": "x", "tool": "shell.run", "params": {"argv": ["false"]}}],
}

#: Crashed while ``second`` (text.render: no side effect) ran; ``first`` had finished.
HARMLESS = {
    "name": "harmless",
    "steps": [
        {"id": "first", "tool": "text.render", "params": {"template": "computed"}},
        {
            "id": "second",
            "tool": "text.render",
            "params": {
                "template": "{{ prev }} two",
                "variables": {"prev": "{{ steps.first.output }}"},
            },
        },
    ],
    "outputs": {"text": "{{ steps.second.output }}"},
}

#: Crashed while ``log`` (file.append: mutating) ran; ``first`` had finished.
APPENDER = {
    "name": "appender",
    "steps": [
        {"id": "first", "tool": "text.render", "params": {"template": "computed"}},
        {
            "id": "log",
            "tool": "file.append",
            "params": {"path": "log.txt", "content": "{{ steps.first.output }}"},
        },
        {
            "id": "after",
            "tool": "text.render",
            "params": {
                "template": "wrote {{ p }}",
                "variables": {"p": "{{ steps.log.output.path }}"},
            },
        },
    ],
    "outputs": {"after": "{{ steps.after.output }}"},
}

#: Crashed while item 1 of ``log`` (file.append over two lines) ran; item 0 had finished.
APPEND_EACH = {
    "name": "append_each",
    "steps": [
        {
            "id": "log",
            "tool": "file.append",
            "for_each": {"items": ["a", "b"], "as": "line", "concurrency": 1},
            "params": {"path": "log.txt", "content": "{{ line }}"},
        },
    ],
    "outputs": {"written": "{{ steps.log.output | map(attribute='bytes_written') | list }}"},
}

#: Crashed while its ``ok`` step waited for approval (the approval times out after 0.5 s).
GATED = {
    "name": "gated",
    "steps": [
        {"id": "first", "tool": "text.render", "params": {"template": "computed"}},
        {
            "id": "ok",
            "tool": "text.render",
            "params": {
                "template": "approved {{ p }}",
                "variables": {"p": "{{ steps.first.output }}"},
            },
            "approval": {"approvers": ["U_LEAD"], "message": "Go on?", "timeout_s": 0.5},
        },
    ],
    "outputs": {"ok": "{{ steps.ok.output }}"},
}


# ---------------------------------------------------------------------------- fixtures, helpers


@pytest.fixture
def data_dir(tmp_path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def runner(tmp_path, data_dir, monkeypatch) -> CliRunner:
    monkeypatch.setenv("KAIZEN_DATA_DIR", str(data_dir))
    monkeypatch.delenv("KAIZEN_DATABASE_URL", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # rich tables: no ellipsis in ids and names
    monkeypatch.chdir(tmp_path)
    return CliRunner()


def kaizen(runner: CliRunner, *args: str) -> Result:
    return runner.invoke(main, list(args))


def write_blueprint(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


@contextmanager
def store(data_dir: Path) -> Iterator[Database]:
    """The database ``kaizen`` uses in ``data_dir`` (what another process would see)."""
    db = open_database(f"sqlite:///{(data_dir / 'kaizen.db').resolve()}")
    try:
        yield db
    finally:
        db.dispose()


def all_runs(data_dir: Path) -> list[Run]:
    with store(data_dir) as db, db.session() as session:
        return list(session.scalars(select(Run).order_by(Run.created_at)))


def run_row(data_dir: Path, run_id: str) -> Run:
    with store(data_dir) as db, db.session() as session:
        run = session.get(Run, run_id)
        assert run is not None
        return run


def step_rows(data_dir: Path, run_id: str) -> list[StepCall]:
    with store(data_dir) as db, db.session() as session:
        return list(
            session.scalars(select(StepCall).where(StepCall.run_id == run_id).order_by(StepCall.id))
        )


def snapshot(row: StepCall) -> dict[str, Any]:
    return {c.name: getattr(row, c.key) for c in StepCall.__table__.columns}


def line_with(output: str, *needles: str) -> str:
    """The one line of ``output`` containing every needle."""
    found = [line for line in output.splitlines() if all(n in line for n in needles)]
    assert len(found) == 1, f"{needles} in {output}"
    return found[0]


def version_line(output: str, number: int) -> str:
    """The row of version ``number`` in ``kaizen workflows history``."""
    found = [line for line in output.splitlines() if line.startswith(f"v{number} ")]
    assert len(found) == 1, f"v{number} in {output}"
    return found[0]


def crashed_run(
    data_dir: Path,
    document: dict[str, Any],
    *,
    settled: dict[Call, Any],
    interrupted: Call | None = None,
    awaiting_approval: str | None = None,
) -> str:
    """Store ``document`` and a run of it that a dead process (on another host, lease run out)
    left ``running``: the ``settled`` calls succeeded with the given outputs, the call
    ``interrupted`` was in progress, the approval of step ``awaiting_approval`` was asked and
    not yet answered. A call is a step id, or ``(step id, item index)`` for a ``for_each``
    item. Returns the run id."""
    registry = builtin_registry()
    tools = {s["id"]: s["tool"] for s in document["steps"]}
    now = utcnow()
    started = now - timedelta(minutes=10)
    run_id = uuid.uuid4().hex

    def call(key: Call, **values: Any) -> StepCall:
        step_id, item_index = (key, None) if isinstance(key, str) else key
        found = registry.find(tools[step_id])
        assert found is not None
        return StepCall(
            step_id=step_id,
            tool=tools[step_id],
            kind="action",
            item_index=item_index,
            attempt=1,
            side_effect=found.spec.side_effect.value,
            started_at=started,
            issues=[],
            **values,
        )

    with store(data_dir) as db, db.session() as session:
        version = find_or_add_version(
            session, document, author="tester", origin=VersionOrigin.USER, registry=registry
        )
        run = Run(
            id=run_id,
            workflow_id=version.workflow_id,
            version_id=version.id,
            status="running",
            inputs={},
            issues=[],
            started_by="tester",
            created_at=started,
            started_at=started,
            owner=OTHER_HOST_OWNER,
            lease_expires_at=now - timedelta(minutes=5),
        )
        for key, output in settled.items():
            digest, summary = fingerprint(output)
            run.steps.append(
                call(
                    key,
                    status="succeeded",
                    final=isinstance(key, str),
                    ended_at=started + timedelta(seconds=1),
                    duration_ms=1000.0,
                    confidence=1.0,
                    output=output,
                    output_hash=digest,
                    output_summary=summary,
                )
            )
        if interrupted is not None:
            run.steps.append(call(interrupted, status="running", final=False))
        session.add(run)
        session.flush()
        if awaiting_approval is not None:
            (gated,) = [s for s in document["steps"] if s["id"] == awaiting_approval]
            session.add(
                Approval(
                    run_id=run_id,
                    step_id=awaiting_approval,
                    tool=gated["tool"],
                    approvers=gated["approval"]["approvers"],
                    message=gated["approval"]["message"],
                    requested_at=started + timedelta(seconds=2),
                    timeout_s=gated["approval"].get("timeout_s"),
                )
            )
    return run_id


# ---------------------------------------------------------------------------- workflow versions


def test_run_stores_versions_and_the_workflows_commands_show_diff_and_roll_back(
    runner, tmp_path, data_dir
):
    file = write_blueprint(tmp_path / "tiny.yaml", TINY)
    first = kaizen(runner, "run", str(file))
    assert first.exit_code == 0, first.output
    assert "Running tiny (v1, 2 steps)" in first.output
    again = kaizen(runner, "run", str(file))  # unchanged: the same version
    assert again.exit_code == 0, again.output
    assert "Running tiny (v1, 2 steps)" in again.output

    changed = json.loads(json.dumps(TINY))
    changed["steps"][1]["params"]["seconds"] = 0.01
    write_blueprint(file, changed)
    second = kaizen(runner, "run", str(file))
    assert second.exit_code == 0, second.output
    assert "Running tiny (v2, 2 steps)" in second.output

    runs = all_runs(data_dir)
    assert [r.status for r in runs] == ["succeeded"] * 3
    with store(data_dir) as db, db.session() as session:
        numbers = {v.id: v.number for v in session.scalars(select(WorkflowVersion))}
        v1, v2 = sorted(history(session, "tiny"), key=lambda v: v.number)
    assert [numbers[r.version_id] for r in runs] == [1, 1, 2]
    assert runs[0].outputs == {"greeting": "hello world"}

    listed = kaizen(runner, "workflows", "list")
    assert listed.exit_code == 0, listed.output
    assert "tiny · production v1 · 2 version(s) · a tiny workflow" in listed.output

    shown = kaizen(runner, "workflows", "history", "tiny")
    assert shown.exit_code == 0, shown.output
    assert "1 op(s) from v1" in version_line(shown.output, 2)
    assert "production" not in version_line(shown.output, 2)  # kaizen run adds, not promotes
    assert "production" in version_line(shown.output, 1)

    diff = kaizen(runner, "workflows", "diff", "tiny", "1", "2")
    assert diff.exit_code == 0, diff.output
    assert "-    seconds: 0\n" in diff.output and "+    seconds: 0.01" in diff.output
    assert "hello" not in diff.output  # only what changed, with a little context
    patch = kaizen(runner, "workflows", "diff", "tiny", "1", "2", "--patch")
    assert patch.exit_code == 0, patch.output
    operations = json.loads(patch.output)
    assert operations == [{"op": "replace", "path": "/steps/1/params/seconds", "value": 0.01}]
    assert jsonpatch.apply_patch(v1.blueprint_json, operations) == v2.blueprint_json
    same = kaizen(runner, "workflows", "diff", "tiny", "2", "2")
    assert same.exit_code == 0, same.output
    assert "no changes between v2 and v2" in same.output or "are the same" in same.output

    rolled = kaizen(runner, "workflows", "rollback", "tiny", "1", "--note", "too slow")
    assert rolled.exit_code == 0, rolled.output
    assert "tiny: v3 restores v1 and is now production" in rolled.output
    after = kaizen(runner, "workflows", "history", "tiny").output
    v3_line = version_line(after, 3)
    for part in ("production", "rollback", "restores v1", "too slow"):
        assert part in v3_line
    assert "production" not in version_line(after, 1)
    assert "tiny · production v3 · 3 version(s)" in kaizen(runner, "workflows", "list").output
    with store(data_dir) as db, db.session() as session:
        v3 = max(history(session, "tiny"), key=lambda v: v.number)
    assert v3.blueprint_hash == v1.blueprint_hash and v3.origin == "rollback"

    # the first file again: the newest version (v3) is equal to it, so nothing is added
    write_blueprint(file, TINY)
    rerun = kaizen(runner, "run", str(file))
    assert rerun.exit_code == 0 and "Running tiny (v3, 2 steps)" in rerun.output


def test_workflows_commands_name_what_is_missing(runner, tmp_path):
    empty = kaizen(runner, "workflows", "list")
    assert empty.exit_code == 0 and "no workflows yet" in empty.output
    kaizen(runner, "run", str(write_blueprint(tmp_path / "tiny.yaml", TINY)))
    unknown = kaizen(runner, "workflows", "history", "tinny")
    assert unknown.exit_code == 1
    assert "workflow 'tinny' not found" in unknown.output and "tiny" in unknown.output
    assert "Traceback" not in unknown.output
    no_version = kaizen(runner, "workflows", "diff", "tiny", "1", "7")
    assert no_version.exit_code == 1
    assert "workflow 'tiny' has no version 7 (it has version 1)" in no_version.output
    bad_rollback = kaizen(runner, "workflows", "rollback", "tiny", "9")
    assert bad_rollback.exit_code == 1 and "has no version 9" in bad_rollback.output


# ---------------------------------------------------------------------------- idempotency


def test_an_idempotency_key_runs_once_and_shows_the_earlier_run(runner, tmp_path, data_dir):
    file = write_blueprint(tmp_path / "tiny.yaml", TINY)
    first = kaizen(runner, "run", str(file), "--idempotency-key", "K-1")
    assert first.exit_code == 0, first.output
    (run,) = all_runs(data_dir)
    assert run.idempotency_key == "K-1"

    repeat = kaizen(runner, "run", str(file), "--idempotency-key", "K-1")
    assert repeat.exit_code == 0, repeat.output
    assert f"already run: run {run.id} of tiny v1" in repeat.output
    assert "is succeeded" in repeat.output
    assert "greet" not in repeat.output  # no progress, no trace: nothing ran
    assert [r.id for r in all_runs(data_dir)] == [run.id]

    other_key = kaizen(runner, "run", str(file), "--idempotency-key", "K-2")
    assert other_key.exit_code == 0 and "already run" not in other_key.output
    assert len(all_runs(data_dir)) == 2


def test_an_idempotency_key_of_a_failed_run_exits_1_without_running_again(
    runner, tmp_path, data_dir
):
    file = write_blueprint(tmp_path / "failing.yaml", FAILING)
    assert kaizen(runner, "run", str(file), "--idempotency-key", "F").exit_code == 1
    repeat = kaizen(runner, "run", str(file), "--idempotency-key", "F")
    assert repeat.exit_code == 1
    assert "already run" in repeat.output and "is failed" in repeat.output
    (run,) = all_runs(data_dir)
    assert len(step_rows(data_dir, run.id)) == 1


def test_run_json_with_a_repeated_idempotency_key_prints_the_earlier_run_as_json(runner, tmp_path):
    """BUG (gap): ``--json`` promises the run record on standard output, but when the key names
    an earlier run only the "already run" line is printed, on standard error: a script piping
    ``kaizen run --json --idempotency-key K`` into a JSON parser gets nothing."""
    file = write_blueprint(tmp_path / "tiny.yaml", TINY)
    first = kaizen(runner, "run", str(file), "--json", "--idempotency-key", "J")
    assert first.exit_code == 0, first.output
    run_id = json.loads(first.stdout)["run_id"]
    repeat = kaizen(runner, "run", str(file), "--json", "--idempotency-key", "J")
    assert repeat.exit_code == 0, repeat.output
    assert "already run" in repeat.stderr  # says so, where --json puts messages
    assert repeat.stdout.strip(), "nothing on standard output"
    assert run_id in json.dumps(json.loads(repeat.stdout))


# ---------------------------------------------------------------------------- runs list / show


def test_runs_list_filters_and_show_prints_step_records(runner, tmp_path, data_dir):
    assert kaizen(runner, "runs", "list").output.strip() == "no runs"
    assert kaizen(runner, "run", str(write_blueprint(tmp_path / "t.yaml", TINY))).exit_code == 0
    assert kaizen(runner, "run", str(write_blueprint(tmp_path / "f.yaml", FAILING))).exit_code == 1
    good, bad = all_runs(data_dir)

    listed = kaizen(runner, "runs", "list")
    assert listed.exit_code == 0, listed.output
    assert "succeeded" in line_with(listed.output, good.id[:12], "tiny v1")
    assert "failed" in line_with(listed.output, bad.id[:12], "failing v1")
    assert good.id not in listed.output  # the 12-character prefix only
    succeeded = kaizen(runner, "runs", "list", "--status", "succeeded").output
    assert good.id[:12] in succeeded and bad.id[:12] not in succeeded
    failed = kaizen(runner, "runs", "list", "-s", "failed").output
    assert bad.id[:12] in failed and good.id[:12] not in failed
    by_workflow = kaizen(runner, "runs", "list", "-w", "failing").output
    assert bad.id[:12] in by_workflow and good.id[:12] not in by_workflow
    assert kaizen(runner, "runs", "list", "--status", "fine").exit_code == 2
    unknown_workflow = kaizen(runner, "runs", "list", "-w", "nope")
    assert unknown_workflow.exit_code == 1
    assert "workflow 'nope' not found" in unknown_workflow.output

    shown = kaizen(runner, "runs", "show", good.id[:12])
    assert shown.exit_code == 0, shown.output
    assert f"run {good.id} · tiny v1 · succeeded" in shown.output
    assert "hello world" in line_with(shown.output, "greet", "text.render", "succeeded")
    assert "slept_s" in line_with(shown.output, "nap", "time.sleep", "succeeded")
    failed_show = kaizen(runner, "runs", "show", bad.id[:12]).output
    assert "step 'x' failed: false exited with code 1" in failed_show
    assert "false exited with code 1" in line_with(failed_show, " x ", "shell.run", "failed")

    as_json = kaizen(runner, "runs", "show", good.id[:12], "--json")
    assert as_json.exit_code == 0, as_json.output
    payload = json.loads(as_json.output)
    assert payload["run"]["id"] == good.id and payload["run"]["status"] == "succeeded"
    assert payload["run"]["workflow"] == "tiny" and payload["run"]["version"] == 1
    assert payload["run"]["outputs"] == {"greeting": "hello world"}
    assert sorted(s["step_id"] for s in payload["steps"]) == ["greet", "nap"]
    assert {s["status"] for s in payload["steps"]} == {"succeeded"}
    assert all(s["run_id"] == good.id for s in payload["steps"])
    full_id = kaizen(runner, "runs", "show", good.id, "--json")
    assert json.loads(full_id.output)["run"]["id"] == good.id

    missing = kaizen(runner, "runs", "show", "0123456789ab")
    assert missing.exit_code == 1
    assert "no run id starts with '0123456789ab'" in missing.output
    assert "Traceback" not in missing.output
    ambiguous = kaizen(runner, "runs", "show", "")
    assert ambiguous.exit_code == 1 and "matches 2 runs" in ambiguous.output


# ---------------------------------------------------------------------------- kaizen db


def test_db_current_upgrade_and_downgrade(runner, tmp_path):
    head = head_revision()
    fresh = kaizen(runner, "db", "current")
    assert fresh.exit_code == 1
    assert "(empty)" in fresh.output and f"behind: newest is {head}" in fresh.output

    upgraded = kaizen(runner, "db", "upgrade")
    assert upgraded.exit_code == 0, upgraded.output
    assert f"upgraded (empty) → {head}" in upgraded.output
    current = kaizen(runner, "db", "current")
    assert current.exit_code == 0 and f"{head} (up to date)" in current.output
    assert f"already at {head}" in kaizen(runner, "db", "upgrade").output

    downgraded = kaizen(runner, "db", "downgrade", "base")
    assert downgraded.exit_code == 0, downgraded.output
    assert f"downgraded {head} → (empty)" in downgraded.output
    empty = kaizen(runner, "db", "current")
    assert empty.exit_code == 1 and "(empty)" in empty.output

    # kaizen run upgrades the schema on start
    assert kaizen(runner, "run", str(write_blueprint(tmp_path / "t.yaml", TINY))).exit_code == 0
    after_run = kaizen(runner, "db", "current")
    assert after_run.exit_code == 0 and f"{head} (up to date)" in after_run.output


def set_revision(data_dir: Path, revision: str) -> None:
    with store(data_dir) as db, db.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = :r"), {"r": revision})


def test_kaizen_refuses_a_database_a_newer_kaizen_migrated(runner, tmp_path, data_dir):
    assert kaizen(runner, "db", "upgrade").exit_code == 0
    set_revision(data_dir, "ffff9999")
    result = kaizen(runner, "run", str(write_blueprint(tmp_path / "t.yaml", TINY)))
    assert result.exit_code == 3
    assert "at migration ffff9999, which this Kaizen does not know" in result.output
    assert isinstance(result.exception, SystemExit)


def test_db_current_does_not_call_a_database_of_a_newer_kaizen_behind(runner, data_dir):
    """BUG: ``kaizen db current`` compares the revision with this code's head only, so a
    database a newer Kaizen migrated (which ``kaizen run`` rightly refuses) is reported as
    "behind: newest is 0001" — upgrading is exactly what cannot be done."""
    assert kaizen(runner, "db", "upgrade").exit_code == 0
    set_revision(data_dir, "ffff9999")
    result = kaizen(runner, "db", "current")
    assert result.exit_code == 1
    assert "ffff9999" in result.output
    assert "behind" not in result.output


@pytest.mark.parametrize("command", ["upgrade", "downgrade"])
def test_db_commands_name_an_unknown_revision_without_a_traceback(runner, command):
    """BUG: ``kaizen db upgrade nope`` / ``downgrade nope`` end in alembic's uncaught
    ``CommandError`` (a traceback) instead of a one-line error, unlike every other command."""
    assert kaizen(runner, "db", "upgrade").exit_code == 0
    result = kaizen(runner, "db", command, "nope")
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "nope" in result.output


# ---------------------------------------------------------------------------- crash recovery


def test_resume_makes_an_interrupted_harmless_call_again_and_keeps_finished_steps(runner, data_dir):
    assert builtin_registry().find("text.render").spec.side_effect.value == "none"
    run_id = crashed_run(data_dir, HARMLESS, settled={"first": "stored"}, interrupted="second")
    (first_before, second_before) = step_rows(data_dir, run_id)

    resumed = kaizen(runner, "runs", "resume")
    assert resumed.exit_code == 0, resumed.output
    assert f"run {run_id}: succeeded" in resumed.output

    run = run_row(data_dir, run_id)
    assert (run.status, run.resumes, run.owner) == ("succeeded", 1, None)
    assert run.outputs == {"text": "stored two"}  # first's stored output, not a new call
    rows = step_rows(data_dir, run_id)
    assert [(r.step_id, r.status) for r in rows] == [
        ("first", "succeeded"),
        ("second", "interrupted"),
        ("second", "succeeded"),
    ]
    assert snapshot(rows[0]) == snapshot(first_before)
    assert rows[1].id == second_before.id and rows[1].ended_at is not None
    assert rows[2].output == "stored two"

    again = kaizen(runner, "runs", "resume")
    assert again.exit_code == 0 and "nothing to resume" in again.output
    shown = kaizen(runner, "runs", "show", run_id[:12]).output
    assert "interrupted" in line_with(shown, "second", "interrupted")


def test_kaizen_run_resumes_unfinished_runs_first(runner, tmp_path, data_dir):
    run_id = crashed_run(data_dir, HARMLESS, settled={"first": "stored"}, interrupted="second")
    result = kaizen(runner, "run", str(write_blueprint(tmp_path / "t.yaml", TINY)))
    assert result.exit_code == 0, result.output
    assert "resuming 1 interrupted run(s)" in result.output
    assert f"run {run_id}: succeeded" in result.output
    assert result.output.index("resuming") < result.output.index("Running tiny")
    assert run_row(data_dir, run_id).status == "succeeded"


def test_an_interrupted_mutating_call_waits_for_a_person_then_done_resumes(
    runner, tmp_path, data_dir
):
    assert builtin_registry().find("file.append").spec.side_effect.value == "mutating"
    run_id = crashed_run(data_dir, APPENDER, settled={"first": "stored"}, interrupted="log")
    rows_before = step_rows(data_dir, run_id)

    # another kaizen run: the crashed run is not resumed, and the reason names the step
    other = kaizen(runner, "run", str(write_blueprint(tmp_path / "t.yaml", TINY)))
    assert other.exit_code == 0, other.output
    assert f"run {run_id} needs attention" in other.output
    assert "'log' (file.append, a mutating tool) was running when Kaizen stopped" in other.output
    assert f"kaizen runs resolve {run_id} STEP --retry | --done" in other.output
    run = run_row(data_dir, run_id)
    assert run.status == "needs_attention" and run.owner is None
    assert "'log' (file.append" in (run.attention or "")
    assert [snapshot(r) for r in step_rows(data_dir, run_id)] == [
        snapshot(r) for r in rows_before
    ]  # nothing called again, nothing written
    waiting = kaizen(runner, "runs", "resume")  # it waits for a person: no silent retry
    assert waiting.exit_code == 0 and "nothing to resume" in waiting.output
    listed = kaizen(runner, "runs", "list", "--status", "needs_attention").output
    assert run_id[:12] in listed and "appender v1" in listed

    shown = kaizen(runner, "runs", "show", run_id[:12])
    assert shown.exit_code == 0, shown.output
    assert "needs attention:" in shown.output and "'log' (file.append" in shown.output
    assert "may or may not have taken effect" in shown.output

    # the decision, spelled wrong
    wrong_step = kaizen(runner, "runs", "resolve", run_id[:12], "lgo", "--done")
    assert wrong_step.exit_code == 1
    assert "has no interrupted call of step 'lgo'" in wrong_step.output
    assert "waiting for a decision: log" in wrong_step.output
    no_decision = kaizen(runner, "runs", "resolve", run_id[:12], "log")
    assert no_decision.exit_code == 2 and "say --retry or --done" in no_decision.output
    both = kaizen(runner, "runs", "resolve", run_id[:12], "log", "--retry", "--output", "{}")
    assert both.exit_code == 2 and "--output goes with --done" in both.output
    not_json = kaizen(runner, "runs", "resolve", run_id[:12], "log", "--done", "--output", "{x")
    assert not_json.exit_code == 2 and "not valid JSON" in not_json.output
    assert "Traceback" not in not_json.output
    assert run_row(data_dir, run_id).status == "needs_attention"  # nothing was recorded

    done = kaizen(
        runner, "runs", "resolve", run_id[:12], "log", "--done",
        "--output", '{"path": "elsewhere.txt", "bytes_written": 6}',
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert "recorded; nothing else is waiting" in done.output
    assert f"run {run_id}: succeeded" in done.output

    run = run_row(data_dir, run_id)
    assert run.status == "succeeded" and run.attention is None
    assert run.outputs == {"after": "wrote elsewhere.txt"}  # the output given with --done
    assert not (data_dir / "workspace" / "log.txt").exists()  # file.append was not called
    rows = step_rows(data_dir, run_id)
    assert [(r.step_id, r.status) for r in rows] == [
        ("first", "succeeded"),
        ("log", "succeeded"),
        ("after", "succeeded"),
    ]
    assert snapshot(rows[0]) == snapshot(rows_before[0])
    log = rows[1]
    assert log.id == rows_before[1].id and log.final
    assert log.decided_by and log.decided_by.startswith("console")
    assert log.output == {"path": "elsewhere.txt", "bytes_written": 6}
    shown = kaizen(runner, "runs", "show", run_id[:12]).output
    assert "decided by console" in line_with(shown, " log ", "file.append")

    finished = kaizen(runner, "runs", "resolve", run_id[:12], "log", "--done")
    assert finished.exit_code == 1 and "is succeeded, not needs_attention" in finished.output


def test_resolve_retry_calls_the_mutating_tool_again(runner, tmp_path, data_dir):
    run_id = crashed_run(data_dir, APPENDER, settled={"first": "stored"}, interrupted="log")
    paused = kaizen(runner, "runs", "resume")
    assert "needs attention" in paused.output and run_id in paused.output
    assert run_row(data_dir, run_id).status == "needs_attention"

    retried = kaizen(runner, "runs", "resolve", run_id, "log", "--retry")
    assert retried.exit_code == 0, retried.output
    assert f"run {run_id}: succeeded" in retried.output
    assert (data_dir / "workspace" / "log.txt").read_text() == "stored"
    assert run_row(data_dir, run_id).outputs == {"after": "wrote log.txt"}
    rows = step_rows(data_dir, run_id)
    assert [(r.step_id, r.status) for r in rows] == [
        ("first", "succeeded"),
        ("log", "interrupted"),
        ("log", "succeeded"),
        ("after", "succeeded"),
    ]


def test_resolve_no_resume_only_records_the_decision(runner, data_dir):
    run_id = crashed_run(data_dir, APPENDER, settled={"first": "stored"}, interrupted="log")
    kaizen(runner, "runs", "resume")
    recorded = kaizen(
        runner, "runs", "resolve", run_id, "log", "--done", "--no-resume",
        "--output", '{"path": "p.txt", "bytes_written": 1}',
    )  # fmt: skip
    assert recorded.exit_code == 0, recorded.output
    assert "recorded; nothing else is waiting" in recorded.output
    assert run_row(data_dir, run_id).status == "running"  # released, for the next kaizen
    resumed = kaizen(runner, "runs", "resume")
    assert resumed.exit_code == 0 and f"run {run_id}: succeeded" in resumed.output
    assert run_row(data_dir, run_id).outputs == {"after": "wrote p.txt"}


def test_resolve_item_decides_about_one_interrupted_for_each_item(runner, data_dir):
    done_item = {"path": "log.txt", "bytes_written": 1}
    run_id = crashed_run(
        data_dir, APPEND_EACH, settled={("log", 0): done_item}, interrupted=("log", 1)
    )
    paused = kaizen(runner, "runs", "resume")
    assert "needs attention" in paused.output
    shown = kaizen(runner, "runs", "show", run_id[:12]).output
    assert "'log[1]' (file.append, a mutating tool)" in shown

    no_item = kaizen(runner, "runs", "resolve", run_id[:12], "log", "--done")
    assert no_item.exit_code == 1
    assert "waiting for a decision: log[1]" in no_item.output
    wrong_item = kaizen(runner, "runs", "resolve", run_id[:12], "log", "--item", "0", "--done")
    assert wrong_item.exit_code == 1 and "item 0" in wrong_item.output
    done = kaizen(
        runner, "runs", "resolve", run_id[:12], "log", "--item", "1", "--done",
        "--output", '{"path": "log.txt", "bytes_written": 22}',
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert f"run {run_id}: succeeded" in done.output
    assert run_row(data_dir, run_id).outputs == {"written": [1, 22]}
    assert not (data_dir / "workspace" / "log.txt").exists()


def test_kaizen_run_yes_approves_only_the_run_it_starts(runner, tmp_path, data_dir):
    """``--yes`` is consent for the run this command starts — not for another person's run
    that this command happens to resume (here: asked with no terminal, so it is denied)."""
    run_id = crashed_run(data_dir, GATED, settled={"first": "stored"}, awaiting_approval="ok")
    result = kaizen(runner, "run", str(write_blueprint(tmp_path / "t.yaml", TINY)), "--yes")
    assert result.exit_code == 0, result.output  # its own run succeeded
    assert "approval needed for 'ok': Go on?" in result.output
    assert f"run {run_id}: failed" in result.output
    assert "no terminal to ask" in (run_row(data_dir, run_id).error or "")


def test_runs_resume_yes_answers_the_approval_a_resumed_run_waits_for(runner, data_dir):
    run_id = crashed_run(data_dir, GATED, settled={"first": "stored"}, awaiting_approval="ok")
    result = kaizen(runner, "runs", "resume", "--yes")
    assert result.exit_code == 0, result.output
    assert f"run {run_id}: succeeded" in result.output
    assert run_row(data_dir, run_id).outputs == {"ok": "approved stored"}


def test_runs_resume_asks_for_the_approval_a_resumed_run_waits_for(runner, data_dir):
    """BUG: ``kaizen runs resume`` (and ``kaizen runs resolve``, which resumes too) builds its
    runner without the console approver that ``kaizen run`` attaches, so nobody is asked: a
    resumed run that waits for an approval (a run that crashed while waiting for one is the
    common case) hangs the command until the approval's timeout — forever when it has none.
    Here the approval times out after 0.5 s; asked at a terminal-less prompt it would be denied
    at once, saying so ("approval needed for 'ok'", "rerun with --yes")."""
    run_id = crashed_run(data_dir, GATED, settled={"first": "stored"}, awaiting_approval="ok")
    result = kaizen(runner, "runs", "resume")
    assert f"run {run_id}:" in result.output
    assert "approval needed for 'ok': Go on?" in result.output


def test_a_kaizen_killed_during_a_mutating_call_leaves_a_run_that_needs_attention(
    runner, tmp_path, data_dir, monkeypatch
):
    """The real thing: ``kaizen run`` in a process killed (SIGKILL) while ``shell.run`` (a
    mutating tool) runs; the next ``kaizen`` finds the run, and a person settles the call."""
    monkeypatch.setenv("KAIZEN_SHELL_ALLOW", '["sleep"]')
    document = {
        "name": "killed",
        "steps": [
            {"id": "first", "tool": "text.render", "params": {"template": "computed"}},
            {
                "id": "wait",
                "tool": "shell.run",
                "params": {"argv": ["sleep", "3"]},
                "depends_on": ["first"],
            },
            {
                "id": "after",
                "tool": "text.render",
                "params": {
                    "template": "{{ o }}",
                    "variables": {"o": "{{ steps.wait.output.stdout }}"},
                },
            },
        ],
        "outputs": {"after": "{{ steps.after.output }}"},
    }
    file = write_blueprint(tmp_path / "killed.yaml", document)
    process = subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "run", str(file)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        run_id = wait_for_running_call(data_dir, "wait", process)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=5)
    (first, wait) = step_rows(data_dir, run_id)
    assert (first.step_id, first.status, wait.step_id, wait.status) == (
        "first", "succeeded", "wait", "running",
    )  # fmt: skip

    paused = kaizen(runner, "runs", "resume")
    assert f"run {run_id} needs attention" in paused.output
    shown = kaizen(runner, "runs", "show", run_id[:12]).output
    assert "'wait' (shell.run, a mutating tool) was running when Kaizen stopped" in shown
    output = {"exit_code": 0, "stdout": "slept", "stderr": "", "stdout_truncated": False,
              "stderr_truncated": False}  # fmt: skip
    done = kaizen(
        runner, "runs", "resolve", run_id[:12], "wait", "--done", "--output", json.dumps(output)
    )
    assert done.exit_code == 0, done.output
    assert f"run {run_id}: succeeded" in done.output
    run = run_row(data_dir, run_id)
    assert (run.status, run.outputs) == ("succeeded", {"after": "slept"})
    assert [r.status for r in step_rows(data_dir, run_id)] == ["succeeded"] * 3


def wait_for_running_call(data_dir: Path, step_id: str, process: subprocess.Popen[bytes]) -> str:
    """Poll the database (as another process would) until a call of ``step_id`` is running;
    returns its run id."""
    url = f"sqlite:///{(data_dir / 'kaizen.db').resolve()}"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert process.poll() is None, "kaizen ended before the call started"
        if (data_dir / "kaizen.db").exists():
            db = Database(url)
            try:
                with db.session() as session:
                    found = session.scalar(
                        select(StepCall.run_id).where(
                            StepCall.step_id == step_id, StepCall.status == "running"
                        )
                    )
            except OperationalError:  # the schema is not there yet
                found = None
            finally:
                db.dispose()
            if found:
                return found
        time.sleep(0.02)
    raise AssertionError(f"no running call of '{step_id}' within 10 s")


# ---------------------------------------------------------------------------- database problems


@pytest.mark.parametrize(
    ("command", "url", "message"),
    [
        (["run", "t.yaml"], "mysql://x/y", "unsupported database 'mysql'"),
        (["runs", "list"], "mysql://x/y", "unsupported database 'mysql'"),
        (["run", "t.yaml"], "not a url", "KAIZEN_DATABASE_URL is not a database URL"),
        (["run", "t.yaml"], "sqlite:///{tmp}", "cannot open the database (OperationalError)"),
    ],
)
def test_a_database_that_cannot_be_opened_exits_3(
    runner, tmp_path, monkeypatch, command, url, message
):
    write_blueprint(tmp_path / "t.yaml", TINY)
    monkeypatch.setenv("KAIZEN_DATABASE_URL", url.format(tmp=tmp_path))  # a directory
    result = kaizen(runner, *command)
    assert result.exit_code == 3, result.output
    assert message in result.output
    assert result.output.startswith("error: ")
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)
    assert not (tmp_path / "data" / "workspace").exists()  # nothing ran


def test_db_commands_report_an_unusable_url(runner, monkeypatch):
    monkeypatch.setenv("KAIZEN_DATABASE_URL", "mysql://x/y")
    result = kaizen(runner, "db", "current")
    assert result.exit_code != 0
    assert "unsupported database 'mysql'" in result.output and "Traceback" not in result.output


def test_the_store_counts_match_what_the_commands_say(runner, tmp_path, data_dir):
    """One run: one row, its step records, one workflow version (a check of the helpers)."""
    assert kaizen(runner, "run", str(write_blueprint(tmp_path / "t.yaml", TINY))).exit_code == 0
    with store(data_dir) as db, db.session() as session:
        assert session.scalar(select(func.count()).select_from(Run)) == 1
        assert session.scalar(select(func.count()).select_from(WorkflowVersion)) == 1
        assert session.scalar(select(func.count()).select_from(StepCall)) == 2
