"""Benchmark tmux sessions started by the engine against plain ``tmux new-session -d``.

Two figures:

* start latency: an interactive session through the engine (``create_session`` until its
  ``session_started`` event; the worktree already prepared) against ``tmux new-session -d``
  of the same agent command on the same server, median of several alternating runs
  (goal: ratio at most 3);
* dispatch: 50 dispatch sessions, the subtasks of one parent sharing its worktree, from one
  ``Engine.dispatch`` call until every one has started (goal: under 2 s in all), median of
  three rounds, beside 50 plain ``tmux new-session -d`` of the same command one after the
  other.

The agent is the scripted fake agent, listening (it stays up until the session is
cancelled). Everything runs on a private tmux server that is killed at the end; an unrelated
session keeps it up meanwhile, so neither way pays for starting a server (a server exits
with its last session). Every measured start waits until the previous sessions are torn
down (their tmux sessions removed, which is the last step of their teardown), so no
measurement includes another session's clean-up. The script exits 0 whenever it ran,
whatever the figures; its last line is the ratio::

    python benchmarks/tmux_sessions.py
    python benchmarks/tmux_sessions.py --runs 5 --sessions 20
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this folder comes first on sys.path, where a sibling benchmark named like a
# standard module (queue.py) would shadow it: look for modules elsewhere.
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    del sys.path[0]

import argparse
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from typing import Any

import anyio

from scopecraft import Engine, PriorityQueuePolicy, SessionStatus
from scopecraft.testing import fake_agent_script

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "Bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "Bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}
TASK = """# {title}

---
type: chore
status: todo
area: bench
---

## Instruction
fake: say ready
fake: listen

## Log
"""
PARENT = "batch-01B"
QUIET = 0.2  # seconds left between measured starts, once the previous one is torn down


def git(*args: str, cwd: Path) -> None:
    """Run git, fail loudly."""
    subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True)


def subtask_id(n: int, sequence: int = 1) -> str:
    """The id of the parent's ``n``-th subtask; the dispatched ones share sequence 01."""
    return f"{sequence:02d}_part{n}-01B"


def make_repository(root: Path, subtasks: int) -> Path:
    """A repository with one task and a parent task holding ``subtasks`` subtasks."""
    repo = root / "bench"
    current = repo / ".tasks" / "current"
    (current / PARENT).mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README.md").write_text("# bench\n")
    (current / "start-01A.task.md").write_text(TASK.format(title="Start"))
    (current / PARENT / "_overview.md").write_text(TASK.format(title="Batch"))
    for n in range(subtasks):
        path = current / PARENT / f"{subtask_id(n)}.task.md"
        path.write_text(TASK.format(title=f"Part {n}"))
    # One more in its own group, to prepare the shared worktree before the measure.
    warm = current / PARENT / f"{subtask_id(subtasks, sequence=2)}.task.md"
    warm.write_text(TASK.format(title="Warm-up"))
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "bench", cwd=repo)
    return repo


def tmux(socket: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    """Run ``tmux -L socket ARGS``."""
    return subprocess.run(["tmux", "-L", socket, *args], capture_output=True, check=False)


def plain_start(socket: str, name: str, argv: list[str], workdir: Path) -> float:
    """Seconds for ``tmux new-session -d`` of ``argv`` (the session is killed afterwards)."""
    command = ["tmux", "-L", socket, "new-session", "-d", "-s", name, "--", *argv]
    started = time.perf_counter()
    subprocess.run(command, cwd=workdir, check=True, capture_output=True)
    elapsed = time.perf_counter() - started
    tmux(socket, "kill-session", "-t", f"={name}")
    return elapsed


async def started_at(engine: Engine, session_id: str) -> float:
    """The wall-clock time of the session's ``session_started`` event."""
    # Following the stream waits on the engine's own wake-up, not a poll that would compete
    # with the launch for the store.
    with anyio.fail_after(60):
        async for event in engine.events(session_id=session_id, follow=True):
            if event.type == "session_started":
                return event.ts.timestamp()
            if event.type in ("session_failed", "session_cancelled"):
                session = await engine.get_session(session_id)
                raise RuntimeError(f"session {session_id} ended: {session.error}")
    raise RuntimeError(f"session {session_id} ended before it started")


def wait_removed(socket: str, names: list[str]) -> None:
    """Wait until none of the tmux sessions ``names`` exists any more.

    A cancelled session is ended (``engine.wait`` returns) before its teardown is done: the
    task log, the commit of what the agent left, and last the removal of its tmux session.
    A measurement that overlapped that work would measure it too.
    """
    deadline = time.monotonic() + 60
    for name in names:
        while time.monotonic() < deadline:
            probe = subprocess.run(
                ["tmux", "-L", socket, "has-session", "-t", f"={name}"], capture_output=True
            )
            if probe.returncode != 0:
                break
            time.sleep(0.01)


def tmux_name(session_id: str, attempt: int = 1) -> str:
    """The tmux session of an attempt (see docs/tmux.md)."""
    return f"scopecraft-{session_id}-{attempt}"


async def engine_start(engine: Engine, socket: str, task_id: str) -> float:
    """Seconds from ``create_session`` to its ``session_started`` event; then cancelled, and
    its teardown awaited."""
    t0 = time.time()
    session = await engine.create_session(
        task_id, mode="interactive", executor="tmux", agent="fake"
    )
    elapsed = await started_at(engine, session.id) - t0
    await engine.cancel_session(session.id)
    await engine.wait(session.id, timeout=60)
    await anyio.to_thread.run_sync(wait_removed, socket, [tmux_name(session.id)])
    return elapsed


def agent_argv(prompt: Path) -> list[str]:
    """The fake agent's terminal command, as its adapter builds it."""
    return [
        os.path.realpath("/bin/sh"),
        str(fake_agent_script()),
        "--print",
        "--output-format",
        "stream-json",
        "--verbose",
        "--prompt-file",
        str(prompt),
    ]


def plain_many(socket: str, count: int, argv: list[str], workdir: Path) -> float:
    """Seconds for ``count`` plain ``tmux new-session -d`` one after the other (then killed)."""
    started = time.perf_counter()
    for n in range(count):
        subprocess.run(
            ["tmux", "-L", socket, "new-session", "-d", "-s", f"many-{n}", "--", *argv],
            cwd=workdir,
            check=True,
            capture_output=True,
        )
    elapsed = time.perf_counter() - started
    for n in range(count):
        tmux(socket, "kill-session", "-t", f"=many-{n}")
    return elapsed


async def start_latency(
    engine: Engine, socket: str, runs: int, prompt: Path
) -> tuple[list[float], list[float], Path]:
    """Alternating runs of both ways to start the same agent command."""
    warm = await engine.create_session(
        "start-01A", mode="interactive", executor="tmux", agent="fake"
    )
    await started_at(engine, warm.id)
    workdir = Path((await engine.get_session(warm.id)).worktree_path or ".")
    await engine.cancel_session(warm.id)
    await engine.wait(warm.id, timeout=60)
    await anyio.to_thread.run_sync(wait_removed, socket, [tmux_name(warm.id)])
    argv = agent_argv(prompt)
    ours: list[float] = []
    plain: list[float] = []
    await anyio.to_thread.run_sync(plain_start, socket, "plain-warm", argv, workdir)
    for run in range(runs):
        # Each start is measured on a quiet machine: the previous session's teardown (its
        # runtime removed after its end is stored) and agent start-up are let finish first.
        await anyio.sleep(QUIET)
        ours.append(await engine_start(engine, socket, "start-01A"))
        await anyio.sleep(QUIET)
        plain.append(
            await anyio.to_thread.run_sync(plain_start, socket, f"plain-{run}", argv, workdir)
        )
    return ours, plain, workdir


async def dispatch(
    engine: Engine, socket: str, sessions: int, rounds: int
) -> tuple[list[float], int]:
    """Seconds from one ``Engine.dispatch`` call until all ``sessions`` have started, for
    each of ``rounds`` rounds (every session cancelled and ended between rounds)."""
    warm = await engine.create_session(
        subtask_id(sessions, sequence=2), mode="dispatch", executor="tmux", agent="fake"
    )
    await started_at(engine, warm.id)
    await engine.cancel_session(warm.id)
    await engine.wait(warm.id, timeout=60)
    await anyio.to_thread.run_sync(wait_removed, socket, [tmux_name(warm.id)])
    times: list[float] = []
    running = sessions
    for _ in range(rounds):
        await anyio.sleep(QUIET * 5)
        t0 = time.time()
        created = await engine.dispatch(PARENT, sequence=1, executor="tmux", agent="fake")
        assert len(created) == sessions
        last = max([await started_at(engine, s.id) for s in created])
        times.append(last - t0)
        alive = 0
        for session in created:
            if (await engine.get_session(session.id)).status is SessionStatus.RUNNING:
                alive += 1
            await engine.cancel_session(session.id)
        running = min(running, alive)
        for session in created:
            await engine.wait(session.id, timeout=60)
        names = [tmux_name(session.id) for session in created]
        await anyio.to_thread.run_sync(wait_removed, socket, names)
    return times, running


def ms(values: list[float]) -> str:
    """Seconds as milliseconds."""
    return " ".join(f"{v * 1000:.1f}" for v in values)


async def run(args: argparse.Namespace, root: Path, socket: str) -> None:
    """Both figures, printed; the ratio last."""
    repo = make_repository(root, args.sessions)
    prompt = root / "prompt.md"
    prompt.write_text("fake: say ready\nfake: listen\n")
    config: dict[str, Any] = {
        "executors": {"tmux": {"socket_name": socket}},
        "stop_grace": 2,
    }
    policy = PriorityQueuePolicy(max_concurrent={"dispatch": None, "interactive": None})
    # A server that loses its last session exits, and the next start pays for a new one:
    # an unrelated session keeps it up, so both ways measure a start on a running server.
    tmux(socket, "-f", os.devnull, "new-session", "-d", "-s", "bench-keeper", "sleep", "3600")
    async with Engine.open(repo, home=root / "home", config=config, policy=policy) as engine:
        ours, plain, workdir = await start_latency(engine, socket, args.runs, prompt)
        rounds, running = await dispatch(engine, socket, args.sessions, args.rounds)
        elapsed = statistics.median(rounds)
    raw_many = statistics.median(
        [
            await anyio.to_thread.run_sync(
                plain_many, socket, args.sessions, agent_argv(prompt), workdir
            )
            for _ in range(args.rounds)
        ]
    )
    ours_median = statistics.median(ours)
    plain_median = statistics.median(plain)
    ratio = ours_median / plain_median
    print(f"engine interactive start (ms): {ms(ours)}")
    print(f"plain tmux new-session -d (ms): {ms(plain)}")
    print(f"start median: engine {ours_median * 1000:.1f} ms, tmux {plain_median * 1000:.1f} ms")
    verdict = "met" if elapsed < 2.0 else "MISSED"
    print(f"dispatch rounds (s): {' '.join(f'{t:.2f}' for t in rounds)}")
    print(
        f"dispatch: {args.sessions} sessions started in {elapsed:.2f} s, median of "
        f"{len(rounds)} ({running} running; goal < 2 s: {verdict}); plain tmux one after "
        f"the other: {raw_many:.2f} s"
    )
    goal = "met" if ratio <= 3 else "MISSED"
    print(f"ratio engine/tmux start: {ratio:.2f} (goal <= 3: {goal})")


def main() -> None:
    """Run the benchmark on a private tmux server, and clean up."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="start latency runs")
    parser.add_argument("--sessions", type=int, default=50, help="dispatch sessions")
    parser.add_argument("--rounds", type=int, default=3, help="dispatch rounds")
    args = parser.parse_args()
    if shutil.which("tmux") is None:
        print("tmux is not installed; nothing measured")
        print("ratio engine/tmux start: n/a")
        return
    socket = f"sc-bench-{os.getpid()}"
    root = Path(tempfile.mkdtemp(prefix="scopecraft-bench-tmux-"))
    try:
        anyio.run(run, args, root, socket)
    finally:
        tmux(socket, "kill-server")
        with contextlib.suppress(OSError):
            (
                Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}" / socket
            ).unlink()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
