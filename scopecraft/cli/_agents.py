"""``scopecraft agents ...``: is each agent CLI installed, answering, and taking our options?"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._common import ExitCode, console, emit_json, new_typer, state_of

if TYPE_CHECKING:
    from rich.table import Table

    from ..agents._check import AgentCheck

__all__ = ["agents_app", "check"]

agents_app = new_typer("Check the agent CLIs that sessions run.")


@agents_app.command("check")
def check(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="NAME",
            help="Agents to check (default: every installed one).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            metavar="SECONDS",
            help="Seconds each `--version` or `--help` may take.",
        ),
    ] = 15.0,
) -> None:
    """Say, per agent, whether its CLI is found, its version, whether its help lists every
    option scopecraft passes it, and where its credentials come from; exit 1 when an agent
    asked about is not found or its options could not all be confirmed."""
    from ..agents._check import check_agents
    from ..engine import Engine

    state = state_of(ctx)
    # An engine that is never opened: the configuration and plugins every command uses,
    # without the store.
    engine = Engine(state.repo, home=state.home)
    rows = check_agents(
        names or None, plugins=engine.plugins, config=engine.config.agents, timeout=timeout
    )
    if state.json:
        emit_json([row.to_dict() for row in rows])
    else:
        out = console()
        out.print(_table(rows))
        for row in rows:
            style = "yellow" if row.configured else "bright_black"
            for note in row.notes:
                out.print(f"{row.name}: {note}", markup=False, style=style)
    # An agent with nothing to run (a `command` agent without argv) fails only when named.
    failed = [row for row in rows if not row.ok and (row.configured or names)]
    if failed:
        raise typer.Exit(int(ExitCode.FAILED))


def _table(rows: list[AgentCheck]) -> Table:
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False, header_style="bold")
    for column in ("AGENT", "FOUND", "VERSION", "FLAGS", "AUTH"):
        table.add_column(column, overflow="fold")
    for row in rows:
        if not row.configured:
            found = Text("not configured", style="bright_black")
        elif row.path is None:
            found = Text(f"no ({row.executable or '?'})", style="red")
        else:
            found = Text(" ".join([row.path, *row.program[1:]]), style="green")
        if row.flags_ok is True:
            flags = Text(f"ok ({len(row.flags_checked)})", style="green")
        elif row.flags_ok is False:
            flags = Text(f"missing {', '.join(row.flags_missing)}", style="red")
        else:
            flags = Text("unknown" if row.found else "-", style="yellow" if row.found else "")
        if row.authenticated is None:
            auth = Text("not needed", style="bright_black")
        elif row.authenticated:
            auth = Text(row.auth_source or "yes", style="green")
        else:
            auth = Text("no", style="yellow")
        table.add_row(row.name, found, row.version or "-", flags, auth)
    return table
