"""Worktrees: bind each task environment to its own branch and worktree."""

from __future__ import annotations

from ._git import GitWorktreeOrchestrator
from ._protocol import (
    ChangeSummary,
    PreparedWorktree,
    RepoInfo,
    WorktreeBinding,
    WorktreeOrchestrator,
)

__all__ = [
    "ChangeSummary",
    "GitWorktreeOrchestrator",
    "PreparedWorktree",
    "RepoInfo",
    "WorktreeBinding",
    "WorktreeOrchestrator",
]
