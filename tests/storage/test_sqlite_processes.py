"""Several processes share one SQLite store: nothing is lost, and a lease has one holder."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from typing import Any

WORKER = Path(__file__).with_name("_sqlite_worker.py")
WRITERS = 4
ROUNDS = 15
LINES = 5


def _run_workers(go: Path, argvs: list[list[str]]) -> list[dict[str, Any]]:
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), *argv],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for argv in argvs
    ]
    try:
        go.touch()
        results = [p.communicate(timeout=60) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.communicate()
    outputs: list[dict[str, Any]] = []
    for proc, (out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower(), err
        assert "busy" not in err.lower(), err
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    return outputs


def _rows(db: Path, sql: str, *params: Any) -> list[Any]:
    with closing(sqlite3.connect(db)) as conn:
        return conn.execute(sql, params).fetchall()


def test_four_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    """Four processes open a new store at once and append to their own and to a shared
    session: every event and line is stored, seqs are unique and gapless, batches stay whole,
    projections match the events, and no process sees a lock error."""
    db = tmp_path / "scopecraft.db"
    go = tmp_path / "go"
    outputs = _run_workers(
        go, [["write", str(db), str(i), str(ROUNDS), str(go)] for i in range(WRITERS)]
    )
    assert len({o["store_id"] for o in outputs}) == 1, "the store was created more than once"

    for i in range(WRITERS):
        own = f"ses-worker{i}"
        events = _rows(db, "SELECT seq, body FROM events WHERE session_id = ? ORDER BY seq", own)
        assert [seq for seq, _ in events] == list(range(1, ROUNDS + 2))
        texts = [json.loads(body).get("text") for _, body in events[1:]]
        assert texts == [f"w{i}-r{r}" for r in range(ROUNDS)]
        logs = _rows(db, "SELECT seq, text FROM logs WHERE session_id = ? ORDER BY seq", own)
        assert [seq for seq, _ in logs] == list(range(1, ROUNDS * LINES + 1))
        assert [t for _, t in logs] == [f"w{i}-r{r}/{n}" for r in range(ROUNDS) for n in range(5)]

    shared = "ses-shared"
    events = _rows(db, "SELECT seq, body FROM events WHERE session_id = ? ORDER BY seq", shared)
    assert [seq for seq, _ in events] == list(range(1, WRITERS * ROUNDS + 2))
    assert [json.loads(body)["type"] for _, body in events].count("session_queued") == 1
    texts = [json.loads(body).get("text") for _, body in events[1:]]
    for i in range(WRITERS):
        assert [t for t in texts if t.startswith(f"w{i}-")] == [f"w{i}-r{r}" for r in range(ROUNDS)]
    logs = [
        t for (t,) in _rows(db, "SELECT text FROM logs WHERE session_id = ? ORDER BY seq", shared)
    ]
    assert len(logs) == WRITERS * ROUNDS * LINES
    batches = [logs[k : k + LINES] for k in range(0, len(logs), LINES)]
    for batch in batches:
        prefix = batch[0].split("/")[0]
        assert batch == [f"{prefix}/{n}" for n in range(LINES)], "a batch was interleaved"

    for session_id, last_seq in _rows(db, "SELECT id, last_seq FROM sessions"):
        (count,) = _rows(db, "SELECT count(*) FROM events WHERE session_id = ?", session_id)[0]
        assert last_seq == count


def test_two_processes_never_hold_one_lease_at_once(tmp_path: Path) -> None:
    """Two processes compete for one lease (taking, renewing, releasing it): the windows in
    which each surely held it never overlap, and both got it at some point."""
    db = tmp_path / "scopecraft.db"
    go = tmp_path / "go"
    outputs = _run_workers(
        go, [["lease", str(db), holder, "0.8", str(go)] for holder in ("engine-a", "engine-b")]
    )
    a, b = ([tuple(w) for w in o["held"]] for o in outputs)
    assert a
    assert b
    for (a_start, a_end), (b_start, b_end) in itertools.product(a, b):
        assert max(a_start, b_start) >= min(a_end, b_end), "both processes held the lease"
