"""Host-side git never runs what an agent planted in its worktree.

An agent owns every file of its worktree, the ``.git`` file included. Each test plants one
way of making git run a command (a canary that creates a file) and then asks the
orchestrator to do what the engine does at a session's end: record the changes, report the
status, pause. No canary may appear, the agent's work is still committed, and the ``.git``
points at the real git directory again.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from support import git

from scopecraft.worktrees import GitWorktreeOrchestrator, WorktreeBinding
from scopecraft.worktrees._inspect import admin_entries


def _evil_git_dir(folder: Path, config: str) -> None:
    """A git directory the agent made, its config holding ``config``."""
    subprocess.run(["git", "init", "-q", str(folder)], check=True, capture_output=True)
    inner = folder / ".git"
    for item in inner.iterdir():
        item.rename(folder / item.name)
    inner.rmdir()
    with (folder / "config").open("a") as handle:
        handle.write("[core]\n\tbare = false\n" + config)


def _canary_command(canary: Path) -> str:
    return f"touch {canary}"


def _relative_gitdir(tree: Path, canary: Path) -> None:
    _evil_git_dir(tree / ".evilgit", f"\tfsmonitor = {_canary_command(canary)}\n")
    (tree / ".git").write_text("gitdir: .evilgit\n")


def _absolute_gitdir(tree: Path, canary: Path) -> None:
    _evil_git_dir(tree / "evil", f"\tfsmonitor = {_canary_command(canary)}\n")
    (tree / ".git").write_text(f"gitdir: {tree / 'evil'}\n")


def _hooks_path(tree: Path, canary: Path) -> None:
    hooks = tree / "myhooks"
    hooks.mkdir()
    for name in ("pre-commit", "post-commit", "post-index-change", "reference-transaction"):
        hook = hooks / name
        hook.write_text(f"#!/bin/sh\n{_canary_command(canary)}\n")
        hook.chmod(0o755)
    _evil_git_dir(tree / ".evilgit", f"\thooksPath = {hooks}\n")
    (tree / ".git").write_text("gitdir: .evilgit\n")


def _hook_in_git_dir(tree: Path, canary: Path) -> None:
    _evil_git_dir(tree / ".evilgit", "")
    for name in ("post-commit", "post-index-change", "reference-transaction"):
        hook = tree / ".evilgit" / "hooks" / name
        hook.write_text(f"#!/bin/sh\n{_canary_command(canary)}\n")
        hook.chmod(0o755)
    (tree / ".git").write_text("gitdir: .evilgit\n")


def _ssh_command(tree: Path, canary: Path) -> None:
    _evil_git_dir(
        tree / ".evilgit",
        f"\tsshCommand = {_canary_command(canary)}\n"
        f'[remote "origin"]\n\turl = ssh://example.invalid/x\n'
        f"\tfetch = +refs/heads/*:refs/remotes/origin/*\n",
    )
    (tree / ".git").write_text("gitdir: .evilgit\n")


def _clean_filter(tree: Path, canary: Path) -> None:
    _evil_git_dir(
        tree / ".evilgit",
        f'[filter "evil"]\n\tclean = sh -c "{_canary_command(canary)}; cat"\n'
        f'\tprocess = sh -c "{_canary_command(canary)}"\n',
    )
    (tree / ".gitattributes").write_text("* filter=evil\n")
    (tree / ".git").write_text("gitdir: .evilgit\n")


def _dotgit_folder(tree: Path, canary: Path) -> None:
    (tree / ".git").unlink()
    _evil_git_dir(tree / ".git", f"\tfsmonitor = {_canary_command(canary)}\n")


def _dotgit_symlink(tree: Path, canary: Path) -> None:
    _evil_git_dir(tree / "elsewhere", f"\tfsmonitor = {_canary_command(canary)}\n")
    (tree / ".git").unlink()
    (tree / ".git").symlink_to(tree / "elsewhere")


def _nested_repository(tree: Path, canary: Path) -> None:
    nested = tree / "vendor" / "lib"
    nested.mkdir(parents=True)
    git("init", "-q", cwd=nested)
    (nested / "x.txt").write_text("x\n")
    git("add", "x.txt", cwd=nested)
    git("-c", "user.name=a", "-c", "user.email=a@b", "commit", "-q", "-m", "x", cwd=nested)
    with (nested / ".git" / "config").open("a") as handle:
        handle.write(f"[core]\n\tfsmonitor = {_canary_command(canary)}\n")
    (nested / "y.txt").write_text("y\n")


VECTORS: dict[str, Callable[[Path, Path], None]] = {
    "gitdir-relative-fsmonitor": _relative_gitdir,
    "gitdir-absolute-fsmonitor": _absolute_gitdir,
    "hooks-path": _hooks_path,
    "hooks-in-git-dir": _hook_in_git_dir,
    "ssh-command": _ssh_command,
    "clean-filter": _clean_filter,
    "dotgit-folder": _dotgit_folder,
    "dotgit-symlink": _dotgit_symlink,
    "nested-repository": _nested_repository,
}


async def _prepared(orch: GitWorktreeOrchestrator) -> WorktreeBinding:
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    return binding


def _assert_restored(binding: WorktreeBinding, repo: Path) -> None:
    (entry,) = [e for e in admin_entries(repo / ".git") if e.path == binding.path]
    dotgit = binding.path / ".git"
    assert dotgit.is_file()
    assert not dotgit.is_symlink()
    assert dotgit.read_text().strip() == f"gitdir: {entry.admin}"


@pytest.mark.anyio
@pytest.mark.parametrize("vector", sorted(VECTORS))
async def test_recording_changes_runs_nothing_the_agent_planted(
    vector: str, wt_repo: Path, orch: GitWorktreeOrchestrator, tmp_path: Path
) -> None:
    """record_changes (the end of every session) commits the agent's work through the real
    git directory: no planted fsmonitor, hook, filter or ssh command runs on the host."""
    binding = await _prepared(orch)
    canary = tmp_path / f"canary-{vector}"
    (binding.path / "work.txt").write_text("the agent's work\n")
    VECTORS[vector](binding.path, canary)
    summary = await orch.record_changes(binding.path, message="scopecraft: record")
    assert not canary.exists(), f"{vector}: a planted command ran on the host"
    assert summary.committed
    assert "work.txt" in summary.files
    assert git("rev-parse", binding.branch, cwd=wt_repo).strip() == summary.head
    _assert_restored(binding, wt_repo)
    # The restored worktree is an ordinary one again for a person's own git.
    assert git("rev-parse", "--abbrev-ref", "HEAD", cwd=binding.path).strip() == binding.branch


@pytest.mark.anyio
@pytest.mark.parametrize("vector", ["gitdir-relative-fsmonitor", "dotgit-folder", "hooks-path"])
async def test_status_and_pause_run_nothing_the_agent_planted(
    vector: str, wt_repo: Path, orch: GitWorktreeOrchestrator, tmp_path: Path
) -> None:
    """Listing worktrees with details (git status in each) and pausing (a commit and a
    removal) read the repository's own git directory too."""
    binding = await _prepared(orch)
    canary = tmp_path / "canary"
    (binding.path / "work.txt").write_text("more work\n")
    VECTORS[vector](binding.path, canary)
    statuses = await orch.list_worktrees(details=True)
    assert [s.path for s in statuses] == [binding.path]
    assert statuses[0].head == git("rev-parse", binding.branch, cwd=wt_repo).strip()
    assert not canary.exists()
    paused = await orch.pause(binding)
    assert paused.committed
    assert paused.removed
    assert not canary.exists()
    names = git("ls-tree", "--name-only", "-r", binding.branch, cwd=wt_repo).split()
    assert "work.txt" in names


@pytest.mark.anyio
async def test_setup_mark_is_written_in_the_real_git_directory(
    wt_repo: Path, tmp_path: Path
) -> None:
    """The setup's completion mark goes to the worktree's administrative folder found from
    the repository's records, never to a folder a rewritten ``.git`` names."""
    orch = GitWorktreeOrchestrator(wt_repo, setup={"copy": [".env"]})
    binding = await _prepared(orch)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (binding.path / ".git").write_text(f"gitdir: {elsewhere}\n")
    (entry,) = [e for e in admin_entries(wt_repo / ".git") if e.path == binding.path]
    (entry.admin / "scopecraft-setup").unlink()
    await orch.prepare(binding)
    assert list(elsewhere.iterdir()) == []
    assert (entry.admin / "scopecraft-setup").is_file()


@pytest.mark.anyio
async def test_a_deleted_worktree_is_a_git_error_not_a_crash(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """Recording the changes of a worktree whose folder was deleted raises GitError (which
    the engine turns into a failed session), not a FileNotFoundError."""
    import shutil

    from scopecraft import ScopecraftError

    binding = await _prepared(orch)
    shutil.rmtree(binding.path)
    with pytest.raises(ScopecraftError, match=r"cannot|not a worktree"):
        await orch.record_changes(binding.path, message="x")
    git("worktree", "prune", cwd=wt_repo)
