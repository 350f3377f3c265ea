"""A worktree-aware task view: each task's status on each branch, with its sessions.

In the repository layout every branch carries its own copy of ``.tasks/``, and an agent changes
a task's status in its own worktree, so "the status of a task" depends on the branch. This view
reads ``.tasks/`` from each branch's committed tree with pygit2 (nothing is checked out, the
same file on several branches is parsed once) and joins the sessions that ran each task. In the
central layout tasks live outside the repository, once, so each task has one status there.
"""

from __future__ import annotations

import fnmatch
import logging
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import anyio
import anyio.to_thread
import attrs

from .._errors import MalformedTask
from .._models import Session, Task
from .._names import validate_branch
from ._binding import owned_tasks, resolve_env_id
from ._inspect import open_repo

if TYPE_CHECKING:
    import pygit2

    from ._git import GitWorktreeOrchestrator

__all__ = ["BranchTask", "TaskAcrossBranches", "WorktreeTaskView", "WorktreeTasks"]

log = logging.getLogger("scopecraft.worktrees")

_T = TypeVar("_T")
_MONTH = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")
_SUFFIX = ".task.md"
_OVERVIEW = "_overview.md"
_MAX_DEPTH = 4


@attrs.frozen
class BranchTask:
    """A task as one branch (or the central folder) has it.

    Attributes:
        branch: The branch, or ``None`` for the central folder.
        status: The task's status there.
        title: Its title there.
        path: Its file, relative to the repository (or absolute, in the central layout).
        location: ``current``, ``backlog``, ``archive/YYYY-MM``...
    """

    branch: str | None
    status: str
    title: str
    path: str
    location: str | None


@attrs.frozen
class TaskAcrossBranches:
    """One task: where it runs, its status on each branch, and its sessions.

    Attributes:
        task_id: The task's id.
        env_id: Its environment id (the parent's for a subtask).
        parent_id: Its parent task's id, for a subtask.
        branch: The branch it is bound to.
        title: Its title (as the default branch has it, when it does).
        on_branches: Its status on each branch that has it, default branch first.
        sessions: The sessions that worked on it, oldest first.
    """

    task_id: str
    env_id: str
    parent_id: str | None
    branch: str
    title: str
    on_branches: tuple[BranchTask, ...]
    sessions: tuple[Session, ...]

    @property
    def id(self) -> str:
        """The task's id (the same as ``task_id``)."""
        return self.task_id

    def status_on(self, branch: str | None) -> str | None:
        """Return the task's status on ``branch`` (``None`` for the central folder).

        Returns:
            The status, or ``None`` when that branch does not have the task.
        """
        for item in self.on_branches:
            if item.branch == branch:
                return item.status
        return None


@attrs.frozen
class WorktreeTasks:
    """The tasks one worktree owns.

    Attributes:
        env_id: The environment.
        branch: Its branch.
        path: Its worktree folder.
        tasks: The tasks it owns, with their status on each branch and their sessions.
    """

    env_id: str
    branch: str
    path: Path
    tasks: tuple[TaskAcrossBranches, ...]


@attrs.frozen
class _Found:
    path: str
    blob: str
    task_id: str
    location: str
    rank: tuple[int, int]
    parent_id: str | None = None
    sequence: int | None = None
    is_parent: bool = False


def _rank(location: str) -> int:
    if location == "current":
        return 0
    if location == "backlog":
        return 1
    if location.startswith("archive/"):
        year, month = location[8:].split("-")
        return 2 + (9999 * 12 - (int(year) * 12 + int(month)))
    return 2 + 9999 * 12 + 1


def _child(tree: pygit2.Tree, name: str) -> pygit2.Object | None:
    try:
        return tree[name]
    except KeyError:
        return None


def _scan(tree: pygit2.Tree) -> Iterator[_Found]:
    import pygit2

    from ..tasks import subtask_sequence

    def folder(node: pygit2.Tree, prefix: str, location: str, depth: int) -> Iterator[_Found]:
        for item in node:
            name = item.name or ""
            if name.startswith("."):
                continue
            path = f"{prefix}/{name}"
            if isinstance(item, pygit2.Blob) and name.endswith(_SUFFIX):
                yield _Found(
                    path, str(item.id), name[: -len(_SUFFIX)], location, (_rank(location), 0)
                )
            elif isinstance(item, pygit2.Tree) and _OVERVIEW in item:
                overview = item[_OVERVIEW]
                yield _Found(
                    f"{path}/{_OVERVIEW}",
                    str(overview.id),
                    name,
                    location,
                    (_rank(location), 1),
                    is_parent=True,
                )
                for sub in item:
                    sub_name = sub.name or ""
                    if isinstance(sub, pygit2.Blob) and sub_name.endswith(_SUFFIX):
                        yield _Found(
                            f"{path}/{sub_name}",
                            str(sub.id),
                            sub_name[: -len(_SUFFIX)],
                            location,
                            (_rank(location), 2),
                            parent_id=name,
                            sequence=subtask_sequence(sub_name),
                        )
            elif isinstance(item, pygit2.Tree) and depth < _MAX_DEPTH:
                yield from folder(item, path, location, depth + 1)

    for location in ("current", "backlog"):
        node = _child(tree, location)
        if isinstance(node, pygit2.Tree):
            yield from folder(node, f".tasks/{location}", location, 0)
    archive = _child(tree, "archive")
    if isinstance(archive, pygit2.Tree):
        for item in archive:
            name = item.name or ""
            if isinstance(item, pygit2.Tree) and _MONTH.fullmatch(name):
                yield from folder(item, f".tasks/archive/{name}", f"archive/{name}", 0)
            elif isinstance(item, pygit2.Blob) and name.endswith(_SUFFIX):
                rank = (_rank("archive"), 0)
                yield _Found(f".tasks/archive/{name}", str(item.id), name[:-8], "archive", rank)


class WorktreeTaskView:
    """Reads tasks per branch and joins them with sessions.

    Args:
        orchestrator: The repository's orchestrator (for the branch template and binding).
        home: scopecraft's home, for the central layout (default ``SCOPECRAFT_HOME`` or
            ``~/.scopecraft``).
        layout: ``repo``, ``central``, or ``auto`` (the repository layout when the default
            branch or the main worktree has ``.tasks/``).
    """

    def __init__(
        self,
        orchestrator: GitWorktreeOrchestrator,
        *,
        home: Path | None = None,
        layout: Literal["auto", "repo", "central"] = "auto",
    ) -> None:
        self._orchestrator = orchestrator
        self._home = home
        self._layout = layout
        self._parsed: dict[tuple[str, str, str | None, int | None, bool, str], Task] = {}
        self._limiter: anyio.CapacityLimiter | None = None

    async def _thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(2)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    # -- reading branches ----------------------------------------------------------------------

    async def tasks_on_branch(self, branch: str) -> list[Task]:
        """Return the valid tasks in ``.tasks/`` of a branch's committed tree, by id.

        Malformed files are skipped and logged. Task paths are relative to the repository.

        Args:
            branch: A local branch.

        Returns:
            The tasks (empty when the branch has no ``.tasks/`` or does not exist).

        Raises:
            InvalidName: ``branch`` is not a safe branch name.
            GitError: the repository cannot be read.
        """
        validate_branch(branch)
        common = await self._orchestrator.common_dir()
        found = await self._thread(self._read_branches, common, [branch])
        return found.get(branch, [])

    def _read_branches(self, common: Path, branches: Sequence[str]) -> dict[str, list[Task]]:
        import pygit2

        from ..tasks import parse_document

        repo = open_repo(common)
        out: dict[str, list[Task]] = {}
        for branch in branches:
            ref = repo.references.get(f"refs/heads/{branch}")
            if ref is None:
                continue
            commit = repo[ref.resolve().target].peel(pygit2.Commit)
            if ".tasks" not in commit.tree or not isinstance(commit.tree[".tasks"], pygit2.Tree):
                out[branch] = []
                continue
            best: dict[str, tuple[tuple[int, int], str, Task]] = {}
            for found in _scan(commit.tree[".tasks"]):
                key = (
                    found.blob,
                    found.task_id,
                    found.parent_id,
                    found.sequence,
                    found.is_parent,
                    found.location,
                )
                task = self._parsed.get(key)
                if task is None:
                    blob = repo[found.blob]
                    assert isinstance(blob, pygit2.Blob)
                    try:
                        document = parse_document(
                            blob.data.decode("utf-8", errors="replace"), path=found.path
                        )
                        task = document.to_task(
                            task_id=found.task_id,
                            path=Path(found.path),
                            parent_id=found.parent_id,
                            sequence=found.sequence,
                            is_parent=found.is_parent,
                            location=found.location,
                        )
                    except MalformedTask as exc:
                        log.warning("skipping %s on %s: %s", found.path, branch, exc.reason)
                        continue
                    self._parsed[key] = task
                order = (found.rank, found.path)
                held = best.get(task.id)
                if held is None or order < held[:2]:
                    best[task.id] = (found.rank, found.path, task)
            out[branch] = sorted((entry[2] for entry in best.values()), key=lambda t: t.id)
        return out

    async def branches(self, sessions: Sequence[Session] = ()) -> list[str]:
        """Return the branches the view reads: the default branch, the template's branches
        that exist, and the existing branches sessions ran on.

        Raises:
            GitError: the repository cannot be read.
        """
        info = await self._orchestrator.repo_info()
        common = await self._orchestrator.common_dir()
        template = self._orchestrator.branch_template
        wanted = {s.branch for s in sessions if s.branch}

        def pick() -> list[str]:
            names = set(open_repo(common).branches.local)
            chosen = {
                name
                for name in names
                if (fnmatch.fnmatchcase(name, template.glob()) and template.env_id_of(name))
                or name in wanted
            }
            chosen.discard(info.default_branch)
            head = [info.default_branch] if info.default_branch in names else []
            return head + sorted(chosen)

        return await self._thread(pick)

    async def _layout_of(self) -> Literal["repo", "central"]:
        if self._layout != "auto":
            return self._layout
        info = await self._orchestrator.repo_info()
        on_default = await self.tasks_on_branch_exists(info.default_branch)
        if on_default or await self._thread((info.root / ".tasks").is_dir):
            return "repo"
        return "central"

    async def tasks_on_branch_exists(self, branch: str) -> bool:
        """Tell whether a branch's tree has a ``.tasks/`` folder.

        Raises:
            GitError: the repository cannot be read.
        """
        import_name = f"refs/heads/{validate_branch(branch)}"
        common = await self._orchestrator.common_dir()

        def look() -> bool:
            import pygit2

            repo = open_repo(common)
            ref = repo.references.get(import_name)
            if ref is None:
                return False
            tree = repo[ref.resolve().target].peel(pygit2.Commit).tree
            return ".tasks" in tree

        return await self._thread(look)

    # -- the views -----------------------------------------------------------------------------

    async def overview(
        self, sessions: Sequence[Session] = (), *, branches: Sequence[str] | None = None
    ) -> list[TaskAcrossBranches]:
        """Return every task with its status on each branch and its sessions, by id.

        Args:
            sessions: The sessions to join (the engine's ``list_sessions(all=True)``).
            branches: The branches to read (default: `branches()`); ignored in the
                central layout.

        Returns:
            One entry per task id found on any branch (or in the central folder).

        Raises:
            InvalidName: a branch name is not safe.
            GitError: the repository cannot be read.
        """
        if await self._layout_of() == "central":
            return await self._central(sessions)
        names = list(branches) if branches is not None else await self.branches(sessions)
        for name in names:
            validate_branch(name)
        common = await self._orchestrator.common_dir()
        per_branch = await self._thread(self._read_branches, common, names)
        info = await self._orchestrator.repo_info()
        ordered = sorted(per_branch, key=lambda b: (b != info.default_branch, names.index(b)))
        by_id: dict[str, list[tuple[str, Task]]] = {}
        for branch in ordered:
            for task in per_branch[branch]:
                by_id.setdefault(task.id, []).append((branch, task))
        return [self._join(task_id, copies, sessions) for task_id, copies in sorted(by_id.items())]

    def _join(
        self,
        task_id: str,
        copies: Sequence[tuple[str | None, Task]],
        sessions: Sequence[Session],
    ) -> TaskAcrossBranches:
        first = copies[0][1]
        template = self._orchestrator.branch_template
        return TaskAcrossBranches(
            task_id=task_id,
            env_id=first.env_id,
            parent_id=first.parent_id,
            branch=template.render(first.env_id),
            title=first.title,
            on_branches=tuple(
                BranchTask(
                    branch=branch,
                    status=task.status,
                    title=task.title,
                    path=str(PurePosixPath(task.path)) if branch else str(task.path),
                    location=task.location,
                )
                for branch, task in copies
            ),
            sessions=tuple(
                sorted(
                    (s for s in sessions if s.task_id == task_id),
                    key=lambda s: (s.created_at, s.id),
                )
            ),
        )

    async def _central(self, sessions: Sequence[Session]) -> list[TaskAcrossBranches]:
        from ..tasks import TaskStore

        info = await self._orchestrator.repo_info()
        store = TaskStore.for_repo(info.root, home=self._home, layout="central")
        tasks = await self._thread(store.list_tasks)
        return [self._join(task.id, [(None, task)], sessions) for task in tasks]

    async def worktree(self, name: str, sessions: Sequence[Session] = ()) -> WorktreeTasks:
        """Return the tasks one worktree owns, named by branch, env id or task id.

        Args:
            name: A branch (``feature/auth-05A``), an env id or a task id; a bare
                month-letter code (``05A``) is refused.
            sessions: The sessions to join.

        Returns:
            The worktree's environment, branch, folder and owned tasks.

        Raises:
            InvalidName: ``name`` is not a safe name.
            AmbiguousBinding: ``name`` could mean several environments (they are listed).
            TaskNotFound: ``name`` names nothing.
            GitError: the repository cannot be read.
        """
        validate_branch(name)
        everything = await self.overview(sessions)
        env_id = resolve_env_id(
            name, tasks=everything, template=self._orchestrator.branch_template, sessions=sessions
        )
        owned = {t.id for t in owned_tasks(env_id, everything)}
        binding = await self._orchestrator.bind_env(env_id)
        return WorktreeTasks(
            env_id=env_id,
            branch=binding.branch,
            path=binding.path,
            tasks=tuple(entry for entry in everything if entry.task_id in owned),
        )
