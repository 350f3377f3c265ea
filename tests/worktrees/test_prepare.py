"""Prepare: create, reuse, repair, lock, and refuse, on real repositories."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import psutil
import pytest
from support import git

from scopecraft._errors import InvalidName, MainWorktreeRefused
from scopecraft.worktrees import (
    GitWorktreeOrchestrator,
    WorktreeBinding,
    WorktreeConflict,
    WorktreeLocked,
)
from scopecraft.worktrees._inspect import admin_entries

WORKER = Path(__file__).with_name("prepare_worker.py")


@pytest.mark.anyio
async def test_creates_from_the_default_branch_then_reuses(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """The first prepare creates branch and folder from main's tip; the next reuses them."""
    binding = await orch.bind_env("auth-05A")
    first = await orch.prepare(binding)
    assert first.created
    assert first.base == git("rev-parse", "main", cwd=wt_repo).strip()
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=binding.path).strip() == binding.branch
    assert not (binding.path / ".env").exists(), "no setup configured, nothing copied"
    second = await orch.prepare(binding)
    assert not second.created
    assert second.repaired is None
    assert git("status", "--porcelain", cwd=wt_repo) == ""


@pytest.mark.anyio
async def test_base_is_configurable_and_an_existing_branch_is_checked_out(
    wt_repo: Path,
) -> None:
    """``base=`` starts new branches elsewhere; an existing branch is used as it is."""
    first = git("rev-parse", "HEAD~1", cwd=wt_repo).strip()
    orch = GitWorktreeOrchestrator(wt_repo, base="HEAD~1")
    prepared = await orch.prepare(await orch.bind_env("auth-05A"))
    assert prepared.base == first
    git("branch", "feature/other-05C", "main", cwd=wt_repo)
    existing = await orch.prepare(await orch.bind_env("other-05C"))
    assert existing.created
    assert existing.base is None
    head = git("rev-parse", "HEAD", cwd=existing.binding.path).strip()
    assert head == git("rev-parse", "main", cwd=wt_repo).strip()


@pytest.mark.anyio
async def test_same_env_prepared_concurrently_in_one_process(
    orch: GitWorktreeOrchestrator,
) -> None:
    """Several tasks preparing one env at once get one worktree, created exactly once."""
    binding = await orch.bind_env("api-05B")
    results: list[bool] = []

    async def one() -> None:
        results.append((await orch.prepare(binding)).created)

    async with anyio.create_task_group() as tg:
        for _ in range(4):
            tg.start_soon(one)
    assert sorted(results) == [False, False, False, True]


def test_same_env_prepared_by_two_processes(wt_repo: Path, tmp_path: Path) -> None:
    """Two processes released at the same instant get the same worktree; one creates it."""
    go = tmp_path / "go"
    procs = [
        subprocess.Popen(
            [sys.executable, str(WORKER), str(wt_repo), "auth-05A", str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(0.5)
    go.touch()
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outputs
    lines = sorted(out.strip() for out, _ in outputs)
    paths = {line.split(" path=")[1] for line in lines}
    assert len(paths) == 1
    assert [line.split()[0] for line in lines] == ["created=False", "created=True"]
    assert len(admin_entries(wt_repo / ".git")) == 1


@pytest.mark.anyio
async def test_a_deleted_folder_is_repaired(wt_repo: Path, orch: GitWorktreeOrchestrator) -> None:
    """A registered worktree whose folder was deleted is pruned and re-created from its branch."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    (binding.path / "kept.txt").write_text("committed work\n")
    git("add", "kept.txt", cwd=binding.path)
    git("commit", "-q", "-m", "work", cwd=binding.path)
    await anyio.to_thread.run_sync(lambda: __import__("shutil").rmtree(binding.path))
    repaired = await orch.prepare(binding)
    assert repaired.created
    assert repaired.repaired is not None
    assert "deleted" in repaired.repaired
    assert (binding.path / "kept.txt").read_text() == "committed work\n"


def _dead_pid() -> tuple[int, float]:
    proc = psutil.Popen([sys.executable, "-c", "pass"])
    started = proc.create_time()
    proc.wait()
    return proc.pid, started


def _lock(repo: Path, path: Path, reason: str) -> None:
    entry = next(e for e in admin_entries(repo / ".git") if e.path == path)
    (entry.admin / "locked").write_text(reason + "\n")


@pytest.mark.anyio
async def test_a_stale_lock_of_a_dead_process_is_taken_over(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """A worktree locked by a prepare whose process died is re-created, not trusted."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    (binding.path / "README.md").unlink()  # as if checkout stopped half-way
    pid, started = _dead_pid()
    host = socket.gethostname()
    _lock(wt_repo, binding.path, f"scopecraft prepare: pid={pid} started={started:.2f} host={host}")
    prepared = await orch.prepare(binding)
    assert prepared.created
    assert prepared.repaired is not None
    assert str(pid) in prepared.repaired
    assert (binding.path / "README.md").exists()
    assert admin_entries(wt_repo / ".git")[0].locked is None


@pytest.mark.anyio
async def test_live_and_foreign_locks_are_respected(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """A lock naming a live process or another host is refused; a person's lock is honoured."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    me = psutil.Process(os.getppid())
    _lock(
        wt_repo,
        binding.path,
        f"scopecraft prepare: pid={me.pid} started={me.create_time():.2f} "
        f"host={socket.gethostname()}",
    )
    with pytest.raises(WorktreeLocked, match=f"process {me.pid}"):
        await orch.prepare(binding)
    _lock(wt_repo, binding.path, "scopecraft prepare: pid=1 started=1.00 host=elsewhere")
    with pytest.raises(WorktreeLocked, match="elsewhere"):
        await orch.prepare(binding)
    _lock(wt_repo, binding.path, "on my usb drive")
    assert not (await orch.prepare(binding)).created
    await anyio.to_thread.run_sync(lambda: __import__("shutil").rmtree(binding.path))
    with pytest.raises(WorktreeLocked, match="usb drive"):
        await orch.prepare(binding)


def test_a_prepare_killed_during_setup_is_finished_by_the_next(
    wt_repo: Path, tmp_path: Path
) -> None:
    """A process killed in its setup leaves a worktree whose setup the next prepare reruns."""
    go = tmp_path / "go"
    go.touch()
    started = tmp_path / "started"
    script = f"touch {started}; sleep 30"
    proc = subprocess.Popen(
        [sys.executable, str(WORKER), str(wt_repo), "auth-05A", str(go), "sh", "-c", script],
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while not started.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert started.exists()
    orch = GitWorktreeOrchestrator(wt_repo, setup={"command": ["sh", "-c", "echo again"]})

    async def again() -> None:
        prepared = await orch.prepare(await orch.bind_env("auth-05A"))
        assert not prepared.created
        assert prepared.setup is not None
        assert prepared.setup.output == "again\n"
        assert (await orch.prepare(await orch.bind_env("auth-05A"))).setup is None

    anyio.run(again)


@pytest.mark.anyio
async def test_conflicts_are_refused(wt_repo: Path, orch: GitWorktreeOrchestrator) -> None:
    """A foreign folder, a branch held elsewhere or by the main worktree is refused clearly."""
    binding = await orch.bind_env("auth-05A")
    binding.path.mkdir(parents=True)
    (binding.path / "mine.txt").write_text("not a worktree\n")
    with pytest.raises(WorktreeConflict, match="not a worktree"):
        await orch.prepare(binding)
    other = await orch.bind_env("billing-05A", branch="feature/shared")
    await orch.prepare(other)
    clash = await orch.bind_env("other-05C", branch="feature/shared")
    with pytest.raises(WorktreeConflict, match="checked out in"):
        await orch.prepare(clash)
    git("checkout", "-q", "-b", "feature/mine", cwd=wt_repo)
    try:
        with pytest.raises(MainWorktreeRefused, match="main worktree"):
            await orch.prepare(await orch.bind_env("x-05D", branch="feature/mine"))
    finally:
        git("checkout", "-q", "main", cwd=wt_repo)
    assert len(admin_entries(wt_repo / ".git")) == 1


@pytest.mark.anyio
async def test_handmade_bindings_are_checked(
    wt_repo: Path, orch: GitWorktreeOrchestrator, tmp_path: Path
) -> None:
    """A binding built by hand is validated: names, the default branch, and its folder."""
    good = await orch.bind_env("auth-05A")
    with pytest.raises(InvalidName):
        await orch.prepare(WorktreeBinding(env_id="$(x)", branch=good.branch, path=good.path))
    with pytest.raises(MainWorktreeRefused):
        await orch.prepare(WorktreeBinding(env_id="auth-05A", branch="main", path=good.path))
    with pytest.raises(MainWorktreeRefused):
        await orch.prepare(WorktreeBinding(env_id="auth-05A", branch=good.branch, path=wt_repo))
    outside = WorktreeBinding(env_id="auth-05A", branch=good.branch, path=tmp_path / "elsewhere")
    with pytest.raises(InvalidName, match="inside"):
        await orch.prepare(outside)


@pytest.mark.anyio
async def test_record_changes_commits_leftovers_not_in_the_main_worktree(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """Leftover work is committed with the message and summarised; main is refused."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    (binding.path / "new.txt").write_text("a\nb\n")
    summary = await orch.record_changes(binding.path, message="scopecraft: ses-abc")
    assert summary.committed
    assert summary.files == ("new.txt",)
    assert summary.insertions == 2
    assert git("log", "-1", "--format=%s", cwd=binding.path).strip() == "scopecraft: ses-abc"
    with pytest.raises(MainWorktreeRefused):
        await orch.record_changes(wt_repo, message="no")
