"""``scopecraft tasks new``: write a new task file and commit it in the main repository.

Importing this module registers the command on `tasks_app`.

The file is made by the task store (`scopecraft.tasks.TaskStore.create_task()`: a fresh
``<name>-<MM><A-Z>`` id, or ``NN_<name>-<MM><A-Z>`` under a parent, written title-first and
refused unless it reads back as a task), then read back with the engine's own reader
(`scopecraft.Engine.get_task()`), then committed alone: ``git add`` and ``git commit
--only`` of that one path, so whatever else is staged stays staged and uncommitted. git runs
with argv lists only, in the main worktree with its git directory given explicitly (never in
a task's worktree, whatever ``--repo`` points at). When the commit fails the file is removed
again, so a refused command leaves nothing behind.
"""

from __future__ import annotations

import enum
import os
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ._common import console, emit_json, state_of
from ._tasks import tasks_app

if TYPE_CHECKING:
    from .._models import Task
    from ..engine import Engine
    from ..tasks import TaskStore

__all__ = [
    "MAX_TITLE_LENGTH",
    "NewTask",
    "TaskKind",
    "TaskLocation",
    "TaskPriority",
    "check_text",
    "new_task",
]

MAX_TITLE_LENGTH = 200
"""The longest title ``tasks new`` accepts, in characters."""

_MAX_AREA_LENGTH = 64
# Characters that must not be in a one-line value: C0 and C1 controls, line and paragraph
# separators, and the bidirectional overrides and isolates that make text display other than
# it reads (CVE-2021-42574). Zero-width joiners stay: emoji sequences use them.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


class TaskKind(enum.StrEnum):
    """The task types ``--type`` takes (`scopecraft.tasks.TaskType`'s values)."""

    feature = "feature"
    bug = "bug"
    chore = "chore"
    documentation = "documentation"
    test = "test"
    spike = "spike"
    idea = "idea"


class TaskPriority(enum.StrEnum):
    """The priorities ``--priority`` takes (`scopecraft.Priority`'s values)."""

    highest = "highest"
    high = "high"
    medium = "medium"
    low = "low"


class TaskLocation(enum.StrEnum):
    """Where a new top-level task goes in the repository layout."""

    backlog = "backlog"
    current = "current"


@dataclass(frozen=True, slots=True)
class NewTask:
    """What ``tasks new`` made.

    Attributes:
        task: The task, as the engine reads it from its new file.
        relative_path: The file, relative to the repository's root (the central layout: the
            absolute path).
        commit: The commit holding the file (``None`` in the central layout, outside git).
        branch: The branch that commit is on (``None`` when detached or not committed).
    """

    task: Task
    relative_path: str
    commit: str | None
    branch: str | None


def check_text(kind: str, value: str, *, max_length: int, multiline: bool = False) -> str:
    """Return ``value`` without surrounding white space, or refuse it.

    Args:
        kind: What the value is, for the message (``task title``).
        value: The text.
        max_length: The longest accepted, in characters (``0``: no limit).
        multiline: Allow line breaks and tabs (an instruction's text).

    Returns:
        The stripped value.

    Raises:
        InvalidName: When it is empty, too long, or holds a control character.
    """
    from .._errors import InvalidName

    text = value.strip()
    if not text:
        raise InvalidName(kind, value, "it is empty")
    if max_length and len(text) > max_length:
        raise InvalidName(kind, value, f"it is longer than {max_length} characters")
    allowed = "\n\t" if multiline else ""
    for char in text:
        if char in allowed:
            continue
        if unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI:
            raise InvalidName(
                kind, value, f"it holds the control character U+{ord(char):04X}; use plain text"
            )
    return text


@tasks_app.command("new")
def new_task(
    ctx: typer.Context,
    title: Annotated[str, typer.Argument(help="The task's title: one line, at most 200 chars.")],
    kind: Annotated[TaskKind, typer.Option("--type", "-t", help="The task type.")] = (
        TaskKind.feature
    ),
    area: Annotated[
        str, typer.Option("--area", "-a", help="The product area (one word or a few).")
    ] = "general",
    priority: Annotated[
        TaskPriority, typer.Option("--priority", "-p", help="The task's priority.")
    ] = TaskPriority.medium,
    parent: Annotated[
        str | None,
        typer.Option(
            "--parent",
            metavar="TASK_ID",
            help="Write a subtask NN_<name>-<MM><A-Z> in this parent task's folder.",
            show_default=False,
        ),
    ] = None,
    sequence: Annotated[
        int | None,
        typer.Option(
            "--sequence",
            min=0,
            max=99,
            metavar="NN",
            help="A subtask's NN (equal NN run in parallel); default one more than the highest.",
            show_default=False,
        ),
    ] = None,
    location: Annotated[
        TaskLocation | None,
        typer.Option(
            "--location",
            help="Where a top-level task goes: backlog (the default) or current; the central "
            "layout has current only.",
            show_default=False,
        ),
    ] = None,
    instruction: Annotated[
        str,
        typer.Option(
            "--instruction", "-i", help="The task's `## Instruction` text: what the agent does."
        ),
    ] = "",
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Print only the new task's id.")
    ] = False,
) -> None:
    """Write a new task file with a fresh id, commit it (that file only), print its id and
    path. Refused when the repository has no commit yet, the title is empty, too long or
    holds control characters, or the parent task does not exist."""
    state = state_of(ctx)
    clean_title = check_text("task title", title, max_length=MAX_TITLE_LENGTH)
    clean_area = check_text("task area", area, max_length=_MAX_AREA_LENGTH)
    text = (
        check_text("task instruction", instruction, max_length=0, multiline=True)
        if (instruction.strip())
        else ""
    )
    if sequence is not None and parent is None:
        raise typer.BadParameter("it numbers a subtask: give --parent too", param_hint="--sequence")
    if parent is not None:
        from ..tasks import validate_task_id

        validate_task_id(parent)

    if not Path(state.repo).is_dir():
        from .._errors import ConfigError

        raise ConfigError(
            f"the repository folder {state.repo} does not exist; pass --repo a folder inside "
            "a git repository"
        )
    import anyio

    from ..engine import Engine

    # Never opened: its configuration, git layer and task reader, without a store.
    engine = Engine(state.repo, home=state.home)
    made = anyio.run(
        _create,
        engine,
        _Fields(clean_title, kind.value, clean_area, priority.value, text),
        parent,
        sequence,
        location.value if location is not None else None,
    )
    if quiet:
        typer.echo(made.task.id)
        return
    if state.json:
        emit_json(
            {
                "id": made.task.id,
                "path": made.relative_path,
                "commit": made.commit,
                "branch": made.branch,
                "task": made.task,
            }
        )
        return
    out = console()
    out.print(f"created {made.task.id}: {made.relative_path}", markup=False)
    if made.commit is not None:
        on = f" on {made.branch}" if made.branch else ""
        out.print(f"committed {made.commit[:12]}{on}", markup=False)
    else:
        out.print("central layout: the file is outside the repository; nothing committed")
    out.print(f"start it: scopecraft session start {made.task.id}", markup=False)


@dataclass(frozen=True, slots=True)
class _Fields:
    title: str
    type: str
    area: str
    priority: str
    instruction: str


async def _create(
    engine: Engine,
    fields: _Fields,
    parent: str | None,
    sequence: int | None,
    location: str | None,
) -> NewTask:
    import anyio

    from .._errors import InvalidName, RequestRefused, ScopecraftError
    from ..worktrees._gitcli import identity_env, run_git

    info = await engine.worktrees.repo_info()
    root = info.root
    common = (
        await run_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=root)
    ).strip()
    git_env = {"GIT_DIR": common, "GIT_WORK_TREE": str(root)}
    head = await run_git(
        "rev-parse", "--verify", "--quiet", "HEAD^{commit}", cwd=root, env=git_env, check=False
    )
    if not head.strip():
        raise RequestRefused(
            f"the repository {root} has no commit yet, and sessions work in worktrees cut from "
            "commits; make a first commit (git commit --allow-empty -m 'first commit') and run "
            "`scopecraft tasks new` again"
        )
    store = await anyio.to_thread.run_sync(_store_for, engine, root)
    try:
        task = await anyio.to_thread.run_sync(_write, store, fields, parent, sequence, location)
    except ValueError as exc:
        if isinstance(exc, ScopecraftError):
            raise
        # The one text new_task_document can refuse here: an instruction with a `## ` line.
        raise InvalidName("task instruction", fields.instruction, str(exc)) from exc
    if store.layout != "repo":
        found = await engine.get_task(task.id)
        return NewTask(task=found, relative_path=str(found.path), commit=None, branch=None)
    rel = task.path.relative_to(root).as_posix()
    try:
        await run_git("add", "--", rel, cwd=root, env=git_env)
        message = f"Add task {task.id}: {fields.title}"
        identity = await identity_env(root)
        await run_git(
            "commit", "-q", "--only", "-m", message, "--", rel, cwd=root, env=git_env | identity
        )
    except ScopecraftError:
        # All or nothing: a task that could not be committed is not left half made.
        await run_git(
            "rm",
            "-q",
            "--cached",
            "--ignore-unmatch",
            "--",
            rel,
            cwd=root,
            env=git_env,
            check=False,
        )
        await anyio.to_thread.run_sync(lambda: task.path.unlink(missing_ok=True))
        raise
    commit = (await run_git("rev-parse", "HEAD", cwd=root, env=git_env)).strip()
    branch = (
        await run_git(
            "symbolic-ref", "--quiet", "--short", "HEAD", cwd=root, env=git_env, check=False
        )
    ).strip()
    found = await engine.get_task(task.id)
    return NewTask(task=found, relative_path=rel, commit=commit, branch=branch or None)


def _store_for(engine: Engine, root: Path) -> TaskStore:
    """The store the engine reads, except that a repository with no task folder yet gets
    ``.tasks/`` (the repository layout, committed with the code) rather than the central
    folder, unless the configuration says central or central tasks already exist."""
    from ..tasks import TaskStore

    layout = engine.config.task_layout
    if layout == "auto" and not (root / ".tasks").is_dir():
        central = TaskStore.for_repo(root, home=engine.home, layout="central")
        layout = "central" if _has_entries(central.root) else "repo"
    return TaskStore.for_repo(root, home=engine.home, layout=layout)


def _has_entries(folder: Path) -> bool:
    try:
        with os.scandir(folder) as entries:
            return any(True for _ in entries)
    except OSError:
        return False


def _write(
    store: TaskStore,
    fields: _Fields,
    parent: str | None,
    sequence: int | None,
    location: str | None,
) -> Task:
    from .._errors import RequestRefused
    from ..tasks import name_from_title, new_task_document

    if parent is not None and not store.get_task(parent).is_parent:
        raise RequestRefused(
            f"{parent} is not a parent task (a folder holding _overview.md beside its "
            "subtasks); give --parent a parent task's id"
        )
    document = new_task_document(
        fields.title,
        type=fields.type,
        area=fields.area,
        priority=fields.priority,
        instruction=fields.instruction,
    )
    return store.create_task(
        document,
        name=name_from_title(fields.title),
        location=location,
        parent_id=parent,
        sequence=sequence,
    )
