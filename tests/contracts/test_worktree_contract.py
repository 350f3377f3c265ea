"""The worktree orchestrator contract over `GitWorktreeOrchestrator`: its defaults, and with
templates of its own and a setup that copies an ignored file."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import git, make_repo

from scopecraft.testing.contracts.worktrees import WorktreeOrchestratorContract
from scopecraft.worktrees import GitWorktreeOrchestrator
from scopecraft.worktrees._protocol import WorktreeOrchestrator


def _remove_worktrees(repo: Path) -> None:
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for line in listed.splitlines():
        path = line.removeprefix("worktree ")
        if line.startswith("worktree ") and Path(path).resolve() != repo.resolve():
            subprocess.run(["git", "worktree", "remove", "--force", "--force", path], cwd=repo)
    subprocess.run(["git", "worktree", "prune"], cwd=repo, check=True)


@pytest.fixture
def main_worktree(tmp_path: Path) -> Iterator[Path]:
    """A repository with one commit; its worktrees are removed afterwards."""
    repo = make_repo(tmp_path / "src")
    yield repo
    _remove_worktrees(repo)


class TestGitOrchestratorDefaults(WorktreeOrchestratorContract):
    """The git orchestrator as the engine makes it by default."""

    @pytest.fixture
    def orchestrator(self, main_worktree: Path) -> WorktreeOrchestrator:
        """Default templates, no setup."""
        return GitWorktreeOrchestrator(main_worktree)


class TestGitOrchestratorConfigured(WorktreeOrchestratorContract):
    """The git orchestrator with its own branch and folder templates and a setup."""

    @pytest.fixture
    def orchestrator(self, main_worktree: Path, tmp_path: Path) -> WorktreeOrchestrator:
        """Templates of its own, worktrees outside the repository, a copied file."""
        (main_worktree / ".gitignore").write_text(".env\n")
        git("add", ".gitignore", cwd=main_worktree)
        git("commit", "-q", "-m", "ignore .env", cwd=main_worktree)
        (main_worktree / ".env").write_text("TOKEN=local\n")  # ignored: the main stays clean
        return GitWorktreeOrchestrator(
            main_worktree,
            branch_template="work/{env_id}",
            worktree_root=str(tmp_path / "trees"),
            setup={"copy": [".env"]},
        )
