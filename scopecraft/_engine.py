"""The `Engine`: the async core that every interface (CLI, MCP, scripts) composes."""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import anyio
import anyio.abc
import anyio.to_thread

from ._config import EngineConfig, default_home
from ._errors import (
    AgentProgramNotFound,
    ConfigError,
    DangerousRefused,
    ExecutorUnavailable,
    ExecutorUnreachable,
    InvalidTransition,
    PluginError,
    RequestRefused,
    ScopecraftError,
    SessionTimeout,
    StorageError,
    TaskNotFound,
    UnknownAgent,
)
from ._models import (
    LogEntry,
    Permissions,
    Priority,
    Session,
    SessionMode,
    SessionStatus,
    Task,
    default_permissions,
    utcnow,
)
from ._names import (
    new_session_id,
    validate_branch,
    validate_env_name,
    validate_session_id,
    validate_task_id,
)
from ._plugins import PluginRegistry, check_instance
from ._redact import Redactor
from ._runtime import AttemptRunner, task_file_in_tree
from ._scheduler import SCHEDULER_LEASE, Scheduler
from ._worktree_methods import WorktreeMethods
from .agents._check import missing_program
from .agents._protocol import AgentAdapter
from .events import (
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    BudgetChanged,
    CostReported,
    Event,
    FeedbackGiven,
    SessionCancelled,
    SessionContinued,
    SessionPaused,
    SessionQueued,
    SessionResumed,
    SessionRetryScheduled,
    SessionStarting,
)
from .executors._protocol import Executor, Resources
from .policies._priority import PriorityQueuePolicy

if TYPE_CHECKING:
    pass
from .policies._protocol import CostAction, CostTotals, QueuePolicy
from .storage._protocol import LogLine, StorageAdapter, StoredEvent
from .worktrees._protocol import WorktreeBinding, WorktreeOrchestrator

__all__ = ["Engine"]

log = logging.getLogger("scopecraft.engine")

_ACTIVE = (
    SessionStatus.STARTING,
    SessionStatus.RUNNING,
    SessionStatus.AWAITING_APPROVAL,
    SessionStatus.PAUSED,
)
_DEFAULT_EXECUTOR = {
    SessionMode.AUTONOMOUS: "docker",
    SessionMode.PLANNING: "docker",
    SessionMode.INTERACTIVE: "tmux",
    SessionMode.DISPATCH: "tmux",
}
_QUEUE_EVENTS = (
    SessionQueued,
    SessionStarting,
    SessionCancelled,
    SessionContinued,
    SessionResumed,
    SessionRetryScheduled,
    SessionPaused,
    ApprovalRequested,
    ApprovalGranted,
    ApprovalDenied,
)
_REQUESTS_KEPT = 10_000  # session_queued events kept for launches (see first_request)
_ADAPTER_SECRETS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY")


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


COST_GROUPS: dict[str, Callable[[Session], str]] = {
    "task": lambda s: s.task_id,
    "area": lambda s: s.area or "-",
    "team": lambda s: s.team or "-",
    "mode": lambda s: s.mode.value,
    "agent": lambda s: s.agent,
    "day": lambda s: (s.started_at or s.created_at).date().isoformat(),
}
"""How `Engine.costs()` groups sessions: the key of each grouping for a session."""


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
        storage: StorageAdapter | None = None,
        policy: QueuePolicy | None = None,
        forward_env: Iterable[str] = (),
        config: EngineConfig | Mapping[str, Any] | None = None,
        plugins: PluginRegistry | None = None,
    ) -> None:
        self.repo = Path(repo).resolve()
        self.home = Path(home).expanduser().resolve() if home is not None else default_home()
        from ._config_files import load_config_files, merge_config

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
        if storage is not None:
            check_instance(storage, StorageAdapter, what="storage given")
        if policy is not None:
            check_instance(policy, QueuePolicy, what="policy given")
        self._storage_arg = storage
        self._storage: StorageAdapter | None = storage
        self.policy: QueuePolicy = policy if policy is not None else PriorityQueuePolicy()
        self.redactor = self._make_redactor()
        # Per session: the engine's redactor plus the secrets its launcher forwarded.
        self._session_redactors: dict[str, Redactor] = {}
        # Sessions whose runtime this engine stopped: closing waits for their supervisors to
        # record the end and remove the runtime (an exited container is not left behind).
        self._stopping: set[str] = set()
        self._executors: dict[str, Executor] = {}
        self._agents: dict[str, AgentAdapter] = {}
        self._worktrees: WorktreeOrchestrator | None = None
        self._tasks: Any = None
        self._runner = AttemptRunner(self)
        self._tg: anyio.abc.TaskGroup | None = None
        self._scheduler = Scheduler(self)
        self._wakes: dict[str, anyio.Event] = {}
        self._task_cache: dict[str, tuple[Task, tuple[int, int] | None]] = {}
        self._requests: dict[str, tuple[SessionQueued, int]] = {}
        self._closed = False
        self._created_by: str | None = None

    # -- opening and closing -----------------------------------------------------------------

    @classmethod
    def open(
        cls,
        repo: str | os.PathLike[str] = ".",
        *,
        home: str | os.PathLike[str] | None = None,
        storage: StorageAdapter | None = None,
        policy: QueuePolicy | None = None,
        forward_env: Iterable[str] = (),
        config: EngineConfig | Mapping[str, Any] | None = None,
    ) -> _Opener:
        """Open an engine on ``repo``; use as ``async with Engine.open(...) as engine``.

        Args:
            repo: Any folder of the git repository whose tasks the engine runs.
            home: The state folder (default ``$SCOPECRAFT_HOME`` or ``~/.scopecraft``).
            storage: A store instance (default: SQLite in ``home``).
            policy: A queue policy instance (default ``PriorityQueuePolicy()``).
            forward_env: Names of environment variables to forward to agents (secrets:
                redacted everywhere).
            config: An `EngineConfig` or a mapping of its fields.

        Raises:
            ConfigError: a bad configuration value.
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
            }
        )

    async def __aenter__(self) -> Self:
        await self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def _start(self) -> None:
        await anyio.to_thread.run_sync(self._check_folders)
        if self._storage is None:
            from .storage._sqlite import SqliteStorage

            self._storage = SqliteStorage(home=self.home)
        await self._storage.open()
        self._created_by = await self._git_user_email()
        self._tg = anyio.create_task_group()
        await self._tg.__aenter__()
        self._tg.start_soon(self._scheduler.lease_loop)

    async def aclose(self) -> None:
        """Stop scheduling and collecting (sessions keep running), release the lease, close
        the store. Idempotent."""
        if self._closed:
            return
        self._closed = True
        if self._tg is not None:
            await self._finish_stopping()
            self._tg.cancel_scope.cancel()
            await self._tg.__aexit__(None, None, None)
            self._tg = None
        with anyio.CancelScope(shield=True):
            if self._storage is not None:
                try:
                    if self._scheduler.holder is not None:
                        await self._storage.release_lease(SCHEDULER_LEASE, self._scheduler.holder)
                finally:
                    for executor in self._executors.values():
                        await executor.aclose()
                    if self._storage_arg is None:
                        await self._storage.close()

    # -- plugins and collaborators -----------------------------------------------------------

    @property
    def storage(self) -> StorageAdapter:
        """The store."""
        if self._storage is None:
            raise RuntimeError("the engine is not open; use `async with Engine.open(...)`")
        return self._storage

    @property
    def worktrees(self) -> WorktreeOrchestrator:
        """The worktree orchestrator (git by default)."""
        if self._worktrees is None:
            from .worktrees._git import GitWorktreeOrchestrator

            self._worktrees = GitWorktreeOrchestrator(
                self.repo,
                branch_template=self.config.branch_template,
                worktree_root=self.config.worktree_root,
                worktree_template=self.config.worktree_template,
                base=self.config.base,
                setup=self.config.worktree_setup,
                checkout_workers=self.config.checkout_workers,
            )
        return self._worktrees

    def executor(self, name: str) -> Executor:
        """Return the executor plugin ``name``, created on first use.

        Raises:
            PluginError: no such executor is installed (or it is disabled or broken).
        """
        if name not in self._executors:
            self._executors[name] = self.plugins.create(
                "executors", name, Executor, **self.config.executors.get(name, {})
            )
        return self._executors[name]

    def agent(self, name: str) -> AgentAdapter:
        """Return the agent adapter ``name``, created on first use.

        Raises:
            PluginError: no such agent is installed (or it is disabled or broken).
        """
        if name not in self._agents:
            self._agents[name] = self.plugins.create(
                "agents", name, AgentAdapter, **self.config.agents.get(name, {})
            )
        return self._agents[name]

    def _make_redactor(self) -> Redactor:
        names = set(self.forward_env) | set(_ADAPTER_SECRETS)
        return Redactor(os.environ[n] for n in names if os.environ.get(n))

    async def load_session_secrets(self, session_id: str) -> None:
        """Make this engine redact a session's forwarded secrets, whoever launched it.

        Reads the session's private secrets file (written by the process that launched an
        attempt) once; its values are then hidden in everything stored for the session.

        Args:
            session_id: The session.
        """
        if session_id in self._session_redactors:
            return
        from ._secrets import read_session_secrets

        found = await anyio.to_thread.run_sync(
            read_session_secrets, self.home / "sessions" / session_id
        )
        self.use_session_secrets(session_id, found)

    def use_session_secrets(self, session_id: str, values: Iterable[str]) -> None:
        """Hide ``values`` (besides the engine's own secrets) in what is stored for a session.

        Args:
            session_id: The session.
            values: The secret values its agent was given.
        """
        self._session_redactors[session_id] = self.redactor.with_secrets(values)

    async def forget_session_secrets(self, session_id: str) -> None:
        """Delete a session's secrets file once all its output is stored (see
        `load_session_secrets()`)."""
        from ._secrets import SECRETS_FILE

        self._session_redactors.pop(session_id, None)
        path = self.home / "sessions" / session_id / SECRETS_FILE
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    def redactor_for(self, session_id: str) -> Redactor:
        """The redactor of a session's events and lines (see `load_session_secrets()`)."""
        return self._session_redactors.get(session_id, self.redactor)

    async def _finish_stopping(self) -> None:
        """Give the supervisors of runtimes this engine stopped (a cancel, a budget) a short
        while to record the end and remove the runtime before the engine goes."""
        waits = [
            done
            for sid in self._stopping
            if (done := self._scheduler.supervisor_done.get(sid)) is not None
        ]
        with anyio.move_on_after(self.config.stop_grace + 10):
            for done in waits:
                await done.wait()

    def _check_folders(self) -> None:
        """Refuse a repository folder that is not there and a home that cannot be made, as
        what they are (a person's one-line fix), before anything else is touched."""
        from ._private import private_dir

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

    async def _task_store(self) -> Any:
        if self._tasks is None:
            from .tasks import TaskStore

            info = await self.worktrees.repo_info()
            layout = self.config.task_layout
            self._tasks = await anyio.to_thread.run_sync(
                lambda: TaskStore.for_repo(info.root, home=self.home, layout=layout)
            )
        return self._tasks

    async def list_tasks(self) -> list[Task]:
        """Return every valid task of the repository (malformed files are skipped and logged).

        Each task also carries its status on its branch, where sessions change it
        (`Task.branch_status`; `Task.effective_status` is the one to show).
        """
        store = await self._task_store()
        tasks: list[Task] = await anyio.to_thread.run_sync(store.list_tasks)
        return await self._with_branch_status(tasks)

    async def check_tasks(self) -> list[Any]:
        """Return the task files that could not be read, each with its file and the reason."""
        store = await self._task_store()
        problems: list[Any] = await anyio.to_thread.run_sync(store.check_tasks)
        return problems

    async def get_task(self, task_id: str) -> Task:
        """Return one task, with its status on its branch (as `list_tasks()`).

        Raises:
            InvalidName: ``task_id`` is not a valid task id.
            TaskNotFound: no valid task has that id.
        """
        validate_task_id(task_id)
        store = await self._task_store()
        task = await anyio.to_thread.run_sync(self._lookup_task, store, task_id)
        return (await self._with_branch_status([task]))[0]

    async def task_and_parent(self, task_id: str) -> tuple[Task, Task | None]:
        """Return a task and its parent (``None`` when it has none or the parent is gone),
        read together.

        Raises:
            InvalidName: ``task_id`` is not a valid task id.
            TaskNotFound: no valid task has that id.
        """
        validate_task_id(task_id)
        store = await self._task_store()

        def both() -> tuple[Task, Task | None]:
            task = self._lookup_task(store, task_id)
            if task.parent_id is None:
                return task, None
            try:
                return task, self._lookup_task(store, task.parent_id)
            except TaskNotFound:
                return task, None

        return await anyio.to_thread.run_sync(both)

    def _lookup_task(self, store: Any, task_id: str) -> Task:
        """Find a task (blocking): one read before is reused while its file is unchanged
        (same size and modification time)."""
        cached = self._task_cache.get(task_id)
        if cached is not None and _file_stamp(cached[0].path) == cached[1]:
            return cached[0]
        found: Task = store.get_task(task_id)
        self._task_cache[task_id] = (found, _file_stamp(found.path))
        return found

    def _remember_tasks(self, tasks: Iterable[Task]) -> None:
        """Keep tasks just loaded (with their files' stamps) for `get_task()`."""
        for task in tasks:
            self._task_cache[task.id] = (task, _file_stamp(task.path))

    async def get_task_or_none(self, task_id: str) -> Task | None:
        """Like `get_task()`, but ``None`` when the task is gone."""
        try:
            return await self.get_task(task_id)
        except TaskNotFound:
            return None

    async def task_file_in(self, task: Task, worktree: Path) -> Path | None:
        """The task's file as it is in ``worktree`` (repository layout) or in the central
        folder (central layout); ``None`` when that file does not exist."""
        info = await self.worktrees.repo_info()
        return await anyio.to_thread.run_sync(task_file_in_tree, task.path, info.root, worktree)

    async def binding_for(self, session: Session, task: Task) -> WorktreeBinding:
        """The worktree binding recorded for ``session`` (recomputed from the task if absent)."""
        if session.branch and session.worktree_path:
            binding = await self.worktrees.bind(task, branch=session.branch)
            if str(binding.path) == session.worktree_path:
                return binding
            return WorktreeBinding(
                env_id=binding.env_id, branch=session.branch, path=Path(session.worktree_path)
            )
        return await self.worktrees.bind(task, branch=session.branch)

    def resources_for(self, session: Session) -> Resources:
        """The session's resource limits (its own, filled from its mode's at creation)."""
        return Resources(cpus=session.cpus, memory_mb=session.memory_mb, pids=session.pids)

    def _mode_resources(self, mode: SessionMode, explicit: Resources | None) -> Resources:
        limits = self.config.resources.get(mode)
        own = explicit or Resources()
        return Resources(
            cpus=own.cpus if own.cpus is not None else (limits.cpus if limits else None),
            memory_mb=own.memory_mb
            if own.memory_mb is not None
            else (limits.memory_mb if limits else None),
            pids=own.pids if own.pids is not None else (limits.pids if limits else None),
        )

    def labels_for(self, session: Session, attempt: int) -> dict[str, str]:
        """Ownership labels of a session's runtime (never secrets)."""
        return {
            "scopecraft.session": session.id,
            "scopecraft.attempt": str(attempt),
            "scopecraft.task": session.task_id,
            "scopecraft.mode": session.mode.value,
            "scopecraft.host": socket.gethostname(),
            "scopecraft.store": self.storage.store_id,
        }

    # -- writing events ----------------------------------------------------------------------

    async def append(
        self,
        session_id: str,
        events: Sequence[Event],
        logs: Sequence[LogLine] = (),
        *,
        cursor: dict[str, Any] | None = None,
        expect_cursor: dict[str, Any] | None = None,
        check_cursor: bool = False,
    ) -> list[Event]:
        """Redact and append events and log lines (the engine's one write path).

        ``CostReported.total_usd`` is set here to the session's running total.
        """
        redact = self.redactor_for(session_id)
        clean_events: list[Event] = []
        total: float | None = None
        for event in events:
            if isinstance(event, CostReported):
                if total is None:
                    try:
                        total = (await self.storage.get_session(session_id)).cost_usd
                    except ScopecraftError:
                        total = 0.0
                total = round(total + event.usd, 10)
                event = event.model_copy(update={"total_usd": total})
            clean_events.append(redact.model(event))
        clean_logs = [
            LogLine(stream=line.stream, text=redact.text(line.text), ts=line.ts) for line in logs
        ]
        stored = await self.storage.append(
            session_id,
            clean_events,
            clean_logs,
            cursor=cursor,
            expect_cursor=expect_cursor,
            check_cursor=check_cursor,
        )
        self._wake(session_id)
        # The leader's queue index sees this write here, unless it follows the store's
        # changes (the built-in stores), where it finds every write at its next pass.
        index = self._scheduler.tracked_index
        if index is not None and any(isinstance(e, _QUEUE_EVENTS) for e in clean_events):
            if isinstance(stored[0], SessionQueued):
                from ._projection import replay

                fresh = replay(stored)
                if fresh is not None:
                    index.update(fresh)
            else:
                index.update(await self.storage.get_session(session_id))
        if total is not None:
            await self._check_cost(session_id)
        return stored

    async def append_folded(self, session: Session, events: Sequence[Event]) -> Session:
        """Append ``events`` to ``session`` and return its projection after them.

        The projection is folded here from ``session`` when nothing else was stored for the
        session in between (the first new ``seq`` directly follows ``session.last_seq``),
        which is exactly what the store computed; otherwise it is read from the store.
        """
        stored = await self.append(session.id, events)
        return await self.folded(session, stored)

    async def folded(self, session: Session, stored: Sequence[Event]) -> Session:
        """``session`` after the just ``stored`` events (see `append_folded()`); read from
        the store when other events came between."""
        if stored and stored[0].seq == session.last_seq + 1:
            from ._projection import apply

            for event in stored:
                session = apply(session, event)
            return session
        return await self.storage.get_session(session.id)

    async def cost_totals(
        self, session: Session, *, scopes: Iterable[str] | None = None
    ) -> CostTotals:
        """Cost so far for every scope a budget can cover (see `CostTotals`).

        Args:
            session: The session whose scopes are summed.
            scopes: Only these of ``task``, ``area``, ``team`` and ``day`` (the others are
                left at 0); ``None`` for all. Only ``task`` reads just the task's sessions;
                the others sum over every stored session.
        """
        wanted = {"task", "area", "team", "day"} if scopes is None else set(scopes)
        if not wanted:
            return CostTotals(session=session.cost_usd)
        if wanted == {"task"}:
            mine = await self.storage.list_sessions(task_id=session.task_id)
            return CostTotals(session=session.cost_usd, task=sum(s.cost_usd for s in mine))
        sessions = await self.storage.list_sessions()
        today = utcnow().date()
        totals = {"task": 0.0, "area": 0.0, "team": 0.0, "day": 0.0}
        for other in sessions:
            if other.task_id == session.task_id:
                totals["task"] += other.cost_usd
            if session.area is not None and other.area == session.area:
                totals["area"] += other.cost_usd
            if session.team is not None and other.team == session.team:
                totals["team"] += other.cost_usd
            if (other.started_at or other.created_at).date() == today:
                totals["day"] += other.cost_usd
        return CostTotals(session=session.cost_usd, **totals)

    async def _check_cost(self, session_id: str) -> None:
        session = await self.storage.get_session(session_id)
        if session.status not in (SessionStatus.STARTING, SessionStatus.RUNNING):
            return
        policy = self.policy
        # A policy may name the scopes it has budgets for (the built-in one does); one that
        # does not (None) is given every total.
        scopes: Iterable[str] | None = policy.cost_scopes(session)
        decision = policy.check_cost(session, await self.cost_totals(session, scopes=scopes))
        if decision.action is CostAction.CONTINUE:
            return
        log.info("session %s: %s", session_id, decision.reason)
        if decision.action is CostAction.FORBID:
            event: Event = SessionCancelled(
                session_id=session_id, attempt=session.attempt, reason=decision.reason
            )
        elif decision.action is CostAction.APPROVAL:
            event = ApprovalRequested(session_id=session_id, reason=decision.reason)
        else:
            event = SessionPaused(session_id=session_id, reason=decision.reason)
        await self.storage.append(session_id, [self.redactor_for(session_id).model(event)])
        self._wake(session_id)
        await self._stop_runtime(session)

    async def _stop_runtime(self, session: Session) -> None:
        handle = self._runner.handle_for(session)
        if handle is None:
            return
        executor = self.executor(session.executor)
        self._stopping.add(session.id)
        await executor.stop(handle, grace=self.config.stop_grace)
        self._wake(session.id)

    def wake_event(self, session_id: str, *, reset: bool = False) -> anyio.Event:
        """An event set when something is appended to ``session_id`` in this process."""
        event = self._wakes.get(session_id)
        if event is None or (reset and event.is_set()):
            event = anyio.Event()
            self._wakes[session_id] = event
        return event

    def _wake(self, session_id: str) -> None:
        event = self._wakes.get(session_id)
        if event is not None:
            event.set()

    def wake_scheduler(self) -> None:
        """Ask the scheduler for a pass now."""
        self._scheduler.wake()

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
        session_mode = _parse_mode(mode)
        task = await self.get_task(task_id)
        if parent_id is not None:
            await self.get_task(parent_id)
        queued = await self._request_event(
            task,
            mode=session_mode,
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
        queued_count = await self._queued_count()
        (session,) = await self._enqueue([queued], queued_count)
        self.wake_scheduler()
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
        session_mode = _parse_mode(mode)
        parent = await self.get_task(parent_id)
        store = await self._task_store()
        subtasks: list[Task] = await anyio.to_thread.run_sync(store.subtasks, parent.id)
        await anyio.to_thread.run_sync(self._remember_tasks, subtasks)
        if sequence is None:
            open_ = [t.sequence for t in subtasks if t.sequence is not None and t.status != "done"]
            sequence = min(open_) if open_ else None
        group = [t for t in subtasks if sequence is not None and t.sequence == sequence]
        if not group:
            raise TaskNotFound(
                parent_id, hint=f"it has no subtask to dispatch (sequence {sequence})"
            )
        events = [
            await self._request_event(task, mode=session_mode, parent_id=parent.id, **options)
            for task in group
        ]
        queued_count = await self._queued_count()
        sessions = await self._enqueue(events, queued_count)
        self.wake_scheduler()
        return sessions

    async def _request_event(
        self,
        task: Task,
        *,
        mode: SessionMode,
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
    ) -> SessionQueued:
        """Validate a request for ``task`` and return the event that would queue it."""
        session_mode = mode
        level = _parse_permissions(permissions, dangerous, session_mode)
        dangerous = level is Permissions.FULL
        prio = _parse_priority(priority, task)
        for what, name in (("agent", agent), ("executor", executor), ("branch", branch)):
            if name is not None and not isinstance(name, str):
                raise RequestRefused(f"{what} must be a name, not {type(name).__name__}")
        if branch is not None:
            validate_branch(branch)
        executor_name = executor or _DEFAULT_EXECUTOR[session_mode]
        try:
            exec_plugin = self.executor(executor_name)
        except PluginError as exc:
            raise RequestRefused(
                f"cannot run a {session_mode.value} session on executor {executor_name!r}: {exc}"
                + (
                    "; pass executor='local' to run it as a local process"
                    if executor is None
                    else ""
                )
            ) from exc
        try:
            adapter = self.agent(agent)
        except PluginError as exc:
            raise UnknownAgent(f"cannot use agent {agent!r}: {exc}") from exc
        on_host_ok = os.environ.get("SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST") == "1"
        if dangerous and not exec_plugin.capabilities.isolated and not on_host_ok:
            raise DangerousRefused(
                f"permissions='full' (dangerous=True) skips the agent's permission prompts and "
                f"is allowed only in a container executor, not {executor_name!r}; use "
                "permissions='edit', or set SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST=1 to allow it "
                "on this host"
            )
        if (
            session_mode in (SessionMode.INTERACTIVE, SessionMode.DISPATCH)
            and not exec_plugin.capabilities.terminal
        ):
            raise RequestRefused(
                f"{session_mode.value} sessions need a terminal executor (tmux), "
                f"not {executor_name!r}"
            )
        if resources is not None and not isinstance(resources, Resources):
            if not isinstance(resources, Mapping):
                raise RequestRefused(
                    f"resources must be a mapping of cpus, memory_mb and pids, not {resources!r}"
                )
            unknown = sorted(str(k) for k in resources if k not in ("cpus", "memory_mb", "pids"))
            if unknown:
                raise RequestRefused(
                    f"resources: unknown {', '.join(unknown)}; use cpus, memory_mb and pids"
                )
            resources = Resources(**{str(k): v for k, v in resources.items()})
        _check_budget(budget_usd)
        for what, value in (
            ("model", model),
            ("image", image),
            ("prompt", prompt),
            ("created_by", created_by),
        ):
            if value is not None:
                if not isinstance(value, str):
                    raise RequestRefused(f"{what} must be text, not {type(value).__name__}")
                _check_text(what, value)
        limits = self._mode_resources(session_mode, resources)
        # What would fail the start at once (no agent CLI on the host, no image, no engine) is
        # refused now, before a session, a worktree and a branch exist. In a container the
        # agent's CLI is the image's.
        if not exec_plugin.capabilities.isolated:
            missing = missing_program(adapter)
            if missing is not None:
                raise AgentProgramNotFound(f"cannot start on {executor_name!r}: {missing}")
        try:
            problem = await exec_plugin.preflight(image=image or self.config.default_image)
        except ExecutorUnavailable as exc:
            raise ExecutorUnreachable(
                f"cannot start on {executor_name!r}: {exc}; or run on the host with "
                "executor='local' (-e local)"
            ) from exc
        if problem is not None:
            raise RequestRefused(f"cannot start on {executor_name!r}: {problem}")
        binding = await self.worktrees.bind(task, branch=branch)
        if branch is not None:
            problem = await self.worktrees.conflict(binding)
            if problem is not None:
                raise RequestRefused(
                    f"cannot bind task {task.id} to branch {binding.branch}: {problem}; pass "
                    "no branch to use the worktree's own, or move the worktree away first"
                )
        return SessionQueued(
            session_id=new_session_id(),
            task_id=task.id,
            parent_id=parent_id,
            mode=session_mode,
            priority=prio,
            branch=binding.branch,
            worktree_path=str(binding.path),
            executor=executor_name,
            agent=agent,
            model=model,
            image=image,
            dangerous=dangerous,
            permissions=level,
            created_by=created_by or self._created_by,
            prompt=prompt,
            resources={"cpus": limits.cpus, "memory_mb": limits.memory_mb, "pids": limits.pids},
            area=task.area or None,
            team=_team_of(task),
            budget_usd=budget_usd,
        )

    async def _queued_count(self) -> int:
        """How many sessions are queued, for the policy's admission; ``0`` without asking the
        store when the policy says it does not look (``counts_queue`` false, as the built-in
        policy without a queue limit)."""
        if not self.policy.counts_queue:
            return 0
        return await self.storage.count_sessions(statuses=[SessionStatus.QUEUED])

    async def _enqueue(self, events: Sequence[SessionQueued], queued_count: int) -> list[Session]:
        """Admit every request first (all or none), then store each; return the sessions."""
        from ._projection import replay, session_from_queued

        batches: list[list[Event]] = []
        for offset, queued in enumerate(events):
            admission = self.policy.admit(session_from_queued(queued), queued=queued_count + offset)
            batch: list[Event] = [queued]
            if admission.approval is not None:
                batch.append(
                    ApprovalRequested(session_id=queued.session_id, reason=admission.approval)
                )
            batches.append(batch)
        if len(batches) == 1:
            results = [await self.append(batches[0][0].session_id, batches[0])]
        else:
            # Several requests (a dispatch): one transaction stores them all, or none.
            redact = self.redactor
            clean = [(batch[0].session_id, [redact.model(e) for e in batch]) for batch in batches]
            results = await self.storage.append_batch(clean)
        sessions: list[Session] = []
        for stored in results:
            session = replay(stored)
            assert session is not None
            sessions.append(session)
            first = stored[0]
            if isinstance(first, SessionQueued):
                self._remember_request(first, session.last_seq)
            if len(batches) > 1:
                self._wake(session.id)
                if (index := self._scheduler.tracked_index) is not None:
                    index.update(session)
        return sessions

    def _remember_request(self, queued: SessionQueued, last_seq: int) -> None:
        requests = self._requests
        if len(requests) >= _REQUESTS_KEPT:
            del requests[next(iter(requests))]
        requests[queued.session_id] = (queued, last_seq)

    def first_request(self, session: Session) -> SessionQueued | None:
        """The ``session_queued`` event of a session this engine queued, when nothing but
        the intent to start it has been stored since (its first attempt is starting): the
        launch then needs no read of the session's events. ``None`` otherwise."""
        known = self._requests.pop(session.id, None)
        if known is None:
            return None
        queued, last_seq = known
        starting = session.status is SessionStatus.STARTING and session.attempt == 1
        return queued if starting and session.last_seq == last_seq + 1 else None

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
            await self.wake_event(session_id, reset=True).wait()

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
        await self.append(
            session_id,
            [SessionCancelled(session_id=session_id, attempt=session.attempt, reason=reason)],
        )
        if session.status.is_active:
            await self._stop_runtime(session)
        elif session.runtime_id is None:
            await self.archive_session(session_id)  # nothing to collect: it never ran
            await self.session_ended(session_id)
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
        await self.append(
            session_id, [SessionResumed(session_id=session_id, attempt=session.attempt + 1)]
        )
        self.wake_scheduler()
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
        events: list[Event] = [ApprovalGranted(session_id=session_id, by=by or self._created_by)]
        if session.started_at is not None:
            # It ran and was halted at a cost threshold: the next attempt resumes it.
            events.append(SessionResumed(session_id=session_id, attempt=session.attempt + 1))
        await self.append(session_id, events)
        self.wake_scheduler()
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
        await self.append(
            session_id,
            [ApprovalDenied(session_id=session_id, reason=reason, by=by or self._created_by)],
        )
        return await self.get_session(session_id)

    async def set_budget(self, session_id: str, budget_usd: float | None) -> Session:
        """Set (or with ``None`` remove) a session's own cost budget.

        Raises:
            SessionNotFound: no such session.
            RequestRefused: a negative budget.
        """
        _check_budget(budget_usd)
        await self.get_session(session_id)
        await self.append(session_id, [BudgetChanged(session_id=session_id, budget_usd=budget_usd)])
        return await self.get_session(session_id)

    async def costs(self, *, group_by: str = "task") -> dict[str, float]:
        """Total cost reported, in USD, grouped by ``task``, ``area``, ``team``, ``mode``,
        ``agent`` or ``day`` (the UTC day a session started, else was created).

        Raises:
            RequestRefused: an unknown grouping.
        """
        keys = COST_GROUPS
        if group_by not in keys:
            raise RequestRefused(f"group_by {group_by!r}: use one of {', '.join(keys)}")
        key = keys[group_by]
        totals: dict[str, float] = {}
        for session in await self.storage.list_sessions():
            name = key(session)
            totals[name] = round(totals.get(name, 0.0) + session.cost_usd, 10)
        return dict(sorted(totals.items()))

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
        _check_text("feedback", text)
        session = await self.get_session(session_id)
        if session.status is SessionStatus.RUNNING:
            executor = self.executor(session.executor)
            handle = self._runner.handle_for(session)
            if executor.capabilities.can_send_input and handle is not None:
                await executor.send_input(handle, text)
                await self.append(session_id, [FeedbackGiven(session_id=session_id, text=text)])
                return await self.get_session(session_id)
        if session.is_terminal:
            await self.append(
                session_id,
                [
                    FeedbackGiven(session_id=session_id, text=text),
                    SessionContinued(
                        session_id=session_id, attempt=session.attempt + 1, feedback=text
                    ),
                ],
            )
            self.wake_scheduler()
        else:
            await self.append(
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
        handle = self._runner.handle_for(session)
        if handle is None:
            from ._runtime import runtime_name
            from .executors._protocol import RuntimeHandle

            handle = RuntimeHandle(
                session_id=session.id,
                attempt=session.attempt,
                runtime_name=runtime_name(session.id, session.attempt),
                runtime_id="",
                run_dir=self._runner.run_dir(session.id, session.attempt),
            )
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


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)


def _team_of(task: Task) -> str | None:
    for tag in task.tags:
        if tag.startswith("team:") and len(tag) > len("team:"):
            return tag[len("team:") :]
    return None


def _parse_mode(mode: SessionMode | str) -> SessionMode:
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


MAX_FEEDBACK_CHARS = 100_000
"""The longest feedback `Engine.continue_session()` takes (it is stored and sent to the
agent as it is; a file in the worktree is the way to hand over more)."""


def _check_budget(budget_usd: object) -> None:
    """Refuse a budget that is not a finite number of at least 0 (``None`` is no budget)."""
    if budget_usd is None:
        return
    if isinstance(budget_usd, bool) or not isinstance(budget_usd, int | float):
        raise RequestRefused(f"budget_usd must be a number of USD, not {budget_usd!r}")
    if not math.isfinite(budget_usd) or budget_usd < 0:
        raise RequestRefused(f"budget_usd must be a finite amount of at least 0, not {budget_usd}")


def _check_text(what: str, text: str) -> None:
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


def _parse_priority(priority: Priority | str | None, task: Task) -> Priority:
    if priority is None:
        return task.priority
    try:
        return Priority(priority)
    except ValueError:
        raise RequestRefused(
            f"unknown priority {priority!r}; use highest, high, medium or low"
        ) from None
