"""``MemoryStorage``: a complete in-memory store, for tests and for trying scopecraft out.

It keeps the same promises as `SqliteStorage` (the contract suite
runs over both): events folded with `apply()`, atomic appends,
compare-and-set cursors, leases. Nothing survives the process.
"""

from __future__ import annotations

import bisect
import time
import uuid
from collections.abc import Iterable, Sequence
from types import TracebackType
from typing import Any, Self

import anyio
import anyio.lowlevel

from scopecraft._errors import CursorMoved, SessionNotFound, StorageError
from scopecraft._models import LogEntry, Session, SessionStatus
from scopecraft.events import ENGINE_STREAM, Event
from scopecraft.storage._common import (
    check_lease_args,
    check_limit,
    check_log_line,
    cursor_matches,
    dump_cursor,
    fold_events,
    load_cursor,
)
from scopecraft.storage._protocol import LogLine, QueueChanges, StorageAdapter, StoredEvent

__all__ = ["MemoryStorage"]


class MemoryStorage(StorageAdapter):
    """A `StorageAdapter` that keeps everything in memory.

    Closing keeps the data: a closed store can be opened again and still has it, as a file
    would. Leases expire by the process's monotonic clock.
    """

    def __init__(self) -> None:
        self._store_id = uuid.uuid4().hex
        self._lock = anyio.Lock()
        self._open = False
        self._sessions: dict[str, Session] = {}
        # The ids of the sessions in each status, so that a filter by status costs what it
        # finds, not every session ever stored.
        self._by_status: dict[SessionStatus, dict[str, None]] = {s: {} for s in SessionStatus}
        self._created: dict[str, int] = {}  # creation order, which breaks ties of created_at
        self._events: list[StoredEvent] = []
        self._by_session: dict[str, list[StoredEvent]] = {}
        self._logs: dict[str, list[LogEntry]] = {}
        self._cursors: dict[str, str] = {}
        self._leases: dict[str, tuple[str, float]] = {}

    def __repr__(self) -> str:
        return f"MemoryStorage(store_id={self._store_id!r})"

    @property
    def store_id(self) -> str:
        """A random id, fixed for the life of this object."""
        return self._store_id

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Get ready for use; does nothing when open."""
        await anyio.lowlevel.checkpoint()
        self._open = True

    async def close(self) -> None:
        """Stop accepting calls until opened again; idempotent. The data is kept."""
        self._open = False

    def _check_open(self) -> None:
        if not self._open:
            raise StorageError(f"{self!r} is not open; call open() first")

    async def append_batch(self, batch: Sequence[tuple[str, Sequence[Event]]]) -> list[list[Event]]:
        """Append events of several sessions at once: all of them or none.

        Raises:
            DuplicateSession: a second ``session_queued`` for an existing session.
            InvalidTransition: an event other than ``session_queued`` for an unknown session.
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            # Fold everything on the side first; change nothing until all of it succeeded.
            sessions: dict[str, Session | None] = {}
            seqs: dict[str, int] = {}
            folded: list[tuple[str, Session | None, list[Event]]] = []
            for session_id, events in batch:
                if session_id not in sessions:
                    stream = self._by_session.get(session_id, [])
                    sessions[session_id] = self._sessions.get(session_id)
                    seqs[session_id] = stream[-1].event.seq if stream else 0
                session, stored = fold_events(
                    session_id, sessions[session_id], tuple(events), seqs[session_id]
                )
                if stored:
                    sessions[session_id] = session
                    seqs[session_id] = stored[-1].seq
                folded.append((session_id, session, stored))
            results: list[list[Event]] = []
            for session_id, session, stored in folded:
                if stored:
                    position = self._events[-1].position if self._events else 0
                    records = [StoredEvent(position + i, e) for i, e in enumerate(stored, start=1)]
                    self._events.extend(records)
                    self._by_session.setdefault(session_id, []).extend(records)
                    if session is not None and session_id != ENGINE_STREAM:
                        self._put(session)
                results.append(stored)
            return results

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
        """Append events and log lines of one session, and move its cursor, all or nothing.

        Returns:
            The stored events, with ``seq`` assigned.

        Raises:
            DuplicateSession: a second ``session_queued`` for an existing session.
            InvalidTransition: an event other than ``session_queued`` for an unknown session.
            SessionNotFound: log lines or a cursor for a session that does not exist.
            CursorMoved: ``check_cursor`` was set and the cursor differs from ``expect_cursor``.
            ValueError: a log line with an unknown stream or a naive timestamp.
            TypeError: a cursor that is not a JSON object.
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            if not events and not logs and cursor is None and not check_cursor:
                return []
            # Work out everything first and change nothing until it has all succeeded.
            if check_cursor and not cursor_matches(self._cursors.get(session_id), expect_cursor):
                raise CursorMoved(
                    f"the output cursor of session {session_id!r} moved; read it again and"
                    " collect from there"
                )
            engine_wide = session_id == ENGINE_STREAM
            current = self._sessions.get(session_id)
            stream = self._by_session.get(session_id, [])
            last_seq = stream[-1].event.seq if stream else 0
            session, stored = fold_events(session_id, current, events, last_seq)
            if (logs or cursor is not None) and session is None and not engine_wide:
                raise SessionNotFound(session_id)
            log = self._logs.get(session_id, [])
            entries = [
                LogEntry(
                    seq=len(log) + i, ts=check_log_line(line), stream=line.stream, text=line.text
                )
                for i, line in enumerate(logs, start=1)
            ]
            cursor_text = None if cursor is None else dump_cursor(cursor)

            if stored:
                position = self._events[-1].position if self._events else 0
                records = [StoredEvent(position + i, e) for i, e in enumerate(stored, start=1)]
                self._events.extend(records)
                self._by_session.setdefault(session_id, []).extend(records)
            if session is not None and not engine_wide:
                self._put(session)
            if entries:
                self._logs.setdefault(session_id, []).extend(entries)
            if cursor_text is not None:
                self._cursors[session_id] = cursor_text
            return stored

    async def get_session(self, session_id: str) -> Session:
        """Return a session's current projection.

        Raises:
            SessionNotFound: no session has that id.
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            try:
                return self._sessions[session_id]
            except KeyError:
                raise SessionNotFound(session_id) from None

    def _put(self, session: Session) -> None:
        previous = self._sessions.get(session.id)
        if previous is not None:
            del self._by_status[previous.status][session.id]
        else:
            self._created[session.id] = len(self._created)
        self._sessions[session.id] = session
        self._by_status[session.status][session.id] = None

    def _matching(
        self, statuses: Sequence[SessionStatus] | None, task_id: str | None
    ) -> list[Session]:
        if statuses is None:
            candidates: Iterable[Session] = self._sessions.values()
        else:
            sessions = self._sessions
            candidates = [
                sessions[sid]
                for status in {SessionStatus(s) for s in statuses}
                for sid in self._by_status[status]
            ]
        found = [s for s in candidates if task_id is None or s.task_id == task_id]
        # Sessions created at the same instant stay in creation order.
        created = self._created
        found.sort(key=lambda s: (s.created_at, created[s.id]))
        return found

    async def list_sessions(
        self,
        *,
        statuses: Sequence[SessionStatus] | None = None,
        task_id: str | None = None,
        limit: int | None = None,
    ) -> list[Session]:
        """Return sessions, oldest first, optionally filtered by status and task.

        Raises:
            ValueError: a negative ``limit`` or an unknown status.
            StorageError: the store is not open.
        """
        count = check_limit(limit)
        async with self._lock:
            self._check_open()
            found = self._matching(statuses, task_id)
        return found if count < 0 else found[:count]

    async def count_sessions(self, *, statuses: Sequence[SessionStatus] | None = None) -> int:
        """Count sessions, optionally only those in the given statuses.

        Raises:
            ValueError: an unknown status.
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            return len(self._matching(statuses, None))

    async def queue_view(self, active: Sequence[SessionStatus]) -> tuple[int, list[Session]]:
        """How many sessions are queued, and the sessions in the ``active`` statuses, oldest
        first (see `scopecraft.storage.SqliteStorage.queue_view()`).

        Raises:
            ValueError: an unknown status.
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            queued = len(self._matching([SessionStatus.QUEUED], None))
            return queued, list(self._matching(list(active), None))

    async def queue_changes(
        self, after: int | None, active: Sequence[SessionStatus]
    ) -> QueueChanges:
        """The queue (``after=None``) or the sessions changed since the position ``after``,
        and the sessions in the ``active`` statuses, read at once (see
        `scopecraft.storage.QueueFeed.queue_changes()`).

        Raises:
            ValueError: an unknown status, or a negative ``after``.
            StorageError: the store is not open.
        """
        if after is not None and after < 0:
            raise ValueError(f"after must be a position (0 or more), got {after}")
        async with self._lock:
            self._check_open()
            events = self._events
            position = events[-1].position if events else 0
            if after is None:
                sessions = self._matching([SessionStatus.QUEUED], None)
            else:
                # Positions only grow: the events after `after` are a tail of the list.
                start = bisect.bisect_right(events, after, key=lambda record: record.position)
                changed = dict.fromkeys(record.event.session_id for record in events[start:])
                sessions = [self._sessions[sid] for sid in changed if sid in self._sessions]
            return QueueChanges(
                position=position,
                sessions=tuple(sessions),
                active=tuple(self._matching(list(active), None)),
            )

    async def read_events(
        self,
        session_id: str | None = None,
        *,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Return stored events in order, of one session (by ``seq``) or of all (by position).

        Raises:
            ValueError: a negative ``limit``.
            StorageError: the store is not open.
        """
        count = check_limit(limit)
        start = after or 0
        async with self._lock:
            self._check_open()
            if session_id is None:
                found = [r for r in self._events if r.position > start]
            else:
                found = [r for r in self._by_session.get(session_id, []) if r.event.seq > start]
        return found if count < 0 else found[:count]

    async def read_logs(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[LogEntry]:
        """Return a session's log lines with ``seq`` greater than ``after``, in order.

        Raises:
            ValueError: a negative ``limit``.
            StorageError: the store is not open.
        """
        count = check_limit(limit)
        async with self._lock:
            self._check_open()
            # seq n sits at index n - 1: log seqs start at 1 and have no gaps.
            found = self._logs.get(session_id, [])[max(after, 0) :]
        return found if count < 0 else found[:count]

    async def get_cursor(self, session_id: str) -> dict[str, Any] | None:
        """Return the session's output cursor, or ``None`` when none was stored.

        Raises:
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            stored = self._cursors.get(session_id)
        return None if stored is None else load_cursor(stored)

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds.

        Returns:
            True when ``holder`` now holds the lease.

        Raises:
            ValueError: an empty name or holder, or a ``ttl`` that is not positive.
            StorageError: the store is not open.
        """
        check_lease_args(name, holder, ttl)
        async with self._lock:
            self._check_open()
            now = time.monotonic()
            current = self._leases.get(name)
            if current is not None and current[0] != holder and current[1] > now:
                return False
            self._leases[name] = (holder, now + ttl)
            return True

    async def take_over_lease(
        self, name: str, expected_holder: str, new_holder: str, ttl: float
    ) -> bool:
        """Give the lease ``name`` to ``new_holder`` for ``ttl`` seconds if ``expected_holder``
        holds it, expired or not.

        Returns:
            True when ``new_holder`` now holds the lease.

        Raises:
            ValueError: an empty name or holder, or a ``ttl`` that is not positive.
            StorageError: the store is not open.
        """
        check_lease_args(name, expected_holder, ttl)
        check_lease_args(name, new_holder, ttl)
        async with self._lock:
            self._check_open()
            current = self._leases.get(name)
            if current is None or current[0] != expected_holder:
                return False
            self._leases[name] = (new_holder, time.monotonic() + ttl)
            return True

    async def release_lease(self, name: str, holder: str) -> None:
        """Give up the lease if ``holder`` holds it; otherwise do nothing.

        Raises:
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            current = self._leases.get(name)
            if current is not None and current[0] == holder:
                del self._leases[name]

    async def lease_holder(self, name: str) -> str | None:
        """Return who holds the lease now (an unexpired one), or ``None``.

        Raises:
            StorageError: the store is not open.
        """
        async with self._lock:
            self._check_open()
            current = self._leases.get(name)
            if current is None or current[1] <= time.monotonic():
                return None
            return current[0]
