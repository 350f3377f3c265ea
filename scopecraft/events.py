"""Events: the immutable, past-tense facts that every session's state is built from.

Each event class has a ``type`` field equal to its snake_case name (``SessionQueued`` has
``type="session_queued"``), a ``session_id``, a ``seq`` (unique per session, assigned by the
store when the event is appended, from 1) and a ``ts`` (UTC). `Event` is the pydantic
discriminated union of every class; `parse_event()` reads one back from a dict or JSON.

Four families:

* session lifecycle: `SessionQueued`, `SessionStarting`, `SessionStarted`,
  `SessionCompleted`, `SessionFailed`, `SessionCancelled`,
  `SessionPaused`, `SessionResumed`, `SessionContinued`,
  `SessionRetryScheduled`, `SessionWaiting`, `BudgetChanged`;
* task progress: `TaskStatusChanged`, `AgentMessage`, `ToolUsed`,
  `CostReported`, `LogLineWritten`, `AgentSessionIdentified`,
  `WorktreePrepared`, `WorktreeSetupRan`, `ChangesRecorded`,
  `ArtifactStored`;
* system health: `QueueDepthReported`, `ResourceUsageReported`,
  `ErrorOccurred`;
* human interactions: `FeedbackGiven`, `ApprovalRequested`,
  `ApprovalGranted`, `ApprovalDenied`.

Events that concern the engine rather than one session use the session id `ENGINE_STREAM`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from ._models import Permissions, Priority, SessionMode, UtcDatetime, utcnow

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

ENGINE_STREAM = "_engine"
"""Session id under which engine-wide events (queue depth, resource usage) are stored."""


class BaseEvent(BaseModel):
    """Fields every event has.

    Attributes:
        type: The snake_case name of the event class.
        session_id: The session the event belongs to.
        seq: Position in the session's event stream, from 1; ``0`` until stored.
        ts: When it happened (UTC).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str
    session_id: str
    seq: int = 0
    ts: UtcDatetime = Field(default_factory=utcnow)


# -- session lifecycle -------------------------------------------------------------------------


class SessionQueued(BaseEvent):
    """A session was created and waits for a slot. Carries everything the session was asked."""

    type: Literal["session_queued"] = "session_queued"
    task_id: str
    parent_id: str | None = None
    mode: SessionMode
    priority: Priority
    branch: str | None = None
    worktree_path: str | None = None
    executor: str
    agent: str
    model: str | None = None
    image: str | None = None
    dangerous: bool = False
    permissions: Permissions | None = None
    created_by: str | None = None
    prompt: str | None = Field(default=None, description="An explicit prompt, if one was given.")
    resources: dict[str, Any] | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    area: str | None = None
    team: str | None = None
    budget_usd: float | None = None


class SessionStarting(BaseEvent):
    """Intent: the engine is about to start a runtime for an attempt (written before it does)."""

    type: Literal["session_starting"] = "session_starting"
    attempt: int
    runtime_name: str


class SessionStarted(BaseEvent):
    """The attempt's runtime is running."""

    type: Literal["session_started"] = "session_started"
    attempt: int
    runtime_id: str
    adopted: bool = Field(default=False, description="True when an existing runtime was adopted.")


class SessionCompleted(BaseEvent):
    """The agent ended successfully."""

    type: Literal["session_completed"] = "session_completed"
    attempt: int
    exit_code: int | None = 0
    result: str | None = None
    denials: int = Field(
        default=0,
        description="Tool uses the agent's permissions refused in this attempt (tool_denied "
        "events): the run ended well, but not everything it tried was done.",
    )


class SessionFailed(BaseEvent):
    """The attempt failed: ``reason`` says why, ``retryable`` whether infrastructure is to blame."""

    type: Literal["session_failed"] = "session_failed"
    attempt: int
    exit_code: int | None = None
    reason: str
    retryable: bool = False


class SessionCancelled(BaseEvent):
    """The session was cancelled; its runtime (if any) was stopped."""

    type: Literal["session_cancelled"] = "session_cancelled"
    attempt: int
    exit_code: int | None = None
    reason: str = "cancelled by request"


class SessionPaused(BaseEvent):
    """The session was paused with its state kept (for example ``budget_reached``)."""

    type: Literal["session_paused"] = "session_paused"
    reason: str


class SessionResumed(BaseEvent):
    """A paused session was let go on; it queues again for its next attempt."""

    type: Literal["session_resumed"] = "session_resumed"
    attempt: int


class SessionRetryScheduled(BaseEvent):
    """A failed attempt will be retried (infrastructure failure); queued until ``not_before``."""

    type: Literal["session_retry_scheduled"] = "session_retry_scheduled"
    attempt: int
    not_before: UtcDatetime
    reason: str


class BudgetChanged(BaseEvent):
    """The session's own cost budget was set or changed (``None``: no budget)."""

    type: Literal["budget_changed"] = "budget_changed"
    budget_usd: float | None


class SessionContinued(BaseEvent):
    """A next attempt was asked for (feedback on an ended session); it queues again."""

    type: Literal["session_continued"] = "session_continued"
    attempt: int
    feedback: str


class SessionWaiting(BaseEvent):
    """Why a queued session is not starting yet (recorded each time the reason changes)."""

    type: Literal["session_waiting"] = "session_waiting"
    reason: str
    detail: str = ""


# -- task progress -----------------------------------------------------------------------------


class TaskStatusChanged(BaseEvent):
    """The task file's status was changed by the engine."""

    type: Literal["task_status_changed"] = "task_status_changed"
    task_id: str
    status: str
    path: str | None = None


class AgentMessage(BaseEvent):
    """The agent said something (an assistant message, grouped by message id)."""

    type: Literal["agent_message"] = "agent_message"
    text: str
    message_id: str | None = None


class ToolUsed(BaseEvent):
    """The agent used a tool."""

    type: Literal["tool_used"] = "tool_used"
    name: str
    tool_use_id: str | None = None
    summary: str = Field(default="", description="A short, redacted view of the tool's input.")


class ToolDenied(BaseEvent):
    """The agent's permissions refused a tool use (a write under ``read-only``, a command the
    ``edit`` level does not allow, ...): the agent went on without it."""

    type: Literal["tool_denied"] = "tool_denied"
    name: str
    tool_use_id: str | None = None
    summary: str = Field(default="", description="A short, redacted view of the tool's input.")
    reason: str = Field(default="", description="What the agent was told, when it says.")


class CostReported(BaseEvent):
    """The agent reported cost: ``usd`` for this report, ``total_usd`` over the session."""

    type: Literal["cost_reported"] = "cost_reported"
    usd: float
    total_usd: float = 0.0
    input_tokens: int | None = None
    output_tokens: int | None = None
    running_usage: dict[str, float] | None = Field(
        default=None,
        description="For agents whose reports are running totals of their own session, "
        "resumes included (Codex's tokens, Claude Code's dollars): those totals after this "
        "report, so that a resumed attempt or a restarted engine counts only what is new.",
    )


class LogLineWritten(BaseEvent):
    """A line was appended to the task file's ``## Log``."""

    type: Literal["log_line_written"] = "log_line_written"
    task_id: str
    text: str


class AgentSessionIdentified(BaseEvent):
    """The agent told its own session id (what ``--resume`` takes)."""

    type: Literal["agent_session_identified"] = "agent_session_identified"
    agent_session_id: str


class WorktreePrepared(BaseEvent):
    """The session's worktree is ready (``repaired`` says what was mended, if anything)."""

    type: Literal["worktree_prepared"] = "worktree_prepared"
    branch: str
    worktree_path: str
    created: bool
    base: str | None = None
    repaired: str | None = None


class WorktreeSetupRan(BaseEvent):
    """The worktree's setup ran: files copied from the main worktree and the setup argv."""

    type: Literal["worktree_setup_ran"] = "worktree_setup_ran"
    copied: list[str] = Field(default_factory=list)
    skipped: list[str] = Field(default_factory=list)
    command: list[str] | None = None
    exit_code: int | None = None
    output: str = ""


class ChangesRecorded(BaseEvent):
    """When an attempt ended: the worktree's head and a summary of the branch's changes."""

    type: Literal["changes_recorded"] = "changes_recorded"
    head: str
    committed: bool = Field(description="True when the engine committed work left uncommitted.")
    files: list[str] = Field(default_factory=list)
    insertions: int = 0
    deletions: int = 0


class ArtifactStored(BaseEvent):
    """A structured artifact (for example a validated plan) was stored."""

    type: Literal["artifact_stored"] = "artifact_stored"
    kind: str
    data: dict[str, Any]


# -- system health -----------------------------------------------------------------------------


class QueueDepthReported(BaseEvent):
    """How many sessions were queued and running."""

    type: Literal["queue_depth_reported"] = "queue_depth_reported"
    queued: int
    running: int


class ResourceUsageReported(BaseEvent):
    """A runtime's resource usage."""

    type: Literal["resource_usage_reported"] = "resource_usage_reported"
    cpu_percent: float | None = None
    memory_bytes: int | None = None


class ErrorOccurred(BaseEvent):
    """Something went wrong that did not end the session (a hook, a collector, a cleanup)."""

    type: Literal["error_occurred"] = "error_occurred"
    where: str
    message: str


# -- human interactions ------------------------------------------------------------------------


class FeedbackGiven(BaseEvent):
    """A person (or tool) gave the agent feedback."""

    type: Literal["feedback_given"] = "feedback_given"
    text: str
    by: str | None = None
    delivered: bool = Field(
        default=True,
        description="False when the agent could not take it live; the next attempt gets it.",
    )


class ApprovalRequested(BaseEvent):
    """The session waits for a person to approve it."""

    type: Literal["approval_requested"] = "approval_requested"
    reason: str


class ApprovalGranted(BaseEvent):
    """A person approved the session."""

    type: Literal["approval_granted"] = "approval_granted"
    by: str | None = None


class ApprovalDenied(BaseEvent):
    """A person denied the session; it is cancelled."""

    type: Literal["approval_denied"] = "approval_denied"
    by: str | None = None
    reason: str = ""


Event = Annotated[
    SessionQueued
    | SessionStarting
    | SessionStarted
    | SessionCompleted
    | SessionFailed
    | SessionCancelled
    | SessionPaused
    | SessionResumed
    | SessionRetryScheduled
    | BudgetChanged
    | SessionContinued
    | SessionWaiting
    | TaskStatusChanged
    | AgentMessage
    | ToolUsed
    | ToolDenied
    | CostReported
    | LogLineWritten
    | AgentSessionIdentified
    | WorktreePrepared
    | WorktreeSetupRan
    | ChangesRecorded
    | ArtifactStored
    | QueueDepthReported
    | ResourceUsageReported
    | ErrorOccurred
    | FeedbackGiven
    | ApprovalRequested
    | ApprovalGranted
    | ApprovalDenied,
    Field(discriminator="type"),
]
"""Any event, discriminated by ``type``."""

_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)


def parse_event(data: dict[str, Any]) -> Event:
    """Build the right event class from a dict (as stored or sent over the wire).

    Raises:
        pydantic.ValidationError: the dict is not a known event.
    """
    return _ADAPTER.validate_python(data)


def event_from_json(raw: str | bytes) -> Event:
    """Build the right event class from its JSON text.

    Raises:
        pydantic.ValidationError: the text is not a known event.
    """
    return _ADAPTER.validate_json(raw)
