"""Crash test: kill -9 a worker running a 50-step durable run at random moments, restart it,
let it finish — on SQLite and on PostgreSQL.

Each trial (seeded; the seeds are fixed) uses a fresh database and ledger. The worker
(:mod:`tests.knowledge.durable.crash_worker`) is killed 1–3 times, at a random moment after it
says ``READY`` (now and then before: while it starts or recovers), then runs to the end. When
the run stops as ``needs_attention``, the test plays the person: an interrupted mutating call
whose idempotency key is in the ledger happened (*done*, with the output the tool would have
returned); one that is not there did not (*retry*). Then the worker runs again.

Checked after every worker, and at the end:

- the run is ``running`` or ``needs_attention`` in between, ``succeeded`` at the end;
- no idempotency key appears twice in the ledger (no mutating call was made twice), and at the
  end every mutating call of the blueprint (each for_each item's too) is there exactly once;
- a step (or item) once settled stays settled — same row, same output hash — never run again,
  never lost; a step has at most one settled row;
- the final outputs (every step's output and a checksum of all) equal an uninterrupted run's.

Across the trials some calls must have been interrupted and some runs must have needed a
person, or the test proves nothing.

Workers are forked from a server that preloaded the worker module (``multiprocessing``'s
forkserver): a fresh ``python -m`` pays ~1.5 s of imports, which over ~150 workers is minutes.
``KAIZEN_CRASH_SPAWN=popen`` runs every worker as ``python -m …crash_worker`` instead;
``test_worker_command_line`` always does.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import queue
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, fields
from multiprocessing.connection import Connection, wait
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any, Protocol

import pytest
from sqlalchemy import select

from engine.plan import build_plan
from knowledge.durable.recovery import resolve_call
from knowledge.store.database import Database
from knowledge.store.models import Run, StepCall
from tests.knowledge.conftest import TEMPLATE_DATABASE
from tests.knowledge.durable import crash_worker
from tests.knowledge.durable.crash_worker import (
    FAN_ITEMS,
    FOR_EACH_STEPS,
    RUN_KEY,
    STEP_IDS,
    expected_ledger_keys,
    kv_dir,
    ledger_output,
)

REPO_ROOT = Path(__file__).resolve().parents[3]
#: ``KAIZEN_CRASH_TRIALS=200`` runs more trials (seeds 1…200) when hunting a rare failure.
TRIALS_ENV = "KAIZEN_CRASH_TRIALS"
SEEDS = list(range(1, int(os.environ.get(TRIALS_ENV) or 20) + 1))
#: Trials of one backend run this many at a time (the machine has 2 cores).
PARALLEL_TRIALS = 2
#: Of the kills, this share lands before READY (while the worker starts or recovers).
EARLY_KILL_SHARE = 0.2
MAX_WORKERS_PER_TRIAL = 12
READY_TIMEOUT_S = 60.0
DONE_TIMEOUT_S = 90.0
SPAWN_ENV = "KAIZEN_CRASH_SPAWN"
PERSON = "crash-test-person"

#: The outputs of the first uninterrupted run (either backend); every other run must match.
_REFERENCE: dict[str, Any] = {}


# ---------------------------------------------------------------------------- workers


class Worker(Protocol):
    """A running worker process."""

    def next_line(self, timeout_s: float) -> str | None:
        """Its next line (READY…, DONE…), or ``None`` once it ended without one."""
        ...

    def kill(self) -> None: ...

    def join(self, timeout_s: float) -> int | None:
        """Wait for it to end; its exit code (``-9`` when killed)."""
        ...

    def log(self) -> str: ...


Spawner = Callable[[str, Path, Path], Worker]


#: ``multiprocessing``'s Process objects are not thread-safe: starting one polls the others
#: (to reap those that ended), and when two threads read one exit status from the fork server,
#: one of them gets 255. Starting, polling and signalling hold this lock.
_PROCESSES = threading.Lock()


class ForkedWorker:
    """A worker forked from the preloaded fork server; its lines come through a pipe."""

    def __init__(self, context: ForkServerContext, db_url: str, ledger: Path, log: Path) -> None:
        self.log_path = log
        reader, writer = context.Pipe(duplex=False)
        self.reader: Connection = reader
        self.process = context.Process(
            target=crash_worker.forked_main,
            args=(db_url, str(ledger), writer, str(log)),
            name="crash-worker",
        )
        with _PROCESSES:
            self.process.start()
        writer.close()  # the child's copy stays open: EOF here means it is gone

    def next_line(self, timeout_s: float) -> str | None:
        try:
            if self.reader.poll(timeout_s):
                return str(self.reader.recv())
        except (EOFError, OSError):  # it ended (a TimeoutError is raised outside this)
            return None
        raise TimeoutError(f"no line from the worker within {timeout_s:g}s")

    def kill(self) -> None:
        with _PROCESSES:
            if self.process.is_alive():  # (polls first: never signal a pid already reaped)
                self.process.kill()

    def join(self, timeout_s: float) -> int | None:
        wait([self.process.sentinel], timeout_s)
        with _PROCESSES:
            code = self.process.exitcode
        if code is not None:
            self.reader.close()
        return code

    def log(self) -> str:
        return _read(self.log_path)


class PopenWorker:
    """``python -m tests.knowledge.durable.crash_worker`` with its stdout piped."""

    def __init__(self, db_url: str, ledger: Path, log: Path) -> None:
        self.log_path = log
        with log.open("wb") as errors:
            command = [sys.executable, "-m", crash_worker.__name__, "--db", db_url]
            self.process = subprocess.Popen(
                [*command, "--ledger", str(ledger)],
                cwd=REPO_ROOT,
                stdout=subprocess.PIPE,
                stderr=errors,
                text=True,
            )
        self.lines: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self.stdout: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.stdout.append(line)
            self.lines.put(line.strip())
        self.lines.put(None)

    def next_line(self, timeout_s: float) -> str | None:
        try:
            return self.lines.get(timeout=timeout_s)
        except queue.Empty:
            raise TimeoutError(f"no line from the worker within {timeout_s:g}s") from None

    def kill(self) -> None:
        self.process.kill()  # (a no-op once it was reaped)

    def join(self, timeout_s: float) -> int | None:
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def log(self) -> str:
        return "".join(self.stdout) + _read(self.log_path)


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def popen_spawner(db_url: str, ledger: Path, log: Path) -> Worker:
    return PopenWorker(db_url, ledger, log)


@pytest.fixture(scope="module")
def spawner() -> Spawner:
    """How workers start: forked from a preloaded server (default), or ``python -m``."""
    if os.environ.get(SPAWN_ENV, "fork") == "popen":
        return popen_spawner
    context = multiprocessing.get_context("forkserver")
    # (the fork server is one per process: this applies if nothing started it before)
    context.set_forkserver_preload([crash_worker.__name__])
    warm = context.Process(target=crash_worker.noop)
    warm.start()  # starts the server now, so no worker's timing includes it
    warm.join(60)

    def spawn(db_url: str, ledger: Path, log: Path) -> Worker:
        return ForkedWorker(context, db_url, ledger, log)

    return spawn


class Workers:
    """Every worker a test started, so none outlives it."""

    def __init__(self, spawner: Spawner) -> None:
        self.spawner = spawner
        self.live: set[Worker] = set()
        self.lock = threading.Lock()

    def spawn(self, db_url: str, ledger: Path, log: Path) -> Worker:
        worker = self.spawner(db_url, ledger, log)
        with self.lock:
            self.live.add(worker)
        return worker

    def ended(self, worker: Worker) -> None:
        with self.lock:
            self.live.discard(worker)

    def kill_all(self) -> None:
        with self.lock:
            left = list(self.live)
        for worker in left:
            worker.kill()
            worker.join(10)


@pytest.fixture
def workers(spawner: Spawner) -> Iterator[Workers]:
    started = Workers(spawner)
    try:
        yield started
    finally:
        started.kill_all()


FreshDatabase = Callable[[Path], AbstractContextManager[str]]


@pytest.fixture
def fresh_database(request: pytest.FixtureRequest, backend: str) -> Iterator[FreshDatabase]:
    """``with fresh_database(directory) as url:`` a fresh migrated database on the test's
    backend: a file in ``directory``, or a PostgreSQL database copied from the template (and
    dropped after the block)."""
    if backend == "sqlite":
        template: Path = request.getfixturevalue("sqlite_template")

        @contextmanager
        def sqlite_copy(directory: Path) -> Iterator[str]:
            path = directory / "kaizen.db"
            shutil.copyfile(template, path)
            yield f"sqlite:///{path}"

        yield sqlite_copy
        return
    server = request.getfixturevalue("postgres_server")
    lock = threading.Lock()

    @contextmanager
    def postgres_copy(directory: Path) -> Iterator[str]:
        name = f"crash_{uuid.uuid4().hex[:12]}"
        with lock:  # one CREATE … TEMPLATE at a time
            server.create_database(name, template=TEMPLATE_DATABASE)
        try:
            yield str(server.url(name))
        finally:
            server.drop_database(name)

    yield postgres_copy


# ---------------------------------------------------------------------------- the store


@dataclass(frozen=True)
class Row:
    id: int
    step_id: str
    item_index: int | None
    kind: str
    attempt: int
    status: str
    final: bool
    side_effect: str
    output: Any
    output_hash: str | None
    decided_by: str | None

    @property
    def label(self) -> str:
        return self.step_id if self.item_index is None else f"{self.step_id}[{self.item_index}]"

    @property
    def settled(self) -> bool:
        """A call that ended for good with success: a step's final record, or an item's."""
        return (
            self.status == "succeeded"
            and self.kind == "action"
            and (self.final or self.item_index is not None)
        )


@dataclass(frozen=True)
class State:
    run_id: str | None
    status: str | None
    outputs: dict[str, Any] | None
    attention: str | None
    rows: list[Row]

    def settled(self) -> dict[tuple[str, int | None], list[Row]]:
        found: dict[tuple[str, int | None], list[Row]] = {}
        for row in self.rows:
            if row.settled:
                found.setdefault((row.step_id, row.item_index), []).append(row)
        return found

    def table(self) -> str:
        return "\n".join(
            f"  #{r.id:<4} {r.label:<12} {r.kind:<7} a{r.attempt} {r.status:<11} "
            f"final={int(r.final)} {r.side_effect:<10} out={r.output!r:.40} "
            f"hash={(r.output_hash or '-')[:10]} {r.decided_by or ''}"
            for r in self.rows
        )


ROW_FIELDS = [f.name for f in fields(Row)]


def read_state(db: Database) -> State:
    with db.session() as session:
        run = session.scalars(select(Run).where(Run.idempotency_key == RUN_KEY)).one_or_none()
        if run is None:
            return State(None, None, None, None, [])
        found = session.scalars(
            select(StepCall).where(StepCall.run_id == run.id).order_by(StepCall.id)
        )
        rows = [Row(**{name: getattr(r, name) for name in ROW_FIELDS}) for r in found]
        return State(run.id, run.status, run.outputs, run.attention, rows)


def read_ledger(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    text = ledger.read_text()
    assert not text or text.endswith("\n"), "the ledger ends with a torn line"
    return [json.loads(line) for line in text.splitlines()]


def duplicates(entries: list[dict[str, Any]]) -> list[str]:
    return sorted(key for key, n in Counter(e["key"] for e in entries).items() if n > 1)


def call_key(run_id: str, row: Row) -> str:
    key = f"{run_id}:{row.step_id}"
    return key if row.item_index is None else f"{key}[{row.item_index}]"


# ---------------------------------------------------------------------------- a trial


@dataclass
class Timing:
    startup_s: float
    """From spawning a worker to its READY."""
    run_s: float
    """From READY to DONE of an uninterrupted run."""


@dataclass
class Trial:
    seed: int
    db_url: str
    directory: Path
    workers: Workers
    timing: Timing
    reference: dict[str, Any]
    journal: list[str] = field(default_factory=list)
    logs: list[tuple[str, str]] = field(default_factory=list)
    kills: int = 0
    early_kills: int = 0
    spawned: int = 0
    needed_attention: int = 0
    done_decisions: int = 0
    retry_decisions: int = 0
    interrupted_rows: int = 0
    seconds: float = 0.0
    final: State | None = None
    last: State | None = None

    @property
    def ledger(self) -> Path:
        return self.directory / "ledger"

    def run(self) -> None:
        t0 = time.perf_counter()
        db = Database(self.db_url)
        try:
            self._run(db)
        finally:
            db.dispose()
            self.seconds = time.perf_counter() - t0

    def _run(self, db: Database) -> None:
        rng = random.Random(self.seed)
        kills_left = rng.randint(1, 3)
        seen: dict[tuple[str, int | None], Row] = {}
        while True:
            assert self.spawned < MAX_WORKERS_PER_TRIAL, "the run never finished"
            self.spawned += 1
            log = self.directory / f"worker-{self.spawned}.log"
            worker = self.workers.spawn(self.db_url, self.ledger, log)
            try:
                if kills_left:
                    kills_left -= 1
                    self._kill(worker, rng)
                else:
                    self._finish(worker)
            finally:
                self.workers.ended(worker)
                self.logs.append((log.name, worker.log()))
            state = self.last = read_state(db)
            self._check(state, seen)
            if state.status == "needs_attention":
                self._decide(db, state)
            elif state.status == "succeeded":
                self.final = state
                return

    def _kill(self, worker: Worker, rng: random.Random) -> None:
        if rng.random() < EARLY_KILL_SHARE:
            delay = rng.uniform(0, self.timing.startup_s)
            when = "after spawning"
            self.early_kills += 1
        else:
            line = worker.next_line(READY_TIMEOUT_S)
            assert line is None or line.startswith("READY"), line
            delay = rng.uniform(0, self.timing.run_s)
            when = "after READY" if line else "after it ended (no READY)"
        time.sleep(delay)
        worker.kill()
        code = worker.join(30)
        self.kills += 1
        self.journal.append(
            f"worker {self.spawned}: kill -9 {delay * 1000:.0f} ms {when} → exit {code}"
        )
        # killed, or it had ended well before the kill (never failed by itself)
        assert code in (-signal.SIGKILL, 0), f"the worker exited with {code}"

    def _finish(self, worker: Worker) -> None:
        ready = worker.next_line(READY_TIMEOUT_S)
        done = worker.next_line(DONE_TIMEOUT_S)
        code = worker.join(30)
        self.journal.append(f"worker {self.spawned}: {ready} / {done} → exit {code}")
        assert ready is not None and ready.startswith("READY"), f"worker said {ready!r}"
        assert code == 0, f"the worker exited with {code}"
        assert done in ("DONE succeeded", "DONE needs_attention"), f"worker said {done!r}"

    def _check(self, state: State, seen: dict[tuple[str, int | None], Row]) -> None:
        """What must hold after every worker, killed or not."""
        self.journal.append(f"  run {state.status}")
        assert state.status in (None, "running", "needs_attention", "succeeded"), (
            f"the run is {state.status}"
        )
        entries = read_ledger(self.ledger)
        repeated = duplicates(entries)
        assert not repeated, f"mutating calls made twice: {repeated}"
        settled = state.settled()
        twice = {f"{k[0]}[{k[1]}]": [r.id for r in v] for k, v in settled.items() if len(v) > 1}
        assert not twice, f"calls that succeeded twice (settled rows): {twice}"
        for key, before in seen.items():
            now = settled.get(key)
            assert now is not None, f"{before.label} was settled (row #{before.id}), now is not"
            assert (now[0].id, now[0].output_hash) == (before.id, before.output_hash), (
                f"{before.label} settled as row #{before.id} ({before.output_hash}), "
                f"now as row #{now[0].id} ({now[0].output_hash})"
            )
        for key, rows in settled.items():
            seen.setdefault(key, rows[0])
        # only a person may let a mutating call that was running be made again
        undecided = [
            f"#{r.id} {r.label}"
            for r in state.rows
            if r.side_effect == "mutating" and r.status == "interrupted" and r.decided_by != PERSON
        ]
        assert not undecided, f"mutating calls set to run again without a decision: {undecided}"

    def _decide(self, db: Database, state: State) -> None:
        """Play the person: a call whose key is in the ledger happened, else it did not."""
        assert state.run_id is not None
        self.needed_attention += 1
        entries = {e["key"]: e for e in read_ledger(self.ledger)}
        waiting = [r for r in state.rows if r.status == "running" and r.side_effect == "mutating"]
        assert waiting, f"needs_attention, but no interrupted mutating call: {state.attention}"
        with db.session() as session:
            for row in waiting:
                entry = entries.get(call_key(state.run_id, row))
                if entry is not None:
                    output = ledger_output(entry["value"])
                    self.done_decisions += 1
                    self.journal.append(f"  person: {row.label} done (in the ledger)")
                else:
                    output = None
                    self.retry_decisions += 1
                    self.journal.append(f"  person: {row.label} retry (not in the ledger)")
                resolve_call(
                    session,
                    state.run_id,
                    row.step_id,
                    "done" if entry is not None else "retry",
                    by=PERSON,
                    item_index=row.item_index,
                    output=output,
                )

    def check_end(self) -> None:
        state = self.final
        assert state is not None and state.run_id is not None
        run_id = state.run_id
        entries = read_ledger(self.ledger)
        assert not duplicates(entries)
        keys = {e["key"] for e in entries}
        assert keys == expected_ledger_keys(run_id), (
            f"missing from the ledger: {sorted(expected_ledger_keys(run_id) - keys)}; "
            f"unexpected: {sorted(keys - expected_ledger_keys(run_id))}"
        )
        assert not [r.label for r in state.rows if r.status == "running"], "calls still running"
        settled = state.settled()
        for step_id in STEP_IDS:
            finals = [r for r in state.rows if r.step_id == step_id and r.final]
            assert [r.status for r in finals] == ["succeeded"], (
                f"{step_id}: final rows {[(r.id, r.status) for r in finals]}"
            )
        for step_id in FOR_EACH_STEPS:
            items = sorted(i for (s, i) in settled if s == step_id and i is not None)
            assert items == list(range(FAN_ITEMS)), f"{step_id}: items settled {items}"
        by_key = {call_key(run_id, rows[0]): rows[0] for rows in settled.values()}
        for entry in entries:  # what the ledger says each call did is what the run kept
            row = by_key.get(entry["key"])
            assert row is not None, f"{entry['key']} is in the ledger but did not settle"
            assert row.output == ledger_output(entry["value"]), f"{row.label}: output differs"
        kv_files = [p.name for p in kv_dir(self.ledger).iterdir() if not p.name.startswith(".")]
        assert len(kv_files) == sum(1 for s in crash_worker.BLUEPRINT.steps if s.tool == "kv.put")
        assert state.outputs == self.reference, "the outputs differ from an uninterrupted run's"
        self.interrupted_rows = sum(1 for r in state.rows if r.status == "interrupted")

    def report(self) -> str:
        parts = [f"trial seed={self.seed} ({self.db_url})", *self.journal]
        if self.last is not None:
            parts.append(f"step records (run {self.last.status}):\n{self.last.table()}")
        parts.append("ledger:\n" + _read(self.ledger))
        for name, text in self.logs:
            parts.append(f"--- {name}\n{text.strip()}")
        return "\n".join(parts)


# ---------------------------------------------------------------------------- the tests


def reference_run(workers: Workers, db_url: str, directory: Path) -> tuple[Timing, dict[str, Any]]:
    """An uninterrupted run: its outputs, and how long starting and running take."""
    directory.mkdir()
    log = directory / "worker.log"
    t0 = time.perf_counter()
    worker = workers.spawn(db_url, directory / "ledger", log)
    try:
        ready = worker.next_line(READY_TIMEOUT_S)
        t1 = time.perf_counter()
        done = worker.next_line(DONE_TIMEOUT_S)
        t2 = time.perf_counter()
        code = worker.join(30)
    finally:
        workers.ended(worker)
    assert (ready or "").startswith("READY") and done == "DONE succeeded" and code == 0, (
        f"{ready!r} {done!r} exit {code}\n{worker.log()}"
    )
    db = Database(db_url)
    try:
        state = read_state(db)
    finally:
        db.dispose()
    assert state.outputs is not None and set(state.outputs) == {"checksum", *STEP_IDS}
    assert None not in state.outputs.values(), state.outputs
    entries = read_ledger(directory / "ledger")
    assert state.run_id is not None
    assert {e["key"] for e in entries} == expected_ledger_keys(state.run_id)
    assert not duplicates(entries)
    expected = _REFERENCE.setdefault("outputs", state.outputs)
    assert state.outputs == expected, "two uninterrupted runs gave different outputs"
    return Timing(startup_s=t1 - t0, run_s=t2 - t1), state.outputs


def test_blueprint_shape() -> None:
    steps = crash_worker.BLUEPRINT.steps
    assert len(steps) == 50
    mutating = crash_worker.MUTATING_STEPS
    assert len(mutating) >= 20
    assert set(FOR_EACH_STEPS) & set(mutating)
    assert len(expected_ledger_keys("r")) == len(mutating) - 1 + FAN_ITEMS
    plan = build_plan(crash_worker.BLUEPRINT, crash_worker.build_registry(Path("unused")))
    leaves = [sid for sid, planned in plan.steps.items() if not planned.dependents]
    assert leaves == ["checksum"], "every step's output must flow into the checksum"


def test_worker_command_line(db_url: str, tmp_path: Path) -> None:
    """``python -m tests.knowledge.durable.crash_worker`` runs the run to the end, and a
    second one finds it finished."""
    workers = Workers(popen_spawner)
    try:
        reference_run(workers, db_url, tmp_path / "first")
        again = workers.spawn(db_url, tmp_path / "first" / "ledger", tmp_path / "again.log")
        lines = [again.next_line(READY_TIMEOUT_S), again.next_line(DONE_TIMEOUT_S)]
        assert again.join(30) == 0, again.log()
        assert lines[0] is not None and "created=False" in lines[0], lines
        assert lines[1] == "DONE succeeded", lines
    finally:
        workers.kill_all()


@pytest.mark.timeout(600)
def test_kill_9_at_random_moments(
    db_url: str,
    backend: str,
    fresh_database: FreshDatabase,
    workers: Workers,
    tmp_path: Path,
) -> None:
    t0 = time.perf_counter()
    timing, reference = reference_run(workers, db_url, tmp_path / "reference")

    def trial(seed: int) -> Trial:
        directory = tmp_path / f"trial-{seed}"
        directory.mkdir()
        with fresh_database(directory) as url:
            found = Trial(seed, url, directory, workers, timing, reference)
            try:
                found.run()
                found.check_end()
            except BaseException as exc:
                exc.add_note(found.report())
                raise
        return found

    with ThreadPoolExecutor(PARALLEL_TRIALS, thread_name_prefix="crash-trial") as pool:
        futures = [pool.submit(trial, seed) for seed in SEEDS]
        failures: list[str] = []
        trials: list[Trial] = []
        for future in futures:
            try:
                trials.append(future.result())
            except Exception as exc:
                notes = "\n".join(getattr(exc, "__notes__", []))
                failures.append(f"{type(exc).__name__}: {exc}\n{notes}")
    if failures:
        pytest.fail(f"{len(failures)} trial(s) failed; the first:\n{failures[0]}", pytrace=False)

    summary = {
        "trials": len(trials),
        "workers": sum(t.spawned for t in trials),
        "kills": sum(t.kills for t in trials),
        "early kills": sum(t.early_kills for t in trials),
        "trials with interrupted calls": sum(1 for t in trials if t.interrupted_rows),
        "interrupted rows": sum(t.interrupted_rows for t in trials),
        "needs_attention": sum(t.needed_attention for t in trials),
        "trials needing attention": sum(1 for t in trials if t.needed_attention),
        "done decisions": sum(t.done_decisions for t in trials),
        "retry decisions": sum(t.retry_decisions for t in trials),
        "startup ms": round(timing.startup_s * 1000),
        "run ms": round(timing.run_s * 1000),
        "seconds": round(time.perf_counter() - t0, 1),
    }
    print(f"\ncrash test [{backend}]: {summary}")
    assert summary["kills"] >= len(SEEDS)
    assert summary["trials with interrupted calls"] >= 1, summary
    assert summary["trials needing attention"] >= 1, summary
    assert summary["done decisions"] >= 1 and summary["retry decisions"] >= 1, summary
