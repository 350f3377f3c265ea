"""The ``WorktreeOrchestrator`` protocol: bind a task to a branch and worktree, prepare it,
and record what an agent changed there."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import attrs

from .._models import Task

__all__ = [
    "ChangeSummary",
    "PreparedWorktree",
    "RepoInfo",
    "WorktreeBinding",
    "WorktreeOrchestrator",
]


@attrs.frozen
class RepoInfo:
    """Facts about the repository.

    Attributes:
        root: The main worktree's folder.
        default_branch: The branch sessions never run on (``main``, ``master``...).
    """

    root: Path
    default_branch: str


@attrs.frozen
class WorktreeBinding:
    """Where a task's sessions run.

    Attributes:
        env_id: The environment id (the parent's id for a subtask, else the task's id).
        branch: The branch.
        path: The worktree folder.
    """

    env_id: str
    branch: str
    path: Path


@attrs.frozen
class PreparedWorktree:
    """A worktree ready for an agent.

    Attributes:
        binding: What was prepared.
        created: True when this call created the worktree (False: reused).
        base: The commit the branch was created from, when it was created here.
    """

    binding: WorktreeBinding
    created: bool
    base: str | None = None


@attrs.frozen
class ChangeSummary:
    """What a session left in its worktree.

    Attributes:
        head: The worktree's head commit after recording.
        committed: True when uncommitted work was committed by the engine.
        files: Files changed on the branch since it left the default branch.
        insertions: Lines added on the branch.
        deletions: Lines removed on the branch.
    """

    head: str
    committed: bool
    files: tuple[str, ...] = ()
    insertions: int = 0
    deletions: int = 0


@runtime_checkable
class WorktreeOrchestrator(Protocol):
    """Binds tasks to branches and worktrees and prepares them; never touches the main one."""

    async def repo_info(self) -> RepoInfo:
        """Return the main worktree and the default branch.

        Raises:
            GitError: the folder is not a git repository.
        """
        ...

    async def bind(self, task: Task, *, branch: str | None = None) -> WorktreeBinding:
        """Return the task's branch and worktree (``branch`` overrides the bound branch).

        Raises:
            InvalidName: the branch is not a safe name.
            MainWorktreeRefused: the binding is the main worktree or the default branch.
        """
        ...

    async def prepare(self, binding: WorktreeBinding) -> PreparedWorktree:
        """Find or create the worktree and its branch; safe to call from several processes.

        Raises:
            MainWorktreeRefused: the binding is the main worktree or the default branch.
            GitError: git refused.
        """
        ...

    async def record_changes(self, path: Path, *, message: str) -> ChangeSummary:
        """Commit what is uncommitted in ``path`` with ``message`` and summarise the branch.

        Raises:
            GitError: git refused.
        """
        ...
