"""``PriorityQueuePolicy``: priority lanes with per-mode concurrency limits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .._errors import ConfigError, QueueFull
from .._models import Session, SessionMode
from ._protocol import Schedule

__all__ = ["PriorityQueuePolicy"]

_DEFAULT_LIMITS: dict[SessionMode, int | None] = {
    SessionMode.AUTONOMOUS: 4,
    SessionMode.PLANNING: 2,
    SessionMode.ORCHESTRATION: 1,
    SessionMode.INTERACTIVE: None,
    SessionMode.DISPATCH: None,
}


class PriorityQueuePolicy:
    """Starts queued sessions by priority, then age, within per-mode concurrency limits.

    A session blocked by its mode's limit never blocks sessions of other modes behind it.

    Args:
        max_concurrent: Limit of active sessions per mode (keys may be strings, like
            ``{"autonomous": 2}``); ``None`` for a mode means no limit. Modes not named keep
            their defaults (autonomous 4, planning 2, orchestration 1, interactive and
            dispatch unlimited).
        max_queue_size: Refuse new sessions when this many are queued (``None``: no bound).
        queue_dispatch: When False (the default), dispatch sessions start at once, outside
            the limits.

    Raises:
        ConfigError: an unknown mode or a negative limit.
    """

    def __init__(
        self,
        max_concurrent: Mapping[str | SessionMode, int | None] | None = None,
        *,
        max_queue_size: int | None = None,
        queue_dispatch: bool = False,
    ) -> None:
        limits = dict(_DEFAULT_LIMITS)
        for key, value in (max_concurrent or {}).items():
            try:
                mode = SessionMode(key)
            except ValueError:
                raise ConfigError(
                    f"max_concurrent: unknown mode {key!r}; "
                    f"use one of {', '.join(m.value for m in SessionMode)}"
                ) from None
            if value is not None and value < 0:
                raise ConfigError(f"max_concurrent[{mode.value}] must be at least 0")
            limits[mode] = value
        if max_queue_size is not None and max_queue_size < 1:
            raise ConfigError("max_queue_size must be at least 1")
        self.max_concurrent: dict[SessionMode, int | None] = limits
        self.max_queue_size = max_queue_size
        self.queue_dispatch = queue_dispatch

    def admit(self, session: Session, *, queued: int) -> None:
        """Refuse when the queue is full.

        Raises:
            QueueFull: ``queued`` has reached ``max_queue_size``.
        """
        if self.max_queue_size is not None and queued >= self.max_queue_size:
            raise QueueFull(
                f"the queue holds {queued} sessions, its limit (max_queue_size="
                f"{self.max_queue_size}); wait for some to start or raise the limit"
            )

    def schedule(self, queued: Sequence[Session], active: Sequence[Session]) -> Schedule:
        """Pick queued sessions by priority then age while their mode has a free slot."""
        in_use: dict[SessionMode, int] = {}
        for session in active:
            in_use[session.mode] = in_use.get(session.mode, 0) + 1
        start: list[str] = []
        waiting: dict[str, tuple[str, str]] = {}
        for session in sorted(queued, key=lambda s: (s.priority.rank, s.created_at, s.id)):
            limit = self.max_concurrent.get(session.mode)
            if session.mode is SessionMode.DISPATCH and not self.queue_dispatch:
                limit = None
            used = in_use.get(session.mode, 0)
            if limit is not None and used >= limit:
                waiting[session.id] = (
                    "limit_reached",
                    f"{used} {session.mode.value} sessions active, limit {limit}",
                )
                continue
            in_use[session.mode] = used + 1
            start.append(session.id)
        return Schedule(start=tuple(start), waiting=waiting)
