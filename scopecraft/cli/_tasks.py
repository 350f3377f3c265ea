"""``scopecraft tasks ...``: list, show and check the repository's task files."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import ExitCode, console, emit_json, new_typer, run_with_engine, state_of

if TYPE_CHECKING:
    from .._engine import Engine
    from .._models import Task

__all__ = ["tasks_app"]

tasks_app = new_typer("Read the repository's Scopecraft task files.")


@tasks_app.command("list")
def list_tasks(
    ctx: typer.Context,
    status: Annotated[
        str | None, typer.Option("--status", help="Only tasks with this status.")
    ] = None,
    area: Annotated[str | None, typer.Option("--area", help="Only tasks of this area.")] = None,
) -> None:
    """List the valid tasks (malformed files are skipped; `tasks check` lists them)."""
    state = state_of(ctx)

    async def go(engine: Engine) -> tuple[list[Task], int]:
        return await engine.list_tasks(), len(await engine.check_tasks())

    tasks, problems = run_with_engine(state, go)
    tasks = [
        t
        for t in tasks
        if (status is None or t.status == status) and (area is None or t.area == area)
    ]
    if state.json:
        emit_json(tasks)
        return
    out = console()
    if not tasks:
        out.print("no tasks")
    else:
        from ._render import tasks_table

        out.print(tasks_table(tasks))
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
        ("status", task.status),
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
