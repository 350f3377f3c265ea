"""The ``QueuePolicy`` protocol: admit, order and limit sessions."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

import attrs

from .._models import Session

__all__ = ["QueuePolicy", "Schedule"]


@attrs.frozen
class Schedule:
    """One scheduling decision.

    Attributes:
        start: Ids of queued sessions to start now, in order.
        waiting: For every queued session not started, why it waits (a short reason code
            such as ``limit_reached``) and a human detail.
    """

    start: tuple[str, ...] = ()
    waiting: Mapping[str, tuple[str, str]] = attrs.field(factory=dict)


@runtime_checkable
class QueuePolicy(Protocol):
    """Decides which queued sessions start; the scheduler calls it under its lease."""

    def admit(self, session: Session, *, queued: int) -> None:
        """Accept or refuse a new session before it is queued.

        Args:
            session: The session about to be queued.
            queued: How many sessions are queued now.

        Raises:
            QueueFull: the queue is at its size limit.
            PolicyError: the policy refuses the session for another reason.
        """
        ...

    def schedule(self, queued: Sequence[Session], active: Sequence[Session]) -> Schedule:
        """Return which queued sessions start now, given the ones already active.

        ``active`` holds every in-flight session (``starting`` and ``running``). Must not
        block; must not start more than its limits allow.
        """
        ...
