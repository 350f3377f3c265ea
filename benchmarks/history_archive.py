"""Benchmark the session history archive: what one record's commit on
``refs/scopecraft/history`` costs once a task has many archived sessions.

For each depth (sessions already archived for one task) it writes that many records, then
times ``--commits`` more and prints the median per commit, compared with a bare
``git hash-object -w`` of the same record (the raw tool's write of one object). The cost
should not grow with the depth: each commit rewrites the task's folder, which holds shard
folders (at most 36²), not one entry per session::

    python benchmarks/history_archive.py
    python benchmarks/history_archive.py --depth 10000 --commits 50
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where a sibling benchmark named like a
# standard module (queue.py) would shadow it: look for modules elsewhere.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import anyio

from scopecraft.worktrees import GitHistory

RECORD = {"summary": "a session", "cost_usd": 0.01, "created_at": "2026-12-02T00:00:00+00:00"}


def _git(*args: str, cwd: Path, data: bytes | None = None) -> bytes:
    identity = ["-c", "user.name=bench", "-c", "user.email=bench@scopecraft.invalid"]
    return subprocess.run(
        ["git", *identity, *args], cwd=cwd, input=data, capture_output=True, check=True
    ).stdout


def _session_id(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    for _ in range(8):
        n, rest = divmod(n, 36)
        text = digits[rest] + text
    return f"ses-{text[::-1]}"


async def measure(repo: Path, depth: int, commits: int) -> list[float]:
    history = GitHistory(repo)
    for n in range(depth):
        await history.archive_session(RECORD, "bench-01A", _session_id(n))
    times = []
    for n in range(depth, depth + commits):
        start = time.perf_counter()
        await history.archive_session(RECORD, "bench-01A", _session_id(n))
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--depth", type=int, action="append", help="archived sessions first")
    parser.add_argument("--commits", type=int, default=30, help="commits timed per depth")
    args = parser.parse_args()
    depths = args.depth or [0, 1000, 5000]
    with tempfile.TemporaryDirectory() as scratch:
        for depth in depths:
            repo = Path(scratch, f"repo-{depth}")
            repo.mkdir()
            _git("init", "-q", "-b", "main", cwd=repo)
            _git("commit", "-q", "--allow-empty", "-m", "init", cwd=repo)
            per_commit = statistics.median(anyio.run(measure, repo, depth, args.commits))
            raw = []
            for _ in range(args.commits):
                start = time.perf_counter()
                _git("hash-object", "-w", "--stdin", cwd=repo, data=b'{"summary": "x"}\n')
                raw.append(time.perf_counter() - start)
            raw_median = statistics.median(raw)
            print(
                f"depth {depth:>6}: {per_commit * 1000:6.2f} ms per archived record, "
                f"git hash-object {raw_median * 1000:5.2f} ms, "
                f"ratio {per_commit / raw_median:.2f}"
            )


if __name__ == "__main__":
    main()
