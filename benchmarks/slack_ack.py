"""Slack ack benchmark: how fast the HTTP app acknowledges Slack, and whether retries run twice.

Run it with ``.venv/bin/python benchmarks/slack_ack.py`` (``--requests``, ``--retry-fraction``,
``--seed``, ``--spread-ms``, ``--client``; ``--keep`` keeps the temporary directory with the
server's logs and database). A measurement script, not a test: it always exits 0 and prints
PASS/FAIL next to the targets (p99 ack ≤ 300 ms, no duplicated run). Its last line is one
JSON object.

Three processes: ``kaizen serve --http`` on 127.0.0.1 (fresh data directory, cwd a temporary
directory, the offline planner — no OpenAI settings — and live card updates throttled to
0.2 s); this one, with a local stand-in for the Slack Web API (``tests/bot/slack/
slack_api_stub.py``, threads) and the bookkeeping; and a load generator (a spawned worker), so
that neither the stub's threads nor the bookkeeping share a GIL with the clock. Requests are
signed exactly as Slack signs them (``tests/bot/slack/slack_requests.py``). Warm-up, kept out
of every figure: one ``/kaizen help``, one request planned, previewed and run (the first plan
loads the embedding model), then a pause.

Every burst fires all its requests at once (each task waits at one barrier: the worst case;
``--spread-ms`` sends each at a random moment of a window instead), each on a new connection.
A request's ack latency is the time from starting to connect to having the whole response.
In a burst the server's event loop takes turns between all the requests in flight, so they
are acked at about the same time, once it has parsed all of them: p50 and p99 then both
measure the burst's whole cost on the server.

The default ``--client raw`` writes pre-rendered HTTP/1.1 bytes on asyncio streams.
``--client httpx`` (an ``httpx.AsyncClient`` without connection limits) costs ~1 ms of CPU per
request on the client's side, which on a small machine adds 100–200 ms to a burst of a
hundred ``GET /healthz`` and spreads the requests' arrival: the client's figure, not the
app's. Slack wants the ack within 3 s; the target here is p99 ≤ 300 ms.

1. **Baselines** — ``--requests`` concurrent ``GET /healthz`` (uvicorn alone), then as many
   signed ``/kaizen help`` commands: the same path as a request (signature check, Bolt's
   dispatch, ack, then an ephemeral reply in the background) minus planning and running.
   The help command is *the* baseline (``baseline_ack_*``, ``ack_p99_ratio``): the ratio
   then shows what planning and running in the background cost the acks, with the client's
   own overhead and the machine's noise of the moment in both. ``/healthz`` is reported too
   (``healthz_ack_*``, ``ack_p99_ratio_healthz``): what everything above bare HTTP costs.
2. **Commands** — ``--requests`` concurrent signed ``/kaizen <request>`` (varied requests the
   offline planner turns into runnable one- or two-step file plans in the workspace, from
   4 users in 3 channels); ``--retry-fraction`` of them are sent a second time at the same
   moment with the same body (same ``trigger_id``) and ``X-Slack-Retry-Num: 1`` (Slack's
   re-delivery after a timeout). ``ack_p50_ms``/``ack_p99_ms`` are over all of these POSTs.
   Then wait until every request has its preview card and none came for a while.
3. **Run clicks** — on every preview card, Run is clicked twice at once (a double click: two
   distinct clicks), and for ``--retry-fraction`` of the cards the first click is re-delivered
   too (same body, retry headers). All clicks of all cards go in one burst (``click_ack_*``).
   Then wait until every clicked draft has a run, every run has ended and no new run appeared
   for a while, and until every card shows its run's end.

Counted from the server's database (drafts and runs) and the stub's messages: previews per
request (more than one means a retried command was planned again), runs per request (a run
is tied to its draft by the idempotency key ``draft-<id>``); ``duplicate_runs`` is the runs
beyond one per request, wherever they came from (a retried command's second preview clicked,
or a click starting a second run of a draft).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import AsyncExitStack
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.bot.slack

from bot.slack.cards import actions
from bot.slack.serve import EVENTS_PATH
from knowledge.history import query_runs
from knowledge.history.views import RunInfo
from knowledge.store import Database, open_database
from knowledge.store.models import Draft, RunState
from tests.bot.slack.slack_api_stub import SlackApiStub
from tests.bot.slack.slack_requests import (
    block_actions_body,
    retry_headers,
    sign,
    slash_command_body,
)

T = TypeVar("T")

TARGET_ACK_P99_MS = 300.0
TARGET_DUPLICATES = 0
SECRET = "bench-signing-secret-0123456789abcdef"
USERS = ("U0BENCH1", "U0BENCH2", "U0BENCH3", "U0BENCH4")
CHANNELS = ("C0BENCH1", "C0BENCH2", "C0BENCH3")
WARM_CHANNEL, WARM_USER = "C0WARMUP", "U0WARMUP"
#: Requests the offline planner turns into runnable plans that only touch the workspace.
TEMPLATES = (
    "append 'line {n}' to notes-{n}.txt",
    "write 'draft {n}' to draft-{n}.txt",
    "append 'todo: ship {n}' to todo-{n}.txt",
    "write 'x {n}' to file-{n}.txt",
    "write 'start {n}' to journal-{n}.txt then append 'end {n}' to journal-{n}.txt",
)
ENDED = frozenset(state.value for state in RunState if state.finished)
SETTLE_S = 1.5
"""Nothing new for this long after the last preview / run counts as done."""
QUIET_S = 2.0
"""Pause after the warm-up: its run's end is followed by background work in the server (and
often by the first full garbage collection of its large heap, ~100+ ms)."""


# ------------------------------------------------------------------------------ the server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kaizen_executable() -> str:
    beside = Path(sys.executable).with_name("kaizen")
    found = str(beside) if beside.exists() else shutil.which("kaizen")
    if found is None:
        raise SystemExit("kaizen is not installed (run `make install`)")
    return found


class Server:
    """``kaizen serve --http`` in its own process, its logs in files under ``root``."""

    def __init__(self, root: Path, stub: SlackApiStub) -> None:
        self.root = root
        self.data_dir = root / "data"
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.stdout_path = root / "server.stdout.log"
        self.stderr_path = root / "server.stderr.log"
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("KAIZEN_", "SLACK_", "OPENAI_"))
        }
        env.update(
            SLACK_BOT_TOKEN="xoxb-bench-token",
            SLACK_SIGNING_SECRET=SECRET,
            SLACK_API_URL=stub.base_url,
            KAIZEN_DATA_DIR=str(self.data_dir),
            KAIZEN_SLACK_UPDATE_INTERVAL_S="0.2",
        )
        command = [kaizen_executable(), "serve", "--http", "--host", "127.0.0.1"]
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.process = subprocess.Popen(
                [*command, "--port", str(self.port)], cwd=root, env=env, stdout=out, stderr=err
            )

    @property
    def database_url(self) -> str:
        """What ``Settings(data_dir=...).database`` gives: SQLite in the data dir."""
        return f"sqlite:///{(self.data_dir / 'kaizen.db').resolve()}"

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Wait for ``/healthz``; seconds it took."""
        t0 = time.perf_counter()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the server exited ({self.process.returncode}):\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return time.perf_counter() - t0
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the server did not start in {timeout:.0f} s:\n{self.tail()}")

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.stderr_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # uvicorn shuts down gracefully on SIGTERM
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)

    def problems(self) -> Counter[str]:
        """The server's stderr apart from uvicorn's INFO lines: each unindented line (a
        warning, an error, a traceback's last line) with how often it came."""
        return Counter(
            line
            for line in self.stderr_path.read_text(errors="replace").splitlines()
            if line.strip() and not line[0].isspace() and not line.startswith("INFO:")
        )


# ------------------------------------------------------------------------------ requests


@dataclass(frozen=True)
class Outgoing:
    """One request to send; ``key`` says what it is for (a request text, a draft id)."""

    key: str
    method: str
    path: str
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    retry: bool = False
    at: float = 0.0
    """When to send it, in seconds after the burst begins."""


@dataclass(frozen=True)
class Timing:
    """How one request went, as the load generator saw it."""

    status: int
    """The HTTP status (0: no response)."""
    ms: float
    sent_at: float
    """time.monotonic() when sent (the clock the stub records its calls on)."""
    sent_wall: datetime


@dataclass(frozen=True)
class Ack:
    item: Outgoing
    timing: Timing

    @property
    def ms(self) -> float:
        return self.timing.ms


def signed(key: str, body: str, *, retry: bool = False) -> Outgoing:
    headers = sign(SECRET, body)
    if retry:
        headers |= retry_headers(1, "http_timeout")
    return Outgoing(key, "POST", EVENTS_PATH, body, headers, retry)


def render(item: Outgoing, netloc: str) -> bytes:
    """``item`` as HTTP/1.1 bytes, asking the server to close the connection after it."""
    body = item.body.encode()
    headers = {"Host": netloc, "Content-Length": str(len(body)), "Connection": "close"}
    lines = [f"{item.method} {item.path} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in (headers | item.headers).items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def raw_request(host: str, port: int, data: bytes) -> int:
    """Send ``data`` on a new connection; the response's status once it is all read."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        writer.write(data)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        length = next(
            (
                int(line.split(b":", 1)[1])
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"content-length:")
            ),
            None,
        )
        await (reader.read() if length is None else reader.readexactly(length))
        return status
    finally:
        writer.close()


async def burst(
    base_url: str, outgoing: Sequence[Outgoing], client: str
) -> tuple[list[Timing], float]:
    """Send every request at once (each on its own connection); how each went, and the wall
    time of the whole burst. ``client``: ``raw`` (asyncio streams, pre-rendered bytes) or
    ``httpx`` (an ``httpx.AsyncClient`` without connection limits)."""
    url = httpx.URL(base_url)
    host, port = url.host, url.port or 80
    async with AsyncExitStack() as stack:
        if client == "httpx":
            limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
            http = await stack.enter_async_context(
                httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60)
            )

            async def send(i: int) -> int:
                item = outgoing[i]
                content = item.body.encode() or None
                response = await http.request(
                    item.method, item.path, content=content, headers=item.headers
                )
                return response.status_code

        else:
            wires = [render(item, f"{host}:{port}") for item in outgoing]

            async def send(i: int) -> int:
                return await raw_request(host, port, wires[i])

        go = asyncio.Event()

        async def timed(i: int) -> Timing:
            await go.wait()
            if outgoing[i].at:
                await asyncio.sleep(outgoing[i].at)
            sent_wall, sent_at, t0 = datetime.now(UTC), time.monotonic(), time.perf_counter()
            try:
                async with asyncio.timeout(60):
                    status = await send(i)
            except (
                OSError,
                TimeoutError,
                ValueError,
                httpx.HTTPError,
                asyncio.IncompleteReadError,
            ):
                status = 0
            return Timing(status, (time.perf_counter() - t0) * 1000, sent_at, sent_wall)

        tasks = [asyncio.create_task(timed(i)) for i in range(len(outgoing))]
        await asyncio.sleep(0)  # every task is now waiting at the barrier
        t0 = time.perf_counter()
        go.set()
        timings = await asyncio.gather(*tasks)
        return timings, time.perf_counter() - t0


def burst_in_process(
    base_url: str, outgoing: Sequence[Outgoing], client: str
) -> tuple[list[Timing], float]:
    return asyncio.run(burst(base_url, outgoing, client))


class LoadGenerator:
    """Sends the bursts from a process of its own: not slowed by the stub's threads here."""

    def __init__(self, base_url: str, client: str) -> None:
        self.base_url = base_url
        self.client = client
        self.pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))

    def send(self, outgoing: Sequence[Outgoing]) -> tuple[list[Ack], float]:
        future = self.pool.submit(burst_in_process, self.base_url, outgoing, self.client)
        timings, wall = future.result()
        return [Ack(item, timing) for item, timing in zip(outgoing, timings, strict=True)], wall

    def close(self) -> None:
        self.pool.shutdown()


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile, interpolated between closest ranks (as numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        return None
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def rounded(value: float | None, digits: int = 1) -> float | None:
    return None if value is None else round(value, digits)


@dataclass(frozen=True)
class Figures:
    """Ack latency figures of one burst."""

    count: int
    p50: float | None
    p99: float | None
    max: float | None
    failed: int
    """Responses other than 200 (0: no response)."""
    wall_s: float

    @classmethod
    def of(cls, acks: Sequence[Ack], wall_s: float) -> Figures:
        ms = [a.ms for a in acks]
        return cls(
            count=len(acks),
            p50=percentile(ms, 50),
            p99=percentile(ms, 99),
            max=max(ms, default=None),
            failed=sum(a.timing.status != 200 for a in acks),
            wall_s=wall_s,
        )

    def line(self, label: str) -> str:
        statuses = f", {self.failed} not 200" if self.failed else ""
        return (
            f"  {label:<28} {self.count:4d} requests  p50 {self.p50 or 0:7.1f} ms  "
            f"p99 {self.p99 or 0:7.1f} ms  max {self.max or 0:7.1f} ms  "
            f"(burst {self.wall_s:.2f} s{statuses})"
        )


# ------------------------------------------------------------------------------ state


@dataclass(frozen=True)
class DraftRow:
    id: int
    request: str
    channel: str | None
    message_ts: str | None


def read_drafts(db: Database) -> list[DraftRow]:
    with db.reading() as session:
        rows = session.execute(
            select(
                Draft.id,
                Draft.request,
                Draft.channel,
                Draft.message_ts,
            ).order_by(Draft.id)
        )
        return [DraftRow(*row) for row in rows]


def read_runs(db: Database) -> list[RunInfo]:
    with db.reading() as session:
        return query_runs(session, limit=100_000)


def run_button(message: dict[str, Any] | None) -> str | None:
    """The draft id on the card's Run button, if it has one."""
    for block in (message or {}).get("blocks") or []:
        for element in block.get("elements") or []:
            if isinstance(element, dict) and element.get("action_id") == actions.PLAN_RUN:
                return str(element["value"])
    return None


def ended_card(message: dict[str, Any] | None) -> bool:
    """Whether a run card shows its run's end (the summary line comes once it ended)."""
    return message is not None and "Summary:" in json.dumps(message.get("blocks") or [])


def as_utc(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(interval)
    return bool(check())


def settle(read: Callable[[], T], done: Callable[[T], bool], timeout: float) -> tuple[T, bool]:
    """Poll ``read()`` until ``done(value)`` holds and the value has not changed for
    :data:`SETTLE_S`; (the last value, whether that happened within ``timeout``)."""
    deadline = time.monotonic() + timeout
    value = read()
    changed_at = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.2)
        fresh = read()
        if fresh != value:
            value, changed_at = fresh, time.monotonic()
        elif done(value) and time.monotonic() - changed_at >= SETTLE_S:
            return value, True
    return value, False


# ------------------------------------------------------------------------------ phases


def warm_up(server: Server, stub: SlackApiStub, db: Database) -> int:
    """One help command, one request planned, previewed and run; the warm-up's draft id."""
    url = f"{server.url}{EVENTS_PATH}"

    def send(item: Outgoing) -> None:
        response = httpx.post(url, content=item.body, headers=item.headers, timeout=60)
        if response.status_code != 200:
            raise RuntimeError(f"warm-up request answered {response.status_code}")

    body = slash_command_body(text="help", user_id=WARM_USER, channel_id=WARM_CHANNEL)
    send(signed("help", body))
    stub.wait_for("chat.postEphemeral", timeout=60)
    body = slash_command_body(
        text="append 'warm' to warm-up.txt", user_id=WARM_USER, channel_id=WARM_CHANNEL
    )
    send(signed("warm-up", body))
    stub.wait_for("chat.postMessage", timeout=120)
    if not wait_until(lambda: any(d.message_ts for d in read_drafts(db)), 30):
        raise RuntimeError("the warm-up preview was not attached to its draft")
    draft = next(d for d in read_drafts(db) if d.message_ts)
    ts = draft.message_ts
    assert ts is not None
    message = stub.message(WARM_CHANNEL, ts)
    value = run_button(message)
    if value is None:
        raise RuntimeError(f"the warm-up plan has no Run button: {message}")
    click = block_actions_body(
        actions.PLAN_RUN,
        value,
        user_id=WARM_USER,
        channel_id=WARM_CHANNEL,
        message_ts=ts,
        message=message,
    )
    send(signed("warm-up click", click))
    if not wait_until(lambda: ended_card(stub.message(WARM_CHANNEL, ts)), 60):
        raise RuntimeError("the warm-up run did not end")
    return draft.id


@dataclass(frozen=True)
class Request:
    text: str
    user: str
    channel: str


def make_requests(count: int, rng: random.Random) -> list[Request]:
    return [
        Request(
            text=rng.choice(TEMPLATES).format(n=n),
            user=rng.choice(USERS),
            channel=rng.choice(CHANNELS),
        )
        for n in range(1, count + 1)
    ]


def command_burst(requests: Sequence[Request], retried: set[int]) -> list[Outgoing]:
    """Each request's command, with its re-delivery right after it (same body) if retried."""
    outgoing: list[Outgoing] = []
    for i, request in enumerate(requests):
        body = slash_command_body(
            text=request.text, user_id=request.user, channel_id=request.channel
        )
        outgoing.append(signed(request.text, body))
        if i in retried:
            outgoing.append(signed(request.text, body, retry=True))
    return outgoing


@dataclass(frozen=True)
class Preview:
    draft_id: int
    request: str
    channel: str
    ts: str
    message: dict[str, Any]


def previews_of(drafts: Sequence[DraftRow], stub: SlackApiStub) -> tuple[list[Preview], int]:
    """The posted preview cards with a Run button, and how many posted cards had none (a
    question instead of a plan)."""
    found: list[Preview] = []
    questions = 0
    for draft in drafts:
        if draft.message_ts is None or draft.channel is None:
            continue
        message = stub.message(draft.channel, draft.message_ts)
        if message is not None and run_button(message) == str(draft.id):
            found.append(Preview(draft.id, draft.request, draft.channel, draft.message_ts, message))
        else:
            questions += 1
    return found, questions


def click_burst(
    previews: Sequence[Preview], users: dict[str, str], retried: set[int]
) -> list[Outgoing]:
    """A double click on every card's Run, and the first click re-delivered on some."""
    outgoing: list[Outgoing] = []
    for i, preview in enumerate(previews):
        clicks = [
            block_actions_body(
                actions.PLAN_RUN,
                str(preview.draft_id),
                user_id=users[preview.request],
                channel_id=preview.channel,
                message_ts=preview.ts,
                message=preview.message,
            )
            for _ in range(2)
        ]
        outgoing += [signed(str(preview.draft_id), body) for body in clicks]
        if i in retried:
            outgoing.append(signed(str(preview.draft_id), clicks[0], retry=True))
    return outgoing


def spread(outgoing: Sequence[Outgoing], window_s: float, rng: random.Random) -> list[Outgoing]:
    """Each key's requests at one random moment of the window (all at once when it is 0)."""
    if window_s <= 0:
        return list(outgoing)
    moments: dict[str, float] = {}
    return [
        replace(item, at=moments.setdefault(item.key, rng.uniform(0, window_s)))
        for item in outgoing
    ]


# ------------------------------------------------------------------------------ measuring


def request_of_run(run: RunInfo, request_of: dict[int, str]) -> str:
    """The request a run was started for (through its draft), or a key of its own."""
    key = run.idempotency_key or ""
    number = key.removeprefix("draft-")
    if key.startswith("draft-") and number.isdigit() and int(number) in request_of:
        return request_of[int(number)]
    return f"?{run.id}"


def first_seen(acks: Sequence[Ack]) -> dict[str, Ack]:
    """The first request sent for each key (the original, not its re-delivery)."""
    found: dict[str, Ack] = {}
    for ack in sorted(acks, key=lambda a: a.timing.sent_at):
        found.setdefault(ack.item.key, ack)
    return found


def measure(
    server: Server,
    stub: SlackApiStub,
    db: Database,
    loadgen: LoadGenerator,
    args: argparse.Namespace,
) -> dict[str, Any]:
    """Warm up, then the baselines, the commands and the run clicks; everything counted."""
    rng = random.Random(args.seed)
    n = args.requests
    load_start = os.getloadavg()[0]
    warm_draft = warm_up(server, stub, db)
    warm_key = f"draft-{warm_draft}"
    loadgen.send([Outgoing("healthz", "GET", "/healthz")] * 10)  # the load generator's too
    time.sleep(QUIET_S)
    print("  warm-up done (one help, one request planned and run)", flush=True)

    health, health_wall = loadgen.send([Outgoing("healthz", "GET", "/healthz")] * n)
    ephemeral = len(stub.calls_to("chat.postEphemeral"))
    helps = [
        signed(
            "help",
            slash_command_body(
                text="help", user_id=rng.choice(USERS), channel_id=rng.choice(CHANNELS)
            ),
        )
        for _ in range(n)
    ]
    help_acks, help_wall = loadgen.send(helps)
    if not wait_until(lambda: len(stub.calls_to("chat.postEphemeral")) >= ephemeral + n, 60):
        print("  not every help command got its ephemeral reply", flush=True)

    requests = make_requests(n, rng)
    retried = set(rng.sample(range(n), round(n * args.retry_fraction)))
    texts = {r.text for r in requests}
    window = args.spread_ms / 1000
    commands = spread(command_burst(requests, retried), window, rng)
    print(f"  sending {len(commands)} commands ({len(retried)} re-delivered)", flush=True)
    command_acks, command_wall = loadgen.send(commands)
    sent = first_seen(command_acks)
    burst_start = min(a.timing.sent_at for a in command_acks)

    def our_drafts() -> list[DraftRow]:
        return [d for d in read_drafts(db) if d.channel != WARM_CHANNEL]

    def all_previewed(drafts: list[DraftRow]) -> bool:
        return texts <= {d.request for d in drafts if d.message_ts}

    drafts, previews_done = settle(our_drafts, all_previewed, args.timeout)
    if not previews_done:
        print(f"  timed out waiting for previews after {args.timeout:.0f} s", flush=True)
    previews, questions = previews_of(drafts, stub)
    posted_at: dict[int, float] = {}
    for call in stub.calls_to("chat.postMessage"):
        value = run_button(call.params)
        if value is not None and call.params.get("channel") != WARM_CHANNEL:
            posted_at.setdefault(int(value), call.at)
    request_of = {d.id: d.request for d in drafts}
    preview_delay: dict[str, float] = {}
    for draft_id, at in posted_at.items():
        request = request_of.get(draft_id)
        if request is not None and request in sent:
            delay = at - sent[request].timing.sent_at
            preview_delay[request] = min(delay, preview_delay.get(request, delay))
    print(f"  {len(previews)} preview cards; clicking Run on each", flush=True)

    users = {r.text: r.user for r in requests}
    click_retried = set(
        rng.sample(range(len(previews)), round(len(previews) * args.retry_fraction))
    )
    clicks = spread(click_burst(previews, users, click_retried), window, rng)
    click_acks, click_wall = loadgen.send(clicks)
    click_start = min((a.timing.sent_wall for a in click_acks), default=datetime.now(UTC))
    clicked_at = {int(k): a.timing.sent_wall for k, a in first_seen(click_acks).items()}
    clicked_keys = {f"draft-{p.draft_id}" for p in previews}

    def our_runs() -> list[tuple[str, str | None, str]]:
        return sorted(
            (r.id, r.idempotency_key, str(r.status))
            for r in read_runs(db)
            if r.idempotency_key != warm_key
        )

    def all_ended(rows: list[tuple[str, str | None, str]]) -> bool:
        keys = {key for _, key, _ in rows}
        return clicked_keys <= keys and all(status in ENDED for _, _, status in rows)

    _, runs_done = settle(our_runs, all_ended, args.timeout)
    if not runs_done:
        print(f"  timed out waiting for runs after {args.timeout:.0f} s", flush=True)
    runs = [r for r in read_runs(db) if r.idempotency_key != warm_key]
    cards_done = wait_until(
        lambda: all(ended_card(stub.message(p.channel, p.ts)) for p in previews), 30, 0.2
    )
    cards_ended = sum(ended_card(stub.message(p.channel, p.ts)) for p in previews)
    updates = [c for c in stub.calls_to("chat.update") if c.params.get("channel") != WARM_CHANNEL]

    # ---- counting
    posted = Counter(d.request for d in drafts if d.message_ts)
    runs_per_draft = Counter(r.idempotency_key for r in runs)
    runs_per_request = Counter(request_of_run(run, request_of) for run in runs)
    statuses = Counter(str(r.status) for r in runs)
    ended = [as_utc(r.ended_at) for r in runs if r.ended_at is not None]
    click_to_end: list[float] = []
    for preview in previews:
        mine = [r for r in runs if r.idempotency_key == f"draft-{preview.draft_id}" and r.ended_at]
        if mine and preview.draft_id in clicked_at:
            end = min(as_utc(r.ended_at) for r in mine if r.ended_at is not None)
            click_to_end.append((end - clicked_at[preview.draft_id]).total_seconds())
    last_post = max(posted_at.values(), default=burst_start)
    return {
        "load": (load_start, os.getloadavg()[0]),
        "health": Figures.of(health, health_wall),
        "help": Figures.of(help_acks, help_wall),
        "commands": Figures.of(command_acks, command_wall),
        "originals": Figures.of([a for a in command_acks if not a.item.retry], command_wall),
        "retries": Figures.of([a for a in command_acks if a.item.retry], command_wall),
        "clicks": Figures.of(click_acks, click_wall),
        "requests": n,
        "retried": len(retried),
        "clicks_sent": len(click_acks),
        "click_retries": len(click_retried),
        "previews_done": previews_done,
        "previews": sum(posted.values()),
        "extra_previews": sum(c - 1 for c in posted.values()),
        "requests_without_preview": len(texts - set(posted)),
        "questions": questions,
        "preview_p50_s": percentile(preview_delay.values(), 50),
        "preview_p99_s": percentile(preview_delay.values(), 99),
        "previews_all_posted_s": last_post - burst_start,
        "runs_done": runs_done,
        "runs": len(runs),
        "runs_succeeded": statuses.get("succeeded", 0),
        "runs_failed": statuses.get("failed", 0),
        "runs_other": len(runs) - statuses.get("succeeded", 0) - statuses.get("failed", 0),
        "duplicate_runs": len(runs) - len(runs_per_request),
        "duplicate_runs_same_draft": sum(c - 1 for c in runs_per_draft.values()),
        "requests_without_run": len(texts - set(runs_per_request)),
        "all_runs_ended_s": (max(ended) - click_start).total_seconds() if ended else None,
        "click_to_run_end_p50_s": percentile(click_to_end, 50),
        "click_to_run_end_p99_s": percentile(click_to_end, 99),
        "cards": len(previews),
        "cards_ended": cards_ended,
        "cards_done": cards_done,
        "card_updates": len(updates),
    }


# ------------------------------------------------------------------------------ reporting


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def report(r: dict[str, Any], problems: Counter[str], args: argparse.Namespace) -> None:
    health, help_, commands, clicks = r["health"], r["help"], r["commands"], r["clicks"]
    print()
    print(
        f"Machine: {os.cpu_count()} CPUs, load average (1 min) {r['load'][0]:.2f} before the "
        f"figures, {r['load'][1]:.2f} after them"
    )
    print("Ack latency (send → response):")
    print(health.line("GET /healthz"))
    print(help_.line("/kaizen help (baseline)"))
    print(commands.line("/kaizen <request> + retries"))
    print(r["originals"].line("  of which first deliveries"))
    print(r["retries"].line("  of which re-deliveries"))
    print(clicks.line("Run clicks"))
    print(
        f"Previews: {r['previews']} cards for {r['requests']} requests "
        f"({r['extra_previews']} extra from re-delivered commands, {r['questions']} questions, "
        f"{r['requests_without_preview']} requests without one); posted p50 "
        f"{seconds(r['preview_p50_s'])}, p99 {seconds(r['preview_p99_s'])} after the command; "
        f"the last {seconds(r['previews_all_posted_s'])} after the burst began"
        + ("" if r["previews_done"] else " (TIMED OUT)")
    )
    print(
        f"Run clicks: {r['clicks_sent']} ({r['click_retries']} re-delivered, the rest two per card)"
    )
    print(
        f"Runs: {r['runs']} ({r['runs_succeeded']} succeeded, {r['runs_failed']} failed, "
        f"{r['runs_other']} other); {r['duplicate_runs']} duplicated "
        f"({r['duplicate_runs_same_draft']} of one draft); {r['requests_without_run']} requests "
        f"without a run; all ended {seconds(r['all_runs_ended_s'])} after the clicks; click → "
        f"run ended p50 {seconds(r['click_to_run_end_p50_s'])}, "
        f"p99 {seconds(r['click_to_run_end_p99_s'])}" + ("" if r["runs_done"] else " (TIMED OUT)")
    )
    print(
        f"Cards: {r['cards_ended']}/{r['cards']} clicked cards show their run's end; "
        f"{r['card_updates']} chat.update calls"
    )
    if problems:
        print(f"Server stderr: {problems.total()} warning/error lines:")
        for line, count in problems.most_common(10):
            print(f"  {count:4d} × {line[:160]}")
    else:
        print("Server stderr: no warnings or errors")
    ratio = commands.p99 / help_.p99 if commands.p99 and help_.p99 else None
    ratio_health = commands.p99 / health.p99 if commands.p99 and health.p99 else None
    ack_ok = commands.p99 is not None and commands.p99 <= TARGET_ACK_P99_MS and not commands.failed
    click_ok = clicks.p99 is not None and clicks.p99 <= TARGET_ACK_P99_MS and not clicks.failed
    dup_ok = r["duplicate_runs"] <= TARGET_DUPLICATES and r["extra_previews"] == 0
    print()
    print(
        f"p99 ack of the commands: {commands.p99 or 0:.1f} ms (target ≤ {TARGET_ACK_P99_MS:.0f}) "
        f"{verdict(ack_ok)}; {ratio or 0:.2f}× the help baseline's p99 ({help_.p99 or 0:.1f} ms), "
        f"{ratio_health or 0:.1f}× /healthz's ({health.p99 or 0:.1f} ms)"
    )
    print(
        f"p99 ack of the Run clicks: {clicks.p99 or 0:.1f} ms "
        f"(target ≤ {TARGET_ACK_P99_MS:.0f}) {verdict(click_ok)}"
    )
    print(
        f"duplicate runs: {r['duplicate_runs']} (target {TARGET_DUPLICATES}), extra previews: "
        f"{r['extra_previews']} {verdict(dup_ok)}"
    )
    print(
        json.dumps(
            {
                "ack_p50_ms": rounded(commands.p50),
                "ack_p99_ms": rounded(commands.p99),
                "duplicate_runs": r["duplicate_runs"],
                "baseline_ack_p50_ms": rounded(help_.p50),
                "baseline_ack_p99_ms": rounded(help_.p99),
                "ack_p99_ratio": rounded(ratio, 2),
                "ack_max_ms": rounded(commands.max),
                "ack_not_200": commands.failed,
                "retry_ack_p99_ms": rounded(r["retries"].p99),
                "healthz_ack_p50_ms": rounded(health.p50),
                "healthz_ack_p99_ms": rounded(health.p99),
                "ack_p99_ratio_healthz": rounded(ratio_health, 2),
                "click_ack_p50_ms": rounded(clicks.p50),
                "click_ack_p99_ms": rounded(clicks.p99),
                "click_ack_not_200": clicks.failed,
                "requests": r["requests"],
                "retries": r["retried"],
                "clicks": r["clicks_sent"],
                "click_retries": r["click_retries"],
                "previews": r["previews"],
                "extra_previews": r["extra_previews"],
                "questions": r["questions"],
                "preview_p50_s": rounded(r["preview_p50_s"], 3),
                "preview_p99_s": rounded(r["preview_p99_s"], 3),
                "runs": r["runs"],
                "runs_succeeded": r["runs_succeeded"],
                "runs_failed": r["runs_failed"],
                "duplicate_runs_same_draft": r["duplicate_runs_same_draft"],
                "all_runs_ended_s": rounded(r["all_runs_ended_s"], 2),
                "click_to_run_end_p50_s": rounded(r["click_to_run_end_p50_s"], 3),
                "click_to_run_end_p99_s": rounded(r["click_to_run_end_p99_s"], 3),
                "cards_ended": r["cards_ended"],
                "card_updates": r["card_updates"],
                "server_log_problems": problems.total(),
                "timed_out": not (r["previews_done"] and r["runs_done"] and r["cards_done"]),
                "loadavg_before": round(r["load"][0], 2),
                "loadavg_after": round(r["load"][1], 2),
                "seed": args.seed,
                "spread_ms": args.spread_ms,
                "client": args.client,
                "target_ack_p99_ms": TARGET_ACK_P99_MS,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="Concurrent commands.")
    parser.add_argument(
        "--retry-fraction", type=float, default=0.2, help="Share re-delivered by 'Slack'."
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument(
        "--timeout", type=float, default=300.0, help="Longest wait for previews, then runs (s)."
    )
    parser.add_argument(
        "--spread-ms",
        type=float,
        default=0.0,
        help="Send each command (and each card's clicks) at a random moment of this window "
        "instead of all at once.",
    )
    parser.add_argument(
        "--client",
        choices=("raw", "httpx"),
        default="raw",
        help="raw: asyncio streams (light); httpx: httpx.AsyncClient (adds its own overhead).",
    )
    parser.add_argument("--keep", action="store_true", help="Keep the temporary directory.")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="kaizen-slack-ack-"))
    server: Server | None = None
    results: dict[str, Any] = {}
    try:
        with SlackApiStub() as stub:
            server = Server(root, stub)
            print(
                f"Slack ack benchmark: {args.requests} concurrent commands, "
                f"{args.retry_fraction:.0%} re-delivered, seed {args.seed}, {args.client} client"
                + (f", spread over {args.spread_ms:.0f} ms" if args.spread_ms else ""),
                flush=True,
            )
            ready = server.wait_ready()
            print(f"  kaizen serve --http (pid {server.process.pid}) ready in {ready:.1f} s")
            db = open_database(server.database_url, upgrade=False)
            loadgen = LoadGenerator(server.url, args.client)
            try:
                results = measure(server, stub, db, loadgen, args)
            finally:
                loadgen.close()
                db.dispose()
                server.stop()  # before the stub: shutting down may still update cards
        problems = server.problems()
    finally:
        if server is not None:
            server.stop()
        if args.keep:
            print(f"  kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
    report(results, problems, args)


if __name__ == "__main__":
    main()
