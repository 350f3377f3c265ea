"""``scopecraft worktree ...``: the worktrees sessions use, and their cleanup."""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Annotated

import typer

from ._common import ExitCode, console, emit_json, new_typer, run_with_engine, state_of

if TYPE_CHECKING:
    from .._reports import CleanupEntry, WorktreeEntry
    from ..engine import Engine

__all__ = ["worktree_app"]

worktree_app = new_typer("List the task worktrees and clean them up safely.")


class PolicyChoice(enum.StrEnum):
    """Cleanup policies (the kinds of `scopecraft.worktrees.CleanupPolicy`)."""

    on_success = "on_success"
    expiry = "expiry"
    never = "never"


def _state_word(entry: WorktreeEntry) -> str:
    if not entry.exists:
        return "missing"
    if entry.active_sessions:
        return "in use"
    if entry.locked:
        return "locked"
    if entry.dirty_files:
        return f"{entry.dirty_files} uncommitted"
    if entry.unique_commits:
        return f"{entry.unique_commits} unpushed"
    return "idle"


@worktree_app.command("list")
def list_worktrees(ctx: typer.Context) -> None:
    """List the worktrees the engine manages, with their state and last session.

    `--json` adds the uncommitted and unpushed counts, every session and their tasks.
    """
    state = state_of(ctx)

    async def go(engine: Engine) -> list[WorktreeEntry]:
        from .._reports import worktree_entries

        return await worktree_entries(engine)

    entries = run_with_engine(state, go)
    if state.json:
        emit_json(entries)
        return
    out = console()
    if not entries:
        out.print("no task worktrees yet")
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("PATH", overflow="fold")  # a long path wraps; the rest stays whole
    for name in ("BRANCH", "HEAD", "STATE", "LAST SESSION"):
        table.add_column(name, no_wrap=True)
    for e in entries:
        sessions = e.sessions[-1] if e.sessions else "-"
        if len(e.sessions) > 1:
            sessions += f" (+{len(e.sessions) - 1})"
        table.add_row(
            e.path,
            e.branch or "-",
            (e.head or "-")[:8],
            _state_word(e),
            sessions,
        )
    out.print(table)


@worktree_app.command("prune")
def prune(
    ctx: typer.Context,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only say what would be removed, and why.")
    ] = False,
    policy: Annotated[
        PolicyChoice,
        typer.Option(
            "--policy",
            help="on_success: remove worktrees whose last session completed; expiry: "
            "those idle for --expiry-hours; never: keep all.",
        ),
    ] = PolicyChoice.on_success,
    expiry_hours: Annotated[
        float,
        typer.Option("--expiry-hours", min=0.01, help="Idle hours before expiry removes one."),
    ] = 72.0,
    keep_branches: Annotated[
        bool, typer.Option("--keep-branches", help="Remove worktrees but keep their branches.")
    ] = False,
) -> None:
    """Remove task worktrees whose work is safe elsewhere.

    Whatever the policy, a worktree is kept while a session on it has not ended, when it has
    uncommitted changes, or when its branch has commits that are neither on the default
    branch nor pushed. Exits 1 when removing one failed (it is then kept).
    """
    state = state_of(ctx)

    async def go(engine: Engine) -> list[CleanupEntry]:
        from .._reports import cleanup_worktrees
        from ..worktrees import CleanupPolicy

        chosen = CleanupPolicy(
            kind=policy.value, expiry_hours=expiry_hours, delete_branches=not keep_branches
        )
        return await cleanup_worktrees(engine, dry_run=dry_run, policy=chosen)

    decisions = run_with_engine(state, go)
    if state.json:
        emit_json(decisions)
    elif not decisions:
        console().print("no task worktrees")
    else:
        from rich.text import Text

        out = console()
        for item in decisions:
            if item.error:
                verb, style = "failed", "red"
            elif item.action == "keep":
                verb, style = "keep", "green"
            elif dry_run:
                verb, style = "would remove", "yellow"
            else:
                verb, style = "removed", "yellow"
            if item.action == "remove_worktree_and_branch":
                verb += " (and branch)" if verb != "keep" else ""
            line = Text(f"{verb:<12} ", style=style)
            line.append(f"{item.path}  ({item.error or item.reason})", style="default")
            out.print(line)
    if any(item.error for item in decisions):
        raise typer.Exit(int(ExitCode.FAILED))
