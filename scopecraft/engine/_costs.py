"""Costs: running totals by budget scope, the budget check after each cost report, and totals
grouped for reports."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from .._errors import RequestRefused
from .._models import Session, SessionStatus, utcnow
from ..events import ApprovalRequested, Event, SessionCancelled, SessionPaused
from ..policies._protocol import CostAction, CostTotals
from ._context import Context
from ._journal import Journal
from ._runtimes import Runtimes

__all__ = ["COST_GROUPS", "Costs"]

log = logging.getLogger("scopecraft.engine")

COST_GROUPS: dict[str, Callable[[Session], str]] = {
    "task": lambda s: s.task_id,
    "area": lambda s: s.area or "-",
    "team": lambda s: s.team or "-",
    "mode": lambda s: s.mode.value,
    "agent": lambda s: s.agent,
    "day": lambda s: (s.started_at or s.created_at).date().isoformat(),
}
"""How `Engine.costs()` groups sessions: the key of each grouping for a session."""


class Costs:
    """Sums costs and applies the policy's budgets.

    Made, it checks the budgets after every cost report the journal stores.

    Args:
        ctx: The engine's context (its store and policy).
        journal: Where the budget's decision is recorded.
        runtimes: What stops a session's runtime when a budget halts it.
    """

    def __init__(self, ctx: Context, journal: Journal, runtimes: Runtimes) -> None:
        self._ctx = ctx
        self._journal = journal
        self._runtimes = runtimes
        journal.on_cost = self.check

    async def totals(self, session: Session, *, scopes: Iterable[str] | None = None) -> CostTotals:
        """Cost so far for every scope a budget can cover (see `CostTotals`).

        Args:
            session: The session whose scopes are summed.
            scopes: Only these of ``task``, ``area``, ``team`` and ``day`` (the others are
                left at 0); ``None`` for all. Only ``task`` reads just the task's sessions;
                the others sum over every stored session.
        """
        storage = self._ctx.storage
        wanted = {"task", "area", "team", "day"} if scopes is None else set(scopes)
        if not wanted:
            return CostTotals(session=session.cost_usd)
        if wanted == {"task"}:
            mine = await storage.list_sessions(task_id=session.task_id)
            return CostTotals(session=session.cost_usd, task=sum(s.cost_usd for s in mine))
        today = utcnow().date()
        totals = {"task": 0.0, "area": 0.0, "team": 0.0, "day": 0.0}
        for other in await storage.list_sessions():
            if other.task_id == session.task_id:
                totals["task"] += other.cost_usd
            if session.area is not None and other.area == session.area:
                totals["area"] += other.cost_usd
            if session.team is not None and other.team == session.team:
                totals["team"] += other.cost_usd
            if (other.started_at or other.created_at).date() == today:
                totals["day"] += other.cost_usd
        return CostTotals(session=session.cost_usd, **totals)

    async def check(self, session_id: str) -> None:
        """Apply the policy's budgets to a running session after a cost report: go on, or
        cancel, ask for approval or pause it (stopping its runtime)."""
        session = await self._ctx.storage.get_session(session_id)
        if session.status not in (SessionStatus.STARTING, SessionStatus.RUNNING):
            return
        policy = self._ctx.policy
        # A policy may name the scopes it has budgets for (the built-in one does); one that
        # does not (None) is given every total.
        scopes = policy.cost_scopes(session)
        decision = policy.check_cost(session, await self.totals(session, scopes=scopes))
        if decision.action is CostAction.CONTINUE:
            return
        log.info("session %s: %s", session_id, decision.reason)
        if decision.action is CostAction.FORBID:
            event: Event = SessionCancelled(
                session_id=session_id, attempt=session.attempt, reason=decision.reason
            )
        elif decision.action is CostAction.APPROVAL:
            event = ApprovalRequested(session_id=session_id, reason=decision.reason)
        else:
            event = SessionPaused(session_id=session_id, reason=decision.reason)
        await self._journal.append(session_id, [event])
        await self._runtimes.stop(session)

    async def grouped(self, group_by: str = "task") -> dict[str, float]:
        """Total cost reported, in USD, by ``group_by`` (see `COST_GROUPS`).

        Raises:
            RequestRefused: an unknown grouping.
        """
        if group_by not in COST_GROUPS:
            raise RequestRefused(f"group_by {group_by!r}: use one of {', '.join(COST_GROUPS)}")
        key = COST_GROUPS[group_by]
        totals: dict[str, float] = {}
        for session in await self._ctx.storage.list_sessions():
            name = key(session)
            totals[name] = round(totals.get(name, 0.0) + session.cost_usd, 10)
        return dict(sorted(totals.items()))
