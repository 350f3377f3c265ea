"""The journal: the engine's only writer to the store.

Every event and log line the engine stores goes through `Journal`: it redacts them (the
engine's secrets and those forwarded to a session's agent), sets each cost report's running
total, wakes whoever waits on the session in this process, keeps the scheduler's queue index
up to date, and hands cost reports to the budget check.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import anyio
import anyio.to_thread

from .._errors import ScopecraftError
from .._models import Session
from .._redact import Redactor
from ..events import (
    ApprovalDenied,
    ApprovalGranted,
    ApprovalRequested,
    CostReported,
    Event,
    SessionCancelled,
    SessionContinued,
    SessionPaused,
    SessionQueued,
    SessionResumed,
    SessionRetryScheduled,
    SessionStarting,
)
from ..policies._index import QueueIndex
from ..storage._protocol import LogLine
from ._context import ADAPTER_SECRETS, Context

__all__ = ["QUEUE_EVENTS", "Journal"]

QUEUE_EVENTS = (
    SessionQueued,
    SessionStarting,
    SessionCancelled,
    SessionContinued,
    SessionResumed,
    SessionRetryScheduled,
    SessionPaused,
    ApprovalRequested,
    ApprovalGranted,
    ApprovalDenied,
)
"""Events that move a session into or out of the queue."""


def _no_index() -> QueueIndex | None:
    return None


class Journal:
    """Redacts, stores and announces what the engine records.

    Args:
        ctx: The engine's context (its store, its home, the names forwarded to agents).
    """

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        names = set(ctx.forward_env) | set(ADAPTER_SECRETS)
        self.redactor = Redactor(os.environ[n] for n in names if os.environ.get(n))
        """The engine's own redactor (its environment's secrets and key formats)."""
        self._session_redactors: dict[str, Redactor] = {}
        self._wakes: dict[str, anyio.Event] = {}
        self.tracked_index: Callable[[], QueueIndex | None] = _no_index
        """The queue index this engine's own writes must keep up to date (the scheduler's,
        while it leads and does not follow the store's changes), else ``None``."""
        self.on_cost: Callable[[str], Awaitable[None]] | None = None
        """Called with the session's id after a cost report is stored (the budget check)."""

    # -- secrets -----------------------------------------------------------------------------

    async def load_session_secrets(self, session_id: str) -> None:
        """Redact a session's forwarded secrets, whoever launched it: read the session's
        private secrets file (written by the launching process) once."""
        if session_id in self._session_redactors:
            return
        from .._secrets import read_session_secrets

        found = await anyio.to_thread.run_sync(
            read_session_secrets, self._ctx.home / "sessions" / session_id
        )
        self.use_session_secrets(session_id, found)

    def use_session_secrets(self, session_id: str, values: Iterable[str]) -> None:
        """Hide ``values`` (besides the engine's own secrets) in what is stored for a session."""
        self._session_redactors[session_id] = self.redactor.with_secrets(values)

    async def forget_session_secrets(self, session_id: str) -> None:
        """Delete a session's secrets file once all its output is stored."""
        from .._secrets import SECRETS_FILE

        self._session_redactors.pop(session_id, None)
        path = self._ctx.home / "sessions" / session_id / SECRETS_FILE
        await anyio.to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    def redactor_for(self, session_id: str) -> Redactor:
        """The redactor of a session's events and lines."""
        return self._session_redactors.get(session_id, self.redactor)

    # -- wake-ups ----------------------------------------------------------------------------

    def wake_event(self, session_id: str, *, reset: bool = False) -> anyio.Event:
        """An event set when something is appended to ``session_id`` in this process."""
        event = self._wakes.get(session_id)
        if event is None or (reset and event.is_set()):
            event = anyio.Event()
            self._wakes[session_id] = event
        return event

    def wake(self, session_id: str) -> None:
        """Wake whoever waits on ``session_id`` in this process."""
        event = self._wakes.get(session_id)
        if event is not None:
            event.set()

    # -- writing -----------------------------------------------------------------------------

    async def append(
        self,
        session_id: str,
        events: Sequence[Event],
        logs: Sequence[LogLine] = (),
        *,
        cursor: dict[str, Any] | None = None,
        expect_cursor: dict[str, Any] | None = None,
        check_cursor: bool = False,
    ) -> list[Event]:
        """Redact and append events and log lines to one session; return them as stored.

        ``CostReported.total_usd`` is set here to the session's running total, and the
        budget check runs after a cost report.
        """
        storage = self._ctx.storage
        redact = self.redactor_for(session_id)
        clean_events: list[Event] = []
        total: float | None = None
        for event in events:
            if isinstance(event, CostReported):
                if total is None:
                    try:
                        total = (await storage.get_session(session_id)).cost_usd
                    except ScopecraftError:
                        total = 0.0
                total = round(total + event.usd, 10)
                event = event.model_copy(update={"total_usd": total})
            clean_events.append(redact.model(event))
        clean_logs = [
            LogLine(stream=line.stream, text=redact.text(line.text), ts=line.ts) for line in logs
        ]
        stored = await storage.append(
            session_id,
            clean_events,
            clean_logs,
            cursor=cursor,
            expect_cursor=expect_cursor,
            check_cursor=check_cursor,
        )
        self.wake(session_id)
        await self._track(session_id, stored)
        if total is not None and self.on_cost is not None:
            await self.on_cost(session_id)
        return stored

    async def append_batch(
        self, batches: Sequence[tuple[str, Sequence[Event]]], *, track: bool = True
    ) -> list[list[Event]]:
        """Redact and append events to several sessions in one transaction (all or none).

        Args:
            batches: Each session's id and its events, in order.
            track: Keep the scheduler's queue index up to date; the scheduler passes False
                for its own decisions, which it has applied to its index already.
        """
        clean = [
            (session_id, [self.redactor_for(session_id).model(e) for e in events])
            for session_id, events in batches
        ]
        results = await self._ctx.storage.append_batch(clean)
        for (session_id, _), stored in zip(clean, results, strict=True):
            self.wake(session_id)
            if track:
                await self._track(session_id, stored)
        return results

    async def append_folded(self, session: Session, events: Sequence[Event]) -> Session:
        """Append ``events`` to ``session`` and return its projection after them."""
        stored = await self.append(session.id, events)
        return await self.folded(session, stored)

    async def folded(self, session: Session, stored: Sequence[Event]) -> Session:
        """``session`` after the just ``stored`` events: folded here when nothing else was
        stored for it in between (the first new ``seq`` follows ``session.last_seq``), which
        is exactly what the store computed; otherwise read from the store."""
        if stored and stored[0].seq == session.last_seq + 1:
            from .._projection import apply

            for event in stored:
                session = apply(session, event)
            return session
        return await self._ctx.storage.get_session(session.id)

    async def _track(self, session_id: str, stored: Sequence[Event]) -> None:
        """Keep the leader's queue index up to date with a write that moved the queue (unless
        it follows the store's changes, as with the built-in stores, and finds it there)."""
        index = self.tracked_index()
        if index is None or not any(isinstance(e, QUEUE_EVENTS) for e in stored):
            return
        if isinstance(stored[0], SessionQueued):
            from .._projection import replay

            fresh = replay(stored)
            if fresh is not None:
                index.update(fresh)
        else:
            index.update(await self._ctx.storage.get_session(session_id))
