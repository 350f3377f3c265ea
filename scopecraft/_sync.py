"""The sync twin of `Engine`: ``with scopecraft.connect(repo=".") as engine``.

It runs the async engine on its own event loop in a background thread (an anyio blocking
portal), so it also works where a loop is already running, as in a Jupyter cell.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

from anyio.from_thread import BlockingPortal, start_blocking_portal

from ._config import EngineConfig
from ._models import LogEntry, Permissions, Priority, Session, SessionMode, Task
from ._reports import CostGroup, CostReport, QueueStatus
from .engine import Engine, SessionRequest
from .engine._seams import PluginSpec
from .events import Event
from .executors._protocol import Resources
from .policies._protocol import QueuePolicy
from .storage._protocol import StorageAdapter
from .worktrees._protocol import WorktreeOrchestrator

__all__ = ["SyncEngine", "connect"]

T = TypeVar("T")


class SyncEngine:
    """Blocking methods with the same names, arguments and results as `Engine`'s.

    Async iterators (``session_logs``, ``events``) become plain iterators.
    """

    def __init__(
        self, portal: BlockingPortal, engine: Engine, exit_stack: contextlib.ExitStack
    ) -> None:
        self._portal = portal
        self._engine = engine
        self._stack = exit_stack

    @property
    def engine(self) -> Engine:
        """The async engine underneath (use it only from the portal's loop)."""
        return self._engine

    def _call(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return self._portal.call(lambda: func(*args, **kwargs))

    def _iterate(self, agen: AsyncIterator[T]) -> Iterator[T]:
        try:
            while True:
                try:
                    yield self._portal.call(agen.__anext__)
                except StopAsyncIteration:
                    return
        finally:
            aclose = getattr(agen, "aclose", None)
            if aclose is not None:
                self._portal.call(aclose)

    def create_session(
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
        """See `Engine.create_session()`."""
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
        return self.submit(request)

    def submit(self, request: SessionRequest) -> Session:
        """See `Engine.submit()`."""
        result: Session = self._call(self._engine.submit, request)
        return result

    def dispatch(
        self,
        parent_id: str,
        *,
        sequence: int | None = None,
        mode: SessionMode | str = SessionMode.DISPATCH,
        **options: Any,
    ) -> list[Session]:
        """See `Engine.dispatch()`."""
        result: list[Session] = self._call(
            self._engine.dispatch, parent_id, sequence=sequence, mode=mode, **options
        )
        return result

    def get_session(self, session_id: str) -> Session:
        """See `Engine.get_session()`."""
        result: Session = self._call(self._engine.get_session, session_id)
        return result

    def list_sessions(
        self, *, active: bool = False, queued: bool = False, all: bool = False
    ) -> list[Session]:
        """See `Engine.list_sessions()`."""
        result: list[Session] = self._call(
            self._engine.list_sessions, active=active, queued=queued, all=all
        )
        return result

    def session_logs(
        self, session_id: str, *, follow: bool = False, limit: int | None = None
    ) -> Iterator[LogEntry]:
        """See `Engine.session_logs()`."""
        return self._iterate(self._engine.session_logs(session_id, follow=follow, limit=limit))

    def events(
        self, *, session_id: str | None = None, after: int | None = None, follow: bool = False
    ) -> Iterator[Event]:
        """See `Engine.events()`."""
        return self._iterate(self._engine.events(session_id=session_id, after=after, follow=follow))

    def continue_session(self, session_id: str, feedback: str) -> Session:
        """See `Engine.continue_session()`."""
        result: Session = self._call(self._engine.continue_session, session_id, feedback)
        return result

    def cancel_session(self, session_id: str, *, reason: str = "cancelled by request") -> bool:
        """See `Engine.cancel_session()`."""
        result: bool = self._call(self._engine.cancel_session, session_id, reason=reason)
        return result

    def wait(self, session_id: str, *, timeout: float | None = None) -> Session:
        """See `Engine.wait()`."""
        result: Session = self._call(self._engine.wait, session_id, timeout=timeout)
        return result

    def refresh(self, *, timeout: float = 10.0) -> None:
        """See `Engine.refresh()`."""
        self._call(self._engine.refresh, timeout=timeout)

    def attach_command(self, session_id: str) -> list[str]:
        """See `Engine.attach_command()`."""
        result: list[str] = self._call(self._engine.attach_command, session_id)
        return result

    def list_tasks(self) -> list[Task]:
        """See `Engine.list_tasks()`."""
        result: list[Task] = self._call(self._engine.list_tasks)
        return result

    def get_task(self, task_id: str) -> Task:
        """See `Engine.get_task()`."""
        result: Task = self._call(self._engine.get_task, task_id)
        return result

    def check_tasks(self) -> list[Any]:
        """See `Engine.check_tasks()`."""
        result: list[Any] = self._call(self._engine.check_tasks)
        return result

    def resume_session(self, session_id: str) -> Session:
        """See `Engine.resume_session()`."""
        result: Session = self._call(self._engine.resume_session, session_id)
        return result

    def approve_session(self, session_id: str, *, by: str | None = None) -> Session:
        """See `Engine.approve_session()`."""
        result: Session = self._call(self._engine.approve_session, session_id, by=by)
        return result

    def deny_session(self, session_id: str, *, reason: str = "", by: str | None = None) -> Session:
        """See `Engine.deny_session()`."""
        result: Session = self._call(self._engine.deny_session, session_id, reason=reason, by=by)
        return result

    def set_budget(self, session_id: str, budget_usd: float | None) -> Session:
        """See `Engine.set_budget()`."""
        result: Session = self._call(self._engine.set_budget, session_id, budget_usd)
        return result

    def costs(self, *, group_by: str = "task") -> dict[str, float]:
        """See `Engine.costs()`."""
        result: dict[str, float] = self._call(self._engine.costs, group_by=group_by)
        return result

    def cost_report(self, group_by: CostGroup = "task") -> CostReport:
        """See `Engine.cost_report()`."""
        result: CostReport = self._call(self._engine.cost_report, group_by)
        return result

    def queue_status(self) -> QueueStatus:
        """See `Engine.queue_status()`."""
        result: QueueStatus = self._call(self._engine.queue_status)
        return result

    def write_plan(self, session_id: str) -> list[Task]:
        """See `Engine.write_plan()`."""
        result: list[Task] = self._call(self._engine.write_plan, session_id)
        return result

    def reconcile(self) -> None:
        """See `Engine.reconcile()`."""
        self._call(self._engine.reconcile)

    def close(self) -> None:
        """Close the engine and its loop thread (sessions keep running). Idempotent."""
        self._stack.close()

    def __enter__(self) -> SyncEngine:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def connect(
    repo: str | os.PathLike[str] = ".",
    *,
    home: str | os.PathLike[str] | None = None,
    storage: StorageAdapter | PluginSpec | None = None,
    policy: QueuePolicy | PluginSpec | None = None,
    forward_env: Iterable[str] = (),
    config: EngineConfig | Mapping[str, Any] | None = None,
    worktrees: WorktreeOrchestrator | PluginSpec | None = None,
) -> SyncEngine:
    """Open an engine for blocking code: ``with scopecraft.connect(repo=".") as engine``.

    Takes the same arguments as `Engine.open()`.

    Raises:
        ConfigError: a bad configuration value.
    """
    stack = contextlib.ExitStack()
    try:
        portal = stack.enter_context(start_blocking_portal())
        engine = stack.enter_context(
            portal.wrap_async_context_manager(
                Engine.open(
                    repo,
                    home=home,
                    storage=storage,
                    policy=policy,
                    forward_env=forward_env,
                    config=config,
                    worktrees=worktrees,
                )
            )
        )
    except BaseException:
        stack.close()
        raise
    return SyncEngine(portal, engine, stack)
