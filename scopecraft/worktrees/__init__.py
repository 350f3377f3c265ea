"""Worktrees: bind each task environment to its own branch and worktree.

- `GitWorktreeOrchestrator` binds, prepares (with a per-worktree setup), pauses,
  resumes, lists and cleans up worktrees, and records what sessions changed.
- `GitHistory` archives finished sessions' records on ``refs/scopecraft/history``.
- `WorktreeTaskView` shows each task's status on each branch, with its sessions.
- `_binding`'s rules bind forward (task to branch) and back
  (branch to the tasks it owns).
"""

from __future__ import annotations

from ._binding import BranchTemplate, is_bare_code, owned_tasks, owns, resolve_env_id
from ._errors import AmbiguousBinding, WorktreeConflict, WorktreeLocked, WorktreeSetupFailed
from ._git import DEFAULT_PAUSE_MESSAGE, GitWorktreeOrchestrator
from ._history import HISTORY_REF, GitHistory
from ._protocol import (
    ChangeSummary,
    CleanupAction,
    CleanupDecision,
    CleanupPolicy,
    PausedWorktree,
    PreparedWorktree,
    RepoInfo,
    SetupResult,
    WorktreeBinding,
    WorktreeOrchestrator,
    WorktreeStatus,
)
from ._setup import WorktreeSetup
from ._view import BranchTask, TaskAcrossBranches, WorktreeTasks, WorktreeTaskView

__all__ = [
    "DEFAULT_PAUSE_MESSAGE",
    "HISTORY_REF",
    "AmbiguousBinding",
    "BranchTask",
    "BranchTemplate",
    "ChangeSummary",
    "CleanupAction",
    "CleanupDecision",
    "CleanupPolicy",
    "GitHistory",
    "GitWorktreeOrchestrator",
    "PausedWorktree",
    "PreparedWorktree",
    "RepoInfo",
    "SetupResult",
    "TaskAcrossBranches",
    "WorktreeBinding",
    "WorktreeConflict",
    "WorktreeLocked",
    "WorktreeOrchestrator",
    "WorktreeSetup",
    "WorktreeSetupFailed",
    "WorktreeStatus",
    "WorktreeTaskView",
    "WorktreeTasks",
    "is_bare_code",
    "owned_tasks",
    "owns",
    "resolve_env_id",
]
