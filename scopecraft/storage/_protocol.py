"""The ``StorageAdapter`` protocol: durable sessions, events, logs, output cursors and leases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import attrs

from .._models import LogEntry, LogStream, Session, SessionStatus
from ..events import Event

__all__ = ["LogLine", "QueueChanges", "QueueFeed", "StorageAdapter", "StoredEvent"]


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


@attrs.frozen
class QueueChanges:
    """What one scheduler pass reads of the queue, in one snapshot of the store (see
    `QueueFeed.queue_changes()`).

    Attributes:
        position: The store-wide position of the last event this answer reflects (0 in a store
            without events): pass it as ``after`` next time to get what changed since.
        sessions: With ``after=None``, every queued session, oldest first. Otherwise every
            session that an event stored after ``after`` changed, once each and as it is at
            ``position``, whatever its status now (one that left the queue is among them).
        active: The sessions in the statuses asked for, oldest first.
    """

    position: int
    sessions: tuple[Session, ...]
    active: tuple[Session, ...]


@runtime_checkable
class QueueFeed(Protocol):
    """An optional extra of a store: the queue's changes since a position, so that the
    scheduler keeps its queue index up to date without listing the whole queue on every pass
    (a pass then costs what changed, not the depth of the queue).

    The built-in stores offer it, through `StorageAdapter.queue_changes()`; a store whose
    `StorageAdapter.queue_changes()` answers ``None`` has none, and the scheduler then counts
    the queued sessions on every pass and lists them all again whenever the count differs from
    its index's.
    """

    async def queue_changes(
        self, after: int | None, active: Sequence[SessionStatus]
    ) -> QueueChanges:
        """Read, in one snapshot, the queue (``after=None``) or the sessions changed by events
        stored after the position ``after``, and the sessions in the ``active`` statuses.

        Events are visible in position order: an answer at ``position`` reflects every event
        up to it and none after it, so asking again from ``position`` misses nothing and a
        session seen at several positions is always seen at its newest. Events of
        `ENGINE_STREAM` change no session and are only counted in
        ``position``.

        Args:
            after: A ``position`` from an earlier answer, or ``None`` for the whole queue.
            active: Statuses whose sessions to list too (the scheduler's in-flight ones).

        Returns:
            The position read up to, the changed (or queued) sessions and the active ones.

        Raises:
            ValueError: an unknown status, or a negative ``after``.
            StorageError: the store cannot be read.
        """
        ...


@runtime_checkable
class StorageAdapter(Protocol):
    """Durable runtime state: sessions (as projections of their events), events, logs,
    output cursors and leases.

    Every method is safe to call from several tasks and several processes at once. Writes are
    atomic: either everything a call was given is stored, or nothing is.

    Implementations must pass `scopecraft.testing.contracts.storage.StorageContract()`.

    Optional members have defaults here, inherited by a store that subclasses
    `StorageAdapter` (the built-in ones do, and override both): `queue_view()` (by default
    `count_sessions()` and `list_sessions()`) and `queue_changes()` (by default ``None``: no
    feed, and the scheduler lists the queue again when its count changes, at a cost that grows
    with the depth of the queue).
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
        projection (`apply()`). The first event of a session must be
        ``session_queued``. Log lines get the next log ``seq`` values.

        Args:
            session_id: The session (or `ENGINE_STREAM` for
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
            batch: ``(session_id, events)`` pairs, each as `append()` takes them.

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

    # -- optional: a store that subclasses StorageAdapter inherits these defaults ----------

    async def queue_view(self, active: Sequence[SessionStatus]) -> tuple[int, list[Session]]:
        """How many sessions are queued, and the sessions in the ``active`` statuses: what
        one scheduler pass needs. The default asks `count_sessions()` and `list_sessions()`;
        a store may answer both in one read.

        Raises:
            ValueError: an unknown status.
            StorageError: the store cannot be read.
        """
        count = await self.count_sessions(statuses=[SessionStatus.QUEUED])
        return count, await self.list_sessions(statuses=list(active))

    async def queue_changes(
        self, after: int | None, active: Sequence[SessionStatus]
    ) -> QueueChanges | None:
        """The queue's changes since a position, as `QueueFeed.queue_changes()` describes,
        or ``None`` when the store offers no such feed (the default). A store that offers it
        answers every call and passes the contract suite's ``queue_changes`` tests."""
        return None
