"""The engine's worktree and history verbs: worktree status, cleanup, pause and resume,
the task view across branches, session records archived in git, and plans written as tasks.

`WorktreeMethods` is a part of `Engine` (a mixin): it uses the
engine's store, worktree orchestrator and session methods.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread

from .._config import EngineConfig
from .._errors import CapabilityMissing, InvalidTransition, MalformedTask, ScopecraftError
from .._models import Session, Task
from .._names import validate_task_id
from .._redact import Redactor
from ..events import (
    AgentMessage,
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    ArtifactStored,
    BudgetChanged,
    ChangesRecorded,
    ErrorOccurred,
    Event,
    FeedbackGiven,
    SessionCancelled,
    SessionCompleted,
    SessionContinued,
    SessionFailed,
    SessionPaused,
    SessionResumed,
    SessionRetryScheduled,
    SessionStarted,
    SessionStarting,
)
from ..storage._protocol import StorageAdapter
from ..worktrees._protocol import WorktreeOrchestrator

if TYPE_CHECKING:
    from .._plan import Plan
    from ..worktrees import (
        CleanupDecision,
        CleanupPolicy,
        GitHistory,
        GitWorktreeOrchestrator,
        PausedWorktree,
        PreparedWorktree,
        TaskAcrossBranches,
        WorktreeStatus,
        WorktreeTasks,
    )
    from ._journal import Journal
    from ._tasks import Tasks

__all__ = ["WorktreeMethods"]

log = logging.getLogger("scopecraft.engine")


class WorktreeMethods:
    """Worktree and history methods of `Engine`."""

    if TYPE_CHECKING:
        # Provided by the engine.
        config: EngineConfig
        home: Path
        _journal: Journal
        _tasks: Tasks

        @property
        def redactor(self) -> Redactor: ...

        @property
        def storage(self) -> StorageAdapter: ...

        @property
        def worktrees(self) -> WorktreeOrchestrator: ...

        async def get_task(self, task_id: str) -> Task: ...

        async def get_session(self, session_id: str) -> Session: ...

        async def list_sessions(
            self, *, active: bool = False, queued: bool = False, all: bool = False
        ) -> list[Session]: ...

    async def _git_orchestrator(self) -> GitWorktreeOrchestrator:
        """The git orchestrator, for what only it can do: read every branch's tree (the task
        view). The other worktree verbs are the protocol's and work with any orchestrator."""
        from ..worktrees import GitWorktreeOrchestrator

        orchestrator = self.worktrees
        if not isinstance(orchestrator, GitWorktreeOrchestrator):
            raise CapabilityMissing(
                f"the task view reads every branch's tree with git; the worktree orchestrator "
                f"{type(orchestrator).__name__} is not the git one"
            )
        return orchestrator

    async def _history(self) -> GitHistory:
        from ..worktrees import GitHistory

        info = await self.worktrees.repo_info()
        return GitHistory(info.root)

    async def _session_record(
        self, session_id: str, pending: Sequence[Event] = ()
    ) -> dict[str, Any]:
        """The record archived for an ended session: the session, its attempts, decisions,
        cost, changes and final commit (all redacted, as stored), including ``pending``
        events about to be stored."""
        from .._projection import apply

        session = await self.get_session(session_id)
        stored = [item.event for item in await self.storage.read_events(session_id)]
        clean = [self.redactor.model(e) for e in pending]
        for event in clean:
            session = apply(session, event)
        attempts: list[dict[str, Any]] = []
        decisions: list[dict[str, Any]] = []
        changes: dict[str, Any] | None = None
        summary = ""
        for event in [*stored, *clean]:
            data = event.model_dump(mode="json", exclude={"session_id"})
            if isinstance(
                event,
                SessionStarting
                | SessionStarted
                | SessionCompleted
                | SessionFailed
                | SessionCancelled
                | SessionPaused
                | SessionResumed
                | SessionContinued
                | SessionRetryScheduled,
            ):
                attempts.append(data)
            elif isinstance(
                event,
                FeedbackGiven
                | ApprovalRequested
                | ApprovalGranted
                | ApprovalDenied
                | BudgetChanged
                | ArtifactStored,
            ):
                decisions.append(data)
            elif isinstance(event, ChangesRecorded):
                changes = data
            elif isinstance(event, AgentMessage):
                summary = event.text
        return {
            "session": session.model_dump(mode="json"),
            "summary": summary,
            "attempts": attempts,
            "decisions": decisions,
            "cost_usd": session.cost_usd,
            "changes": changes,
            "final_commit": changes["head"] if changes else None,
        }

    async def _archive_session(self, session_id: str, pending: Sequence[Event] = ()) -> None:
        """Archive a session's record (with ``pending`` events about to be stored) on
        ``refs/scopecraft/history``; a failure is recorded as an event, never raised."""
        if not self.config.archive_history:
            return
        session = await self.storage.get_session(session_id)
        try:
            record = await self._session_record(session_id, pending)
            await (await self._history()).archive_session(record, session.task_id, session_id)
        except (ScopecraftError, OSError) as exc:
            await self._journal.append(
                session_id,
                [ErrorOccurred(session_id=session_id, where="history", message=str(exc))],
            )

    async def _session_ended(self, session_id: str) -> None:
        """What follows a session's end: apply the cleanup policy (failures are logged)."""
        session = await self.storage.get_session(session_id)
        if not session.is_terminal:
            return
        if self.config.cleanup.kind != "never":
            try:
                await self.cleanup_worktrees(dry_run=False)
            except (ScopecraftError, OSError) as exc:
                log.warning("worktree cleanup failed: %s", exc)

    async def history(self, task_id: str) -> list[dict[str, Any]]:
        """The archived records of a task's ended sessions, read from ``refs/scopecraft/history``.

        Raises:
            InvalidName: not a valid task id.
        """
        validate_task_id(task_id)
        return await (await self._history()).read_history(task_id)

    async def push_history(self, remote: str = "origin") -> None:
        """Push ``refs/scopecraft/history`` to ``remote`` (share the archive).

        Raises:
            GitError: git refused.
        """
        await (await self._history()).push(remote)

    async def fetch_history(self, remote: str = "origin") -> None:
        """Fetch ``remote``'s history ref and merge it with the local one.

        Raises:
            GitError: git refused.
        """
        await (await self._history()).fetch(remote)

    async def worktrees_status(self) -> list[WorktreeStatus]:
        """Every managed worktree with its branch, state and changes."""
        return await self.worktrees.list_worktrees()

    async def cleanup_worktrees(
        self, *, dry_run: bool = True, policy: CleanupPolicy | None = None
    ) -> list[CleanupDecision]:
        """Apply a cleanup policy (default the configured one) to every managed worktree, or
        with ``dry_run`` say what it would do and why. Uncommitted work and unpushed,
        unmerged branches are never removed."""
        sessions = await self.storage.list_sessions()
        return await self.worktrees.cleanup(
            policy or self.config.cleanup, sessions, dry_run=dry_run
        )

    async def pause_worktree(self, task_id: str) -> PausedWorktree:
        """Commit a task environment's work in progress, remove its worktree, keep its branch.

        Raises:
            InvalidTransition: a session of that environment has not ended.
        """
        task = await self.get_task(task_id)
        binding = await self.worktrees.bind(task)
        for session in await self.list_sessions():
            if session.worktree_path == str(binding.path):
                raise InvalidTransition(
                    f"session {session.id} ({session.status.value}) still uses {binding.path}; "
                    "cancel it or wait for it to end"
                )
        return await self.worktrees.pause(binding)

    async def resume_worktree(self, task_id: str) -> PreparedWorktree:
        """Re-add a paused task environment's worktree from its branch."""
        task = await self.get_task(task_id)
        return await self.worktrees.resume(await self.worktrees.bind(task))

    async def task_view(self, branches: Sequence[str] | None = None) -> list[TaskAcrossBranches]:
        """Every task with its status on each branch (read from the branches' trees, no
        checkout) and the sessions that ran on it."""
        from ..worktrees import WorktreeTaskView

        view = WorktreeTaskView(
            await self._git_orchestrator(), home=self.home, layout=self.config.task_layout
        )
        return await view.overview(await self.storage.list_sessions(), branches=branches)

    async def worktree_tasks(self, name: str) -> WorktreeTasks:
        """The tasks one worktree owns (named by branch, env id or task id), with sessions."""
        from ..worktrees import WorktreeTaskView

        view = WorktreeTaskView(
            await self._git_orchestrator(), home=self.home, layout=self.config.task_layout
        )
        return await view.worktree(name, await self.storage.list_sessions())

    async def _with_branch_status(self, tasks: list[Task]) -> list[Task]:
        """``tasks`` with their status on their branches (`Task.branch`,
        `Task.branch_status`, `Task.branch_note`).

        A task's branch is the one the worktree orchestrator binds it to. Its copy of the
        task's file is read from the branch's latest commit with pygit2 (never checked out),
        bounded by `MAX_TASK_FILE_BYTES` and parsed only when the branch changed it; a copy
        that cannot be used leaves the main checkout's status, with a note. Tasks outside the
        repository (the central layout) have no branch copy. The store is not read, so the
        cost does not grow with the sessions' history. Reading the branches never fails the
        caller: a failure is logged and the tasks come back as they are.

        Args:
            tasks: The tasks, as the task store read them.
        """
        if not tasks:
            return tasks
        try:
            info = await self.worktrees.repo_info()
            branches: list[str | None] = []
            for task in tasks:
                branch = None
                # No bound branch when the template names the default branch: refused.
                with contextlib.suppress(ScopecraftError):
                    branch = (await self.worktrees.bind(task)).branch
                branches.append(branch)
            return await anyio.to_thread.run_sync(
                _read_branch_statuses, tasks, branches, info.root, info.default_branch
            )
        except (ScopecraftError, OSError) as exc:
            log.warning("cannot read the task branches' statuses: %s", exc)
            return tasks

    async def plan(self, session_id: str) -> Plan | None:
        """The last valid plan a planning session produced, or ``None``.

        Raises:
            SessionNotFound: no such session.
        """
        from .._plan import Plan

        await self.get_session(session_id)
        found: Plan | None = None
        for item in await self.storage.read_events(session_id):
            event = item.event
            if isinstance(event, ArtifactStored) and event.kind == "plan":
                found = Plan.model_validate(event.data)
        return found

    async def write_plan(self, session_id: str) -> list[Task]:
        """Write a planning session's plan as Scopecraft subtask files of its task, in the
        session's worktree (never the main one), and commit them on the task branch.

        Returns:
            The subtasks written.

        Raises:
            SessionNotFound: no such session.
            InvalidTransition: the session has no valid plan.
        """
        from .._plan import write_plan

        session = await self.get_session(session_id)
        plan = await self.plan(session_id)
        if plan is None or not session.worktree_path:
            raise InvalidTransition(f"session {session_id} has no valid plan to write")
        task = await self.get_task(session.task_id)
        worktree = Path(session.worktree_path)
        source = await self._tasks.file_in(task, worktree)
        if source is None:
            raise InvalidTransition(f"the task file of {task.id} is not in the worktree {worktree}")
        tasks_root = await anyio.to_thread.run_sync(_tasks_root_of, source)
        written = await anyio.to_thread.run_sync(write_plan, plan, task, tasks_root)
        await self.worktrees.record_changes(
            worktree, message=f"scopecraft: plan of session {session_id} for {task.id}"
        )
        return written


def _read_branch_statuses(
    tasks: Sequence[Task], branches: Sequence[str | None], root: Path, default_branch: str
) -> list[Task]:
    """See `WorktreeMethods._with_branch_status()` (blocking)."""
    from ..tasks import parse_task_bytes
    from ..tasks._files import MAX_TASK_FILE_BYTES
    from ..worktrees._git import read_branch_files

    wanted: list[tuple[str, str] | None] = []
    for task, branch in zip(tasks, branches, strict=True):
        try:
            rel = task.path.relative_to(root).as_posix()
        except ValueError:
            rel = None  # the central layout: one file, outside the repository
        wanted.append((branch, rel) if branch is not None and rel is not None else None)
    asked = [pair for pair in wanted if pair is not None]
    if not asked:
        return list(tasks)
    files = read_branch_files(
        root, asked, default_branch=default_branch, max_bytes=MAX_TASK_FILE_BYTES
    )
    out: list[Task] = []
    for task, pair in zip(tasks, wanted, strict=True):
        if pair is None or pair not in files:
            out.append(task)  # no branch, or it does not exist
            continue
        branch, rel = pair
        found = files[pair]
        update: dict[str, Any] = {"branch": branch}
        if not found.changed:
            pass  # the branch has the default branch's copy, or never had one
        elif not found.present:
            update["branch_note"] = f"the branch has no file {rel} (moved or deleted there)"
        elif not found.regular:
            update["branch_note"] = f"{rel} is not a regular file there (a symbolic link?)"
        else:
            try:
                status = (
                    parse_task_bytes(found.data, path=f"{branch}:{rel}", size=found.size)
                    .to_task(
                        task_id=task.id,
                        path=task.path,
                        parent_id=task.parent_id,
                        sequence=task.sequence,
                        is_parent=task.is_parent,
                        location=task.location,
                    )
                    .status
                )
            except MalformedTask as exc:
                update["branch_note"] = exc.reason
            else:
                if status != task.status:
                    update["branch_status"] = status
        if "branch_note" in update and found.present:
            log.warning(
                "the copy of task %s on %s cannot be used (%s); showing the main checkout's",
                task.id,
                branch,
                update["branch_note"],
            )
        out.append(task.model_copy(update=update))
    return out


def _tasks_root_of(task_file: Path) -> Path:
    """The ``.tasks`` (or central ``tasks``) folder holding ``task_file``."""
    for parent in task_file.parents:
        if parent.name in (".tasks", "tasks"):
            return parent
    raise InvalidTransition(f"{task_file} is not inside a tasks folder")
