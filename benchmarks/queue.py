"""Queue benchmark: scheduling decisions per second with persistence, one decision's latency
at a queue depth of 10,000, and the engine's writes (``create_session``, ``cancel_session``)
per second at queue depths of 0, 1,000 and 10,000, in one process and in four.

Persistence: every decision stores the events an instant runtime produces (starting,
started, completed) in SQLite, through ``SqliteStorage``; the raw tool it is compared with is
``sqlite3`` inserting the same number of event rows, one transaction per decision.

Engine writes: each process opens an ``Engine`` on one store (the local executor, the fake
agent, a policy that starts nothing, so every session stays queued), creates sessions of one
task, then cancels them; the queue is first filled to the depth measured. The raw tool it is
compared with is the store itself: as many processes appending one ``session_queued`` event
per transaction through ``SqliteStorage`` (what a create stores), to one file of their own.
Sessions are not archived in git (``archive_history=False``): that commit, which grows with
the task's archived sessions, is measured on a line of its own.

Run: ``python benchmarks/queue.py [--depth N ...] [--runs 3] [--quick]`` (about 80 s; 15 s
with ``--quick``). Each figure is the median of ``--runs`` runs. Exits 0 whenever it ran.
"""

from __future__ import annotations

import os
import sys

# This file is named like the standard library's `queue`, which asyncio imports: drop the
# script's own folder from the path before anything imports it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import json
import shutil
import sqlite3
import statistics
import subprocess
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

import anyio
import anyio.to_thread

from scopecraft import (
    Engine,
    Priority,
    PriorityQueuePolicy,
    Session,
    SessionMode,
    SessionStatus,
)
from scopecraft._names import new_session_id
from scopecraft.events import (
    Event,
    SessionCompleted,
    SessionQueued,
    SessionStarted,
    SessionStarting,
)
from scopecraft.policies import QueueIndex
from scopecraft.storage._sqlite import SqliteStorage

PRIORITIES = list(Priority)


def queued_event(i: int) -> SessionQueued:
    """The event that queues session number ``i``."""
    return SessionQueued(
        session_id=f"ses-{i:010d}",
        task_id=f"task-{i % 97}",
        mode=SessionMode.AUTONOMOUS,
        priority=PRIORITIES[i % 4],
        executor="instant",
        agent="fake",
        area=f"area-{i % 5}",
    )


async def decisions_with_persistence(
    depth: int, folder: Path, lifecycle: bool = True
) -> tuple[float, int]:
    """Queue ``depth`` sessions, then schedule and persist them all; return (seconds, count).

    Each decision stores its intent (``session_starting``); with ``lifecycle`` also what an
    instant runtime produces (``session_started``, ``session_completed``), in one transaction.
    """
    storage = SqliteStorage(folder / "queue.db")
    await storage.open()
    try:
        for start in range(0, depth, 1000):
            await storage.append_batch(
                [
                    (f"ses-{i:010d}", [queued_event(i)])
                    for i in range(start, min(depth, start + 1000))
                ]
            )
        policy = PriorityQueuePolicy({"autonomous": 64})
        decided = 0
        began = time.perf_counter()
        # As the engine's scheduler does: one index, built once, updated as sessions start.
        index = QueueIndex(await storage.list_sessions(statuses=[SessionStatus.QUEUED]))
        while len(index):
            schedule = policy.schedule(index, [], now=datetime.now(UTC))
            # As the scheduler does: the intents of one pass in one transaction.
            intents: list[tuple[str, list[Event]]] = []
            for session_id in schedule.start:
                index.remove(session_id)
                intents.append(
                    (
                        session_id,
                        [
                            SessionStarting(
                                session_id=session_id, attempt=1, runtime_name=session_id
                            )
                        ],
                    )
                )
            await storage.append_batch(intents)
            decided += len(intents)
            if lifecycle:
                # The instant runtime starts and ends at once; each launch records that.
                for session_id in schedule.start:
                    await storage.append(
                        session_id,
                        [
                            SessionStarted(session_id=session_id, attempt=1, runtime_id="instant"),
                            SessionCompleted(session_id=session_id, attempt=1, exit_code=0),
                        ],
                    )
        return time.perf_counter() - began, decided
    finally:
        await storage.close()


def raw_sqlite_intents(count: int, folder: Path, per_pass: int = 64) -> float:
    """Insert one event row and one session row per decision, a transaction per pass."""
    db = sqlite3.connect(folder / "raw-intents.db", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, session_id TEXT, seq INT, "
            "body TEXT, UNIQUE(session_id, seq))"
        )
        db.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, status TEXT, body TEXT)")
        body = json.dumps({"type": "session_starting", "attempt": 1, "runtime_name": "r"})
        began = time.perf_counter()
        for start in range(0, count, per_pass):
            db.execute("BEGIN IMMEDIATE")
            ids = [f"ses-{i:010d}" for i in range(start, min(count, start + per_pass))]
            db.executemany(
                "INSERT INTO events (session_id, seq, body) VALUES (?, 2, ?)",
                [(sid, body) for sid in ids],
            )
            db.executemany(
                "INSERT OR REPLACE INTO sessions VALUES (?, 'starting', ?)",
                [(sid, body) for sid in ids],
            )
            db.execute("COMMIT")
        return time.perf_counter() - began
    finally:
        db.close()


def raw_sqlite(count: int, folder: Path) -> float:
    """Insert the same event rows with sqlite3, one transaction per decision."""
    db = sqlite3.connect(folder / "raw.db", isolation_level=None)
    try:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(
            "CREATE TABLE events (position INTEGER PRIMARY KEY, session_id TEXT, seq INT, "
            "body TEXT, UNIQUE(session_id, seq))"
        )
        db.execute("CREATE TABLE sessions (id TEXT PRIMARY KEY, status TEXT, body TEXT)")
        body = json.dumps({"type": "session_started", "attempt": 1, "runtime_id": "instant"})
        began = time.perf_counter()
        for i in range(count):
            sid = f"ses-{i:010d}"
            db.execute("BEGIN IMMEDIATE")
            db.executemany(
                "INSERT INTO events (session_id, seq, body) VALUES (?, ?, ?)",
                [(sid, seq, body) for seq in (2, 3, 4)],
            )
            db.execute("INSERT OR REPLACE INTO sessions VALUES (?, ?, ?)", (sid, "completed", body))
            db.execute("COMMIT")
        return time.perf_counter() - began
    finally:
        db.close()


def single_decision(depth: int, fairness: str) -> float:
    """Median seconds of one ``schedule`` call that starts one session out of ``depth``."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    queued = [
        Session(
            id=f"ses-{i:010d}",
            task_id="t",
            mode=SessionMode.AUTONOMOUS,
            priority=PRIORITIES[i % 4],
            executor="instant",
            agent="fake",
            created_at=t0 + timedelta(seconds=i),
            updated_at=t0,
            area=f"area-{i % 5}",
        )
        for i in range(depth)
    ]
    policy = PriorityQueuePolicy({"autonomous": 1}, fairness=fairness)  # type: ignore[arg-type]
    index = QueueIndex(queued)
    times = []
    for _ in range(51):
        began = time.perf_counter()
        decision = policy.schedule(index, [], now=t0)
        times.append(time.perf_counter() - began)
        assert len(decision.start) == 1
    return statistics.median(times)


def unindexed(depth: int) -> float:
    """One decision when the caller hands a plain list (the index is built in the call)."""
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    queued = [
        Session(
            id=f"ses-{i:010d}",
            task_id="t",
            mode=SessionMode.AUTONOMOUS,
            priority=PRIORITIES[i % 4],
            executor="instant",
            agent="fake",
            created_at=t0 + timedelta(seconds=i),
            updated_at=t0,
        )
        for i in range(depth)
    ]
    policy = PriorityQueuePolicy({"autonomous": 1})
    began = time.perf_counter()
    policy.schedule(queued, [], now=t0)
    return time.perf_counter() - began


# -- engine writes ---------------------------------------------------------------------------

TASK_ID = "bench-01A"
LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
TASK = """# Bench

---
type: chore
status: todo
area: bench
---

## Instruction
fake: say hello

## Log
"""


def make_repository(root: Path) -> Path:
    """A git repository with one task on its main branch."""
    repo = root / "bench"
    (repo / ".tasks" / "current").mkdir(parents=True)
    (repo / ".tasks" / "current" / f"{TASK_ID}.task.md").write_text(TASK)
    (repo / "README.md").write_text("# bench\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "bench"]):
        subprocess.run(["git", *args], cwd=repo, env=GIT_ENV, check=True, capture_output=True)
    return repo


def engine_queued(session_id: str) -> SessionQueued:
    """A ``session_queued`` event like the ones the engine stores for the bench task."""
    return SessionQueued(
        session_id=session_id,
        task_id=TASK_ID,
        mode=SessionMode.AUTONOMOUS,
        priority=Priority.MEDIUM,
        executor="local",
        agent="fake",
        area="bench",
    )


async def child(repo: Path, home: Path, raw_db: Path, archive: bool) -> None:
    """One benchmark process: runs the commands read from standard input, one a line, and
    answers each with the seconds it took (``raw N``, ``open``, ``settle SECONDS``,
    ``create N``, ``cancel``); the end of its input closes it."""
    engine: Engine | None = None
    opener: Any = None
    created: list[str] = []
    store = SqliteStorage(raw_db)
    await store.open()

    def answer(value: float) -> None:
        print(f"{value:.6f}", flush=True)

    answer(0.0)  # ready
    try:
        while line := (await anyio.to_thread.run_sync(sys.stdin.readline)).split():
            command, *rest = line
            began = time.perf_counter()
            if command == "raw":
                for _ in range(int(rest[0])):
                    session_id = new_session_id()
                    await store.append(session_id, [engine_queued(session_id)])
            elif command == "open":
                await store.close()
                opener = Engine.open(
                    repo,
                    home=home,
                    policy=PriorityQueuePolicy({"autonomous": 0}),
                    config={"archive_history": archive},
                )
                engine = await opener.__aenter__()
                # Warm: the task read, the plugins loaded, the first write made.
                warm = await engine.create_session(TASK_ID, **LOCAL)
                await engine.cancel_session(warm.id)
            elif command == "settle":
                # The leader takes in a queue filled from elsewhere before the clock starts.
                assert engine is not None
                engine._ctx.wake_scheduler()
                await anyio.sleep(float(rest[0]))
            elif command == "create":
                assert engine is not None
                for _ in range(int(rest[0])):
                    created.append((await engine.create_session(TASK_ID, **LOCAL)).id)
            elif command == "cancel":
                assert engine is not None
                for session_id in created:
                    await engine.cancel_session(session_id)
                created.clear()
            else:
                break
            answer(time.perf_counter() - began)
    finally:
        await store.close()
        if opener is not None:
            await opener.__aexit__(None, None, None)


class Processes:
    """Benchmark processes on one store, told what to do together."""

    def __init__(self, count: int, repo: Path, home: Path, folder: Path, archive: bool) -> None:
        self._procs = [
            subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(repo),
                    str(home),
                    str(folder / f"raw-{count}.db"),
                    "1" if archive else "0",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(count)
        ]
        for proc in self._procs:
            assert proc.stdout is not None
            if not proc.stdout.readline():
                raise RuntimeError("a benchmark process ended before it was ready")

    def all(self, command: str) -> float:
        """Send ``command`` to every process at once; seconds until the last one is done."""
        began = time.perf_counter()
        for proc in self._procs:
            stdin: IO[str] | None = proc.stdin
            assert stdin is not None
            stdin.write(command + "\n")
            stdin.flush()
        for proc in self._procs:
            assert proc.stdout is not None
            if not proc.stdout.readline():
                raise RuntimeError(f"a benchmark process ended during {command!r}")
        return time.perf_counter() - began

    def close(self) -> None:
        for proc in self._procs:
            if proc.stdin is not None and not proc.stdin.closed:
                proc.stdin.close()
        for proc in self._procs:
            proc.wait(timeout=60)


async def fill(home: Path, depth: int) -> None:
    """Queue sessions of the bench task until ``depth`` are queued."""
    async with SqliteStorage(home=home) as store:
        missing = depth - await store.count_sessions(statuses=[SessionStatus.QUEUED])
        while missing > 0:
            ids = [new_session_id() for _ in range(min(missing, 1000))]
            await store.append_batch([(sid, [engine_queued(sid)]) for sid in ids])
            missing -= len(ids)


def engine_writes(
    processes: int, depths: list[int], per_process: int, archive: bool = False
) -> tuple[float, dict[int, tuple[float, float]]]:
    """One run: store appends/s of ``processes`` processes, and per depth the engine's
    ``create_session``/s and ``cancel_session``/s with that many processes."""
    folder = Path(tempfile.mkdtemp(prefix="scopecraft-bench-queue-"))
    procs: Processes | None = None
    try:
        repo = make_repository(folder)
        home = folder / "home"
        procs = Processes(processes, repo, home, folder, archive)
        total = processes * per_process
        raw = total / procs.all(f"raw {per_process}")
        procs.all("open")
        rates: dict[int, tuple[float, float]] = {}
        for depth in sorted(depths):
            anyio.run(fill, home, depth)
            procs.all("settle 0.3")
            create = total / procs.all(f"create {per_process}")
            cancel = total / procs.all("cancel")
            rates[depth] = (create, cancel)
        return raw, rates
    finally:
        if procs is not None:
            procs.close()
        shutil.rmtree(folder, ignore_errors=True)


def engine_figures(
    depths: list[int], runs: int, sizes: dict[int, int]
) -> tuple[dict[int, float], dict[int, dict[int, tuple[float, float]]]]:
    """Medians over ``runs``: store appends/s and per depth (create/s, cancel/s), for each
    process count in ``sizes`` (process count to operations per process)."""
    raws: dict[int, float] = {}
    figures: dict[int, dict[int, tuple[float, float]]] = {}
    for processes, per_process in sizes.items():
        raw_runs: list[float] = []
        by_depth: dict[int, list[tuple[float, float]]] = {d: [] for d in depths}
        for _ in range(runs):
            raw, rates = engine_writes(processes, depths, per_process)
            raw_runs.append(raw)
            for depth, pair in rates.items():
                by_depth[depth].append(pair)
        raws[processes] = statistics.median(raw_runs)
        figures[processes] = {
            d: (
                statistics.median(c for c, _ in pairs),
                statistics.median(x for _, x in pairs),
            )
            for d, pairs in by_depth.items()
        }
    return raws, figures


def main() -> None:
    """Run the figures and print them; the last line carries the ratios."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--depth",
        type=int,
        action="append",
        help="a queue depth to measure (repeat for several; default 0, 1,000 and 10,000)",
    )
    parser.add_argument("--runs", type=int, help="runs per figure (default 3, 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and depths, one run")
    args = parser.parse_args()
    depths = args.depth or ([0, 1000] if args.quick else [0, 1000, 10_000])
    runs = args.runs or (1 if args.quick else 3)
    deepest = max(depths)
    sizes = {1: 200, 4: 100} if args.quick else {1: 500, 4: 750}

    raws, figures = engine_figures(depths, runs, sizes)
    for processes, by_depth in figures.items():
        raw = raws[processes]
        print(
            f"engine writes, {processes} process{'es' if processes > 1 else ''} x"
            f" {sizes[processes]}: store appends {raw:,.0f}/s",
            flush=True,
        )
        for depth, (create, cancel) in by_depth.items():
            print(
                f"  depth {depth:>6,}: create_session {create:,.0f}/s (ratio {create / raw:.2f}),"
                f" cancel_session {cancel:,.0f}/s (ratio {cancel / raw:.2f})",
                flush=True,
            )
    archived = [engine_writes(1, [0], 100, archive=True)[1][0][1] for _ in range(runs)]
    print(
        f"cancel_session with the git history archive (archive_history=True), 1 process,"
        f" depth 0: {statistics.median(archived):,.0f}/s",
        flush=True,
    )

    rates, decision_rates, raw_rates, raw_intent_rates = [], [], [], []
    decision_depth = max(deepest, 1000)
    for _ in range(runs):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, decided = anyio.run(decisions_with_persistence, decision_depth, Path(tmp))
            rates.append(decided / seconds)
            raw_rates.append(decided / raw_sqlite(decided, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            seconds, decided = anyio.run(
                decisions_with_persistence, decision_depth, Path(tmp), False
            )
            decision_rates.append(decided / seconds)
            raw_intent_rates.append(decided / raw_sqlite_intents(decided, Path(tmp)))
    rate = statistics.median(rates)
    decision_rate = statistics.median(decision_rates)
    raw = statistics.median(raw_rates)
    raw_intents = statistics.median(raw_intent_rates)
    fifo = single_decision(decision_depth, "fifo")
    fair = single_decision(decision_depth, "round-robin")
    plain = unindexed(decision_depth) * 1000
    print(f"decisions, intent persisted: median {decision_rate:,.0f}/s (goal >= 2,000/s)")
    print(f"raw sqlite3, same rows per decision (intents): {raw_intents:,.0f}/s")
    print(f"decisions with the instant runtime's whole lifecycle persisted: {rate:,.0f}/s")
    print(f"raw sqlite3, same rows per decision (lifecycle): {raw:,.0f}/s")
    print(f"one decision from a plain list at depth {decision_depth:,}: {plain:.1f} ms")
    print(
        f"one decision at depth {decision_depth:,} with the index: fifo {fifo * 1000:.3f} ms, "
        f"round-robin {fair * 1000:.3f} ms (goal < 1 ms)"
    )
    one, four = figures[1][deepest], figures[4][deepest]
    print(
        f"queue: {decision_rate:,.0f} decisions/s vs raw sqlite3 {raw_intents:,.0f}/s, "
        f"ratio {decision_rate / raw_intents:.2f}; single decision at depth {decision_depth:,}: "
        f"{fifo * 1000:.3f} ms; at depth {deepest:,} create_session {one[0]:,.0f}/s in 1 process"
        f" (goal >= 1,000/s), {four[0]:,.0f}/s in 4 (ratio {four[0] / raws[4]:.2f} to store"
        f" appends), cancel_session {four[1]:,.0f}/s in 4 (ratio {four[1] / raws[4]:.2f})"
    )


if __name__ == "__main__":
    if len(sys.argv) == 6 and sys.argv[1] == "--child":
        anyio.run(
            child, Path(sys.argv[2]), Path(sys.argv[3]), Path(sys.argv[4]), sys.argv[5] == "1"
        )
    else:
        main()
