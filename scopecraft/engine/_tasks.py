"""The tasks the engine runs: the repository's task store, read through a small cache, and where
a task's file and worktree are for a session."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .._errors import ScopecraftError, TaskNotFound
from .._models import Session, Task
from .._names import validate_task_id
from ..events import Event, LogLineWritten, TaskStatusChanged
from ..worktrees._protocol import WorktreeBinding
from ._context import Context

__all__ = ["Tasks", "task_file_in_tree"]

log = logging.getLogger("scopecraft.engine")


class Tasks:
    """Finds tasks; a task read before is reused while its file is unchanged.

    Args:
        ctx: The engine's context (its worktree orchestrator, home and task layout).
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._store: Any = None
        self._cache: dict[str, tuple[Task, tuple[int, int] | None]] = {}

    async def store(self) -> Any:
        """The repository's `TaskStore`, made on first use."""
        if self._store is None:
            from ..tasks import TaskStore

            info = await self._ctx.worktrees.repo_info()
            home, layout = self._ctx.home, self._ctx.config.task_layout
            self._store = await anyio.to_thread.run_sync(
                lambda: TaskStore.for_repo(info.root, home=home, layout=layout)
            )
        return self._store

    async def get(self, task_id: str) -> Task:
        """One task, as its file says (without its branch's status).

        Raises:
            InvalidName: ``task_id`` is not a valid task id.
            TaskNotFound: no valid task has that id.
        """
        validate_task_id(task_id)
        store = await self.store()
        return await anyio.to_thread.run_sync(self._lookup, store, task_id)

    async def get_or_none(self, task_id: str) -> Task | None:
        """Like `get()`, but ``None`` when the task is gone."""
        try:
            return await self.get(task_id)
        except TaskNotFound:
            return None

    async def task_and_parent(self, task_id: str) -> tuple[Task, Task | None]:
        """A task and its parent (``None`` when it has none or the parent is gone), read
        together.

        Raises:
            InvalidName: ``task_id`` is not a valid task id.
            TaskNotFound: no valid task has that id.
        """
        validate_task_id(task_id)
        store = await self.store()

        def both() -> tuple[Task, Task | None]:
            task = self._lookup(store, task_id)
            if task.parent_id is None:
                return task, None
            try:
                return task, self._lookup(store, task.parent_id)
            except TaskNotFound:
                return task, None

        return await anyio.to_thread.run_sync(both)

    async def subtasks(self, parent_id: str) -> list[Task]:
        """The subtasks of a parent task, in order (kept for later lookups)."""
        store = await self.store()
        found: list[Task] = await anyio.to_thread.run_sync(store.subtasks, parent_id)
        await anyio.to_thread.run_sync(self.remember, found)
        return found

    def remember(self, tasks: Iterable[Task]) -> None:
        """Keep tasks just loaded (with their files' stamps) for later lookups (blocking)."""
        for task in tasks:
            self._cache[task.id] = (task, _file_stamp(task.path))

    def _lookup(self, store: Any, task_id: str) -> Task:
        """Find a task (blocking): one read before is reused while its file is unchanged
        (same size and modification time)."""
        cached = self._cache.get(task_id)
        if cached is not None and _file_stamp(cached[0].path) == cached[1]:
            return cached[0]
        found: Task = store.get_task(task_id)
        self._cache[task_id] = (found, _file_stamp(found.path))
        return found

    async def file_in(self, task: Task, worktree: Path) -> Path | None:
        """The task's file as it is in ``worktree`` (repository layout) or in the central
        folder (central layout); ``None`` when that file does not exist."""
        info = await self._ctx.worktrees.repo_info()
        return await anyio.to_thread.run_sync(task_file_in_tree, task.path, info.root, worktree)

    async def touch(
        self, session: Session, task: Task, worktree: Path, *, status: str | None, note: str
    ) -> list[Event]:
        """Write a status (``None``: leave it) and a log line into the task's file in
        ``worktree`` (never the main one); return the events that record it, to store.

        A ``done`` status is written only over ``todo`` or ``in_progress``: an agent that
        chose ``blocked`` or ``reviewing`` keeps its choice. A file that cannot be written is
        logged and leaves no event.
        """
        info = await self._ctx.worktrees.repo_info()
        text = f"Session {session.id} ({session.mode.value}, {session.agent}) {note}"
        from ..tasks import update_task_file

        def update() -> tuple[Path | None, str]:
            found = task_file_in_tree(task.path, info.root, worktree)
            if found is None:
                return None, ""
            only_from = ("todo", "in_progress") if status == "done" else None
            return found, update_task_file(found, status=status, log=text, only_from=only_from)

        try:
            path, now = await anyio.to_thread.run_sync(update)
        except (OSError, ScopecraftError) as exc:
            log.warning("cannot update the task file of %s in %s: %s", task.id, worktree, exc)
            return []
        if path is None:
            return []
        events: list[Event] = []
        if status is not None and now == status:
            events.append(
                TaskStatusChanged(
                    session_id=session.id, task_id=task.id, status=status, path=str(path)
                )
            )
        events.append(LogLineWritten(session_id=session.id, task_id=task.id, text=text))
        return events

    async def binding_for(self, session: Session, task: Task) -> WorktreeBinding:
        """The worktree binding recorded for ``session`` (recomputed from the task if absent)."""
        worktrees = self._ctx.worktrees
        if session.branch and session.worktree_path:
            binding = await worktrees.bind(task, branch=session.branch)
            if str(binding.path) == session.worktree_path:
                return binding
            return WorktreeBinding(
                env_id=binding.env_id, branch=session.branch, path=Path(session.worktree_path)
            )
        return await worktrees.bind(task, branch=session.branch)


def task_file_in_tree(path: Path, root: Path, worktree: Path) -> Path | None:
    """Where the task file at ``path`` (in the repository at ``root``) is in ``worktree``.

    The file outside the repository (the central layout) is itself; a copy that would lie
    outside the worktree (a link out) or does not exist is ``None``.
    """
    try:
        relative = path.resolve().relative_to(root)
    except ValueError:
        return path if path.exists() else None  # central layout: the one file outside the repo
    candidate = (worktree / relative).resolve()
    if worktree.resolve() not in candidate.parents:
        return None
    return candidate if candidate.exists() else None


def _file_stamp(path: Path) -> tuple[int, int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return (stat.st_mtime_ns, stat.st_size)
