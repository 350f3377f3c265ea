"""Queue benchmark: scheduling decisions per second with persistence, and one decision's
latency at a queue depth of 10,000.

Persistence: every decision stores the events an instant runtime produces (starting,
started, completed) in SQLite, through ``SqliteStorage``; the raw tool it is compared with is
``sqlite3`` inserting the same number of event rows, one transaction per decision.

Run: ``python benchmarks/queue.py [--depth 10000] [--runs 5]``. Exits 0 whenever it ran.
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
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio

from scopecraft import Priority, PriorityQueuePolicy, Session, SessionMode, SessionStatus
from scopecraft._events import (
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
            for i in range(start, min(depth, start + 1000)):
                await storage.append(f"ses-{i:010d}", [queued_event(i)])
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


def main() -> None:
    """Run the figures and print them; the last line carries the ratio."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--depth", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    rates, decision_rates, raw_rates, raw_intent_rates = [], [], [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            seconds, decided = anyio.run(decisions_with_persistence, args.depth, Path(tmp))
            rates.append(decided / seconds)
            raw_rates.append(decided / raw_sqlite(decided, Path(tmp)))
        with tempfile.TemporaryDirectory() as tmp:
            seconds, decided = anyio.run(decisions_with_persistence, args.depth, Path(tmp), False)
            decision_rates.append(decided / seconds)
            raw_intent_rates.append(decided / raw_sqlite_intents(decided, Path(tmp)))
    rate = statistics.median(rates)
    decision_rate = statistics.median(decision_rates)
    raw = statistics.median(raw_rates)
    raw_intents = statistics.median(raw_intent_rates)
    fifo = single_decision(args.depth, "fifo")
    fair = single_decision(args.depth, "round-robin")
    plain = unindexed(args.depth) * 1000
    print(f"decisions, intent persisted: median {decision_rate:,.0f}/s (goal >= 2,000/s)")
    print(f"raw sqlite3, same rows per decision (intents): {raw_intents:,.0f}/s")
    print(f"decisions with the instant runtime's whole lifecycle persisted: {rate:,.0f}/s")
    print(f"raw sqlite3, same rows per decision (lifecycle): {raw:,.0f}/s")
    print(f"one decision from a plain list at depth {args.depth:,}: {plain:.1f} ms")
    print(
        f"one decision at depth {args.depth:,} with the index: fifo {fifo * 1000:.3f} ms, "
        f"round-robin {fair * 1000:.3f} ms (goal < 1 ms)"
    )
    print(
        f"queue: {decision_rate:,.0f} decisions/s vs raw sqlite3 {raw_intents:,.0f}/s, "
        f"ratio {decision_rate / raw_intents:.2f}; single decision at depth {args.depth:,}: "
        f"{fifo * 1000:.3f} ms"
    )


if __name__ == "__main__":
    main()
