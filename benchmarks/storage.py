"""Benchmark ``SqliteStorage`` against plain ``sqlite3`` doing the same writes.

Four figures, each the median of several runs:

* logs: log lines appended in batches (one transaction per batch), lines per second;
* events: events appended one per transaction (each folded into its session), per second;
* replay: reading a long session's events back and folding them into its projection, seconds;
* list: listing every session of a store with a status filter, milliseconds (cold: a newly
  opened store; warm: the same store listing again, from its projection cache).

The raw runs use the same schema, the same pragmas (WAL, ``synchronous=NORMAL``) and
``executemany`` of the same rows, prepared before the clock starts. The script exits 0
whenever it ran, whatever the figures; its last line sums them up::

    python benchmarks/storage.py            # full sizes (100k lines, 10k events, ...)
    python benchmarks/storage.py --quick    # smaller sizes, for a smoke run
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where a sibling benchmark named like a
# standard module (queue.py) would shadow it: look for modules elsewhere.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from contextlib import closing
from dataclasses import dataclass
from datetime import timedelta

import anyio

from scopecraft._models import Priority, SessionMode, SessionStatus, utcnow
from scopecraft._projection import apply
from scopecraft.events import AgentMessage, CostReported, Event, SessionQueued, ToolUsed
from scopecraft.storage import LogLine, SqliteStorage
from scopecraft.storage._common import to_micros

SID = "ses-bench"


@dataclass(frozen=True)
class Sizes:
    """How much each figure moves."""

    logs: int
    batch: int
    events: int
    replay: int
    sessions: int
    repeat: int


FULL = Sizes(logs=100_000, batch=1_000, events=10_000, replay=100_000, sessions=10_000, repeat=5)
QUICK = Sizes(logs=20_000, batch=1_000, events=2_000, replay=20_000, sessions=2_000, repeat=3)


def _queued(session_id: str) -> SessionQueued:
    return SessionQueued(
        session_id=session_id,
        task_id="bench-01A",
        mode=SessionMode.AUTONOMOUS,
        priority=Priority.MEDIUM,
        executor="docker",
        agent="fake",
    )


def _events(n: int) -> list[Event]:
    """``n`` typical events of a running session: messages, tool uses, cost reports."""
    out: list[Event] = []
    for i in range(n):
        if i % 10 == 9:
            out.append(CostReported(session_id=SID, usd=0.01, total_usd=0.01 * (i + 1)))
        elif i % 3 == 0:
            out.append(ToolUsed(session_id=SID, name="Bash", summary=f"pytest -k case_{i}"))
        else:
            out.append(AgentMessage(session_id=SID, text=f"Working on step {i}: reading files."))
    return out


def _raw(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


async def _prepare(path: Path) -> None:
    """Create a store file holding the queued session ``SID`` (same schema for both sides)."""
    async with SqliteStorage(path) as store:
        await store.append(SID, [_queued(SID)])


async def _median(runs: int, once: Callable[[int], Awaitable[float]]) -> float:
    return statistics.median([await once(i) for i in range(runs)])


# -- logs ------------------------------------------------------------------------------------


async def bench_logs(folder: Path, sizes: Sizes) -> tuple[float, float]:
    """Lines per second: the store, then raw sqlite3."""
    start = utcnow()
    text = "some output of the agent, of a typical length for a line"
    lines = [
        LogLine(stream="stdout", text=f"{i} {text}", ts=start + timedelta(microseconds=7 * i))
        for i in range(sizes.logs)
    ]
    batches = [lines[i : i + sizes.batch] for i in range(0, len(lines), sizes.batch)]
    rows = [
        (SID, i + 1, to_micros(line.ts), line.stream, line.text) for i, line in enumerate(lines)
    ]
    row_batches = [rows[i : i + sizes.batch] for i in range(0, len(rows), sizes.batch)]

    async def ours(run: int) -> float:
        path = folder / f"logs-{run}.db"
        await _prepare(path)
        async with SqliteStorage(path) as store:
            started = time.perf_counter()
            for batch in batches:
                await store.append(SID, logs=batch)
            return sizes.logs / (time.perf_counter() - started)

    async def raw(run: int) -> float:
        path = folder / f"raw-logs-{run}.db"
        await _prepare(path)
        sql = "INSERT INTO logs (session_id, seq, ts, stream, text) VALUES (?, ?, ?, ?, ?)"
        with closing(_raw(path)) as conn:
            started = time.perf_counter()
            for batch in row_batches:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(sql, batch)
                conn.execute("COMMIT")
            return sizes.logs / (time.perf_counter() - started)

    return await _median(sizes.repeat, ours), await _median(sizes.repeat, raw)


# -- events ----------------------------------------------------------------------------------


async def bench_events(folder: Path, sizes: Sizes) -> tuple[float, float]:
    """Events per second, one per transaction: the store, then raw sqlite3."""
    events = _events(sizes.events)
    # The raw side writes the very rows the store writes: the event and the new projection.
    session = apply(None, _queued(SID).model_copy(update={"seq": 1}))
    rows: list[tuple[tuple[object, ...], tuple[object, ...]]] = []
    for seq, event in enumerate(events, start=2):
        bound = event.model_copy(update={"seq": seq})
        session = apply(session, bound)
        ts = to_micros(bound.ts)
        rows.append(
            (
                (SID, seq, bound.type, ts, bound.model_dump_json()),
                (session.status.value, seq, session.model_dump_json(), SID),
            )
        )

    async def ours(run: int) -> float:
        path = folder / f"events-{run}.db"
        await _prepare(path)
        async with SqliteStorage(path) as store:
            started = time.perf_counter()
            for event in events:
                await store.append(SID, [event])
            return sizes.events / (time.perf_counter() - started)

    async def raw(run: int) -> float:
        path = folder / f"raw-events-{run}.db"
        await _prepare(path)
        insert = "INSERT INTO events (session_id, seq, type, ts, body) VALUES (?, ?, ?, ?, ?)"
        update = "UPDATE sessions SET status = ?, last_seq = ?, body = ? WHERE id = ?"
        with closing(_raw(path)) as conn:
            started = time.perf_counter()
            for event_row, session_row in rows:
                conn.execute("BEGIN IMMEDIATE")
                conn.execute(insert, event_row)
                conn.execute(update, session_row)
                conn.execute("COMMIT")
            return sizes.events / (time.perf_counter() - started)

    return await _median(sizes.repeat, ours), await _median(sizes.repeat, raw)


# -- replay ----------------------------------------------------------------------------------


async def bench_replay(folder: Path, sizes: Sizes) -> tuple[float, float]:
    """Seconds to read a session's events and fold them: the store, then a raw SELECT alone."""
    path = folder / "replay.db"
    await _prepare(path)
    async with SqliteStorage(path) as store:
        events = _events(sizes.replay - 1)
        for i in range(0, len(events), 1_000):
            await store.append(SID, events[i : i + 1_000])
        expected = await store.get_session(SID)

    async def ours(run: int) -> float:
        async with SqliteStorage(path) as store:
            started = time.perf_counter()
            session = await store.replay(SID)
            elapsed = time.perf_counter() - started
        if session != expected:
            raise AssertionError("replay disagrees with the stored projection")
        return elapsed

    async def raw(run: int) -> float:
        with closing(_raw(path)) as conn:
            started = time.perf_counter()
            conn.execute(
                "SELECT position, body FROM events WHERE session_id = ? ORDER BY seq", (SID,)
            ).fetchall()
            return time.perf_counter() - started

    return await _median(sizes.repeat, ours), await _median(sizes.repeat, raw)


# -- list ------------------------------------------------------------------------------------


async def bench_list(folder: Path, sizes: Sizes) -> tuple[float, float, float]:
    """Milliseconds to list every queued session: cold, warm, and a raw SELECT alone."""
    path = folder / "list.db"
    async with SqliteStorage(path) as store:
        for i in range(sizes.sessions):
            sid = f"ses-list{i:06d}"
            await store.append(sid, [_queued(sid)])
    wanted = [SessionStatus.QUEUED, SessionStatus.STARTING, SessionStatus.RUNNING]

    async def cold(run: int) -> float:
        async with SqliteStorage(path) as store:
            started = time.perf_counter()
            found = await store.list_sessions(statuses=wanted)
            elapsed = time.perf_counter() - started
        if len(found) != sizes.sessions:
            raise AssertionError(f"listed {len(found)} sessions, not {sizes.sessions}")
        return elapsed * 1000

    async with SqliteStorage(path) as store:
        await store.list_sessions(statuses=wanted)

        async def warm(run: int) -> float:
            started = time.perf_counter()
            await store.list_sessions(statuses=wanted)
            return (time.perf_counter() - started) * 1000

        warm_ms = await _median(sizes.repeat, warm)

    async def raw(run: int) -> float:
        with closing(_raw(path)) as conn:
            started = time.perf_counter()
            conn.execute(
                "SELECT id, last_seq, body FROM sessions WHERE status IN (?, ?, ?)"
                " ORDER BY created_at, rowid",
                [s.value for s in wanted],
            ).fetchall()
            return (time.perf_counter() - started) * 1000

    return await _median(sizes.repeat, cold), warm_ms, await _median(sizes.repeat, raw)


# -- main ------------------------------------------------------------------------------------


def _k(value: float) -> str:
    return f"{value / 1000:.0f}k" if value >= 100_000 else f"{value / 1000:.1f}k"


def _count(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


async def run(sizes: Sizes, folder: Path) -> str:
    """Run every figure and return the summary line."""
    logs, raw_logs = await bench_logs(folder, sizes)
    print(
        f"logs:   {_count(sizes.logs)} lines in batches of {sizes.batch}: {logs:,.0f} lines/s"
        f" (raw sqlite3 {raw_logs:,.0f}; ratio {logs / raw_logs:.2f};"
        f" target >= 100,000 and ratio >= 0.5)",
        flush=True,
    )
    events, raw_events = await bench_events(folder, sizes)
    print(
        f"events: {_count(sizes.events)} one per transaction: {events:,.0f}/s"
        f" (raw sqlite3 {raw_events:,.0f}; ratio {events / raw_events:.2f})",
        flush=True,
    )
    replay_s, raw_read_s = await bench_replay(folder, sizes)
    print(
        f"replay: {_count(sizes.replay)} events read and folded: {replay_s:.3f} s"
        f" (raw SELECT alone {raw_read_s:.3f} s; target < 0.5 s for 100k)",
        flush=True,
    )
    cold_ms, warm_ms, raw_ms = await bench_list(folder, sizes)
    print(
        f"list:   {_count(sizes.sessions)} sessions with a status filter: {cold_ms:.0f} ms cold,"
        f" {warm_ms:.1f} ms warm (raw SELECT alone {raw_ms:.1f} ms; target < 50 ms for 10k)",
        flush=True,
    )
    return (
        f"storage: logs {_k(logs)} lines/s (raw {_k(raw_logs)}, ratio {logs / raw_logs:.2f});"
        f" events {_k(events)}/s (raw {_k(raw_events)}, ratio {events / raw_events:.2f});"
        f" replay {_count(sizes.replay)} {replay_s:.2f} s;"
        f" list {_count(sizes.sessions)} {cold_ms:.0f} ms cold, {warm_ms:.0f} ms warm"
    )


def main(argv: list[str] | None = None) -> int:
    """Parse arguments, run the benchmark and print the figures; always 0 once it ran."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, fewer runs")
    parser.add_argument("--repeat", type=int, help="runs per figure (median is reported)")
    parser.add_argument("--dir", type=Path, help="folder for the database files (default: temp)")
    args = parser.parse_args(argv)
    sizes = QUICK if args.quick else FULL
    if args.repeat:
        sizes = Sizes(**{**sizes.__dict__, "repeat": args.repeat})
    folder = Path(tempfile.mkdtemp(prefix="scopecraft-bench-", dir=args.dir))
    try:
        summary = anyio.run(run, sizes, folder)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    print(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
