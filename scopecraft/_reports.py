"""Reports the CLI and the MCP server share: queue status, costs, worktrees, as pydantic
models (what ``--json`` prints and MCP tools return).

Costs and worktrees come from the engine's own methods (``costs``, ``worktrees_status``,
``cleanup_worktrees``); the queue status is computed from ``list_sessions`` and the
``session_waiting`` events until the engine offers a ``queue_status()`` of its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._models import Session, SessionStatus

if TYPE_CHECKING:
    from .engine import Engine

__all__ = [
    "CleanupEntry",
    "CostGroup",
    "CostReport",
    "CostRow",
    "QueueEntry",
    "QueueStatus",
    "WorktreeEntry",
    "cleanup_worktrees",
    "costs",
    "queue_status",
    "worktree_entries",
]

CostGroup = Literal["task", "area", "team", "mode", "agent", "day"]

_PRIORITY_RANK = {"highest": 0, "high": 1, "medium": 2, "low": 3}
_HOLDS_SLOT = (
    SessionStatus.STARTING,
    SessionStatus.RUNNING,
    SessionStatus.AWAITING_APPROVAL,
    SessionStatus.PAUSED,
)


class QueueEntry(BaseModel):
    """A session in the queue, or holding a slot."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    position: int | None = Field(
        description=(
            "Place among queued sessions, from 1, in the order the scheduler considers them "
            "(priority, then age); null for a session that already holds a slot."
        )
    )
    waiting_reason: str | None = Field(
        default=None,
        description="Why a queued session waits (`limit_reached`, `capacity`, ...), if known.",
    )
    waiting_detail: str = Field(default="", description="The reason in words.")
    session: Session


class QueueStatus(BaseModel):
    """Sessions holding a slot and sessions waiting for one."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    active: list[QueueEntry] = Field(description="Starting, running, awaiting approval, paused.")
    queued: list[QueueEntry] = Field(description="Queued, in scheduling order.")


class CostRow(BaseModel):
    """The cost of one group of sessions."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(description="The task id, mode, agent or day (UTC, YYYY-MM-DD).")
    sessions: int = Field(description="How many sessions are in the group.")
    cost_usd: float = Field(description="Cost reported by their agents, every attempt, in USD.")


class CostReport(BaseModel):
    """Cost reported by agents, grouped."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    group_by: CostGroup
    rows: list[CostRow] = Field(description="Groups, most expensive first.")
    total_usd: float
    sessions: int


class WorktreeEntry(BaseModel):
    """A worktree the engine manages, with the sessions bound to it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    env_id: str | None = Field(default=None, description="The task environment it serves.")
    branch: str | None = None
    exists: bool = Field(description="False when git lists it but its folder was deleted.")
    head: str | None = Field(default=None, description="The commit checked out.")
    dirty_files: int | None = Field(default=None, description="Uncommitted changes, if known.")
    unique_commits: int | None = Field(
        default=None, description="Commits neither on the default branch nor pushed, if known."
    )
    locked: str | None = Field(default=None, description="Why it is locked, if it is.")
    last_activity: datetime | None = None
    sessions: list[str] = Field(default_factory=list, description="Sessions bound to it.")
    active_sessions: list[str] = Field(
        default_factory=list, description="Of those, the ones that have not ended."
    )
    tasks: list[str] = Field(default_factory=list, description="Tasks of those sessions.")


class CleanupEntry(BaseModel):
    """What cleanup did (or, in a dry run, would do) to one worktree, and why."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    branch: str | None = None
    action: Literal["keep", "remove_worktree", "remove_worktree_and_branch"]
    reason: str
    done: bool = Field(description="True when the action was carried out (never in a dry run).")
    error: str | None = Field(default=None, description="Why carrying it out failed, if it did.")


# -- queue ---------------------------------------------------------------------------------------


def _queue_order(session: Session) -> tuple[int, float]:
    return (_PRIORITY_RANK.get(session.priority.value, 9), session.created_at.timestamp())


async def _waiting_reason(engine: Engine, session_id: str) -> tuple[str | None, str]:
    reason: str | None = None
    detail = ""
    async for event in engine.events(session_id=session_id):
        if event.type in ("session_queued", "session_continued", "session_resumed"):
            reason, detail = None, ""
        elif event.type == "session_waiting":
            reason = str(getattr(event, "reason", "")) or None
            detail = str(getattr(event, "detail", ""))
    return reason, detail


async def queue_status(engine: Engine) -> QueueStatus:
    """Sessions holding a slot, and queued sessions in scheduling order with why they wait."""
    queued = sorted(await engine.list_sessions(queued=True), key=_queue_order)
    active = await engine.list_sessions(active=True)
    waiting: list[QueueEntry] = []
    for position, session in enumerate(queued, start=1):
        reason, detail = await _waiting_reason(engine, session.id)
        waiting.append(
            QueueEntry(
                position=position, waiting_reason=reason, waiting_detail=detail, session=session
            )
        )
    holding = [QueueEntry(position=None, session=s) for s in active if s.status in _HOLDS_SLOT]
    return QueueStatus(active=holding, queued=waiting)


# -- costs ---------------------------------------------------------------------------------------


async def costs(engine: Engine, group_by: CostGroup = "task") -> CostReport:
    """The engine's cost totals (every session, every attempt), grouped, with session counts.

    Args:
        engine: An open engine.
        group_by: ``task``, ``area``, ``team``, ``mode``, ``agent`` or ``day`` (the UTC day a
            session started, else was created).

    Raises:
        RequestRefused: the engine does not know the grouping.
    """
    totals = await engine.costs(group_by=group_by)
    sessions = await engine.list_sessions(all=True)
    from .engine._costs import COST_GROUPS

    counts = Counter(COST_GROUPS[group_by](s) for s in sessions)
    rows = [
        CostRow(key=key, sessions=counts.get(key, 0), cost_usd=round(usd, 6))
        for key, usd in totals.items()
    ]
    rows.sort(key=lambda row: (-row.cost_usd, row.key))
    return CostReport(
        group_by=group_by,
        rows=rows,
        total_usd=round(sum(totals.values()), 6),
        sessions=len(sessions),
    )


# -- worktrees -----------------------------------------------------------------------------------


def _bound(status: Any, sessions: Sequence[Session]) -> list[Session]:
    folder = str(status.path)
    return [
        s
        for s in sessions
        if s.worktree_path == folder or (status.branch is not None and s.branch == status.branch)
    ]


async def worktree_entries(engine: Engine) -> list[WorktreeEntry]:
    """The worktrees the engine manages (not the main one), by path, with their sessions.

    Raises:
        GitError: git cannot list the worktrees.
    """
    statuses = await engine.worktrees_status()
    sessions = await engine.list_sessions(all=True)
    entries = []
    for status in statuses:
        bound = _bound(status, sessions)
        entries.append(
            WorktreeEntry(
                path=str(status.path),
                env_id=status.env_id,
                branch=status.branch,
                exists=status.exists,
                head=status.head,
                dirty_files=status.dirty_files,
                unique_commits=status.unique_commits,
                locked=status.locked,
                last_activity=status.last_activity,
                sessions=[s.id for s in bound],
                active_sessions=[s.id for s in bound if not s.is_terminal],
                tasks=sorted({s.task_id for s in bound}),
            )
        )
    return sorted(entries, key=lambda e: e.path)


async def cleanup_worktrees(
    engine: Engine, *, dry_run: bool, policy: Any = None
) -> list[CleanupEntry]:
    """Apply a cleanup policy (default: the engine's configured one), or say what it would do.

    Uncommitted work, unfinished sessions and branches with commits on no remote and not
    merged into the default branch are always kept.

    Raises:
        GitError: git cannot list the worktrees.
    """
    decisions = await engine.cleanup_worktrees(dry_run=dry_run, policy=policy)
    return [
        CleanupEntry(
            path=str(d.status.path),
            branch=d.status.branch,
            action=d.action,
            reason=d.reason,
            done=d.done,
            error=d.error,
        )
        for d in decisions
    ]
