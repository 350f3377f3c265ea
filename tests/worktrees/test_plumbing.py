"""Plumbing: the protocol is met, heavy libraries load lazily, checkout workers are chosen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import anyio
import pytest

from scopecraft.worktrees import GitWorktreeOrchestrator, WorktreeOrchestrator
from scopecraft.worktrees._git import auto_workers


def test_the_git_orchestrator_meets_the_protocol(tmp_path: Path) -> None:
    """``GitWorktreeOrchestrator`` is a ``WorktreeOrchestrator``, with every method."""
    assert isinstance(GitWorktreeOrchestrator(tmp_path), WorktreeOrchestrator)


def test_importing_the_package_does_not_load_pygit2_or_psutil() -> None:
    """pygit2, psutil and filelock are imported only when a worktree is first used."""
    code = (
        "import sys, scopecraft.worktrees; "
        "print(sorted(m for m in ('pygit2', 'psutil', 'filelock') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout
    assert out.strip() == "[]"


def test_checkout_workers_follow_the_file_system(tmp_path: Path) -> None:
    """A memory file system checks out sequentially; a disk uses the CPUs (at most 8)."""
    chosen = auto_workers(tmp_path)
    assert 1 <= chosen <= 8
    shm = Path("/dev/shm")
    if not shm.is_dir():
        pytest.skip("no /dev/shm on this machine")
    kinds = Path("/proc/mounts").read_text().split("\n")
    if not any(line.split()[1:3] == ["/dev/shm", "tmpfs"] for line in kinds if line):
        pytest.skip("/dev/shm is not a tmpfs here")
    assert auto_workers(shm / "trees") == 1
    explicit = GitWorktreeOrchestrator(tmp_path, checkout_workers=3)
    assert anyio.run(explicit.checkout_workers) == 3
