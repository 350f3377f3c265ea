"""Fold events into a `Session`: the one place state transitions live.

Every store applies `apply()` to each event it appends (in the same transaction), and
`replay()` rebuilds a session from its whole stream, so any process gets the same answer.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from ._errors import InvalidTransition
from ._models import Permissions, Session, SessionStatus
from .events import (
    AgentSessionIdentified,
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    BudgetChanged,
    CostReported,
    Event,
    SessionCancelled,
    SessionCompleted,
    SessionContinued,
    SessionFailed,
    SessionPaused,
    SessionQueued,
    SessionResumed,
    SessionRetryScheduled,
    SessionStarted,
    SessionStarting,
    ToolDenied,
    WorktreePrepared,
)

__all__ = ["PASSIVE_EVENT_TYPES", "apply", "replay", "replay_rows", "session_from_queued"]

PASSIVE_EVENT_TYPES = frozenset(
    {
        "agent_message",
        "tool_used",
        "log_line_written",
        "changes_recorded",
        "artifact_stored",
        "queue_depth_reported",
        "resource_usage_reported",
        "error_occurred",
        "feedback_given",
        "session_waiting",
        "task_status_changed",
        "worktree_setup_ran",
    }
)
"""Event types whose fold changes nothing but ``last_seq`` and ``updated_at`` (a test holds
this set to `apply()`), so a replay need not parse them."""


def session_from_queued(event: SessionQueued) -> Session:
    """Build a new session from the event that created it."""
    return Session(
        id=event.session_id,
        task_id=event.task_id,
        parent_id=event.parent_id,
        mode=event.mode,
        status=SessionStatus.QUEUED,
        priority=event.priority,
        branch=event.branch,
        worktree_path=event.worktree_path,
        executor=event.executor,
        agent=event.agent,
        model=event.model,
        image=event.image,
        dangerous=event.dangerous,
        permissions=event.permissions or (Permissions.FULL if event.dangerous else None),
        created_by=event.created_by,
        created_at=event.ts,
        updated_at=event.ts,
        last_seq=event.seq,
        labels=dict(event.labels),
        area=event.area,
        team=event.team,
        budget_usd=event.budget_usd,
        cpus=(event.resources or {}).get("cpus"),
        memory_mb=(event.resources or {}).get("memory_mb"),
        pids=(event.resources or {}).get("pids"),
    )


def apply(session: Session | None, event: Event) -> Session:
    """Return the session as it is after ``event``.

    Events that do not change a session's fields still advance ``last_seq``.

    Raises:
        InvalidTransition: ``event`` cannot follow the session's current state (a second
            ``session_queued``, or any event before the first).
    """
    if isinstance(event, SessionQueued):
        if session is not None:
            raise InvalidTransition(f"session {event.session_id} was already queued")
        return session_from_queued(event)
    if session is None:
        raise InvalidTransition(
            f"event {event.type} for session {event.session_id} comes before session_queued"
        )
    changes: dict[str, Any] = {"last_seq": event.seq, "updated_at": event.ts}
    if session.is_terminal and isinstance(event, SessionStarting | SessionStarted):
        # A runtime that started after the session was cancelled: record it, stay ended.
        if isinstance(event, SessionStarted):
            changes["runtime_id"] = event.runtime_id
        return session.model_copy(update=changes)
    match event:
        case SessionStarting(attempt=attempt):
            # A retry's reason ("retrying after ...") is history once the retry starts.
            changes.update(
                status=SessionStatus.STARTING,
                attempt=attempt,
                exit_code=None,
                error=None,
                denials=0,
            )
        case SessionStarted(attempt=attempt, runtime_id=runtime_id):
            changes.update(status=SessionStatus.RUNNING, attempt=attempt, runtime_id=runtime_id)
            if session.started_at is None:
                changes["started_at"] = event.ts
        case SessionCompleted(exit_code=code):
            changes.update(status=SessionStatus.COMPLETED, ended_at=event.ts, exit_code=code)
            changes["error"] = None
        case SessionFailed(exit_code=code, reason=reason):
            changes.update(
                status=SessionStatus.FAILED, ended_at=event.ts, exit_code=code, error=reason
            )
        case SessionCancelled(exit_code=code, reason=reason):
            changes.update(
                status=SessionStatus.CANCELLED, ended_at=event.ts, exit_code=code, error=reason
            )
        case SessionPaused(reason=reason):
            changes.update(status=SessionStatus.PAUSED, error=reason)
        case SessionResumed(attempt=attempt):
            changes.update(status=SessionStatus.QUEUED, attempt=attempt, error=None)
        case SessionContinued(attempt=attempt):
            changes.update(
                status=SessionStatus.QUEUED, attempt=attempt, error=None, not_before=None
            )
        case SessionRetryScheduled(attempt=attempt, not_before=not_before, reason=reason):
            changes.update(
                status=SessionStatus.QUEUED, attempt=attempt, not_before=not_before, error=reason
            )
        case BudgetChanged(budget_usd=budget):
            changes["budget_usd"] = budget
        case ApprovalRequested(reason=reason):
            changes.update(status=SessionStatus.AWAITING_APPROVAL, error=reason)
        case ApprovalGranted():
            changes.update(status=SessionStatus.QUEUED, approved=True, error=None)
        case ApprovalDenied(reason=reason):
            changes.update(
                status=SessionStatus.CANCELLED,
                ended_at=event.ts,
                error=f"approval denied{': ' + reason if reason else ''}",
            )
        case ToolDenied():
            changes["denials"] = session.denials + 1
        case CostReported(total_usd=total):
            changes["cost_usd"] = total
        case AgentSessionIdentified(agent_session_id=agent_session_id):
            changes["agent_session_id"] = agent_session_id
        case WorktreePrepared(branch=branch, worktree_path=path):
            changes.update(branch=branch, worktree_path=path)
        case _:
            pass
    return session.model_copy(update=changes)


def replay_rows(rows: Iterable[tuple[str, int, datetime, str]]) -> Session | None:
    """Rebuild a session from stored rows ``(type, seq, ts, json body)``, in order.

    The same result as `replay()` of the parsed events, but only events that change more
    than ``last_seq`` and ``updated_at`` are parsed, which makes long sessions (mostly agent
    messages and tool uses) fast to rebuild.

    Raises:
        InvalidTransition: the rows do not start with ``session_queued``.
        pydantic.ValidationError: a stored body is not a known event.
    """
    from .events import event_from_json

    session: Session | None = None
    last: tuple[int, datetime] | None = None
    for type_, seq, ts, body in rows:
        if session is not None and type_ in PASSIVE_EVENT_TYPES:
            last = (seq, ts)
            continue
        session = apply(session, event_from_json(body))
        last = None
    if session is not None and last is not None:
        session = session.model_copy(update={"last_seq": last[0], "updated_at": last[1]})
    return session


def replay(events: Iterable[Event]) -> Session | None:
    """Rebuild a session from its events, in order; ``None`` for an empty stream.

    Raises:
        InvalidTransition: the stream does not start with ``session_queued``.
    """
    session: Session | None = None
    for event in events:
        session = apply(session, event)
    return session
