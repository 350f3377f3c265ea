"""The MCP tools: an input model, a result model and a handler over the engine for each.

Input schemas are the pydantic models' JSON schemas (every field described, unknown fields
refused); results are pydantic models too, sent as structured content and as JSON text.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from .._models import LogEntry, Priority, Session, SessionMode, SessionStatus, Task
from .._reports import CostGroup, CostReport, QueueStatus
from .._streams import closing
from ..engine._requests import SessionRequest

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = [
    "TOOLS",
    "CancelResult",
    "CostsInput",
    "LogPage",
    "QueueStatusInput",
    "SessionCancelInput",
    "SessionContinueInput",
    "SessionCreateInput",
    "SessionGetInput",
    "SessionListInput",
    "SessionListResult",
    "SessionLogsInput",
    "TaskListInput",
    "TaskListResult",
    "TaskProblemInfo",
    "ToolSpec",
]

_FORBID = ConfigDict(extra="forbid")


# -- inputs --------------------------------------------------------------------------------------


class SessionCreateInput(BaseModel):
    """Arguments of ``session_create``."""

    model_config = _FORBID

    task_id: str = Field(description="The task to work on, for example `auth-05A` (`task_list`).")
    mode: SessionMode = Field(
        default=SessionMode.AUTONOMOUS,
        description="How the agent runs: autonomous (unattended), dispatch or interactive "
        "(in tmux), planning (read-only, produces a plan).",
    )
    priority: Priority | None = Field(
        default=None, description="highest, high, medium or low; default: the task's own."
    )
    parent_id: str | None = Field(
        default=None, description="A parent task whose overview gives context."
    )
    branch: str | None = Field(
        default=None, description="Work on this branch instead of the task's bound branch."
    )
    dangerous: bool = Field(
        default=False,
        description="Skip the agent's permission prompts; only in a container executor "
        "(the same as permissions 'full').",
    )
    permissions: Literal["read-only", "edit", "full"] | None = Field(
        default=None,
        description="What the agent may do without asking: read-only, edit (default; "
        "planning: read-only) or full.",
    )
    executor: str | None = Field(
        default=None,
        description="docker, tmux or local; default by mode (docker, or tmux for interactive "
        "and dispatch).",
    )
    agent: str | None = Field(
        default=None,
        description="Agent adapter: claude-code (default), codex, command, or fake (scripted).",
    )
    model: str | None = Field(default=None, description="Model name passed to the agent.")
    image: str | None = Field(default=None, description="Container image, for docker.")
    prompt: str | None = Field(
        default=None, description="Extra instructions appended to the task's prompt."
    )


class SessionListInput(BaseModel):
    """Arguments of ``session_list``; with no flag, every session that has not ended."""

    model_config = _FORBID

    active: bool = Field(default=False, description="Starting, running, awaiting approval, paused.")
    queued: bool = Field(default=False, description="Queued.")
    all: bool = Field(default=False, description="Every session, ended ones included.")
    task_id: str | None = Field(default=None, description="Only this task's sessions.")


class SessionGetInput(BaseModel):
    """Arguments of ``session_get``."""

    model_config = _FORBID

    session_id: str = Field(description="The session id, `ses-` and lowercase letters and digits.")


class SessionCancelInput(BaseModel):
    """Arguments of ``session_cancel``."""

    model_config = _FORBID

    session_id: str = Field(description="The session to cancel.")
    reason: str = Field(
        default="cancelled through MCP", description="Recorded with the cancellation."
    )


class SessionContinueInput(BaseModel):
    """Arguments of ``session_continue``."""

    model_config = _FORBID

    session_id: str = Field(description="The session to give feedback to.")
    feedback: str = Field(
        min_length=1,
        description="What the agent should do next; an ended session resumes with it as a "
        "new attempt, a running tmux agent gets it at once.",
    )


class SessionLogsInput(BaseModel):
    """Arguments of ``session_logs``: one page of log lines after a position."""

    model_config = _FORBID

    session_id: str = Field(description="The session.")
    after_seq: int = Field(
        default=0,
        ge=0,
        description="Return lines after this seq (the previous page's "
        "`next_after_seq`); 0 from the start.",
    )
    limit: int = Field(default=200, ge=1, le=5000, description="At most this many lines.")


class TaskListInput(BaseModel):
    """Arguments of ``task_list``."""

    model_config = _FORBID

    status: str | None = Field(default=None, description="Only tasks with this status.")
    area: str | None = Field(default=None, description="Only tasks of this area.")


class QueueStatusInput(BaseModel):
    """``queue_status`` takes no arguments."""

    model_config = _FORBID


class CostsInput(BaseModel):
    """Arguments of ``costs``."""

    model_config = _FORBID

    group_by: CostGroup = Field(
        default="task",
        description="Group sessions by task, area, team, mode, agent or day (UTC).",
    )


# -- results -------------------------------------------------------------------------------------


class SessionListResult(BaseModel):
    """Sessions, oldest first."""

    sessions: list[Session]


class CancelResult(BaseModel):
    """Whether this call cancelled the session, and the session now."""

    cancelled: bool = Field(description="False when the session had already ended.")
    session: Session


class LogPage(BaseModel):
    """A page of a session's log lines."""

    session_id: str
    status: SessionStatus = Field(description="The session's status when the page was read.")
    entries: list[LogEntry]
    next_after_seq: int = Field(description="Pass as `after_seq` to read the next page.")
    more: bool = Field(description="True when more lines were already there past this page.")


class TaskProblemInfo(BaseModel):
    """A task file that could not be read."""

    path: str
    reason: str


class TaskListResult(BaseModel):
    """Valid tasks, and the files that could not be read."""

    tasks: list[Task]
    problems: list[TaskProblemInfo]


# -- handlers ------------------------------------------------------------------------------------


async def _session_create(engine: Engine, args: SessionCreateInput) -> Session:
    kwargs: dict[str, Any] = args.model_dump(exclude={"task_id", "agent"})
    kwargs["mode"] = args.mode.value
    if args.agent is not None:
        kwargs["agent"] = args.agent
    return await engine.submit(SessionRequest.of(args.task_id, **kwargs))


async def _session_list(engine: Engine, args: SessionListInput) -> SessionListResult:
    sessions = await engine.list_sessions(active=args.active, queued=args.queued, all=args.all)
    if args.task_id is not None:
        sessions = [s for s in sessions if s.task_id == args.task_id]
    return SessionListResult(sessions=sessions)


async def _session_get(engine: Engine, args: SessionGetInput) -> Session:
    return await engine.get_session(args.session_id)


async def _session_cancel(engine: Engine, args: SessionCancelInput) -> CancelResult:
    cancelled = await engine.cancel_session(args.session_id, reason=args.reason)
    return CancelResult(cancelled=cancelled, session=await engine.get_session(args.session_id))


async def _session_continue(engine: Engine, args: SessionContinueInput) -> Session:
    return await engine.continue_session(args.session_id, args.feedback)


async def _session_logs(engine: Engine, args: SessionLogsInput) -> LogPage:
    session = await engine.get_session(args.session_id)
    entries: list[LogEntry] = []
    more = False
    async with closing(engine.session_logs(args.session_id)) as stream:
        async for entry in stream:
            if entry.seq <= args.after_seq:
                continue
            if len(entries) == args.limit:
                more = True
                break
            entries.append(entry)
    return LogPage(
        session_id=session.id,
        status=session.status,
        entries=entries,
        next_after_seq=entries[-1].seq if entries else args.after_seq,
        more=more,
    )


async def _task_list(engine: Engine, args: TaskListInput) -> TaskListResult:
    tasks = [
        t
        for t in await engine.list_tasks()
        if (args.status is None or t.effective_status == args.status)
        and (args.area is None or t.area == args.area)
    ]
    problems = [
        TaskProblemInfo(path=str(p.path), reason=str(p.reason)) for p in await engine.check_tasks()
    ]
    return TaskListResult(tasks=tasks, problems=problems)


async def _queue_status(engine: Engine, args: QueueStatusInput) -> QueueStatus:
    return await engine.queue_status()


async def _costs(engine: Engine, args: CostsInput) -> CostReport:
    return await engine.cost_report(args.group_by)


# -- the registry --------------------------------------------------------------------------------

InputT = TypeVar("InputT", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ToolSpec(Generic[InputT]):
    """One MCP tool: its name, what it does, its models and its handler.

    Attributes:
        name: The tool's name.
        description: What the tool does, for the model choosing tools.
        input_model: Validates the arguments; its JSON schema is the input schema.
        output_model: The result's model; its JSON schema is the output schema.
        handler: Runs the tool on the open engine.
        read_only: The tool changes nothing.
        destructive: The tool may stop work in progress.
    """

    name: str
    description: str
    input_model: type[InputT]
    output_model: type[BaseModel]
    handler: Callable[[Engine, InputT], Awaitable[BaseModel]]
    read_only: bool = False
    destructive: bool = False


TOOLS: tuple[ToolSpec[Any], ...] = (
    ToolSpec(
        "session_create",
        "Queue a session that runs a coding agent on a task in the task's git worktree; the "
        "scheduler starts it when the queue policy allows. Returns the session (status "
        "`queued`); poll `session_get` to see it start and end.",
        SessionCreateInput,
        Session,
        _session_create,
    ),
    ToolSpec(
        "session_list",
        "List sessions, oldest first: by default every session that has not ended; "
        "`active`, `queued` or `all` narrow or widen it.",
        SessionListInput,
        SessionListResult,
        _session_list,
        read_only=True,
    ),
    ToolSpec(
        "session_get",
        "Return one session: status (queued, starting, running, awaiting_approval, paused, "
        "completed, failed, cancelled), branch, worktree, cost, exit code and error.",
        SessionGetInput,
        Session,
        _session_get,
        read_only=True,
    ),
    ToolSpec(
        "session_cancel",
        "Cancel a session: dequeue it, or stop its agent (a grace period, then a kill). "
        "`cancelled` is false when it had already ended.",
        SessionCancelInput,
        CancelResult,
        _session_cancel,
        destructive=True,
    ),
    ToolSpec(
        "session_continue",
        "Give a session's agent feedback: delivered live to a running tmux agent, otherwise "
        "it starts the next attempt, resuming the agent's own session.",
        SessionContinueInput,
        Session,
        _session_continue,
    ),
    ToolSpec(
        "session_logs",
        "Read a page of a session's log lines (the agent's own output, redacted, in order) "
        "after `after_seq`; page on with `next_after_seq` while `more` is true or the "
        "session runs.",
        SessionLogsInput,
        LogPage,
        _session_logs,
        read_only=True,
    ),
    ToolSpec(
        "task_list",
        "List the repository's valid tasks (id, title, type, status, area, priority, parent) "
        "and the task files that could not be read.",
        TaskListInput,
        TaskListResult,
        _task_list,
        read_only=True,
    ),
    ToolSpec(
        "queue_status",
        "Show sessions holding a slot, and queued sessions in scheduling order with why they wait.",
        QueueStatusInput,
        QueueStatus,
        _queue_status,
        read_only=True,
    ),
    ToolSpec(
        "costs",
        "Sum the cost agents reported over every session, grouped by task, mode, agent or day.",
        CostsInput,
        CostReport,
        _costs,
        read_only=True,
    ),
)
