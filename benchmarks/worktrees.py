"""Benchmark: preparing a worktree with scopecraft against plain ``git worktree add``.

On a generated repository of 10,000 files (about 40 MB checked out), it measures:

- preparing a **new** worktree (``GitWorktreeOrchestrator.prepare``: lock, look, ``git worktree
  add`` with parallel checkout, unlock) against plain ``git worktree add -b`` of a branch from
  the same commit; the runs alternate so that a busy machine slows both alike; medians;
- preparing an **existing** worktree (the reuse path every later session takes);
- pygit2's own ``add_worktree`` (single-threaded checkout), to show why the CLI is used.

The last line printed is the ratio ``prepare / plain`` for a new worktree (goal: at most 1.05).
It exits 0 whenever it ran. Usage::

    python benchmarks/worktrees.py [--files 10000] [--runs 7] [--dir /path/on/the/disk/to/test]
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
import time

import anyio
import anyio.from_thread
import anyio.to_thread

from scopecraft.worktrees import GitWorktreeOrchestrator

GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def git(*args: str, cwd: Path) -> str:
    """Run git, fail loudly, return its output."""
    return subprocess.run(
        ["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True, text=True
    ).stdout


def make_repository(root: Path, files: int) -> Path:
    """Write ``files`` source files in 100 folders and commit them on ``main``."""
    repo = root / "bench"
    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    for n in range(files):
        folder = repo / "src" / f"pkg{n % 100:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        lines = 10 + (n * 7919) % 90
        (folder / f"module{n:05d}.py").write_text(
            "".join(f"value_{n}_{i} = {i * n}\n" for i in range(lines))
        )
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "generated", cwd=repo)
    return repo


def remove(repo: Path, path: Path, branch: str) -> None:
    """Remove a worktree and its branch (not timed)."""
    git("worktree", "remove", "--force", str(path), cwd=repo)
    git("branch", "-q", "-D", branch, cwd=repo)


def plain_add(repo: Path, root: Path, n: int) -> float:
    """Time ``git worktree add -b`` of a new branch from main."""
    path = root / f"plain-{n}"
    started = time.perf_counter()
    subprocess.run(
        ["git", "worktree", "add", "--quiet", "-b", f"plain-{n}", str(path), "main"],
        cwd=repo,
        env=GIT_ENV,
        check=True,
    )
    elapsed = time.perf_counter() - started
    remove(repo, path, f"plain-{n}")
    return elapsed


async def scopecraft_prepare(orch: GitWorktreeOrchestrator, repo: Path, n: int) -> float:
    """Time ``prepare`` of a new environment (its branch is created from main)."""
    binding = await orch.bind_env(f"bench-{n:02d}A")
    started = time.perf_counter()
    prepared = await orch.prepare(binding)
    elapsed = time.perf_counter() - started
    assert prepared.created
    remove(repo, binding.path, binding.branch)
    return elapsed


def pygit2_add(repo: Path, root: Path, n: int) -> float:
    """Time pygit2's ``add_worktree`` (libgit2's checkout) of a new branch from main."""
    import pygit2

    handle = pygit2.Repository(str(repo))
    branch = handle.branches.local.create(
        f"pg-{n}", handle.revparse_single("main").peel(pygit2.Commit)
    )
    path = root / f"pg-{n}"
    started = time.perf_counter()
    handle.add_worktree(f"pg-{n}", str(path), branch)
    elapsed = time.perf_counter() - started
    remove(repo, path, f"pg-{n}")
    return elapsed


def ms(seconds: float) -> str:
    """Format seconds as milliseconds."""
    return f"{seconds * 1000:8.1f} ms"


async def run(files: int, runs: int, base: Path) -> float:
    """Run every measurement and print them; return the new-worktree ratio."""
    repo = make_repository(base, files)
    root = base / "bench.worktrees"
    root.mkdir()
    orch = GitWorktreeOrchestrator(repo)
    await orch.repo_info()
    # One warm-up of each, so the object store is in the page cache for everyone.
    plain_add(repo, root, 99)
    await scopecraft_prepare(orch, repo, 99)
    workers = await orch.checkout_workers()
    other = 1 if workers > 1 else min(os.cpu_count() or 1, 8)
    alternative = GitWorktreeOrchestrator(repo, checkout_workers=other)
    plain: list[float] = []
    ours: list[float] = []
    serial: list[float] = []
    for n in range(runs):
        # Rotate who goes first, so that a machine busy with other work slows all alike.
        contenders = [
            lambda n=n: plain.append(plain_add(repo, root, n)),
            lambda n=n: ours.append(anyio.from_thread.run(scopecraft_prepare, orch, repo, n)),
            lambda n=n: serial.append(
                anyio.from_thread.run(scopecraft_prepare, alternative, repo, 50 + n)
            ),
        ]
        for k in range(3):
            await anyio.to_thread.run_sync(contenders[(n + k) % 3])
    libgit2 = [pygit2_add(repo, root, n) for n in range(3)]
    binding = await orch.bind_env("existing-05A")
    await orch.prepare(binding)
    reuse: list[float] = []
    for _ in range(30):
        started = time.perf_counter()
        prepared = await orch.prepare(binding)
        reuse.append(time.perf_counter() - started)
        assert not prepared.created
    remove(repo, binding.path, binding.branch)

    print(f"repository: {files} files, {os.cpu_count()} CPUs, in {base}")
    print(f"runs: {runs} (order rotated each round), medians; checkout workers chosen: {workers}")
    print(f"plain git worktree add -b         {ms(statistics.median(plain))}")
    print(f"scopecraft prepare (new)          {ms(statistics.median(ours))}  (default workers)")
    print(f"scopecraft prepare, workers={other:<2d}    {ms(statistics.median(serial))}")
    if other == 1:
        overhead = statistics.median(serial) / statistics.median(plain)
        print(f"  same checkout as plain (workers=1), ratio: {overhead:.3f}")
    print(f"pygit2 add_worktree               {ms(statistics.median(libgit2))}")
    print(f"scopecraft prepare (existing)     {ms(statistics.median(reuse))}  (goal < 20 ms)")
    print(f"  each run, plain: {' '.join(f'{x * 1000:.0f}' for x in plain)} ms")
    print(f"  each run, ours:  {' '.join(f'{x * 1000:.0f}' for x in ours)} ms")
    print(f"  each run, ours, workers={other}: {' '.join(f'{x * 1000:.0f}' for x in serial)} ms")
    ratio = statistics.median(ours) / statistics.median(plain)
    return ratio


def main() -> int:
    """Parse arguments, run, print the ratio last."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--dir", type=Path, default=None, help="where to build the repository")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="scopecraft-bench-", dir=args.dir))
    try:
        ratio = anyio.run(run, args.files, args.runs, base)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    print(f"new worktree ratio (prepare / git worktree add), goal <= 1.05: {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
