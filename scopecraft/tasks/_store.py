"""The task store: every task of one tasks folder, in the repository or the central layout.

Layouts::

    <repo>/.tasks/                                   repository layout
        backlog/  current/  archive/YYYY-MM/
    <home>/projects/<encoded repo path>/tasks/       central layout
        current/  archive/YYYY-MM/

In each location folder a task is ``<id>.task.md``; a parent task is a folder ``<id>/`` holding
``_overview.md`` and its subtasks ``NN_<name>.task.md``; other files in a parent folder are
supporting documents. A folder without ``_overview.md`` only groups tasks (Scopecraft lets the
backlog be sorted into theme folders), so its task files are read as ordinary tasks.

When several files carry the same id (a task copied between locations), the one Scopecraft would
resolve wins: ``current`` before ``backlog`` before ``archive`` (newest month first), a task
file before a parent folder before a subtask, then by path.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import attrs

from scopecraft._errors import InvalidName, MalformedTask, TaskNotFound
from scopecraft._models import Task, utcnow
from scopecraft.tasks._document import TaskDocument, parse_document
from scopecraft.tasks._files import read_document, write_task
from scopecraft.tasks._identity import (
    GENERATED_TASK_ID_PATTERN,
    OVERVIEW_FILE,
    TASK_FILE_SUFFIX,
    central_tasks_dir,
    is_task_id,
    subtask_sequence,
    validate_task_id,
)

__all__ = ["TaskLayout", "TaskProblem", "TaskStore", "default_home"]

logger = logging.getLogger("scopecraft.tasks")

TaskLayout = Literal["repo", "central"]
"""Where a project keeps its tasks: in the repository or under scopecraft's home."""

_MONTH_FOLDER = re.compile(r"[0-9]{4}-(?:0[1-9]|1[0-2])")
_NAME = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
# Theme folders may nest; deeper than this is a mistake (or a symlink loop).
_MAX_GROUP_DEPTH = 4


def default_home() -> Path:
    """Return scopecraft's home folder: ``SCOPECRAFT_HOME``, else ``~/.scopecraft``.

    Returns:
        The folder (it may not exist yet).
    """
    configured = os.environ.get("SCOPECRAFT_HOME")
    return Path(configured).expanduser() if configured else Path.home() / ".scopecraft"


@attrs.frozen
class TaskProblem:
    """A task file that could not be loaded, and why.

    Attributes:
        path: The file.
        reason: What is wrong, in words a person can act on.
    """

    path: Path
    reason: str

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@attrs.frozen
class _Entry:
    """A task file found on disk, with the identity its place gives it (nothing parsed yet)."""

    path: Path
    task_id: str
    location: str
    rank: tuple[int, int, int]
    parent_id: str | None = None
    sequence: int | None = None
    is_parent: bool = False
    problem: str | None = None

    @property
    def order(self) -> tuple[tuple[int, int, int], str]:
        return (self.rank, str(self.path))


def _absolute(value: Path | str) -> Path:
    return Path(os.path.abspath(os.fspath(value)))


@attrs.frozen
class TaskStore:
    """The tasks of one tasks folder. Synchronous file I/O: call it off the event loop.

    Nothing is cached: every call reads the folder, so edits made by people, agents or other
    processes are seen at once.

    Attributes:
        root: The tasks folder (``<repo>/.tasks`` or ``<home>/projects/<encoded>/tasks``).
        layout: ``"repo"`` or ``"central"``; the central layout has no ``backlog``.
    """

    root: Path = attrs.field(converter=_absolute)
    layout: TaskLayout = attrs.field(
        default="repo", validator=attrs.validators.in_(("repo", "central"))
    )

    @classmethod
    def for_repo(
        cls,
        repo_root: Path | str,
        home: Path | str | None = None,
        layout: TaskLayout | Literal["auto"] = "auto",
    ) -> TaskStore:
        """Open the tasks of a repository.

        Args:
            repo_root: The main repository's root (the central layout's folder name is derived
                from it, so pass the main worktree, not a linked one).
            home: scopecraft's home folder (default: `default_home()`).
            layout: ``"repo"``, ``"central"``, or ``"auto"``: the repository layout when
                ``<repo_root>/.tasks`` is a folder, else the central one.

        Returns:
            The store.

        Raises:
            ValueError: When ``layout`` is not one of the three values.
        """
        repo = _absolute(repo_root)
        if layout == "auto":
            layout = "repo" if (repo / ".tasks").is_dir() else "central"
        if layout == "repo":
            return cls(repo / ".tasks", layout="repo")
        if layout == "central":
            base = default_home() if home is None else Path(home)
            return cls(central_tasks_dir(base, repo), layout="central")
        raise ValueError(f"layout must be 'auto', 'repo' or 'central', not {layout!r}")

    # -- queries -------------------------------------------------------------------------------

    def list_tasks(self) -> list[Task]:
        """Return every valid task, sorted by id (same ids in resolution order).

        Malformed files are skipped and logged on the ``scopecraft.tasks`` logger;
        `check_tasks()` lists them.

        Returns:
            The tasks.
        """
        tasks, problems = self._load_all()
        for problem in problems:
            logger.warning("skipping task file %s: %s", problem.path, problem.reason)
        return tasks

    def check_tasks(self) -> list[TaskProblem]:
        """Return the task files that cannot be loaded, each with the reason, sorted by path.

        Returns:
            The problems (empty when every file loads).
        """
        return self._load_all()[1]

    def get_task(self, task_id: str) -> Task:
        """Return a task by id.

        The id is checked against `TASK_ID_PATTERN` before the file
        system is touched. When several files carry the id, the first valid one in resolution
        order wins.

        Args:
            task_id: The id (``add-oauth-05A``, ``02_impl-api-05C``).

        Returns:
            The task.

        Raises:
            InvalidName: When ``task_id`` could not be a task id.
            MalformedTask: When the only files with that id cannot be loaded.
            TaskNotFound: When no file has that id.
        """
        validate_task_id(task_id)
        candidates = sorted(
            (entry for entry in self._entries() if entry.task_id == task_id),
            key=lambda entry: entry.order,
        )
        failure: MalformedTask | None = None
        for entry in candidates:
            try:
                return self._load(entry)
            except MalformedTask as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        raise TaskNotFound(task_id, self._not_found_hint(task_id))

    def path_of(self, task_id: str) -> Path:
        """Return the file of the task `get_task()` returns.

        Args:
            task_id: The id.

        Returns:
            The ``.task.md`` file, or a parent's ``_overview.md``.

        Raises:
            InvalidName: When ``task_id`` could not be a task id.
            MalformedTask: When the only files with that id cannot be loaded.
            TaskNotFound: When no file has that id.
        """
        return self.get_task(task_id).path

    def overview(self, parent_id: str) -> Task | None:
        """Return a parent task (its ``_overview.md``).

        Args:
            parent_id: The parent's id (its folder name).

        Returns:
            The parent task, or ``None`` when ``parent_id`` names a task that has no subtasks
            folder.

        Raises:
            InvalidName: When ``parent_id`` could not be a task id.
            MalformedTask: When the only files with that id cannot be loaded.
            TaskNotFound: When no task has that id.
        """
        task = self.get_task(parent_id)
        return task if task.is_parent else None

    def subtasks(self, parent_id: str) -> list[Task]:
        """Return a parent's valid subtasks, by sequence then id.

        Malformed subtasks are skipped and logged. Subtasks without a sequence prefix come last.

        Args:
            parent_id: The parent's id.

        Returns:
            The subtasks (empty when the task is not a parent).

        Raises:
            InvalidName: When ``parent_id`` could not be a task id.
            MalformedTask: When the parent's overview cannot be loaded.
            TaskNotFound: When no task has that id.
        """
        parent = self.overview(parent_id)
        if parent is None:
            return []
        folder = parent.path.parent
        location = parent.location or ""
        tasks: list[Task] = []
        for entry in self._scan_parent(folder, location, self._rank_of(location)):
            if entry.is_parent:
                continue
            try:
                tasks.append(self._load(entry))
            except MalformedTask as exc:
                logger.warning("skipping task file %s: %s", exc.path, exc.reason)
        return sorted(
            tasks, key=lambda t: (t.sequence is None, t.sequence if t.sequence else 0, t.id)
        )

    def parallel_group(self, parent_id: str, sequence: int) -> list[Task]:
        """Return a parent's subtasks that share a sequence number (they may run in parallel).

        Args:
            parent_id: The parent's id.
            sequence: The ``NN`` of the group.

        Returns:
            The subtasks, by id.

        Raises:
            InvalidName: When ``parent_id`` could not be a task id.
            TaskNotFound: When no task has that id.
        """
        return [task for task in self.subtasks(parent_id) if task.sequence == sequence]

    def relative_path(self, task: Task) -> Path:
        """Return a task's file relative to the tasks folder.

        The same relative path names the task's file in another copy of the folder (another
        worktree's ``.tasks``): ``TaskStore(worktree / ".tasks").load(rel)``.

        Args:
            task: A task of this store.

        Returns:
            The relative path, for example ``current/auth-05A/02_impl-api-05C.task.md``.

        Raises:
            InvalidName: When the task's file is not inside this store's folder.
        """
        path = _absolute(task.path)
        if not path.is_relative_to(self.root):
            raise InvalidName("task path", str(task.path), f"it is not inside {self.root}")
        return path.relative_to(self.root)

    def load(self, relative: Path | str) -> Task:
        """Load the task whose file is at a path relative to the tasks folder.

        Args:
            relative: As returned by `relative_path()`.

        Returns:
            The task, with the identity its place in this folder gives it.

        Raises:
            InvalidName: When the path is absolute or leaves the tasks folder.
            MalformedTask: When the file cannot be loaded.
            TaskNotFound: When no task file is at that path.
        """
        rel = Path(relative)
        if rel.is_absolute() or ".." in rel.parts or not rel.parts:
            raise InvalidName("task path", str(relative), "it must be relative, without '..'")
        target = self.root / rel
        for entry in self._entries():
            if entry.path == target:
                return self._load(entry)
        raise TaskNotFound(str(rel), f"no task file at {target}")

    # -- creating ------------------------------------------------------------------------------

    def create_task(
        self,
        document: TaskDocument,
        *,
        name: str,
        location: str | None = None,
        parent_id: str | None = None,
        sequence: int | None = None,
        as_parent: bool = False,
        now: datetime | None = None,
    ) -> Task:
        """Write a new task file with a fresh id ``<name>-<MM><A-Z>``.

        The month is ``now``'s (UTC) and the letter the first not used by any task of this
        store. A subtask (``parent_id`` given) is written as ``NN_<name>-<MM><A-Z>.task.md`` in
        its parent's folder; ``as_parent`` writes ``<id>/_overview.md`` instead.

        Args:
            document: The document to write (see `new_task_document()`).
            name: The ``<name>`` part: lowercase letters and digits in ``-``-separated words
                (see `name_from_title()`).
            location: ``backlog``, ``current`` or ``archive/YYYY-MM``; default ``backlog`` in
                the repository layout and ``current`` in the central one. Ignored for a
                subtask, which goes where its parent is.
            parent_id: The parent task, to write a subtask.
            sequence: A subtask's ``NN`` (0 to 99); default one more than the highest.
            as_parent: Create a parent task folder with its ``_overview.md``.
            now: The creation time (default: the current time).

        Returns:
            The task as loaded from its new file.

        Raises:
            InvalidName: When ``name`` or ``location`` is not valid, or every letter of the month
                is taken.
            MalformedTask: When the document would not read back as a valid task.
            TaskNotFound: When ``parent_id`` names no parent task.
            ValueError: When ``sequence`` is out of range or combined with ``as_parent``, or
                ``now`` is naive.
        """
        parse_document(document.render())  # a document that would not load is never written
        if not _NAME.fullmatch(name) or len(name) > 100:
            raise InvalidName(
                "task name", name, "use lowercase letters and digits in words joined by '-'"
            )
        when = utcnow() if now is None else now
        if when.tzinfo is None or when.utcoffset() is None:
            raise ValueError("creation times must be timezone-aware datetimes")
        when = when.astimezone(UTC)
        if parent_id is not None:
            if as_parent:
                raise ValueError("a subtask cannot also be a parent task")
            parent = self.overview(parent_id)
            if parent is None:
                raise TaskNotFound(
                    parent_id, "no parent task has that id (a folder holding _overview.md)"
                )
            folder = parent.path.parent
            if sequence is None:
                taken = [t.sequence for t in self.subtasks(parent_id) if t.sequence is not None]
                sequence = max(taken, default=0) + 1
            if not 0 <= sequence <= 99:
                raise ValueError(f"a subtask's sequence is 0 to 99, not {sequence}")
            prefix = f"{sequence:02d}_"
        else:
            if sequence is not None:
                raise ValueError("only a subtask has a sequence")
            folder = self.root / self._check_location(location)
            prefix = ""
        used = {entry.task_id for entry in self._entries()}
        for letter in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            task_id = f"{prefix}{name}-{when:%m}{letter}"
            if task_id in used:
                continue
            if not GENERATED_TASK_ID_PATTERN.fullmatch(task_id) or not is_task_id(task_id):
                raise InvalidName("task name", name, "it makes an id longer than 128 characters")
            if as_parent:
                path = folder / task_id / OVERVIEW_FILE
            else:
                path = folder / f"{task_id}{TASK_FILE_SUFFIX}"
            try:
                if as_parent:
                    (folder / task_id).mkdir(parents=True)
                write_task(path, document)
            except FileExistsError:
                continue
            return self.load(path.relative_to(self.root))
        raise InvalidName(
            "task name", name, f"all 26 ids {prefix}{name}-{when:%m}A..Z are taken; choose another"
        )

    def _check_location(self, location: str | None) -> str:
        if location is None:
            return "backlog" if self.layout == "repo" else "current"
        allowed = location == "current" or (location == "backlog" and self.layout == "repo")
        if location.startswith("archive/") and _MONTH_FOLDER.fullmatch(location[8:]):
            allowed = True
        if not allowed:
            places = "current, archive/YYYY-MM" + (", backlog" if self.layout == "repo" else "")
            raise InvalidName("task location", location, f"use one of {places}")
        return location

    # -- scanning ------------------------------------------------------------------------------

    def _load_all(self) -> tuple[list[Task], list[TaskProblem]]:
        loaded: list[tuple[tuple[tuple[int, int, int], str], Task]] = []
        problems: list[TaskProblem] = []
        for entry in self._entries():
            try:
                loaded.append((entry.order, self._load(entry)))
            except MalformedTask as exc:
                problems.append(TaskProblem(entry.path, exc.reason))
        loaded.sort(key=lambda pair: (pair[1].id, pair[0]))
        problems.sort(key=lambda problem: str(problem.path))
        return [task for _, task in loaded], problems

    def _load(self, entry: _Entry) -> Task:
        if entry.problem is not None:
            raise MalformedTask(entry.path, entry.problem)
        try:
            document = read_document(entry.path)
        except FileNotFoundError as exc:
            raise MalformedTask(entry.path, "the file disappeared while being read") from exc
        except OSError as exc:
            raise MalformedTask(entry.path, f"the file cannot be read: {exc.strerror}") from exc
        return document.to_task(
            task_id=entry.task_id,
            path=entry.path,
            parent_id=entry.parent_id,
            sequence=entry.sequence,
            is_parent=entry.is_parent,
            location=entry.location,
        )

    def _rank_of(self, location: str) -> int:
        if location == "current":
            return 0
        if location == "backlog":
            return 1
        if location.startswith("archive/"):
            # Newest month first: 2025-06 ranks before 2025-05.
            year, month = location[8:].split("-")
            return 2 + (9999 * 12 - (int(year) * 12 + int(month)))
        return 2 + 9999 * 12 + 1

    def _entries(self) -> Iterator[_Entry]:
        """Every task file under the root, with its identity, in no particular order."""
        for location in ("current", "backlog"):
            folder = self.root / location
            if folder.is_dir():
                yield from self._scan_location(folder, location, self._rank_of(location), 0)
        archive = self.root / "archive"
        if archive.is_dir():
            months = {name for name in _listdir(archive) if _MONTH_FOLDER.fullmatch(name)}
            for month in sorted(months, reverse=True):
                location = f"archive/{month}"
                folder = archive / month
                if folder.is_dir():
                    yield from self._scan_location(folder, location, self._rank_of(location), 0)
            yield from self._scan_location(
                archive, "archive", self._rank_of("archive"), 0, skip=months
            )

    def _inside(self, path: Path) -> bool:
        try:
            return path.resolve().is_relative_to(self.root.resolve())
        except (OSError, RuntimeError):
            return False

    def _scan_location(
        self,
        folder: Path,
        location: str,
        rank: int,
        depth: int,
        skip: frozenset[str] | set[str] = frozenset(),
    ) -> Iterator[_Entry]:
        if not self._inside(folder):
            return
        for name in _listdir(folder):
            if name.startswith(".") or name in skip:
                continue
            path = folder / name
            if path.is_file():
                if name.endswith(TASK_FILE_SUFFIX):
                    yield self._file_entry(path, name[: -len(TASK_FILE_SUFFIX)], location, rank)
                elif name == OVERVIEW_FILE:
                    # An overview loose in a location folder (left behind when its folder was
                    # moved) is not a parent task: Scopecraft never makes a location a parent.
                    yield self._file_entry(path, folder.name, location, rank)
            elif path.is_dir():
                if (path / OVERVIEW_FILE).is_file():
                    yield from self._scan_parent(path, location, rank)
                elif depth < _MAX_GROUP_DEPTH:
                    yield from self._scan_location(path, location, rank, depth + 1)

    def _file_entry(self, path: Path, task_id: str, location: str, rank: int) -> _Entry:
        return _Entry(
            path=path,
            task_id=task_id,
            location=location,
            rank=(rank, 0, 0),
            problem=self._identity_problem(path, task_id, "the file name"),
        )

    def _scan_parent(self, folder: Path, location: str, rank: int) -> Iterator[_Entry]:
        parent_id = folder.name
        folder_problem = None
        if not is_task_id(parent_id):
            folder_problem = (
                f"the parent folder name {parent_id!r} is not a valid task id (letters, digits, "
                "'-' and '_')"
            )
        overview = folder / OVERVIEW_FILE
        yield _Entry(
            path=overview,
            task_id=parent_id,
            location=location,
            rank=(rank, 1, 0),
            is_parent=True,
            problem=folder_problem or self._identity_problem(overview, parent_id, "its folder"),
        )
        if not self._inside(folder):
            return
        for name in _listdir(folder):
            if name.startswith(".") or not name.endswith(TASK_FILE_SUFFIX):
                continue
            path = folder / name
            if not path.is_file():
                continue
            task_id = name[: -len(TASK_FILE_SUFFIX)]
            yield _Entry(
                path=path,
                task_id=task_id,
                location=location,
                rank=(rank, 2, 0),
                parent_id=parent_id,
                sequence=subtask_sequence(name),
                problem=folder_problem or self._identity_problem(path, task_id, "the file name"),
            )

    def _identity_problem(self, path: Path, task_id: str, what: str) -> str | None:
        if not is_task_id(task_id):
            return (
                f"{what} does not make a valid task id ({task_id!r}): use letters, digits, "
                "'-' and '_'"
            )
        if not self._inside(path):
            return "it is a symbolic link to a file outside the tasks folder"
        return None

    def _not_found_hint(self, task_id: str) -> str:
        if not self.root.is_dir():
            return f"there is no tasks folder at {self.root}"
        ids = sorted({entry.task_id for entry in self._entries()})
        close = difflib.get_close_matches(task_id, ids, n=3, cutoff=0.75)
        if close:
            return "did you mean " + " or ".join(close) + "?"
        return ""


def _listdir(folder: Path) -> list[str]:
    try:
        return sorted(entry.name for entry in os.scandir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return []
