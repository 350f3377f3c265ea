"""Errors of the worktree layer, all under `WorktreeError`::

    WorktreeError
    ├── GitError                        a git command failed (git's own words)
    ├── AmbiguousBinding (ValueError)   a name matches several environments; lists them
    ├── WorktreeConflict (FileExistsError)
    │                                   the folder or branch is taken by something else
    ├── WorktreeLocked                  someone else holds the worktree (a person's
    │                                   ``git worktree lock``, another host, a lock timeout)
    └── WorktreeSetupFailed             the per-worktree setup failed; carries its output

Messages say what happened and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from .._errors import WorktreeError

if TYPE_CHECKING:
    from ._protocol import SetupResult

__all__ = ["AmbiguousBinding", "WorktreeConflict", "WorktreeLocked", "WorktreeSetupFailed"]


class AmbiguousBinding(WorktreeError, ValueError):
    """A branch, env id or suffix names more than one task environment (or too many tasks).

    Attributes:
        name: What was asked for.
        candidates: What it could mean, sorted.
    """

    def __init__(self, name: str, candidates: Sequence[str], reason: str) -> None:
        self.name = name
        self.candidates = tuple(sorted(candidates))
        shown = ", ".join(self.candidates[:20])
        more = f" and {len(self.candidates) - 20} more" if len(self.candidates) > 20 else ""
        super().__init__(
            f"{name!r} is ambiguous: {reason}; candidates: {shown or '(none)'}{more}. "
            "Name the task or branch in full."
        )


class WorktreeConflict(WorktreeError, FileExistsError):
    """The worktree folder or the branch is already used by something else."""


class WorktreeLocked(WorktreeError):
    """The worktree is held by someone else: a person's lock, another host, or a long prepare.

    Attributes:
        reason: The lock's reason as recorded, if any.
    """

    def __init__(self, message: str, reason: str | None = None) -> None:
        self.reason = reason
        super().__init__(message)


class WorktreeSetupFailed(WorktreeError):
    """The per-worktree setup (copying files, the setup command) failed.

    The worktree is kept; the next prepare runs the setup again.

    Attributes:
        result: What the setup did, with the command's exit code and output.
    """

    def __init__(self, message: str, result: SetupResult) -> None:
        self.result = result
        tail = result.output[-2000:].rstrip()
        super().__init__(f"{message}" + (f"\n--- setup output (end) ---\n{tail}" if tail else ""))
