"""Benchmark: Docker sessions of scopecraft against plain docker-py.

Two figures, on the local Docker engine, with the fake agent's image (built without a registry):

- **start latency**: from ``Engine.create_session`` to the agent's container running (the
  ``session_started`` event, written once the engine's ``start`` call returned), the task's
  worktree already prepared, against docker-py ``containers.create`` plus ``start`` of the same
  image and command with the same hardening (capabilities dropped, no-new-privileges, init,
  limits, no network, the worktree mounted). The runs alternate so that a busy machine slows
  both alike; medians of ``--runs`` (at least 10).
- **throughput**: ``--sessions`` sessions (20) at once, each printing ``--megabytes`` (5 MB) of
  numbered 100-byte lines through the ``command`` agent (busybox ``awk``): every line must be
  stored exactly once and in order, and the engine process's peak RSS (psutil, sampled every
  20 ms) should stay under 150 MB.

The last line printed is the start latency ratio ``scopecraft / docker-py`` (goal: at most
1.15). It exits 0 whenever it ran. Usage::

    python benchmarks/docker_sessions.py [--runs 12] [--sessions 20] [--megabytes 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where a sibling benchmark named like a
# standard module would shadow it: look for modules elsewhere.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from typing import Any

import anyio
import docker
import psutil

from scopecraft import Engine, PriorityQueuePolicy, SessionStatus

try:
    from scopecraft.testing import fake_agent_image  # type: ignore[attr-defined,unused-ignore]
except ImportError:  # until scopecraft.testing exports it
    from scopecraft.testing._images import fake_agent_image

LINE_BYTES = 100  # with its newline
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
TASK = """# Benchmark task

---
type: chore
status: todo
area: bench
---

## Instruction
Print lines.

## Log
"""


def git(*args: str, cwd: Path) -> None:
    """Run git, fail loudly."""
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def make_repository(root: Path, tasks: list[str]) -> Path:
    """A repository with one commit holding a task file per id."""
    repo = root / "bench"
    (repo / ".tasks" / "current").mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README.md").write_text("# bench\n")
    for task_id in tasks:
        (repo / ".tasks" / "current" / f"{task_id}.task.md").write_text(TASK)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "bench", cwd=repo)
    return repo


def engine_config(argv: list[str]) -> dict[str, Any]:
    """No network; the command agent runs ``argv``; lines collected as often as the tests do."""
    return {
        "executors": {"docker": {"network": "none"}},
        "agents": {"command": {"argv": argv}},
        "stop_grace": 2,
    }


HARDENING: dict[str, Any] = {
    "network_mode": "none",
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges"],
    "init": True,
    "pids_limit": 1024,
    "mem_limit": 4096 * 1024 * 1024,
    "memswap_limit": 4096 * 1024 * 1024,
    "nano_cpus": 1_000_000_000,
}


def raw_start(client: Any, image: str, argv: list[str], workdir: Path) -> float:
    """Seconds for docker-py to create and start the container (removed afterwards)."""
    started = time.perf_counter()
    container = client.containers.create(
        image,
        argv,
        detach=True,
        user=f"{os.getuid()}:{os.getgid()}",
        volumes={str(workdir): {"bind": "/workspace", "mode": "rw"}},
        working_dir="/workspace",
        **HARDENING,
    )
    container.start()
    elapsed = time.perf_counter() - started
    container.wait(timeout=60)
    container.remove(force=True)
    return elapsed


async def engine_start(engine: Engine, task_id: str, image: str) -> float:
    """Seconds from ``create_session`` to its ``session_started`` event."""
    t0 = time.time()
    session = await engine.create_session(
        task_id, mode="autonomous", executor="docker", agent="command", image=image
    )
    done = await engine.wait(session.id, timeout=120)
    if done.status is not SessionStatus.COMPLETED:
        raise RuntimeError(f"benchmark session {session.id} ended {done.status}: {done.error}")
    started = [e async for e in engine.events(session_id=session.id) if e.type == "session_started"]
    return started[0].ts.timestamp() - t0


async def start_latency(root: Path, image: str, runs: int) -> tuple[list[float], list[float]]:
    """Alternating runs of both ways to start the same container."""
    argv = ["/bin/busybox", "true"]
    repo = make_repository(root / "latency", ["start-01A"])
    ours: list[float] = []
    plain: list[float] = []
    client = docker.from_env()
    try:
        async with Engine.open(
            repo, home=root / "home-latency", config=engine_config(argv)
        ) as engine:
            # Warm-up: prepares the worktree, opens the Docker client, caches the core count.
            warm = await engine.create_session(
                "start-01A", mode="autonomous", executor="docker", agent="command", image=image
            )
            finished = await engine.wait(warm.id, timeout=120)
            workdir = Path(finished.worktree_path or repo)
            await anyio.to_thread.run_sync(raw_start, client, image, argv, workdir)
            for _ in range(runs):
                ours.append(await engine_start(engine, "start-01A", image))
                plain.append(
                    await anyio.to_thread.run_sync(raw_start, client, image, argv, workdir)
                )
    finally:
        client.close()
    return ours, plain


class PeakRss:
    """The process's peak resident memory, sampled every 20 ms in a thread."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._proc = psutil.Process()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._proc.memory_info().rss)
            self._stop.wait(0.02)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()


async def throughput(
    root: Path, image: str, sessions: int, megabytes: float
) -> tuple[float, int, int, list[str]]:
    """Run ``sessions`` sessions printing ``megabytes`` each; check every line."""
    lines = int(megabytes * 1_000_000 / LINE_BYTES)
    pad = "x" * (LINE_BYTES - 10)
    program = f'BEGIN {{ for (i = 1; i <= {lines}; i++) printf "%08d {pad}\\n", i }}'
    argv = ["/bin/busybox", "awk", program]
    task_ids = [f"print-{n:02d}A" for n in range(1, sessions + 1)]
    repo = make_repository(root / "throughput", task_ids)
    # The worktrees are prepared beforehand, one by one, where the engine looks for them
    # (`<repo>.worktrees/<task>` on `feature/<task>`): the figure is about running sessions.
    for task_id in task_ids:
        worktree = repo.parent / f"{repo.name}.worktrees" / task_id
        git("worktree", "add", "-q", "-b", f"feature/{task_id}", str(worktree), cwd=repo)
    policy = PriorityQueuePolicy(max_concurrent={"autonomous": sessions})
    problems: list[str] = []
    async with Engine.open(
        repo, home=root / "home-throughput", policy=policy, config=engine_config(argv)
    ) as engine:
        with PeakRss() as rss:
            started = time.perf_counter()
            created = [
                await engine.create_session(
                    task_id, mode="autonomous", executor="docker", agent="command", image=image
                )
                for task_id in task_ids
            ]
            for session in created:
                done = await engine.wait(session.id, timeout=900)
                if done.status is not SessionStatus.COMPLETED:
                    problems.append(f"{session.id}: {done.status} {done.error}")
            elapsed = time.perf_counter() - started
        stored = 0
        for session in created:
            expected = 1
            async for entry in engine.session_logs(session.id):
                if entry.stream != "stdout":
                    continue
                number = int(entry.text[:8])
                if number != expected or len(entry.text) != LINE_BYTES - 1:
                    problems.append(f"{session.id}: line {expected} missing, doubled or cut")
                    break
                expected += 1
                stored += 1
            if expected - 1 != lines:
                problems.append(f"{session.id}: {expected - 1} of {lines} lines stored")
    return elapsed, stored, rss.peak, problems


def ms(values: list[float]) -> str:
    """Seconds as whole milliseconds."""
    return " ".join(f"{v * 1000:.0f}" for v in values)


def main() -> None:
    """Run both figures and print them, the ratio last."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=12, help="start latency runs (>= 10)")
    parser.add_argument("--sessions", type=int, default=20, help="concurrent sessions")
    parser.add_argument("--megabytes", type=float, default=5.0, help="output per session")
    args = parser.parse_args()
    image = fake_agent_image()
    root = Path(tempfile.mkdtemp(prefix="scopecraft-bench-"))
    try:
        elapsed, stored, peak, problems = anyio.run(
            throughput, root, image, args.sessions, args.megabytes
        )
        total_mb = args.sessions * args.megabytes
        print(
            f"{args.sessions} sessions x {args.megabytes:g} MB: {elapsed:.1f} s "
            f"({total_mb / elapsed:.1f} MB/s, {stored / elapsed:,.0f} lines/s), "
            f"{stored:,} lines stored"
        )
        print(f"  lines lost, doubled or cut: {'none' if not problems else len(problems)}")
        for problem in problems[:10]:
            print(f"    {problem}")
        print(f"  engine peak RSS: {peak / 1e6:.0f} MB (goal < 150 MB)")
        ours, plain = anyio.run(start_latency, root, image, max(args.runs, 10))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"start, scopecraft create_session -> running: {statistics.median(ours) * 1000:.0f} ms")
    print(f"start, docker-py create + start:             {statistics.median(plain) * 1000:.0f} ms")
    print(f"  each run, scopecraft: {ms(ours)} ms")
    print(f"  each run, docker-py:  {ms(plain)} ms")
    ratio = statistics.median(ours) / statistics.median(plain)
    print(f"start latency ratio (scopecraft / docker-py), goal <= 1.15: {ratio:.3f}")


if __name__ == "__main__":
    main()
