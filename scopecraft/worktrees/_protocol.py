"""The ``WorktreeOrchestrator`` protocol: bind a task to a branch and worktree, prepare it,
and record what an agent changed there."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Literal, Protocol, runtime_checkable

import attrs
from pydantic import BaseModel, ConfigDict, Field

from .._models import Session, Task

__all__ = [
    "ChangeSummary",
    "CleanupAction",
    "CleanupDecision",
    "CleanupPolicy",
    "PausedWorktree",
    "PreparedWorktree",
    "RepoInfo",
    "SetupResult",
    "WorktreeBinding",
    "WorktreeOrchestrator",
    "WorktreeStatus",
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
class SetupResult:
    """What the per-worktree setup did; the engine records it as events.

    Attributes:
        copied: Paths (relative to the repository) copied from the main worktree.
        skipped: Listed paths not copied, each with the reason (``".env: missing"``).
        command: The setup argv that ran, if any.
        exit_code: Its exit code (``None`` when no command ran or it timed out).
        output: Its standard output and error, interleaved, at most the last 64 KiB.
        duration: Seconds the whole setup took.
    """

    copied: tuple[str, ...] = ()
    skipped: tuple[str, ...] = ()
    command: tuple[str, ...] | None = None
    exit_code: int | None = None
    output: str = ""
    duration: float = 0.0


@attrs.frozen
class PreparedWorktree:
    """A worktree ready for an agent.

    Attributes:
        binding: What was prepared.
        created: True when this call created the worktree (False: reused).
        base: The commit the branch was created from, when it was created here.
        repaired: What was repaired on the way (a pruned entry whose folder was deleted, a
            lock taken over from a dead process), or ``None``.
        setup: The setup that ran in this call, or ``None`` when none was needed.
    """

    binding: WorktreeBinding
    created: bool
    base: str | None = None
    repaired: str | None = None
    setup: SetupResult | None = None


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


@attrs.frozen
class WorktreeStatus:
    """One worktree managed by the orchestrator, as it is now.

    Attributes:
        env_id: The environment id (from the folder name or branch), or ``None`` if unknown.
        branch: The branch checked out there (``None`` when detached or unknown).
        path: The worktree folder.
        exists: False when git still lists the worktree but its folder was deleted.
        head: The commit checked out, if known.
        dirty_files: Uncommitted changes (modified, staged and untracked, not ignored),
            or ``None`` when not looked at.
        unique_commits: Commits of the branch that are neither on the default branch nor on
            any remote-tracking branch, or ``None`` when not looked at.
        locked: The reason of a ``git worktree lock``, or ``None``.
        last_activity: The latest of the branch head's commit time and the worktree's index
            change time, if known.
    """

    env_id: str | None
    branch: str | None
    path: Path
    exists: bool
    head: str | None = None
    dirty_files: int | None = None
    unique_commits: int | None = None
    locked: str | None = None
    last_activity: datetime | None = None


class CleanupPolicy(BaseModel):
    """When the orchestrator removes a worktree; the default is never.

    Whatever the policy, a worktree with uncommitted changes, or with a session not yet
    ended, is kept; a branch is deleted only when every commit on it is on the default branch
    or on a remote.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["never", "on_success", "expiry"] = Field(
        default="never",
        description=(
            "`never` keeps every worktree; `on_success` removes it once its last session "
            "completed; `expiry` removes it after `expiry_hours` without activity."
        ),
    )
    expiry_hours: float = Field(
        default=72.0, gt=0, description="Hours since the last activity, for `expiry`."
    )
    delete_branches: bool = Field(
        default=True,
        description="Also delete a removed worktree's branch when no commit would be lost.",
    )


CleanupAction = Literal["keep", "remove_worktree", "remove_worktree_and_branch"]
"""What cleanup does to one worktree."""


@attrs.frozen
class CleanupDecision:
    """What cleanup does (or, in a dry run, would do) to one worktree, and why.

    Attributes:
        status: The worktree as it was looked at.
        action: ``keep``, ``remove_worktree`` or ``remove_worktree_and_branch``.
        reason: Why, in words a person can act on.
        done: True when the action was carried out (always False in a dry run).
        error: Why carrying it out failed, if it did (the worktree is then kept).
    """

    status: WorktreeStatus
    action: CleanupAction
    reason: str
    done: bool = False
    error: str | None = None


@attrs.frozen
class PausedWorktree:
    """A worktree put away: its work committed on the branch, its folder removed.

    Attributes:
        binding: The environment paused.
        head: The branch's head after the work-in-progress commit.
        committed: True when uncommitted work was committed.
        removed: True when a worktree folder was removed (False: there was none).
    """

    binding: WorktreeBinding
    head: str | None
    committed: bool
    removed: bool


@runtime_checkable
class WorktreeOrchestrator(Protocol):
    """Binds tasks to branches and worktrees and prepares them; never touches the main one.

    Subclass `WorktreeOrchestrator` to inherit the default of its optional member
    (`conflict()`).
    """

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
            InvalidName: the binding holds a name that is not safe.
            MainWorktreeRefused: the binding is the main worktree or the default branch.
            WorktreeLocked: another holder keeps the worktree.
            WorktreeSetupFailed: the setup failed (the error carries its output).
            GitError: git refused.
        """
        ...

    async def record_changes(self, path: Path, *, message: str) -> ChangeSummary:
        """Commit what is uncommitted in ``path`` with ``message`` and summarise the branch.

        Raises:
            MainWorktreeRefused: ``path`` is the main worktree.
            GitError: git refused.
        """
        ...

    async def list_worktrees(self) -> list[WorktreeStatus]:
        """Return the worktrees this orchestrator manages (not the main one, not others').

        Raises:
            GitError: git refused.
        """
        ...

    async def cleanup(
        self,
        policy: CleanupPolicy,
        sessions: Sequence[Session] = (),
        *,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> list[CleanupDecision]:
        """Apply ``policy`` to every managed worktree (or, with ``dry_run``, only say what).

        Never removes a worktree with uncommitted changes or an unfinished session, nor a
        branch whose commits are on no remote and not merged into the default branch.

        Raises:
            GitError: git refused to list the worktrees (a failure on one worktree is
                reported in its decision instead).
        """
        ...

    async def pause(
        self, binding: WorktreeBinding, *, message: str | None = None
    ) -> PausedWorktree:
        """Commit the work in progress, remove the worktree and keep the branch.

        Raises:
            MainWorktreeRefused: the binding is the main worktree or the default branch.
            WorktreeLocked: the worktree is locked by someone else.
            GitError: git refused.
        """
        ...

    async def resume(self, binding: WorktreeBinding) -> PreparedWorktree:
        """Re-add a paused worktree from its branch (the same as `prepare()`).

        Raises:
            MainWorktreeRefused: the binding is the main worktree or the default branch.
            WorktreeSetupFailed: the setup failed.
            GitError: git refused.
        """
        ...

    # -- optional: an orchestrator that subclasses WorktreeOrchestrator inherits this ------

    async def conflict(self, binding: WorktreeBinding) -> str | None:
        """Why preparing ``binding`` would fail because of what is already there (its folder
        is a worktree on another branch), asked before a session is queued; ``None`` when
        nothing is known to be in the way (the default)."""
        return None
