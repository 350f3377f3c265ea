"""``scopecraft session approve|deny|resume|budget``: the queue's human controls."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated

import typer

from ._common import console, emit_json, run_with_engine, state_of
from ._session import session_app

if TYPE_CHECKING:
    from .._models import Session
    from ..engine import Engine

__all__ = ["approve", "budget", "deny", "resume"]


def _apply(ctx: typer.Context, action: Callable[[Engine], Awaitable[Session]], verb: str) -> None:
    state = state_of(ctx)
    session = run_with_engine(state, action)
    if state.json:
        emit_json(session)
    else:
        console().print(f"{verb} {session.id}: now {session.status.value}", markup=False)


@session_app.command("approve")
def approve(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="A session awaiting approval.")],
) -> None:
    """Approve a session waiting in ``awaiting_approval``; it queues (again)."""
    _apply(ctx, lambda engine: engine.approve_session(session_id), "approved")


@session_app.command("deny")
def deny(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="A session awaiting approval.")],
    reason: Annotated[str, typer.Option("--reason", help="Recorded with the denial.")] = "",
) -> None:
    """Deny a session waiting in ``awaiting_approval``; it is cancelled."""
    _apply(ctx, lambda engine: engine.deny_session(session_id, reason=reason), "denied")


@session_app.command("resume")
def resume(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="A paused session.")],
) -> None:
    """Let a paused session (a budget reached) go on with its next attempt."""
    _apply(ctx, lambda engine: engine.resume_session(session_id), "resumed")


@session_app.command("budget")
def budget(
    ctx: typer.Context,
    session_id: Annotated[str, typer.Argument(help="The session id.")],
    usd: Annotated[
        float | None, typer.Argument(help="The session's own budget in USD; omit to remove it.")
    ] = None,
) -> None:
    """Set (or remove) a session's own cost budget; then ``resume`` a paused one."""
    _apply(ctx, lambda engine: engine.set_budget(session_id, usd), "budget set for")
