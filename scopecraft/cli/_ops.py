"""Top-level commands: ``queue``, ``costs``, ``serve``, ``mcp`` and ``demo``."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from .._streams import closing
from ._common import (
    CliState,
    ExitCode,
    console,
    emit_json,
    emit_json_line,
    fail,
    run_with_engine,
    state_of,
)

if TYPE_CHECKING:
    from .._reports import CostReport, QueueStatus
    from ..engine import Engine

__all__ = ["costs", "demo", "mcp", "queue", "serve"]

_LIFECYCLE = frozenset(
    {
        "session_queued",
        "session_started",
        "session_completed",
        "session_failed",
        "session_cancelled",
        "session_paused",
        "session_resumed",
        "session_continued",
        "session_waiting",
        "approval_requested",
    }
)


class CostBy(enum.StrEnum):
    """How ``costs`` groups sessions."""

    task = "task"
    area = "area"
    team = "team"
    mode = "mode"
    agent = "agent"
    day = "day"


def queue(ctx: typer.Context) -> None:
    """Show sessions holding a slot, then queued ones in scheduling order and why they wait."""
    state = state_of(ctx)

    async def go(engine: Engine) -> QueueStatus:
        await engine.refresh()
        return await engine.queue_status()

    status = run_with_engine(state, go)
    entries = [*status.active, *status.queued]
    if state.json:
        emit_json(entries)
        return
    out = console()
    if not entries:
        out.print("the queue is empty; nothing is running")
        return
    from rich.table import Table

    from ._render import status_text, when

    table = Table(box=None, pad_edge=False, header_style="bold")
    for name in ("POS", "ID", "TASK", "MODE", "PRIORITY", "STATUS", "WAITING", "SINCE"):
        table.add_column(name, overflow="fold", no_wrap=name in ("ID", "STATUS"))
    for entry in entries:
        s = entry.session
        waiting = entry.waiting_reason or "-"
        if entry.waiting_detail:
            waiting += f": {entry.waiting_detail}"
        table.add_row(
            str(entry.position) if entry.position is not None else "-",
            s.id,
            s.task_id,
            s.mode.value,
            s.priority.value,
            status_text(s.status.value),
            waiting,
            when(s.started_at if entry.position is None else s.created_at),
        )
    out.print(table)
    out.print(f"{len(status.active)} holding a slot, {len(status.queued)} queued")


def costs(
    ctx: typer.Context,
    by: Annotated[
        CostBy, typer.Option("--by", help="Group by task, area, team, mode, agent or day.")
    ] = CostBy.task,
) -> None:
    """Sum the cost agents reported, over every session, grouped."""
    state = state_of(ctx)

    async def go(engine: Engine) -> CostReport:
        return await engine.cost_report(by.value)

    report = run_with_engine(state, go)
    if state.json:
        emit_json(report)
        return
    from rich.table import Table

    from ._render import money

    table = Table(box=None, pad_edge=False, header_style="bold", show_footer=True)
    table.add_column(by.value.upper(), footer="total", overflow="fold")
    table.add_column("SESSIONS", justify="right", footer=str(report.sessions))
    table.add_column("COST", justify="right", footer=money(report.total_usd))
    for row in report.rows:
        table.add_row(row.key, str(row.sessions), money(row.cost_usd))
    console().print(table)


async def _print_events(engine: Engine, state: CliState, all_events: bool) -> None:
    """Print lifecycle events (all events with ``all_events``) as they are stored."""
    position: int | None = None
    async with closing(engine.stored_events()) as past:
        async for item in past:
            position = item.position
    out = None if state.json else console()
    if out is not None:
        from ._render import event_line
    async with closing(engine.stored_events(after=position, follow=True)) as items:
        async for item in items:
            event = item.event
            if not all_events and event.type not in _LIFECYCLE:
                continue
            if out is None:
                emit_json_line(event)
            else:
                out.print(event_line(event, with_session=True), markup=False)


def serve(
    ctx: typer.Context,
    all_events: Annotated[
        bool, typer.Option("--all-events", help="Print every event, not only lifecycle ones.")
    ] = False,
) -> None:
    """Keep an engine open: drive the queue, collect running sessions, reconcile runtimes.

    Runs until SIGINT (Ctrl-C) or SIGTERM, printing what happens to sessions. Stopping it
    never stops a session: runtimes go on and the next engine collects them.
    """
    state = state_of(ctx)

    async def go(engine: Engine) -> None:
        import signal

        import anyio

        with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async with anyio.create_task_group() as tg:
                tg.start_soon(_print_events, engine, state, all_events)
                message = f"serving {engine.repo} (state in {engine.home}); Ctrl-C or SIGTERM stops"
                if state.json:
                    emit_json_line({"serving": str(engine.repo), "home": str(engine.home)})
                else:
                    console().print(message, markup=False)
                async for signum in signals:
                    name = signal.Signals(signum).name
                    typer.echo(f"{name}: stopping; sessions go on running", err=True)
                    break
                tg.cancel_scope.cancel()

    run_with_engine(state, go)


def mcp(ctx: typer.Context) -> None:
    """Serve scopecraft's MCP tools on standard input and output (one engine for its life)."""
    state = state_of(ctx)
    try:
        from ..mcp import run_stdio
    except ImportError as exc:
        fail(
            f"the MCP server needs the `mcp` package ({exc})",
            ExitCode.UNAVAILABLE,
            hint="pip install 'scopecraft[mcp]'",
            json_mode=state.json,
        )
    run_stdio(repo=state.repo, home=state.home)


def demo(
    ctx: typer.Context,
    folder: Annotated[
        Path | None,
        typer.Option(help="Folder for the throwaway repository (default: a temp folder)."),
    ] = None,
) -> None:
    """Run one fake-agent session in a throwaway repository and show what it did."""
    from ._demo import run_demo

    state = state_of(ctx)
    result = run_demo(folder)
    s = result.session
    if state.json:
        emit_json(
            {
                "repo": str(result.repo),
                "session": s,
                "events": [e.model_dump(mode="json") for e in result.events],
                "diff": result.diff,
            }
        )
    else:
        from rich.table import Table

        from ._render import event_detail

        out = console()
        out.print(f"[bold]repository[/] {result.repo}")
        out.print(
            f"[bold]session[/] {s.id}  task {s.task_id}  {s.mode.value} on {s.executor} "
            f"with {s.agent}"
        )
        out.print(f"[bold]branch[/] {s.branch}  [bold]worktree[/] {s.worktree_path}")
        table = Table("seq", "type", "detail")
        for event in result.events:
            table.add_row(str(event.seq), event.type, event_detail(event))
        out.print(table)
        out.print(f"[bold]status[/] {s.status.value}  [bold]cost[/] ${s.cost_usd:.4f}")
        out.print(f"[bold]changes on {s.branch}[/]")
        out.print(result.diff, markup=False, highlight=False)
    if s.status.value != "completed":
        raise typer.Exit(int(ExitCode.FAILED))
