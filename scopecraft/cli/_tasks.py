"""``scopecraft tasks ...``: list, show and check the repository's task files."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import ExitCode, console, emit_json, new_typer, run_with_engine, state_of

if TYPE_CHECKING:
    from .._models import Task
    from ..engine import Engine

__all__ = ["tasks_app"]

tasks_app = new_typer("Read the repository's Scopecraft task files.")


def _matcher(kind: str, wanted: str | None) -> Callable[[str], bool]:
    """A test of a task's ``kind`` field against what was asked, however it is spelled:
    ``In Progress``, ``in-progress`` and ``🔵 In Progress`` all find ``in_progress``."""
    if wanted is None:
        return lambda _value: True
    from ..tasks import normalize_status, normalize_type

    normalize: Callable[[object], str] = {
        "status": normalize_status,
        "type": normalize_type,
    }.get(kind, _words)
    key = normalize(wanted)
    return lambda value: normalize(value) == key


def _words(value: object) -> str:
    """A free-text field (an area) compared without case, spaces or separators."""
    return "_".join(re.findall(r"[^\W_]+", str(value).casefold()))


@tasks_app.command("list")
def list_tasks(
    ctx: typer.Context,
    status: Annotated[
        str | None,
        typer.Option(
            "--status",
            help="Only tasks with this status (`todo`, `In Progress`, ...), on their branch "
            "when it changed it.",
        ),
    ] = None,
    area: Annotated[str | None, typer.Option("--area", help="Only tasks of this area.")] = None,
    type_: Annotated[
        str | None, typer.Option("--type", help="Only tasks of this type (`feature`, `bug`, ...).")
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option("--limit", "-n", min=0, metavar="N", help="Show at most N tasks."),
    ] = None,
    offset: Annotated[
        int,
        typer.Option("--offset", min=0, metavar="N", help="Skip the first N tasks (pages)."),
    ] = 0,
    wide: Annotated[
        bool,
        typer.Option("--wide", help="Show every column whole (the task's file too), however wide."),
    ] = False,
) -> None:
    """List the valid tasks (malformed files are skipped; `tasks check` lists them).

    A task's status is the one on its branch when the branch changed it (sessions change it
    there), marked `(branch)`; `tasks show` gives both. Filters ignore case, spaces and
    separators (`--status "In Progress"` finds `in_progress`). The table fits the terminal:
    ids are never cut, titles are shortened with an ellipsis and the least useful columns
    left out; --wide shows everything.
    """
    state = state_of(ctx)

    async def go(engine: Engine) -> tuple[list[Task], int]:
        return await engine.list_tasks(), len(await engine.check_tasks())

    tasks, problems = run_with_engine(state, go)
    wants = (
        (_matcher("status", status), "effective_status"),
        (_matcher("area", area), "area"),
        (_matcher("type", type_), "type"),
    )
    tasks = [t for t in tasks if all(test(getattr(t, field)) for test, field in wants)]
    matched = len(tasks)
    end = None if limit is None else offset + limit
    tasks = tasks[offset:end]
    if state.json:
        emit_json(tasks)
        return
    out = console()
    if not tasks:
        out.print("no tasks" + (f" after the first {offset}" if offset and matched else ""))
    else:
        from ._render import print_table, tasks_table

        shown = [_marked(task, wide=wide) for task in tasks]
        print_table(out, tasks_table(shown, width=out.width, wide=wide, relative_to=Path.cwd()))
        if any(task.status_source == "branch" for task in tasks):
            console(stderr=True).print(
                "(branch): the status on the task's branch, where sessions change it, not yet "
                "merged; `scopecraft tasks show ID` gives both",
                style="bright_black",
                markup=False,
            )
    if len(tasks) < matched and tasks:
        following = offset + len(tasks)
        more = f"; --offset {following} shows the next" if following < matched else ""
        console(stderr=True).print(
            f"tasks {offset + 1}-{following} of {matched}{more}",
            style="bright_black",
            markup=False,
        )
    if problems:
        console(stderr=True).print(
            f"{problems} task file(s) could not be read; `scopecraft tasks check` says why",
            style="yellow",
        )


@tasks_app.command("show")
def show_task(
    ctx: typer.Context,
    task_id: Annotated[str, typer.Argument(help="The task id.")],
) -> None:
    """Show one task: its fields and instruction."""
    state = state_of(ctx)

    async def go(engine: Engine) -> Task:
        return await engine.get_task(task_id)

    task = run_with_engine(state, go)
    if state.json:
        emit_json(task)
        return
    from rich.table import Table

    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for label, value in (
        ("id", task.id),
        ("title", task.title),
        ("type", task.type),
        *_status_rows(task),
        ("area", task.area),
        ("priority", task.priority.value),
        ("parent", task.parent_id or "-"),
        ("tags", ", ".join(task.tags) or "-"),
        ("file", str(task.path)),
    ):
        grid.add_row(label, value)
    out = console()
    out.print(grid)
    if task.instruction.strip():
        out.print()
        out.print(task.instruction.strip(), markup=False)


def _marked(task: Task, *, wide: bool) -> Task:
    """The task as the table shows it: a status from its branch is marked ``(branch)``
    (``(branch NAME)`` with ``--wide``; the name would crowd a fitted table)."""
    if task.branch_status is None:
        return task
    where = f"branch {task.branch}" if wide else "branch"
    return task.model_copy(update={"status": f"{task.branch_status} ({where})"})


def _status_rows(task: Task) -> list[tuple[str, str]]:
    """`tasks show`'s status lines: the current status, and where each copy of it lives."""
    if task.branch is None:
        return [("status", task.status)]
    if task.branch_status is not None:
        return [
            ("status", f"{task.branch_status} (on branch {task.branch}, its latest commit)"),
            ("", f"{task.status} in the main checkout (the file below), until it is merged"),
        ]
    if task.branch_note is not None:
        return [
            ("status", f"{task.status} (the main checkout's, the file below)"),
            ("", f"branch {task.branch}: its copy cannot be used: {task.branch_note}"),
        ]
    return [("status", f"{task.status} (branch {task.branch} has not changed it)")]


@tasks_app.command("check")
def check_tasks(ctx: typer.Context) -> None:
    """List task files that cannot be read, and why; exit 1 when there is any."""
    state = state_of(ctx)

    async def go(engine: Engine) -> list[Any]:
        return await engine.check_tasks()

    problems = run_with_engine(state, go)
    rows = [{"path": str(p.path), "reason": str(p.reason)} for p in problems]
    if state.json:
        emit_json(rows)
    elif not rows:
        console().print("every task file reads cleanly")
    else:
        out = console()
        for row in rows:
            out.print(f"{row['path']}: {row['reason']}", markup=False)
    if rows:
        raise typer.Exit(int(ExitCode.FAILED))
