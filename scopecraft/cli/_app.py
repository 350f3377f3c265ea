"""The typer application behind ``scopecraft``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="scopecraft",
    help="Run AI coding agents as durable sessions bound to tasks and git worktrees.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def demo(
    folder: Annotated[
        Path | None, typer.Option(help="Folder for the throwaway repository (default: a temp folder).")
    ] = None,
) -> None:
    """Run one fake-agent session in a throwaway repository and show what it did."""
    from rich.console import Console
    from rich.table import Table

    from ._demo import run_demo

    console = Console()
    result = run_demo(folder)
    s = result.session
    console.print(f"[bold]repository[/] {result.repo}")
    console.print(
        f"[bold]session[/] {s.id}  task {s.task_id}  {s.mode.value} on {s.executor} with {s.agent}"
    )
    console.print(f"[bold]branch[/] {s.branch}  [bold]worktree[/] {s.worktree_path}")
    table = Table("seq", "type", "detail")
    for event in result.events:
        detail = ""
        for field in ("text", "name", "reason", "runtime_id", "usd", "files"):
            value = getattr(event, field, None)
            if value not in (None, "", []):
                detail = f"{field}={value}"
                break
        table.add_row(str(event.seq), event.type, detail)
    console.print(table)
    console.print(f"[bold]status[/] {s.status.value}  [bold]cost[/] ${s.cost_usd:.4f}")
    console.print(f"[bold]changes on {s.branch}[/]")
    console.print(result.diff, markup=False, highlight=False)
    if s.status.value != "completed":
        raise typer.Exit(1)
