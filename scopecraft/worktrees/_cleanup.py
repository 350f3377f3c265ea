"""Cleanup decisions: what a policy does to one worktree, and why (a pure function).

The orchestrator gathers each worktree's facts (`WorktreeStatus`) and the sessions that
ran there, asks `decide()`, and carries out the answer under the environment's lock after
checking again that nothing changed. The order of the rules is the order of their importance:
an unfinished session, then the policy, then the work that would be lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .._models import Session
from ._protocol import CleanupAction, CleanupPolicy, WorktreeStatus

__all__ = ["decide", "sessions_on"]


def sessions_on(status: WorktreeStatus, sessions: Sequence[Session]) -> list[Session]:
    """Return the sessions that ran (or will run) in a worktree, oldest first.

    Args:
        status: The worktree.
        sessions: Every session to consider.

    Returns:
        Those whose recorded worktree is this folder, or whose branch is its branch.
    """
    folder = str(status.path)
    found = [
        s
        for s in sessions
        if s.worktree_path == folder or (status.branch is not None and s.branch == status.branch)
    ]
    return sorted(found, key=lambda s: (s.created_at, s.id))


def _hours(delta_seconds: float) -> str:
    return f"{delta_seconds / 3600:.1f} h"


def decide(
    status: WorktreeStatus,
    sessions: Sequence[Session],
    policy: CleanupPolicy,
    now: datetime,
    default_branch: str,
) -> tuple[CleanupAction, str]:
    """Decide what ``policy`` does to one worktree.

    Args:
        status: The worktree's facts (with ``dirty_files`` and ``unique_commits`` looked at,
            unless the policy is ``never``).
        sessions: The sessions that ran in it (see `sessions_on()`).
        policy: The cleanup policy.
        now: The current time (UTC).
        default_branch: The repository's default branch, named in reasons.

    Returns:
        The action and the reason for it.
    """
    unfinished = [s for s in sessions if not s.is_terminal]
    if unfinished:
        names = ", ".join(f"{s.id} ({s.status.value})" for s in unfinished[:3])
        return "keep", f"session {names} has not ended"
    if policy.kind == "never":
        return "keep", "the cleanup policy is never"
    if status.locked is not None:
        return "keep", f"it is locked ({status.locked}); `git worktree unlock` to release it"
    if policy.kind == "on_success":
        if not sessions:
            return "keep", "no session ran in it, so none succeeded"
        last = max(sessions, key=lambda s: (s.ended_at or s.updated_at, s.created_at))
        if last.status.value != "completed":
            return "keep", f"its last session {last.id} {last.status.value}; kept to look at"
    else:
        times = [s.ended_at or s.updated_at for s in sessions]
        if status.last_activity is not None:
            times.append(status.last_activity)
        if not times:
            return "keep", "its last activity is unknown"
        idle = (now - max(times)).total_seconds()
        if idle < policy.expiry_hours * 3600:
            return "keep", (
                f"last activity {_hours(idle)} ago; it expires after {policy.expiry_hours:g} h"
            )
    if status.exists and status.dirty_files is None:
        return "keep", "its changes could not be checked"
    if status.exists and status.dirty_files:
        return "keep", (
            f"it has {status.dirty_files} uncommitted change(s); commit or discard them first"
        )
    why = "its last session completed" if policy.kind == "on_success" else "it expired"
    where = "its folder is already gone" if not status.exists else "it has no uncommitted change"
    if status.branch is None:
        return "remove_worktree", f"{why} and {where}"
    if status.unique_commits is None:
        return "remove_worktree", f"{why} and {where}; branch {status.branch} kept"
    if status.unique_commits > 0:
        return "remove_worktree", (
            f"{why} and {where}; branch {status.branch} kept: {status.unique_commits} commit(s) "
            f"are on no remote and not merged into {default_branch}"
        )
    if not policy.delete_branches:
        return "remove_worktree", f"{why} and {where}; branch kept (delete_branches is off)"
    return "remove_worktree_and_branch", (
        f"{why} and {where}; every commit of {status.branch} is on {default_branch} or a remote"
    )
