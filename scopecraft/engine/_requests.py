"""Session requests: one frozen `SessionRequest`, validated, then queued.

`SessionRequest.of()` checks what can be checked from the request alone (names, the mode,
the permissions, the priority, limits, budget and texts); `Requests` checks it against this
engine (the executor and agent exist, a full-permission session runs in a container, the
agent's program is there, the executor answers, the branch is free), turns it into the
``session_queued`` event and stores it, admitted by the queue policy.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Self

from pydantic import BaseModel, ConfigDict, Field

from .._errors import (
    AgentProgramNotFound,
    DangerousRefused,
    ExecutorUnavailable,
    ExecutorUnreachable,
    PluginError,
    RequestRefused,
    UnknownAgent,
)
from .._models import Permissions, Priority, Session, SessionMode, SessionStatus, Task
from .._names import new_session_id, validate_branch, validate_task_id
from ..agents._check import missing_program
from ..events import ApprovalRequested, Event, SessionQueued
from ..executors._protocol import Resources
from ._context import Context
from ._journal import Journal
from ._runtimes import Runtimes

__all__ = ["DEFAULT_EXECUTOR", "Requests", "SessionRequest"]

DEFAULT_EXECUTOR = {
    SessionMode.AUTONOMOUS: "docker",
    SessionMode.PLANNING: "docker",
    SessionMode.INTERACTIVE: "tmux",
    SessionMode.DISPATCH: "tmux",
}
"""The executor of each mode when a request names none."""
_REQUESTS_KEPT = 10_000  # session_queued events kept for launches (see first_request)
_RESOURCE_KEYS = ("cpus", "memory_mb", "pids")


class SessionRequest(BaseModel):
    """One request for a session: the arguments of `Engine.create_session()` as one value.

    Make one with `of()`, which checks every field and says what is wrong the way the
    engine does; `Engine.submit()` queues it. The CLI, the MCP server and the sync twin
    build one and submit it; the ``session_queued`` event carries what it asked
    (`from_queued()` reads it back).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    task_id: str
    mode: SessionMode
    priority: Priority | None = Field(
        default=None, description="None: the task's own priority (else medium)."
    )
    parent_id: str | None = None
    branch: str | None = None
    permissions: Permissions
    executor: str | None = Field(default=None, description="None: the mode's default.")
    agent: str = "claude-code"
    model: str | None = None
    image: str | None = None
    prompt: str | None = None
    resources: dict[str, float] | None = Field(
        default=None, description="Limits (cpus, memory_mb, pids) over the mode's defaults."
    )
    created_by: str | None = None
    budget_usd: float | None = None

    @property
    def dangerous(self) -> bool:
        """Whether the agent skips every permission prompt (``permissions='full'``)."""
        return self.permissions is Permissions.FULL

    @classmethod
    def of(
        cls,
        task_id: str,
        *,
        mode: SessionMode | str,
        priority: Priority | str | None = None,
        parent_id: str | None = None,
        branch: str | None = None,
        dangerous: bool = False,
        executor: str | None = None,
        agent: str = "claude-code",
        model: str | None = None,
        image: str | None = None,
        prompt: str | None = None,
        resources: Mapping[str, Any] | Resources | None = None,
        created_by: str | None = None,
        budget_usd: float | None = None,
        permissions: Permissions | str | None = None,
    ) -> Self:
        """Check a request given as `Engine.create_session()` takes it.

        Raises:
            InvalidName: a bad task id, parent id or branch name.
            RequestRefused: an unknown mode, priority or permission level, contradicting
                ``dangerous`` and ``permissions``, a bad limit, budget or text.
        """
        validate_task_id(task_id)
        if parent_id is not None:
            validate_task_id(parent_id)
        session_mode = parse_mode(mode)
        level = _parse_permissions(permissions, dangerous, session_mode)
        for what, name in (("agent", agent), ("executor", executor), ("branch", branch)):
            if name is not None and not isinstance(name, str):
                raise RequestRefused(f"{what} must be a name, not {type(name).__name__}")
        if branch is not None:
            validate_branch(branch)
        check_budget(budget_usd)
        for what, value in (
            ("model", model),
            ("image", image),
            ("prompt", prompt),
            ("created_by", created_by),
        ):
            if value is not None:
                if not isinstance(value, str):
                    raise RequestRefused(f"{what} must be text, not {type(value).__name__}")
                check_text(what, value)
        return cls(
            task_id=task_id,
            mode=session_mode,
            priority=_parse_priority(priority),
            parent_id=parent_id,
            branch=branch,
            permissions=level,
            executor=executor,
            agent=agent,
            model=model,
            image=image,
            prompt=prompt,
            resources=_parse_resources(resources),
            created_by=created_by,
            budget_usd=budget_usd,
        )

    @classmethod
    def from_queued(cls, event: SessionQueued) -> Self:
        """The request a ``session_queued`` event carries, its defaults filled in: the
        priority, the executor, the bound branch, the creator and the limits it was given."""
        resources = {k: v for k, v in (event.resources or {}).items() if v is not None}
        return cls(
            task_id=event.task_id,
            mode=event.mode,
            priority=event.priority,
            parent_id=event.parent_id,
            branch=event.branch,
            permissions=event.permissions
            or (Permissions.FULL if event.dangerous else Permissions.EDIT),
            executor=event.executor,
            agent=event.agent,
            model=event.model,
            image=event.image,
            prompt=event.prompt,
            resources=resources or None,
            created_by=event.created_by,
            budget_usd=event.budget_usd,
        )

    def limits(self) -> Resources | None:
        """The explicit limits as `Resources` (``None`` when none was given)."""
        if self.resources is None:
            return None
        return _resources(self.resources)


class Requests:
    """Checks requests against this engine and queues them.

    Args:
        ctx: The engine's context (plugins, worktrees, policy, store).
        journal: Where the queued events are stored.
        runtimes: The mode's default limits.
    """

    def __init__(self, ctx: Context, journal: Journal, runtimes: Runtimes) -> None:
        self._ctx = ctx
        self._journal = journal
        self._runtimes = runtimes
        self._kept: dict[str, tuple[SessionQueued, int]] = {}

    async def event_for(self, task: Task, request: SessionRequest) -> SessionQueued:
        """Check ``request`` (for ``task``) against this engine; return the event that would
        queue it. Nothing is stored.

        Raises:
            RequestRefused: an executor that cannot run it (or is not installed), an agent
                that is not installed (`UnknownAgent`), full permissions outside a container
                (`DangerousRefused`), an agent program not on the PATH
                (`AgentProgramNotFound`), an executor that does not answer
                (`ExecutorUnreachable`), a branch taken by another worktree.
        """
        ctx = self._ctx
        mode = request.mode
        executor_name = request.executor or DEFAULT_EXECUTOR[mode]
        try:
            exec_plugin = ctx.plugins.executor(executor_name)
        except PluginError as exc:
            raise RequestRefused(
                f"cannot run a {mode.value} session on executor {executor_name!r}: {exc}"
                + (
                    "; pass executor='local' to run it as a local process"
                    if request.executor is None
                    else ""
                )
            ) from exc
        try:
            adapter = ctx.plugins.agent(request.agent)
        except PluginError as exc:
            raise UnknownAgent(f"cannot use agent {request.agent!r}: {exc}") from exc
        if (
            request.dangerous
            and not exec_plugin.capabilities.isolated
            and not ctx.allowed_on_host()
        ):
            raise DangerousRefused(
                f"permissions='full' (dangerous=True) skips the agent's permission prompts and "
                f"is allowed only in a container executor, not {executor_name!r}; use "
                "permissions='edit', or set SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST=1 to allow it "
                "on this host"
            )
        if (
            mode in (SessionMode.INTERACTIVE, SessionMode.DISPATCH)
            and not exec_plugin.capabilities.terminal
        ):
            raise RequestRefused(
                f"{mode.value} sessions need a terminal executor (tmux), not {executor_name!r}"
            )
        limits = self._runtimes.mode_resources(mode, request.limits())
        # What would fail the start at once (no agent CLI on the host, no image, no engine) is
        # refused now, before a session, a worktree and a branch exist. In a container the
        # agent's CLI is the image's.
        if not exec_plugin.capabilities.isolated:
            missing = missing_program(adapter)
            if missing is not None:
                raise AgentProgramNotFound(f"cannot start on {executor_name!r}: {missing}")
        try:
            problem = await exec_plugin.preflight(image=request.image or ctx.config.default_image)
        except ExecutorUnavailable as exc:
            raise ExecutorUnreachable(
                f"cannot start on {executor_name!r}: {exc}; or run on the host with "
                "executor='local' (-e local)"
            ) from exc
        if problem is not None:
            raise RequestRefused(f"cannot start on {executor_name!r}: {problem}")
        binding = await ctx.worktrees.bind(task, branch=request.branch)
        if request.branch is not None:
            problem = await ctx.worktrees.conflict(binding)
            if problem is not None:
                raise RequestRefused(
                    f"cannot bind task {task.id} to branch {binding.branch}: {problem}; pass "
                    "no branch to use the worktree's own, or move the worktree away first"
                )
        return SessionQueued(
            session_id=new_session_id(),
            task_id=task.id,
            parent_id=request.parent_id,
            mode=mode,
            priority=request.priority or task.priority,
            branch=binding.branch,
            worktree_path=str(binding.path),
            executor=executor_name,
            agent=request.agent,
            model=request.model,
            image=request.image,
            dangerous=request.dangerous,
            permissions=request.permissions,
            created_by=request.created_by or ctx.created_by,
            prompt=request.prompt,
            resources={"cpus": limits.cpus, "memory_mb": limits.memory_mb, "pids": limits.pids},
            area=task.area or None,
            team=_team_of(task),
            budget_usd=request.budget_usd,
        )

    async def submit(self, requests: Sequence[tuple[Task, SessionRequest]]) -> list[Session]:
        """Check every request, then queue them all (or none); wake the scheduler."""
        events = [await self.event_for(task, request) for task, request in requests]
        sessions = await self.enqueue(events, await self.queued_count())
        self._ctx.wake_scheduler()
        return sessions

    async def queued_count(self) -> int:
        """How many sessions are queued, for the policy's admission; ``0`` without asking the
        store when the policy says it does not look (``counts_queue`` false, as the built-in
        policy without a queue limit)."""
        if not self._ctx.policy.counts_queue:
            return 0
        return await self._ctx.storage.count_sessions(statuses=[SessionStatus.QUEUED])

    async def enqueue(self, events: Sequence[SessionQueued], queued_count: int) -> list[Session]:
        """Admit every request first (all or none), then store each; return the sessions."""
        from .._projection import replay, session_from_queued

        batches: list[tuple[str, list[Event]]] = []
        for offset, queued in enumerate(events):
            admission = self._ctx.policy.admit(
                session_from_queued(queued), queued=queued_count + offset
            )
            batch: list[Event] = [queued]
            if admission.approval is not None:
                batch.append(
                    ApprovalRequested(session_id=queued.session_id, reason=admission.approval)
                )
            batches.append((queued.session_id, batch))
        if len(batches) == 1:
            results = [await self._journal.append(*batches[0])]
        else:
            # Several requests (a dispatch): one transaction stores them all, or none.
            results = await self._journal.append_batch(batches)
        sessions: list[Session] = []
        for stored in results:
            session = replay(stored)
            assert session is not None
            sessions.append(session)
            first = stored[0]
            if isinstance(first, SessionQueued):
                self._keep(first, session.last_seq)
        return sessions

    def _keep(self, queued: SessionQueued, last_seq: int) -> None:
        kept = self._kept
        if len(kept) >= _REQUESTS_KEPT:
            del kept[next(iter(kept))]
        kept[queued.session_id] = (queued, last_seq)

    def first_request(self, session: Session) -> SessionQueued | None:
        """The ``session_queued`` event of a session this engine queued, when nothing but
        the intent to start it has been stored since (its first attempt is starting): the
        launch then needs no read of the session's events. ``None`` otherwise."""
        known = self._kept.pop(session.id, None)
        if known is None:
            return None
        queued, last_seq = known
        starting = session.status is SessionStatus.STARTING and session.attempt == 1
        return queued if starting and session.last_seq == last_seq + 1 else None


def parse_mode(mode: SessionMode | str) -> SessionMode:
    """A session mode from its name.

    Raises:
        RequestRefused: an unknown mode, or one not available yet (orchestration).
    """
    try:
        session_mode = SessionMode(mode)
    except ValueError:
        raise RequestRefused(
            f"unknown mode {mode!r}; use one of {', '.join(m.value for m in SessionMode)}"
        ) from None
    if session_mode is SessionMode.ORCHESTRATION:
        raise RequestRefused(
            "orchestration sessions are not available yet; run the subtasks as autonomous "
            "or dispatch sessions"
        )
    return session_mode


def check_budget(budget_usd: object) -> None:
    """Refuse a budget that is not a finite number of at least 0 (``None`` is no budget)."""
    if budget_usd is None:
        return
    if isinstance(budget_usd, bool) or not isinstance(budget_usd, int | float):
        raise RequestRefused(f"budget_usd must be a number of USD, not {budget_usd!r}")
    if not math.isfinite(budget_usd) or budget_usd < 0:
        raise RequestRefused(f"budget_usd must be a finite amount of at least 0, not {budget_usd}")


def check_text(what: str, text: str) -> None:
    """Refuse text that cannot be stored or sent (lone surrogates are not UTF-8)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestRefused(
            f"{what} holds characters that are not valid Unicode text (at {exc.start})"
        ) from None


def _parse_permissions(
    permissions: Permissions | str | None, dangerous: bool, mode: SessionMode
) -> Permissions:
    from .._models import default_permissions

    if permissions is None:
        return default_permissions(mode, dangerous)
    try:
        level = Permissions(permissions)
    except ValueError:
        raise RequestRefused(
            f"unknown permissions {permissions!r}; use one of "
            f"{', '.join(p.value for p in Permissions)}"
        ) from None
    if dangerous and level is not Permissions.FULL:
        raise RequestRefused(
            f"dangerous=True means permissions='full', which contradicts "
            f"permissions={level.value!r}; pass one of them"
        )
    return level


def _parse_priority(priority: Priority | str | None) -> Priority | None:
    if priority is None:
        return None
    try:
        return Priority(priority)
    except ValueError:
        raise RequestRefused(
            f"unknown priority {priority!r}; use highest, high, medium or low"
        ) from None


def _parse_resources(resources: Mapping[str, Any] | Resources | None) -> dict[str, float] | None:
    """The explicit limits given, checked (as `Resources` checks them), by name."""
    if resources is None:
        return None
    if isinstance(resources, Resources):
        given: dict[str, Any] = {
            "cpus": resources.cpus,
            "memory_mb": resources.memory_mb,
            "pids": resources.pids,
        }
    else:
        if not isinstance(resources, Mapping):
            raise RequestRefused(
                f"resources must be a mapping of cpus, memory_mb and pids, not {resources!r}"
            )
        unknown = sorted(str(k) for k in resources if k not in _RESOURCE_KEYS)
        if unknown:
            raise RequestRefused(
                f"resources: unknown {', '.join(unknown)}; use cpus, memory_mb and pids"
            )
        given = {str(k): v for k, v in resources.items()}
        Resources(**given)  # its own checks: numbers, at least their minimum
    return {k: v for k, v in given.items() if v is not None}


def _resources(values: Mapping[str, float]) -> Resources:
    return Resources(
        cpus=values.get("cpus"),
        memory_mb=int(values["memory_mb"]) if values.get("memory_mb") is not None else None,
        pids=int(values["pids"]) if values.get("pids") is not None else None,
    )


def _team_of(task: Task) -> str | None:
    for tag in task.tags:
        if tag.startswith("team:") and len(tag) > len("team:"):
            return tag[len("team:") :]
    return None
