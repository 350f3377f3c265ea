"""Fixtures of the worktree tests: real repositories in tmp_path, and no worktree left behind.

Helpers are fixtures (``registered``, ``make_session``, ``tracker``) rather than an imported
module, so the test files need nothing beyond the shared ``support`` module.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from support import git, make_repo

from scopecraft import Session
from scopecraft.worktrees import GitWorktreeOrchestrator

OVERVIEW = "# API\n\n---\ntype: feature\nstatus: todo\narea: core\n---\n\n## Instruction\nAPI\n"
SUBTASK = "# {name}\n\n---\ntype: feature\nstatus: todo\narea: core\n---\n\n## Instruction\nx\n"

_REPOS: list[Path] = []


def registered_worktrees(repo: Path) -> list[str]:
    """Return the linked worktrees git lists for ``repo`` (not the main one)."""
    out = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=repo,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    paths = [line[len("worktree ") :] for line in out.splitlines() if line.startswith("worktree ")]
    return [p for p in paths if Path(p).resolve() != repo.resolve()]


def _track(repo: Path) -> Path:
    _REPOS.append(repo)
    return repo


def _remove_worktrees(repo: Path) -> None:
    if not repo.is_dir():
        return
    for path in registered_worktrees(repo):
        subprocess.run(["git", "worktree", "unlock", path], cwd=repo, capture_output=True)
        subprocess.run(
            ["git", "worktree", "remove", "--force", "--force", path],
            cwd=repo,
            capture_output=True,
        )
    subprocess.run(["git", "worktree", "prune"], cwd=repo, capture_output=True)


def _session(
    sid: str,
    task_id: str,
    *,
    status: str = "completed",
    branch: str | None = None,
    worktree_path: str | None = None,
    when: datetime | None = None,
) -> Session:
    moment = when or datetime(2025, 5, 1, tzinfo=UTC)
    return Session(
        id=sid,
        task_id=task_id,
        mode="autonomous",
        status=status,
        executor="local",
        agent="fake",
        branch=branch,
        worktree_path=worktree_path,
        created_at=moment,
        updated_at=moment,
        ended_at=moment if status in ("completed", "failed", "cancelled") else None,
    )


@pytest.fixture(autouse=True, scope="session")
def _no_worktree_left() -> Iterator[None]:
    """After the whole run, no repository made by these tests has a registered worktree."""
    yield
    left = {str(repo): registered_worktrees(repo) for repo in _REPOS if repo.is_dir()}
    left = {repo: paths for repo, paths in left.items() if paths}
    assert not left, f"worktrees left behind: {left}"


@pytest.fixture(scope="session")
def tracker() -> Callable[[Path], Path]:
    """Register a repository made by a test for the end-of-run leftover check."""
    return _track


@pytest.fixture(scope="session")
def registered() -> Callable[[Path], list[str]]:
    """List the linked worktrees git has registered for a repository."""
    return registered_worktrees


@pytest.fixture(scope="session")
def make_session() -> Callable[..., Session]:
    """Build a ``Session`` value as the store would project it (``make_session(id, task)``)."""
    return _session


@pytest.fixture
def wt_repo(tmp_path: Path) -> Iterator[Path]:
    """A repository with an ignored ``.env``, a parent task with subtasks and two lone tasks.

    The worktrees a test made are removed when it ends (the end-of-run check then proves
    that none escaped this, for example by being re-created after the test).
    """
    repo = make_repo(tmp_path / "src", {"auth-05A": "do auth", "fix-auth-05A": "fix it"})
    parent = repo / ".tasks" / "current" / "api-05B"
    parent.mkdir()
    (parent / "_overview.md").write_text(OVERVIEW)
    for name in ("01_design-05B", "02_impl-05B"):
        (parent / f"{name}.task.md").write_text(SUBTASK.format(name=name))
    (repo / ".gitignore").write_text(".env\nnode_modules/\n")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "tasks and ignores", cwd=repo)
    (repo / ".env").write_text("TOKEN=local\n")
    _track(repo)
    yield repo
    _remove_worktrees(repo)


@pytest.fixture
def orch(wt_repo: Path) -> GitWorktreeOrchestrator:
    """The git orchestrator of ``wt_repo`` with its defaults."""
    return GitWorktreeOrchestrator(wt_repo)
