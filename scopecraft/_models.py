"""Value types of the public API: sessions, tasks, log entries and their enums."""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

__all__ = [
    "TERMINAL_STATUSES",
    "LogEntry",
    "LogStream",
    "Permissions",
    "Priority",
    "Session",
    "SessionMode",
    "SessionStatus",
    "Task",
    "utcnow",
]


def utcnow() -> datetime:
    """Return the current time as a timezone-aware UTC datetime."""
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC)


UtcDatetime = Annotated[datetime, AfterValidator(_as_utc)]
"""A timezone-aware datetime, normalised to UTC."""


class Permissions(enum.StrEnum):
    """What a session's agent may do without asking."""

    READ_ONLY = "read-only"
    """Read and answer; no file changes (the default for planning sessions)."""
    EDIT = "edit"
    """Change files in its worktree and use its session's tools (the default otherwise)."""
    FULL = "full"
    """Skip every permission prompt (container executors only, unless allowed on the host)."""


def default_permissions(mode: SessionMode, dangerous: bool = False) -> Permissions:
    """The permission level a session gets when none is asked for.

    Args:
        mode: The session's mode (planning sessions are read-only).
        dangerous: The ``dangerous`` alias of ``full``.
    """
    if dangerous:
        return Permissions.FULL
    return Permissions.READ_ONLY if mode is SessionMode.PLANNING else Permissions.EDIT


class SessionMode(enum.StrEnum):
    """How a session runs its agent."""

    AUTONOMOUS = "autonomous"
    """Unattended, in a hardened container by default."""
    DISPATCH = "dispatch"
    """Several interactive agents started at once, to be dropped in on."""
    INTERACTIVE = "interactive"
    """A person works with the agent live, in tmux."""
    PLANNING = "planning"
    """A read-only run that produces a plan of subtasks."""
    ORCHESTRATION = "orchestration"
    """Plans a task graph and spawns child sessions (not available yet)."""


class SessionStatus(enum.StrEnum):
    """Where a session is in its life."""

    QUEUED = "queued"
    STARTING = "starting"
    RUNNING = "running"
    AWAITING_APPROVAL = "awaiting_approval"
    PAUSED = "paused"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        """True for ``completed``, ``failed`` and ``cancelled``."""
        return self in TERMINAL_STATUSES

    @property
    def is_active(self) -> bool:
        """True while the session holds or is about to hold a runtime."""
        return self in (SessionStatus.STARTING, SessionStatus.RUNNING)


TERMINAL_STATUSES = frozenset(
    {SessionStatus.COMPLETED, SessionStatus.FAILED, SessionStatus.CANCELLED}
)


class Priority(enum.StrEnum):
    """Scopecraft's task priorities, highest first. ``normal`` is read as ``medium``."""

    HIGHEST = "highest"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @classmethod
    def _missing_(cls, value: object) -> Priority | None:
        if isinstance(value, str):
            key = value.strip().lower()
            if key == "normal":
                return cls.MEDIUM
            for member in cls:
                if member.value == key:
                    return member
        return None

    @property
    def rank(self) -> int:
        """0 for ``highest`` up to 3 for ``low``; lower runs first."""
        return _PRIORITY_RANK[self]


_PRIORITY_RANK = {Priority.HIGHEST: 0, Priority.HIGH: 1, Priority.MEDIUM: 2, Priority.LOW: 3}

LogStream = Literal["stdout", "stderr", "system"]


class LogEntry(BaseModel):
    """One line of an agent's own output, redacted.

    Attributes:
        seq: Position of the line in its session's log, from 1.
        ts: When the line was collected (UTC).
        stream: ``stdout``, ``stderr`` or ``system`` (lines the engine adds).
        text: The line, without its newline.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    seq: int
    ts: UtcDatetime
    stream: LogStream
    text: str


class Session(BaseModel):
    """A projection of a session's events: what it is, where it runs and how it went.

    A ``Session`` is never edited in place: the store rebuilds it from events, and any process
    can do the same.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(description="Session id, `ses-` followed by lowercase letters and digits.")
    task_id: str = Field(description="The task the session works on.")
    parent_id: str | None = Field(default=None, description="Parent task giving context.")
    mode: SessionMode
    status: SessionStatus = SessionStatus.QUEUED
    priority: Priority = Priority.MEDIUM
    branch: str | None = Field(default=None, description="The git branch the agent works on.")
    worktree_path: str | None = Field(default=None, description="The worktree folder.")
    executor: str = Field(description="Name of the executor plugin.")
    agent: str = Field(description="Name of the agent adapter plugin.")
    model: str | None = None
    image: str | None = None
    dangerous: bool = False
    permissions: Permissions | None = Field(
        default=None,
        description="What the agent may do without asking (read-only, edit, full); "
        "None for a session stored before permission levels existed.",
    )
    attempt: int = Field(default=1, description="Attempt number, from 1; continue adds one.")
    agent_session_id: str | None = Field(
        default=None, description="The agent's own session id, used to resume it."
    )
    cost_usd: float = Field(default=0.0, description="Cost reported over every attempt.")
    created_by: str | None = None
    created_at: UtcDatetime
    updated_at: UtcDatetime
    started_at: UtcDatetime | None = Field(
        default=None, description="First start of the first attempt."
    )
    ended_at: UtcDatetime | None = Field(default=None, description="End of the last attempt.")
    exit_code: int | None = None
    error: str | None = None
    runtime_id: str | None = Field(
        default=None, description="The executor's id of the current attempt's runtime."
    )
    last_seq: int = Field(default=0, description="Seq of the last event applied.")
    labels: dict[str, str] = Field(default_factory=dict, description="Free-form labels.")
    area: str | None = Field(
        default=None, description="The task's area (for fairness and budgets)."
    )
    team: str | None = Field(default=None, description="The task's `team:` tag, if any.")
    budget_usd: float | None = Field(default=None, description="This session's own cost budget.")
    not_before: UtcDatetime | None = Field(
        default=None, description="A retried session waits in the queue until then."
    )
    cpus: float | None = Field(default=None, description="CPU cores reserved for the session.")
    memory_mb: int | None = Field(default=None, description="Memory reserved, in MiB.")
    pids: int | None = Field(default=None, description="Process limit.")
    approved: bool = Field(default=False, description="A person approved the session.")
    denials: int = Field(
        default=0,
        description="Tool uses the agent's permissions refused in the current attempt.",
    )

    @property
    def is_terminal(self) -> bool:
        """True once the session has completed, failed or been cancelled."""
        return self.status.is_terminal


class Task(BaseModel):
    """A Scopecraft task read from its file.

    Attributes:
        id: The file's stem without ``.task``; a parent's id is its folder name; a subtask
            keeps its ``NN_`` prefix.
        sequence: A subtask's ``NN`` as an int, else ``None``.
        status: The status in the file at ``path`` (the main checkout's, or the central
            folder's). Sessions change a task's status on its branch, so until that branch is
            merged the task's current status is `effective_status`.
        path: The file (a parent's ``_overview.md``).
        branch: The task's branch, when it exists (set by `Engine.list_tasks()` and
            `Engine.get_task()`; ``None`` in the central layout and from a `TaskStore`).
        branch_status: The status in the task's file on ``branch``'s latest commit, when the
            branch changed that file since it left the default branch and the status there
            differs from ``status``; else ``None``.
        branch_note: Why ``branch`` has no usable copy of the file (it is malformed, too
            large, not a regular file, or gone there), or ``None``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    title: str
    type: str
    status: str
    area: str
    priority: Priority = Priority.MEDIUM
    parent_id: str | None = None
    sequence: int | None = None
    tags: tuple[str, ...] = ()
    path: Path
    is_parent: bool = False
    location: str | None = Field(
        default=None, description="`backlog`, `current` or `archive/YYYY-MM`."
    )
    instruction: str = ""
    tasks_section: str = ""
    deliverable: str = ""
    extra: dict[str, object] = Field(
        default_factory=dict, description="Front matter keys scopecraft does not model."
    )
    branch: str | None = Field(default=None, description="The task's branch, when it exists.")
    branch_status: str | None = Field(
        default=None, description="The status on `branch`, when the branch changed it."
    )
    branch_note: str | None = Field(
        default=None, description="Why `branch` has no usable copy of the task's file."
    )

    @property
    def env_id(self) -> str:
        """The environment id: the parent's id for a subtask, else the task's own id."""
        return self.parent_id or self.id

    @property
    def effective_status(self) -> str:
        """The task's current status: its branch's (`branch_status`) when the branch changed
        it, else the one in the file at ``path`` (`status`)."""
        return self.branch_status if self.branch_status is not None else self.status

    @property
    def status_source(self) -> Literal["branch", "file"]:
        """Where `effective_status` comes from: ``"branch"`` (`branch`'s latest commit) or
        ``"file"`` (the file at ``path``)."""
        return "branch" if self.branch_status is not None else "file"
