"""The `Engine`: the facade of user verbs that every interface (CLI, MCP, scripts) composes.

The engine itself holds no logic of its own beyond checking its arguments: it makes its
components (see `scopecraft.engine`) and hands each verb to the one it belongs to.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc
import anyio.to_thread

from .._config import EngineConfig, default_home
from .._errors import (
    ConfigError,
    InvalidTransition,
    RequestRefused,
    SessionTimeout,
    StorageError,
    TaskNotFound,
)
from .._models import (
    LogEntry,
    Permissions,
    Priority,
    Session,
    SessionMode,
    SessionStatus,
    Task,
)
from .._names import validate_env_name, validate_session_id
from .._plugins import PluginRegistry
from .._redact import Redactor
from ..agents._protocol import AgentAdapter
from ..events import (
    ApprovalDenied,
    ApprovalGranted,
    BudgetChanged,
    Event,
    FeedbackGiven,
    SessionCancelled,
    SessionContinued,
    SessionResumed,
)
from ..executors._protocol import Executor, Resources
from ..policies._priority import PriorityQueuePolicy
from ..policies._protocol import QueuePolicy
from ..storage._protocol import StorageAdapter, StoredEvent
from ..worktrees._protocol import WorktreeOrchestrator
from ._attempts import AttemptRunner
from ._context import Context, Plugins
from ._costs import COST_GROUPS, Costs
from ._journal import Journal
from ._requests import Requests, SessionRequest, check_budget, check_text, parse_mode
from ._runtimes import Runtimes
from ._scheduler import SCHEDULER_LEASE, Scheduler
from ._seams import PluginSpec, resolve_policy, resolve_storage, resolve_worktrees
from ._tasks import Tasks
from ._worktree_verbs import WorktreeMethods

if TYPE_CHECKING:
    from .._reports import CostGroup, CostReport, QueueStatus

__all__ = ["COST_GROUPS", "MAX_FEEDBACK_CHARS", "Engine"]

log = logging.getLogger("scopecraft.engine")

_ACTIVE = (
    SessionStatus.STARTING,
    SessionStatus.RUNNING,
    SessionStatus.AWAITING_APPROVAL,
    SessionStatus.PAUSED,
)

MAX_FEEDBACK_CHARS = 100_000
"""The longest feedback `Engine.continue_session()` takes (it is stored and sent to the
agent as it is; a file in the worktree is the way to hand over more)."""


class _Opener:
    """What `Engine.open()` returns: ``async with Engine.open(...) as engine``."""

    def __init__(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs
        self._engine: Engine | None = None

    async def __aenter__(self) -> Engine:
        self._engine = Engine(**self._kwargs)
        await self._engine._start()
        return self._engine

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._engine is not None
        await self._engine.aclose()


class Engine(WorktreeMethods):
    """Runs agents as durable sessions bound to tasks and worktrees.

    Open one with ``async with Engine.open(repo=".") as engine:`` (or the sync twin
    `scopecraft.connect()`). While it is open, the engine competes for the store's
    scheduler lease; the holder starts queued sessions, collects the output of running ones
    and reconciles runtimes left by earlier processes. Runtimes outlive the engine: closing it
    never stops a session.
    """

    def __init__(
        self,
        repo: str | os.PathLike[str] = ".",
        *,
        home: str | os.PathLike[str] | None = None,
        storage: StorageAdapter | PluginSpec | None = None,
        policy: QueuePolicy | PluginSpec | None = None,
        forward_env: Iterable[str] = (),
        config: EngineConfig | Mapping[str, Any] | None = None,
        plugins: PluginRegistry | None = None,
        worktrees: WorktreeOrchestrator | PluginSpec | None = None,
    ) -> None:
        self.repo = Path(repo).resolve()
        self.home = Path(home).expanduser().resolve() if home is not None else default_home()
        from .._config_files import load_config_files, merge_config

        # The configuration files, then what the caller gave: the caller wins.
        self.config_files = load_config_files(self.home, self.repo)
        if isinstance(config, EngineConfig):
            given = config.model_dump(exclude_unset=True)
        else:
            given = dict(config or {})
        if isinstance(config, EngineConfig) and not self.config_files.files:
            self.config = config
        else:
            try:
                self.config = EngineConfig.model_validate(
                    merge_config(self.config_files.values, given)
                )
            except ValueError as exc:
                raise ConfigError(f"invalid engine configuration: {exc}") from exc
        self.plugins = plugins or PluginRegistry()
        names = list(forward_env) + [
            part.strip()
            for part in os.environ.get("SCOPECRAFT_FORWARD_ENV", "").split(",")
            if part.strip()
        ]
        self.forward_env: tuple[str, ...] = tuple(
            dict.fromkeys(validate_env_name(n) for n in names)
        )
        given_store = resolve_storage(storage, registry=self.plugins, home=self.home)
        # A store the caller made is the caller's to close; one made here from a name is ours.
        self._own_store = storage is None or isinstance(storage, str | Mapping)
        given_policy = resolve_policy(policy, registry=self.plugins)
        self.policy: QueuePolicy = (
            given_policy if given_policy is not None else (PriorityQueuePolicy())
        )
        # The components, each given the context and the others it needs (never the engine).
        ctx = self._ctx = Context(
            repo=self.repo,
            home=self.home,
            config=self.config,
            policy=self.policy,
            forward_env=self.forward_env,
            plugins=Plugins(self.plugins, self.config),
            storage=given_store,
            worktrees=resolve_worktrees(worktrees, registry=self.plugins, repo=self.repo),
        )
        self._journal = Journal(ctx)
        self._runtimes = Runtimes(ctx, self._journal)
        self._tasks = Tasks(ctx)
        self._requests = Requests(ctx, self._journal, self._runtimes)
        self._costs = Costs(ctx, self._journal, self._runtimes)
        self._runner = AttemptRunner(
            ctx,
            journal=self._journal,
            runtimes=self._runtimes,
            tasks=self._tasks,
            requests=self._requests,
            archive=self._archive_session,
            ended=self._session_ended,
        )
        self._scheduler = Scheduler(ctx, self._journal, self._runner, self._runtimes)
        ctx.wake_scheduler = self._scheduler.wake
        self._closed = False

    # -- opening and closing -----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        repo: str | os.PathLike[str] = ".",
        *,
        home: str | os.PathLike[str] | None = None,
        storage: StorageAdapter | PluginSpec | None = None,
        policy: QueuePolicy | PluginSpec | None = None,
        forward_env: Iterable[str] = (),
        config: EngineConfig | Mapping[str, Any] | None = None,
        worktrees: WorktreeOrchestrator | PluginSpec | None = None,
    ) -> _Opener:
        """Open an engine on ``repo``; use as ``async with Engine.open(...) as engine``.

        Args:
            repo: Any folder of the git repository whose tasks the engine runs.
            home: The state folder (default ``$SCOPECRAFT_HOME`` or ``~/.scopecraft``).
            storage: A store: an instance, a URL (``"sqlite:///path/to/file.db"``), a plugin
                name or a mapping with a ``kind`` (default: ``$SCOPECRAFT_STORAGE_URL``, else
                SQLite in ``home``).
            policy: A queue policy: an instance, a plugin name or a mapping with a ``kind``
                and its configuration (default ``PriorityQueuePolicy()``).
            forward_env: Names of environment variables to forward to agents (secrets:
                redacted everywhere).
            config: An `EngineConfig` or a mapping of its fields.
            worktrees: A worktree orchestrator: an instance, a plugin name or a mapping with
                a ``kind`` (default: the git one, configured by ``config``).

        Raises:
            ConfigError: a bad configuration value, or a seam given in no known form.
            PluginError: a named plugin is not installed or refused its configuration.
            InvalidName: a bad environment variable name in ``forward_env``.
        """
        return _Opener(
            {
                "repo": repo,
                "home": home,
                "storage": storage,
                "policy": policy,
                "forward_env": forward_env,
                "config": config,
                "worktrees": worktrees,
            }
        )

    async def __aenter__(self) -> Self:
        await self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _start(self) -> None:
        ctx = self._ctx
        await anyio.to_thread.run_sync(self._check_folders)
        if ctx.storage_or_none is None:
            from ..storage._sqlite import SqliteStorage

            ctx.storage = SqliteStorage(home=self.home)
        await ctx.storage.open()
        ctx.created_by = await self._git_user_email()
        tg = ctx.task_group = anyio.create_task_group()
        await tg.__aenter__()
        tg.start_soon(self._scheduler.lease_loop)

    async def aclose(self) -> None:
        """Stop scheduling and collecting (sessions keep running), release the lease, close
        the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        ctx = self._ctx
        if ctx.task_group is not None:
            await self._finish_stopping()
            ctx.task_group.cancel_scope.cancel()
            await ctx.task_group.__aexit__(None, None, None)
            ctx.task_group = None
        with anyio.CancelScope(shield=True):
            storage = ctx.storage_or_none
            if storage is not None:
                try:
                    if self._scheduler.holder is not None:
                        await storage.release_lease(SCHEDULER_LEASE, self._scheduler.holder)
                finally:
                    await ctx.plugins.aclose()
                    if self._own_store:
                        await storage.close()

    # -- plugins and collaborators -----------------------------------------------------------

    @property
    def storage(self) -> StorageAdapter:
        """The store."""
        return self._ctx.storage

    @property
    def worktrees(self) -> WorktreeOrchestrator:
        """The worktree orchestrator (git by default)."""
        return self._ctx.worktrees

    @property
    def redactor(self) -> Redactor:
        """What hides the engine's secrets in everything it stores."""
        return self._journal.redactor

    def executor(self, name: str) -> Executor:
        """Return the executor plugin ``name``, created on first use.

        Raises:
            PluginError: no such executor is installed (or it is disabled or broken).
        """
        return self._ctx.plugins.executor(name)

    def agent(self, name: str) -> AgentAdapter:
        """Return the agent adapter ``name``, created on first use.

        Raises:
            PluginError: no such agent is installed (or it is disabled or broken).
        """
        return self._ctx.plugins.agent(name)

    async def _finish_stopping(self) -> None:
        """Give the supervisors of runtimes this engine stopped (a cancel, a budget) a short
        while to record the end and remove the runtime before the engine goes."""
        waits = [
            done
            for sid in self._ctx.stopping
            if (done := self._scheduler.supervisor_done.get(sid)) is not None
        ]
        with anyio.move_on_after(self.config.stop_grace + 10):
            for done in waits:
                await done.wait()

    def _check_folders(self) -> None:
        """Refuse a repository folder that is not there and a home that cannot be made, as
        what they are (a person's one-line fix), before anything else is touched."""
        from .._private import private_dir

        if not self.repo.is_dir():
            raise ConfigError(
                f"the repository folder {self.repo} does not exist; pass repo= (the CLI's "
                "--repo) a folder inside a git repository"
            )
        try:
            private_dir(self.home)
        except OSError as exc:
            raise StorageError(
                f"cannot create the scopecraft home {self.home}: {exc.strerror or exc}; set "
                "SCOPECRAFT_HOME (or pass home=) to a folder you can write"
            ) from exc

    async def _git_user_email(self) -> str | None:
        result = await anyio.run_process(
            ["git", "config", "--get", "user.email"], cwd=self.repo, check=False
        )
        email = result.stdout.decode(errors="replace").strip()
        return email or None

    # -- tasks -------------------------------------------------------------------------------

    async def list_tasks(self) -> list[Task]:
        """Return every valid task of the repository (malformed files are skipped and logged).

        Each task also carries its status on its branch, where sessions change it
        (`Task.branch_status`; `Task.effective_status` is the one to show).
        """
        store = await self._tasks.store()
        tasks: list[Task] = await anyio.to_thread.run_sync(store.list_tasks)
        return await self._with_branch_status(tasks)

    async def check_tasks(self) -> list[Any]:
        """Return the task files that could not be read, each with its file and the reason."""
        store = await self._tasks.store()
        problems: list[Any] = await anyio.to_thread.run_sync(store.check_tasks)
        return problems

    async def get_task(self, task_id: str) -> Task:
        """Return one task, with its status on its branch (as `list_tasks()`).

        Raises:
            InvalidName: ``task_id`` is not a valid task id.
            TaskNotFound: no valid task has that id.
        """
        task = await self._tasks.get(task_id)
        return (await self._with_branch_status([task]))[0]

    # -- sessions ----------------------------------------------------------------------------

    async def create_session(
        self,
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
    ) -> Session:
        """Queue a session for ``task_id``; the scheduler starts it when the policy allows.

        Args:
            task_id: The task to work on.
            mode: ``autonomous``, ``dispatch``, ``interactive`` or ``planning``.
            priority: Default: the task's own priority (else ``medium``).
            parent_id: A parent task whose overview gives context.
            branch: Overrides the task's bound branch (the CLI's ``--worktree``).
            dangerous: Skip the agent's permission prompts; container executors only, unless
                ``SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST=1``.
            executor: Default by mode: docker (autonomous, planning), tmux (interactive,
                dispatch); ``local`` runs a plain subprocess in the worktree.
            agent: The agent adapter (``claude-code``, ``codex``, ``command``, ``fake``).
            model: Passed to the agent (``--model``).
            image: Container image, for container executors.
            prompt: Extra instructions appended to the task's prompt.
            resources: Limits (``cpus``, ``memory_mb``, ``pids``) over the mode's defaults.
            created_by: Default: the git user's email.
            budget_usd: This session's own cost budget; when reached it pauses.
            permissions: What the agent may do without asking: ``read-only``, ``edit``
                (the default, except ``read-only`` for planning) or ``full`` (what
                ``dangerous=True`` means; container executors only, unless
                ``SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST=1``).

        Returns:
            The queued session.

        Raises:
            InvalidName: a bad task id, parent id or branch name.
            TaskNotFound: no such task (or parent).
            RequestRefused: an unknown mode or priority, an unavailable mode or executor,
                ``dangerous`` outside a container (`DangerousRefused`), the main
                worktree or default branch (`MainWorktreeRefused`), a full queue
                (`QueueFull`).
        """
        request = SessionRequest.of(
            task_id,
            mode=mode,
            priority=priority,
            parent_id=parent_id,
            branch=branch,
            dangerous=dangerous,
            executor=executor,
            agent=agent,
            model=model,
            image=image,
            prompt=prompt,
            resources=resources,
            created_by=created_by,
            budget_usd=budget_usd,
            permissions=permissions,
        )
        return await self.submit(request)

    async def submit(self, request: SessionRequest) -> Session:
        """Queue a session for a checked request (see `SessionRequest.of()`); what
        `create_session()` does with its arguments.

        Raises:
            TaskNotFound: no such task (or parent).
            RequestRefused: as `create_session()`.
        """
        if not isinstance(request, SessionRequest):
            raise RequestRefused(
                f"submit() takes a SessionRequest, not {type(request).__name__}; make one "
                "with SessionRequest.of(task_id, mode=...)"
            )
        task = await self.get_task(request.task_id)
        if request.parent_id is not None:
            await self.get_task(request.parent_id)
        (session,) = await self._requests.submit([(task, request)])
        return session

    async def dispatch(
        self,
        parent_id: str,
        *,
        sequence: int | None = None,
        mode: SessionMode | str = SessionMode.DISPATCH,
        **options: Any,
    ) -> list[Session]:
        """Start a session for every subtask of a parallel group, in one call.

        Args:
            parent_id: The parent task.
            sequence: The group's ``NN``; default the lowest sequence with a subtask that is
                not done.
            mode: ``dispatch`` (default; tmux sessions to drop in on) or another mode.
            **options: Any other `create_session()` argument, applied to every session.

        Returns:
            The sessions, one per subtask, in subtask order.

        Raises:
            TaskNotFound: no such parent, or no subtask in that group.
            RequestRefused: as `create_session()`; then no session is created.
        """
        session_mode = parse_mode(mode)
        parent = await self.get_task(parent_id)
        subtasks = await self._tasks.subtasks(parent.id)
        if sequence is None:
            open_ = [t.sequence for t in subtasks if t.sequence is not None and t.status != "done"]
            sequence = min(open_) if open_ else None
        group = [t for t in subtasks if sequence is not None and t.sequence == sequence]
        if not group:
            raise TaskNotFound(
                parent_id, hint=f"it has no subtask to dispatch (sequence {sequence})"
            )
        requests = [
            (task, SessionRequest.of(task.id, mode=session_mode, parent_id=parent.id, **options))
            for task in group
        ]
        return await self._requests.submit(requests)

    async def get_session(self, session_id: str) -> Session:
        """Return a session.

        Raises:
            InvalidName: not a valid session id.
            SessionNotFound: no such session.
        """
        return await self.storage.get_session(validate_session_id(session_id))

    async def list_sessions(
        self, *, active: bool = False, queued: bool = False, all: bool = False
    ) -> list[Session]:
        """Return sessions, oldest first.

        Args:
            active: Starting, running, awaiting approval or paused.
            queued: Queued.
            all: Every session, ended ones included.

        With no flag: every session that has not ended.
        """
        if all:
            return await self.storage.list_sessions()
        statuses: list[SessionStatus] = []
        if active:
            statuses.extend(_ACTIVE)
        if queued:
            statuses.append(SessionStatus.QUEUED)
        if not statuses:
            statuses = [s for s in SessionStatus if not s.is_terminal]
        return await self.storage.list_sessions(statuses=statuses)

    async def session_logs(
        self, session_id: str, *, follow: bool = False, limit: int | None = None
    ) -> AsyncIterator[LogEntry]:
        """Yield the session's log lines (the agent's own output, redacted), in order.

        Args:
            session_id: The session.
            follow: Keep yielding new lines until the session ends.
            limit: Start with only the last ``limit`` lines.

        Raises:
            SessionNotFound: no such session.
        """
        await self.get_session(session_id)
        after = 0
        if limit is not None:
            if limit <= 0:
                return
            entries = await self.storage.read_logs(session_id)
            after = entries[-limit - 1].seq if len(entries) > limit else 0
        while True:
            batch = await self.storage.read_logs(session_id, after=after, limit=1000)
            for entry in batch:
                yield entry
                after = entry.seq
            if batch:
                continue
            if not follow:
                return
            session = await self.storage.get_session(session_id)
            if session.is_terminal:
                tail = await self.storage.read_logs(session_id, after=after)
                for entry in tail:
                    yield entry
                return
            await self._pause(session_id)

    async def events(
        self,
        *,
        session_id: str | None = None,
        after: int | None = None,
        follow: bool = False,
    ) -> AsyncIterator[Event]:
        """Yield stored events in order.

        Args:
            session_id: One session's events (``after`` is then a ``seq``), or every
                session's (``after`` is a store-wide position, see `stored_events()`).
            after: Start after this cursor.
            follow: Keep yielding new events (until the session ends, for one session).
        """
        async for item in self.stored_events(session_id=session_id, after=after, follow=follow):
            yield item.event

    async def stored_events(
        self,
        *,
        session_id: str | None = None,
        after: int | None = None,
        follow: bool = False,
    ) -> AsyncIterator[StoredEvent]:
        """Like `events()`, with each event's store-wide position (a resumable cursor)."""
        if session_id is not None:
            await self.get_session(session_id)
        cursor = after
        while True:
            batch = await self.storage.read_events(session_id, after=cursor, limit=1000)
            for item in batch:
                yield item
                cursor = item.event.seq if session_id is not None else item.position
            if batch:
                continue
            if not follow:
                return
            if session_id is not None:
                session = await self.storage.get_session(session_id)
                if session.is_terminal and not await self.storage.read_events(
                    session_id, after=cursor
                ):
                    return
            await self._pause(session_id)

    async def _pause(self, session_id: str | None) -> None:
        interval = self.config.poll_interval
        if session_id is None:
            await anyio.sleep(interval)
            return
        with anyio.move_on_after(interval):
            await self._journal.wake_event(session_id, reset=True).wait()

    async def wait(self, session_id: str, *, timeout: float | None = None) -> Session:  # noqa: ASYNC109 - the public API takes a timeout, as DESIGN.md specifies
        """Wait until the session ends (completed, failed or cancelled) and return it.

        Raises:
            SessionTimeout: ``timeout`` seconds passed first; the session goes on.
            SessionNotFound: no such session.
        """
        session = await self.get_session(session_id)
        with anyio.move_on_after(timeout) as scope:
            while not session.is_terminal:
                await self._pause(session_id)
                session = await self.storage.get_session(session_id)
            return session
        assert scope.cancelled_caught
        raise SessionTimeout(session_id, timeout or 0.0, session.status.value)

    async def cancel_session(
        self, session_id: str, *, reason: str = "cancelled by request"
    ) -> bool:
        """Cancel a session: dequeue it, or stop its runtime (a grace period, then a kill).

        Returns:
            True when this call cancelled it; False when it had already ended.

        Raises:
            SessionNotFound: no such session.
        """
        session = await self.get_session(session_id)
        if session.is_terminal:
            return False
        # Intent first: once recorded, nothing restarts it, and reconcile reaps its runtime.
        await self._journal.append(
            session_id,
            [SessionCancelled(session_id=session_id, attempt=session.attempt, reason=reason)],
        )
        if session.status.is_active:
            await self._runtimes.stop(session)
        elif session.runtime_id is None:
            await self._archive_session(session_id)  # nothing to collect: it never ran
            await self._session_ended(session_id)
        return True

    async def resume_session(self, session_id: str) -> Session:
        """Let a paused session (a budget reached) go on: it queues for its next attempt,
        which resumes the agent's own session.

        Raises:
            SessionNotFound: no such session.
            InvalidTransition: the session is not paused.
        """
        session = await self.get_session(session_id)
        if session.status is not SessionStatus.PAUSED:
            raise InvalidTransition(
                f"session {session_id} is {session.status.value}, not paused; "
                "only a paused session can be resumed"
            )
        await self._journal.append(
            session_id, [SessionResumed(session_id=session_id, attempt=session.attempt + 1)]
        )
        self._ctx.wake_scheduler()
        return await self.get_session(session_id)

    async def approve_session(self, session_id: str, *, by: str | None = None) -> Session:
        """Approve a session waiting in ``awaiting_approval``; it queues (again).

        Raises:
            SessionNotFound: no such session.
            InvalidTransition: the session is not awaiting approval.
        """
        session = await self.get_session(session_id)
        if session.status is not SessionStatus.AWAITING_APPROVAL:
            raise InvalidTransition(
                f"session {session_id} is {session.status.value}, not awaiting approval"
            )
        events: list[Event] = [
            ApprovalGranted(session_id=session_id, by=by or self._ctx.created_by)
        ]
        if session.started_at is not None:
            # It ran and was halted at a cost threshold: the next attempt resumes it.
            events.append(SessionResumed(session_id=session_id, attempt=session.attempt + 1))
        await self._journal.append(session_id, events)
        self._ctx.wake_scheduler()
        return await self.get_session(session_id)

    async def deny_session(
        self, session_id: str, *, reason: str = "", by: str | None = None
    ) -> Session:
        """Deny a session waiting in ``awaiting_approval``; it is cancelled.

        Raises:
            SessionNotFound: no such session.
            InvalidTransition: the session is not awaiting approval.
        """
        session = await self.get_session(session_id)
        if session.status is not SessionStatus.AWAITING_APPROVAL:
            raise InvalidTransition(
                f"session {session_id} is {session.status.value}, not awaiting approval"
            )
        await self._journal.append(
            session_id,
            [ApprovalDenied(session_id=session_id, reason=reason, by=by or self._ctx.created_by)],
        )
        return await self.get_session(session_id)

    async def set_budget(self, session_id: str, budget_usd: float | None) -> Session:
        """Set (or with ``None`` remove) a session's own cost budget.

        Raises:
            SessionNotFound: no such session.
            RequestRefused: a negative budget.
        """
        check_budget(budget_usd)
        await self.get_session(session_id)
        await self._journal.append(
            session_id, [BudgetChanged(session_id=session_id, budget_usd=budget_usd)]
        )
        return await self.get_session(session_id)

    async def costs(self, *, group_by: str = "task") -> dict[str, float]:
        """Total cost reported, in USD, grouped by ``task``, ``area``, ``team``, ``mode``,
        ``agent`` or ``day`` (the UTC day a session started, else was created).

        Raises:
            RequestRefused: an unknown grouping.
        """
        return await self._costs.grouped(group_by)

    async def cost_report(self, group_by: CostGroup = "task") -> CostReport:
        """Costs by ``group_by`` with each group's sessions and the total, as the CLI's
        ``costs`` and the MCP server's ``costs`` show them.

        Raises:
            RequestRefused: an unknown grouping.
        """
        from .._reports import costs

        return await costs(self, group_by)

    async def queue_status(self) -> QueueStatus:
        """The queue as the scheduler sees it: queued sessions in the order they start, why
        each waits, and the sessions in flight (the CLI's ``queue`` and the MCP server's
        ``queue_status``)."""
        from .._reports import queue_status

        return await queue_status(self)

    async def continue_session(self, session_id: str, feedback: str) -> Session:
        """Give the agent feedback.

        A running agent that can take input live (tmux) gets it at once. Otherwise the
        feedback starts the next attempt: at once for an ended session (resuming the agent's
        own session with ``--resume``), or when the current attempt ends.

        Args:
            session_id: The session.
            feedback: What the agent should do next (at most `MAX_FEEDBACK_CHARS`).

        Raises:
            SessionNotFound: no such session.
            InvalidTransition: the feedback is empty.
            RequestRefused: the feedback is longer than the limit, or not text.
        """
        if not isinstance(feedback, str):
            raise RequestRefused(f"feedback must be text, not {type(feedback).__name__}")
        text = feedback.strip()
        if not text:
            raise InvalidTransition("feedback is empty; say what the agent should do next")
        if len(text) > MAX_FEEDBACK_CHARS:
            raise RequestRefused(
                f"feedback is {len(text):,} characters, over the limit of "
                f"{MAX_FEEDBACK_CHARS:,}; put long material in a file in the worktree and "
                "point the agent at it"
            )
        check_text("feedback", text)
        session = await self.get_session(session_id)
        if session.status is SessionStatus.RUNNING:
            executor = self.executor(session.executor)
            handle = self._runtimes.handle_for(session)
            if executor.capabilities.can_send_input and handle is not None:
                await executor.send_input(handle, text)
                await self._journal.append(
                    session_id, [FeedbackGiven(session_id=session_id, text=text)]
                )
                return await self.get_session(session_id)
        if session.is_terminal:
            await self._journal.append(
                session_id,
                [
                    FeedbackGiven(session_id=session_id, text=text),
                    SessionContinued(
                        session_id=session_id, attempt=session.attempt + 1, feedback=text
                    ),
                ],
            )
            self._ctx.wake_scheduler()
        else:
            await self._journal.append(
                session_id, [FeedbackGiven(session_id=session_id, text=text, delivered=False)]
            )
        return await self.get_session(session_id)

    async def attach_command(self, session_id: str) -> list[str]:
        """Return the argv that attaches a terminal to the session's runtime.

        For tmux sessions it is the same in every state (queued, running, ended) until the
        session is cleaned up.

        Raises:
            SessionNotFound: no such session.
            CapabilityMissing: the session's executor has no terminal (only tmux has one).
        """
        session = await self.get_session(session_id)
        executor = self.executor(session.executor)
        handle = self._runtimes.handle_for(session)
        if handle is None:
            handle = self._runtimes.handle(session.id, session.attempt)
        return executor.attach_command(handle)

    # -- scheduling and reconciling ----------------------------------------------------------

    async def refresh(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound on an internal wait, like wait()
        """Bring the store up to date with the runtimes: collect the last output of every
        in-flight session whose runtime has ended (exited, or gone) and record its end.

        Only the engine that holds the scheduler lease collects, so no two engines ever
        record one end; in any other engine this returns at once, as the lease holder keeps
        the store current. Runtimes still running are left to the scheduler. A one-shot
        process (the CLI's ``session list``) calls it before it reads. Returns after at most
        ``timeout`` seconds; what is not collected by then is collected later.
        """
        await self._scheduler.refresh(timeout=timeout)

    async def reconcile(self) -> None:
        """Adopt live runtimes of in-flight sessions, record the exit of finished ones, and
        reap runtimes whose session has ended.

        Run at open (by the engine that takes the scheduler lease) and available to call.
        """
        await self._scheduler.reconcile()
