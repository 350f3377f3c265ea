"""The ``QueuePolicy`` protocol: admit, order and limit sessions; budgets, approvals, retries."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs

from .._models import Session
from ._index import QueueIndex

__all__ = ["Admission", "CostAction", "CostDecision", "CostTotals", "QueuePolicy", "Schedule"]


@attrs.frozen
class Schedule:
    """One scheduling decision.

    Attributes:
        start: Ids of queued sessions to start now, in order.
        waiting: For every queued session not started, why it waits: a reason code
            (``limit_reached``, ``area_limit``, ``team_limit``, ``reserved_slot``,
            ``capacity``, ``retry_backoff``, ``task_busy``) and a human detail.
    """

    start: tuple[str, ...] = ()
    waiting: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)


@attrs.frozen
class Admission:
    """Whether a new session may queue at once or needs a person's approval first.

    Attributes:
        approval: Why approval is needed, or ``None`` when the session queues at once.
    """

    approval: str | None = None


@attrs.frozen
class CostTotals:
    """Cost reported so far, in USD, for the scopes a budget can cover.

    Attributes:
        session: This session, every attempt.
        task: Every session of the session's task.
        area: Every session of the task's area.
        team: Every session of the task's team (0 when it has none).
        day: Every session started today (UTC).
    """

    session: float = 0.0
    task: float = 0.0
    area: float = 0.0
    team: float = 0.0
    day: float = 0.0


class CostAction(enum.StrEnum):
    """What the engine does after a cost report."""

    CONTINUE = "continue"
    PAUSE = "pause"
    """Pause with the state kept (``budget_reached``); raise the budget and resume."""
    APPROVAL = "approval"
    """Pause until a person approves the spending."""
    FORBID = "forbid"
    """Stop for good: the spending is above what is ever allowed."""


@attrs.frozen
class CostDecision:
    """A `CostAction` and why."""

    action: CostAction = CostAction.CONTINUE
    reason: str = ""


@runtime_checkable
class QueuePolicy(Protocol):
    """Decides which queued sessions start, and what happens on cost reports and failures.

    The engine's scheduler calls it under the store's scheduler lease, so one policy instance
    decides at a time. Methods must not block. Subclass `QueuePolicy` to inherit the defaults
    of its optional members (`counts_queue`, `cost_scopes()`).
    """

    def admit(self, session: Session, *, queued: int) -> Admission:
        """Accept or refuse a new session before it is queued.

        Args:
            session: The session about to be queued.
            queued: How many sessions are queued now.

        Returns:
            Whether the session needs approval before it may start.

        Raises:
            QueueFull: the queue is at its size limit.
            PolicyError: the policy forbids the session.
        """
        ...

    def schedule(
        self, queued: Sequence[Session] | QueueIndex, active: Sequence[Session], *, now: datetime
    ) -> Schedule:
        """Return which queued sessions start now, given the in-flight ones.

        ``queued`` is a list, or the scheduler's `QueueIndex` (kept up to date as
        sessions enter and leave the queue). ``active`` holds every in-flight session
        (``starting`` and ``running``). Never starts more than its limits allow.
        """
        ...

    def check_cost(self, session: Session, totals: CostTotals) -> CostDecision:
        """Decide what happens after a cost report took the totals to ``totals``."""
        ...

    def retry_delay(self, session: Session, *, reason: str, retryable: bool) -> float | None:
        """Seconds to wait before retrying a failed attempt, or ``None`` for no retry.

        Args:
            session: The session whose current attempt failed.
            reason: Why it failed.
            retryable: True when the failure is the infrastructure's, not the agent's.
        """
        ...

    # -- optional: a policy that subclasses QueuePolicy inherits these defaults ------------

    @property
    def counts_queue(self) -> bool:
        """Whether `admit()` looks at ``queued``; when false, the engine skips counting the
        queue (one store read less per request). Default ``True``."""
        return True

    def cost_scopes(self, session: Session) -> Iterable[str] | None:
        """The scopes beyond the session itself (``task``, ``area``, ``team``, ``day``) whose
        totals `check_cost()` looks at for ``session``; the engine sums only these. Default
        ``None``: every total."""
        return None
