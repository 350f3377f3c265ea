"""The ``StorageAdapter`` protocol: durable sessions, events, logs, output cursors and leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from .._events import Event
from .._models import LogEntry, LogStream, Session, SessionStatus

__all__ = ["LogLine", "StorageAdapter", "StoredEvent"]


@attrs.frozen
class LogLine:
    """A line to append to a session's log; the store assigns its ``seq``.

    Attributes:
        stream: ``stdout``, ``stderr`` or ``system``.
        text: The line, already redacted, without its newline.
        ts: When it was collected (UTC).
    """

    stream: LogStream
    text: str
    ts: datetime


@attrs.frozen
class StoredEvent:
    """An event with its store-wide position (a cursor across every session).

    Attributes:
        position: Increases with every event appended to the store, whatever its session.
        event: The event, with its ``seq`` assigned.
    """

    position: int
    event: Event


@runtime_checkable
class StorageAdapter(Protocol):
    """Durable runtime state: sessions (as projections of their events), events, logs,
    output cursors and leases.

    Every method is safe to call from several tasks and several processes at once. Writes are
    atomic: either everything a call was given is stored, or nothing is.

    Implementations must pass :func:`scopecraft.testing.contracts.storage.StorageContract`.
    """

    @property
    def store_id(self) -> str:
        """A stable id of this store (labels runtimes so reconcile touches only its own)."""
        ...

    async def open(self) -> None:
        """Create or migrate the schema and get ready for use.

        Raises:
            SchemaError: the store was written by a newer scopecraft.
            StorageError: the store cannot be opened.
        """
        ...

    async def close(self) -> None:
        """Flush and release every resource; idempotent."""
        ...

    async def append(
        self,
        session_id: str,
        events: Sequence[Event] = (),
        logs: Sequence[LogLine] = (),
        *,
        cursor: dict[str, Any] | None = None,
        expect_cursor: dict[str, Any] | None = None,
        check_cursor: bool = False,
    ) -> list[Event]:
        """Append events and log lines of one session, and optionally move its output cursor,
        in one transaction.

        Each event gets the next ``seq`` of the session and is folded into the session's
        projection (:func:`scopecraft._projection.apply`). The first event of a session must be
        ``session_queued``. Log lines get the next log ``seq`` values.

        Args:
            session_id: The session (or :data:`~scopecraft._events.ENGINE_STREAM` for
                engine-wide events, which have no projection).
            events: Events to append, in order; their ``seq`` and ``session_id`` are set here.
            logs: Log lines to append, in order.
            cursor: New value of the session's output cursor (an opaque JSON object).
            expect_cursor: With ``check_cursor=True``, the value the cursor must have now;
                otherwise nothing is written (another collector got there first).
            check_cursor: Whether to compare the cursor before writing.

        Returns:
            The stored events, with ``seq`` assigned.

        Raises:
            DuplicateSession: a second ``session_queued`` for an existing session.
            InvalidTransition: an event other than ``session_queued`` for an unknown session.
            CursorMoved: ``check_cursor`` was set and the cursor differs from ``expect_cursor``.
            SessionNotFound: log lines or a cursor for a session that does not exist.
            ValueError: a malformed log line.
            StorageBusy: the store stayed locked past every retry.
        """
        ...

    async def append_batch(self, batch: Sequence[tuple[str, Sequence[Event]]]) -> list[list[Event]]:
        """Append events of several sessions in one transaction: all of them or none.

        What the scheduler uses to record the intents of one pass's decisions at once.

        Args:
            batch: ``(session_id, events)`` pairs, each as :meth:`append` takes them.

        Returns:
            The stored events of each pair, in the batch's order.

        Raises:
            DuplicateSession: a second ``session_queued`` for an existing session.
            InvalidTransition: an event other than ``session_queued`` for an unknown session.
            StorageBusy: the store stayed locked past every retry.
        """
        ...

    async def get_session(self, session_id: str) -> Session:
        """Return a session's current projection.

        Raises:
            SessionNotFound: no session has that id.
        """
        ...

    async def list_sessions(
        self,
        *,
        statuses: Sequence[SessionStatus] | None = None,
        task_id: str | None = None,
        limit: int | None = None,
    ) -> list[Session]:
        """Return sessions, oldest first, optionally filtered by status and task."""
        ...

    async def count_sessions(self, *, statuses: Sequence[SessionStatus] | None = None) -> int:
        """Count sessions, optionally only those in the given statuses."""
        ...

    async def read_events(
        self,
        session_id: str | None = None,
        *,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Return stored events in order.

        Args:
            session_id: One session's events (``after`` is then a ``seq``), or every session's
                (``after`` is then a store-wide ``position``).
            after: Return only events after this cursor; ``None`` from the start.
            limit: At most this many.
        """
        ...

    async def read_logs(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[LogEntry]:
        """Return a session's log lines with ``seq`` greater than ``after``, in order."""
        ...

    async def get_cursor(self, session_id: str) -> dict[str, Any] | None:
        """Return the session's output cursor, or ``None`` when none was stored."""
        ...

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds.

        Succeeds when the lease is free, expired, or already held by ``holder`` (a renewal).
        Two holders never hold one lease at once.

        Returns:
            True when ``holder`` now holds the lease.
        """
        ...

    async def take_over_lease(
        self, name: str, expected_holder: str, new_holder: str, ttl: float
    ) -> bool:
        """Give the lease ``name`` to ``new_holder`` for ``ttl`` seconds if it is held by
        exactly ``expected_holder``, expired or not: a compare-and-swap on the holder, for a
        holder known to be gone (of several callers that expect one holder, one wins).

        Returns:
            True when ``new_holder`` now holds the lease; False when ``expected_holder`` does
            not hold it (it is free, or held by someone else).

        Raises:
            ValueError: an empty name or holder, or a ``ttl`` that is not positive.
        """
        ...

    async def release_lease(self, name: str, holder: str) -> None:
        """Give up the lease if ``holder`` holds it; otherwise do nothing."""
        ...

    async def lease_holder(self, name: str) -> str | None:
        """Return who holds the lease now (an unexpired one), or ``None``."""
        ...
