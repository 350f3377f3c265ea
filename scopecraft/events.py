"""The events of a session, for code that reads streams and for plugin authors.

Every change to a session is one of these immutable, past-tense events, a pydantic model with
``type`` (snake_case), ``session_id``, ``seq`` and ``ts``; `Event` is their discriminated union
and `parse_event()` / `event_from_json()` read one back::

    from scopecraft.events import CostReported, SessionCompleted

    async for event in engine.events(session_id=s.id):
        if isinstance(event, CostReported):
            ...
"""

from __future__ import annotations

from ._events import (
    ENGINE_STREAM,
    AgentMessage,
    AgentSessionIdentified,
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    ArtifactStored,
    BaseEvent,
    BudgetChanged,
    ChangesRecorded,
    CostReported,
    ErrorOccurred,
    Event,
    FeedbackGiven,
    LogLineWritten,
    QueueDepthReported,
    ResourceUsageReported,
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
    SessionWaiting,
    TaskStatusChanged,
    ToolDenied,
    ToolUsed,
    WorktreePrepared,
    WorktreeSetupRan,
    event_from_json,
    parse_event,
)

__all__ = [
    "ENGINE_STREAM",
    "AgentMessage",
    "AgentSessionIdentified",
    "ApprovalDenied",
    "ApprovalGranted",
    "ApprovalRequested",
    "ArtifactStored",
    "BaseEvent",
    "BudgetChanged",
    "ChangesRecorded",
    "CostReported",
    "ErrorOccurred",
    "Event",
    "FeedbackGiven",
    "LogLineWritten",
    "QueueDepthReported",
    "ResourceUsageReported",
    "SessionCancelled",
    "SessionCompleted",
    "SessionContinued",
    "SessionFailed",
    "SessionPaused",
    "SessionQueued",
    "SessionResumed",
    "SessionRetryScheduled",
    "SessionStarted",
    "SessionStarting",
    "SessionWaiting",
    "TaskStatusChanged",
    "ToolDenied",
    "ToolUsed",
    "WorktreePrepared",
    "WorktreeSetupRan",
    "event_from_json",
    "parse_event",
]
