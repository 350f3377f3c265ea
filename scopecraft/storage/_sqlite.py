"""``SqliteStorage``: the default store, one SQLite file shared by every process on a host.

Each store has one connection (`SqliteDatabase`), used from one worker
thread at a time (an `anyio.CapacityLimiter` of 1), so the event loop never waits on
disk or locks. This module holds the queries; the connection, transactions, retries and schema
versions live in ``_sqlite_db``.

Projections are cached by ``(session id, last_seq)``, which names one projection exactly
(events are append-only and ``seq`` values unique), so a cached projection is never stale,
even when other processes write to the same file.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
from collections.abc import Callable, Sequence
from datetime import UTC
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Literal, Self, TypeVar

import anyio
import anyio.to_thread
import pydantic

from scopecraft._errors import (
    ConfigError,
    CursorMoved,
    SessionNotFound,
    StorageError,
)
from scopecraft._models import LogEntry, Session, SessionStatus
from scopecraft._projection import replay_rows
from scopecraft.events import ENGINE_STREAM, Event, event_from_json

from ._common import (
    EPOCH,
    LOG_STREAMS,
    MICROSECOND,
    check_lease_args,
    check_limit,
    cursor_matches,
    dump_cursor,
    fold_events,
    from_micros,
    load_cursor,
    log_timestamp,
    stream_error,
    to_micros,
)
from ._protocol import LogLine, QueueChanges, StorageAdapter, StoredEvent
from ._sqlite_db import SqliteDatabase

__all__ = ["SqliteStorage"]

logger = logging.getLogger("scopecraft.storage")

_T = TypeVar("_T")

_DB_NAME: Final = "scopecraft.db"
_IN_CHUNK: Final = 500
_SESSION_CACHE_SIZE: Final = 16_384

# Seconds since the epoch by the database's clock, so that every process compares lease expiry
# against the same clock. julianday() has millisecond resolution.
_DB_NOW: Final = "((julianday('now') - 2440587.5) * 86400.0)"

_INSERT_EVENT: Final = "INSERT INTO events (session_id, seq, type, ts, body) VALUES (?, ?, ?, ?, ?)"
_INSERT_LOG: Final = "INSERT INTO logs (session_id, seq, ts, stream, text) VALUES (?, ?, ?, ?, ?)"
_UPSERT_SESSION: Final = """
    INSERT INTO sessions (id, status, task_id, created_at, last_seq, body)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (id) DO UPDATE SET
        status = excluded.status, last_seq = excluded.last_seq, body = excluded.body
"""
_UPSERT_CURSOR: Final = """
    INSERT INTO cursors (session_id, body) VALUES (?, ?)
    ON CONFLICT (session_id) DO UPDATE SET body = excluded.body
"""
# Built from constants only, never from caller input.
_ACQUIRE_LEASE: Final = f"""
    INSERT INTO leases (name, holder, expires_at) VALUES (?, ?, {_DB_NOW} + ?)
    ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
    WHERE leases.holder = excluded.holder OR leases.expires_at <= {_DB_NOW}
"""  # noqa: S608
_TAKE_OVER_LEASE: Final = f"""
    UPDATE leases SET holder = ?, expires_at = {_DB_NOW} + ? WHERE name = ? AND holder = ?
"""  # noqa: S608


def default_home() -> Path:
    """The folder of the default store: ``$SCOPECRAFT_HOME``, else ``~/.scopecraft``."""
    env = os.environ.get("SCOPECRAFT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".scopecraft"


class SqliteStorage(StorageAdapter):
    """Sessions, events, logs, cursors and leases in one SQLite file (WAL mode).

    Safe to share between tasks of one process and between processes: every write is one
    ``BEGIN IMMEDIATE`` transaction, and leases compare expiry against the database's clock.
    Parsed projections of up to 16,384 sessions are kept and handed out again while their
    ``last_seq`` is unchanged; like every ``Session``, treat them as read-only.

    Args:
        path: The database file. Defaults to ``<home>/scopecraft.db``.
        home: The folder of the default file: this, else ``$SCOPECRAFT_HOME``, else
            ``~/.scopecraft`` (created with mode 0700 when missing).
        url: The file as a URL, as ``Engine.open(storage="sqlite:///var/sc.db")`` gives it:
            ``sqlite://`` then the path (``sqlite:///abs/file.db``, ``sqlite://rel/file.db``);
            ``sqlite://`` alone is the default file. Not together with ``path``.
        synchronous: SQLite's ``synchronous`` setting. ``NORMAL`` (the default) survives a crash
            of any process; ``FULL`` also survives a power loss, at the cost of an fsync per
            commit.
        busy_timeout: Seconds SQLite waits for another writer's lock before retrying.

    Raises:
        ConfigError: an unknown ``synchronous`` value, a negative ``busy_timeout``, a URL
            that is not ``sqlite://``, or both a URL and a path.
    """

    def __init__(
        self,
        path: str | Path | None = None,
        *,
        home: str | Path | None = None,
        url: str | None = None,
        synchronous: Literal["NORMAL", "FULL"] = "NORMAL",
        busy_timeout: float = 30.0,
    ) -> None:
        if url is not None:
            if path is not None:
                raise ConfigError("give the SQLite store a path or a URL, not both")
            path = _path_of_url(url)
        if synchronous not in ("NORMAL", "FULL"):
            raise ConfigError(f"synchronous must be 'NORMAL' or 'FULL', got {synchronous!r}")
        if busy_timeout < 0:
            raise ConfigError(f"busy_timeout must be zero or more seconds, got {busy_timeout}")
        self._home: Path | None = None
        if path is None:
            self._home = Path(home).expanduser() if home is not None else default_home()
            path = self._home / _DB_NAME
        self._path = Path(path).expanduser()
        self._synchronous = synchronous
        self._db = SqliteDatabase(
            self._path, home=self._home, synchronous=synchronous, busy_timeout=float(busy_timeout)
        )
        self._limiter: anyio.CapacityLimiter | None = None
        self._sessions: dict[str, Session] = {}

    def __repr__(self) -> str:
        return f"SqliteStorage({str(self._path)!r}, synchronous={self._synchronous!r})"

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    @property
    def store_id(self) -> str:
        """A stable id of this store, created with the file.

        Raises:
            StorageError: the store has not been opened yet.
        """
        store_id = self._db.store_id
        if store_id is None:
            raise StorageError(f"open {self!r} before asking for its store_id")
        return store_id

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

    # -- lifecycle ------------------------------------------------------------------------------

    async def open(self) -> None:
        """Create or migrate the schema and get ready for use; does nothing when open.

        Raises:
            SchemaError: the store was written by a newer scopecraft.
            StorageBusy: the store stayed locked past every retry.
            StorageError: the store cannot be opened.
        """
        if self._db.is_open:
            return
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(1)
        await anyio.to_thread.run_sync(self._db.open, limiter=self._limiter)

    async def close(self) -> None:
        """Close the connection; idempotent. SQLite checkpoints the WAL as the last one closes."""
        limiter = self._limiter
        if not self._db.is_open or limiter is None:
            return
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(self._db.close, limiter=limiter)
        # A new limiter at the next open: it may run under another event loop.
        self._limiter = None

    # -- plumbing ------------------------------------------------------------------------------

    async def _run(self, func: Callable[[], _T]) -> _T:
        limiter = self._limiter
        if not self._db.is_open or limiter is None:
            raise StorageError(f"{self!r} is not open; call open() first")
        return await anyio.to_thread.run_sync(func, limiter=limiter)

    def _remember(self, session: Session) -> None:
        cache = self._sessions
        cache.pop(session.id, None)
        if len(cache) >= _SESSION_CACHE_SIZE:
            del cache[next(iter(cache))]
        cache[session.id] = session

    def _session_from_row(self, session_id: str, last_seq: int, body: str) -> Session:
        cached = self._sessions.get(session_id)
        if cached is not None and cached.last_seq == last_seq:
            return cached
        try:
            session = Session.model_validate_json(body)
        except pydantic.ValidationError as exc:
            raise StorageError(
                f"the stored projection of session {session_id!r} in {self._path} cannot be read"
            ) from exc
        self._remember(session)
        return session

    def _load_session(self, conn: sqlite3.Connection, session_id: str) -> Session | None:
        row = conn.execute(
            "SELECT last_seq, body FROM sessions WHERE id = ?", (session_id,)
        ).fetchone()
        if row is None:
            return None
        return self._session_from_row(session_id, row[0], row[1])

    # -- writes --------------------------------------------------------------------------------

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
        """Append events and log lines of one session, and move its cursor, in one transaction.

        See `scopecraft.storage.StorageAdapter.append()` for the full contract.

        Returns:
            The stored events, with ``seq`` assigned.

        Raises:
            DuplicateSession: a second ``session_queued`` for an existing session.
            InvalidTransition: an event other than ``session_queued`` for an unknown session.
            SessionNotFound: log lines or a cursor for a session that does not exist.
            CursorMoved: ``check_cursor`` was set and the cursor differs from ``expect_cursor``.
            ValueError: a log line with an unknown stream or a naive timestamp.
            TypeError: a cursor that is not a JSON object.
            StorageBusy: the store stayed locked past every retry.
            StorageError: SQLite failed otherwise.
        """
        if not events and not logs and cursor is None and not check_cursor:
            return []
        work = functools.partial(
            self._append_tx,
            session_id,
            tuple(events),
            tuple(logs),
            cursor,
            expect_cursor,
            check_cursor,
        )
        return await self._run(functools.partial(self._append_sync, work))

    async def append_batch(self, batch: Sequence[tuple[str, Sequence[Event]]]) -> list[list[Event]]:
        """Append events of several sessions in one transaction: all of them or none.

        Raises:
            DuplicateSession: a second ``session_queued`` for an existing session.
            InvalidTransition: an event other than ``session_queued`` for an unknown session.
            StorageBusy: the store stayed locked past every retry.
            StorageError: SQLite failed otherwise.
        """
        items = [(session_id, tuple(events)) for session_id, events in batch]
        if not any(events for _, events in items):
            return [[] for _ in items]

        def work(conn: sqlite3.Connection) -> list[tuple[Session | None, list[Event]]]:
            return [
                self._append_tx(session_id, events, (), None, None, False, conn)
                if events
                else (None, [])
                for session_id, events in items
            ]

        def run() -> list[list[Event]]:
            results = self._db.run(work, write=True)
            for session, _ in results:
                if session is not None:
                    self._remember(session)
            return [stored for _, stored in results]

        return await self._run(run)

    def _append_sync(
        self, work: Callable[[sqlite3.Connection], tuple[Session | None, list[Event]]]
    ) -> list[Event]:
        session, stored = self._db.run(work, write=True)
        if session is not None:
            self._remember(session)
        return stored

    def _append_tx(
        self,
        session_id: str,
        events: tuple[Event, ...],
        logs: tuple[LogLine, ...],
        cursor: dict[str, Any] | None,
        expect_cursor: dict[str, Any] | None,
        check_cursor: bool,
        conn: sqlite3.Connection,
    ) -> tuple[Session | None, list[Event]]:
        if check_cursor:
            row = conn.execute(
                "SELECT body FROM cursors WHERE session_id = ?", (session_id,)
            ).fetchone()
            if not cursor_matches(None if row is None else row[0], expect_cursor):
                raise CursorMoved(
                    f"the output cursor of session {session_id!r} moved; read it again and"
                    " collect from there"
                )
        engine_wide = session_id == ENGINE_STREAM
        session: Session | None = None
        stored: list[Event] = []
        if events:
            if engine_wide:
                current = None
                last_seq = conn.execute(
                    "SELECT max(seq) FROM events WHERE session_id = ?", (session_id,)
                ).fetchone()[0]
            else:
                # The session row is written with every event of the session, so its
                # last_seq is the session's highest seq (and 0 before it exists).
                current = self._load_session(conn, session_id)
                last_seq = 0 if current is None else current.last_seq
            session, stored = fold_events(session_id, current, events, last_seq or 0)
            conn.executemany(
                _INSERT_EVENT,
                [(session_id, e.seq, e.type, to_micros(e.ts), e.model_dump_json()) for e in stored],
            )
            if session is not None:
                conn.execute(
                    _UPSERT_SESSION,
                    (
                        session_id,
                        session.status.value,
                        session.task_id,
                        to_micros(session.created_at),
                        session.last_seq,
                        session.model_dump_json(),
                    ),
                )
        if (logs or cursor is not None) and session is None and not engine_wide:
            exists = conn.execute("SELECT 1 FROM sessions WHERE id = ?", (session_id,)).fetchone()
            if exists is None:
                raise SessionNotFound(session_id)
        if logs:
            last_log = conn.execute(
                "SELECT max(seq) FROM logs WHERE session_id = ?", (session_id,)
            ).fetchone()[0]
            conn.executemany(_INSERT_LOG, _log_rows(session_id, last_log or 0, logs))
        if cursor is not None:
            conn.execute(_UPSERT_CURSOR, (session_id, dump_cursor(cursor)))
        return session, stored

    # -- reads ---------------------------------------------------------------------------------

    async def get_session(self, session_id: str) -> Session:
        """Return a session's current projection.

        Raises:
            SessionNotFound: no session has that id.
            StorageError: the store cannot be read.
        """
        return await self._run(functools.partial(self._get_session_sync, session_id))

    def _get_session_sync(self, session_id: str) -> Session:
        work = functools.partial(
            _fetch_one, "SELECT last_seq, body FROM sessions WHERE id = ?", (session_id,)
        )
        row = self._db.run(work)
        if row is None:
            raise SessionNotFound(session_id)
        return self._session_from_row(session_id, row[0], row[1])

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
            StorageError: the store cannot be read.
        """
        where, args = _session_filter(statuses, task_id)
        if where is None:
            return []
        # `where` holds placeholders only; values are bound.
        sql = f"SELECT id, last_seq FROM sessions{where} ORDER BY created_at, rowid LIMIT ?"  # noqa: S608
        params = (*args, check_limit(limit))
        return await self._run(functools.partial(self._list_sessions_sync, sql, params))

    def _list_sessions_sync(self, sql: str, params: tuple[Any, ...]) -> list[Session]:
        work = functools.partial(self._list_tx, sql, params)
        return self._sessions_of(*self._db.run(work, snapshot=True))

    def _sessions_of(
        self, found: list[tuple[str, int]], known: dict[str, Session | str]
    ) -> list[Session]:
        """The projections named by ``(id, last_seq)`` rows, from what `_known_tx()`
        found: a cached projection, or the stored one to parse (and cache)."""
        sessions: list[Session] = []
        for session_id, last_seq in found:
            hit = known[session_id]
            if isinstance(hit, str):
                hit = self._session_from_row(session_id, last_seq, hit)
            sessions.append(hit)
        return sessions

    def _list_tx(
        self, sql: str, params: tuple[Any, ...], conn: sqlite3.Connection
    ) -> tuple[list[tuple[str, int]], dict[str, Session | str]]:
        # Ids and last_seq come from a covering index; only projections not cached are read.
        found: list[tuple[str, int]] = conn.execute(sql, params).fetchall()
        return found, self._known_tx(conn, found)

    def _known_tx(
        self, conn: sqlite3.Connection, found: list[tuple[str, int]]
    ) -> dict[str, Session | str]:
        """For each ``(id, last_seq)`` row, its cached projection, or else its stored body.

        The cached ones are taken now: parsing the others caches them, which may push out of
        the cache (it holds 16,384) a projection this answer was going to use.
        """
        cached = self._sessions
        known: dict[str, Session | str] = {}
        missing: list[str] = []
        for session_id, last_seq in found:
            hit = cached.get(session_id)
            if hit is not None and hit.last_seq == last_seq:
                known[session_id] = hit
            else:
                missing.append(session_id)
        for start in range(0, len(missing), _IN_CHUNK):
            chunk = missing[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            rows = conn.execute(f"SELECT id, body FROM sessions WHERE id IN ({marks})", chunk)  # noqa: S608
            known.update(rows)
        return known

    def _changed_tx(
        self, after: int, conn: sqlite3.Connection
    ) -> tuple[int, list[tuple[str, int]], dict[str, Session | str]]:
        """The last position, and the ``(id, last_seq)`` rows (and projections) of the
        sessions with an event after ``after``: a range of the events' primary key, so it
        costs what changed, whatever the number of sessions."""
        position = conn.execute("SELECT max(position) FROM events").fetchone()[0] or 0
        changed = [
            row[0]
            for row in conn.execute(
                "SELECT DISTINCT session_id FROM events WHERE position > ? AND position <= ?",
                (after, position),
            )
        ]
        found: list[tuple[str, int]] = []
        for start in range(0, len(changed), _IN_CHUNK):
            chunk = changed[start : start + _IN_CHUNK]
            marks = ", ".join("?" * len(chunk))
            found.extend(
                conn.execute(f"SELECT id, last_seq FROM sessions WHERE id IN ({marks})", chunk)  # noqa: S608
            )
        return position, found, self._known_tx(conn, found)

    async def count_sessions(self, *, statuses: Sequence[SessionStatus] | None = None) -> int:
        """Count sessions, optionally only those in the given statuses.

        Raises:
            ValueError: an unknown status.
            StorageError: the store cannot be read.
        """
        where, args = _session_filter(statuses, None)
        if where is None:
            return 0
        sql = f"SELECT count(*) FROM sessions{where}"  # noqa: S608 - placeholders only, values bound
        work = functools.partial(_fetch_one, sql, args)
        row = await self._run(functools.partial(self._db.run, work))
        return int(row[0]) if row is not None else 0

    async def queue_view(self, active: Sequence[SessionStatus]) -> tuple[int, list[Session]]:
        """How many sessions are queued, and the sessions in the ``active`` statuses, read in
        one trip to the store's thread: what one scheduler pass needs (an optional extra of
        the built-in stores; the engine counts and lists separately on other stores).

        Raises:
            ValueError: an unknown status.
            StorageError: the store cannot be read.
        """
        queued_where, queued_args = _session_filter([SessionStatus.QUEUED], None)
        count_sql = f"SELECT count(*) FROM sessions{queued_where}"  # noqa: S608 - placeholders only
        where, args = _session_filter(active, None)
        list_sql = (
            f"SELECT id, last_seq FROM sessions{where} ORDER BY created_at, rowid LIMIT ?"  # noqa: S608 - placeholders only
            if where is not None
            else None
        )
        params = (*args, check_limit(None))

        def work() -> tuple[int, list[Session]]:
            row = self._db.run(functools.partial(_fetch_one, count_sql, queued_args))
            sessions = [] if list_sql is None else self._list_sessions_sync(list_sql, params)
            return (int(row[0]) if row is not None else 0), sessions

        return await self._run(work)

    async def queue_changes(
        self, after: int | None, active: Sequence[SessionStatus]
    ) -> QueueChanges:
        """The queue (``after=None``) or the sessions changed since the position ``after``,
        and the sessions in the ``active`` statuses, in one read transaction (see
        `scopecraft.storage.QueueFeed.queue_changes()`). The changes are found by a
        range of the events' primary key and the sessions by theirs, so the cost follows what
        changed, not how many sessions are queued.

        Raises:
            ValueError: an unknown status, or a negative ``after``.
            StorageError: the store cannot be read.
        """
        if after is not None and after < 0:
            raise ValueError(f"after must be a position (0 or more), got {after}")
        queued_where, queued_args = _session_filter([SessionStatus.QUEUED], None)
        queued_sql = f"SELECT id, last_seq FROM sessions{queued_where} ORDER BY created_at, rowid"  # noqa: S608 - placeholders only
        where, args = _session_filter(active, None)
        active_sql = (
            f"SELECT id, last_seq FROM sessions{where} ORDER BY created_at, rowid"  # noqa: S608 - placeholders only
            if where is not None
            else None
        )

        def read(
            conn: sqlite3.Connection,
        ) -> tuple[int, list[tuple[str, int]], list[tuple[str, int]], dict[str, Session | str]]:
            if after is None:
                position = conn.execute("SELECT max(position) FROM events").fetchone()[0] or 0
                found, known = self._list_tx(queued_sql, queued_args, conn)
            else:
                position, found, known = self._changed_tx(after, conn)
            running: list[tuple[str, int]] = []
            if active_sql is not None:
                running, more = self._list_tx(active_sql, args, conn)
                known.update(more)
            return position, found, running, known

        def work() -> QueueChanges:
            position, found, running, known = self._db.run(read, snapshot=True)
            return QueueChanges(
                position=position,
                sessions=tuple(self._sessions_of(found, known)),
                active=tuple(self._sessions_of(running, known)),
            )

        return await self._run(work)

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
            StorageError: the store cannot be read.
        """
        if session_id is None:
            sql = "SELECT position, body FROM events WHERE position > ? ORDER BY position LIMIT ?"
            params: tuple[Any, ...] = (after or 0, check_limit(limit))
        else:
            sql = (
                "SELECT position, body FROM events WHERE session_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?"
            )
            params = (session_id, after or 0, check_limit(limit))
        return await self._run(functools.partial(self._read_events_sync, sql, params))

    def _read_events_sync(self, sql: str, params: tuple[Any, ...]) -> list[StoredEvent]:
        rows = self._db.run(functools.partial(_fetch_all, sql, params))
        try:
            return [StoredEvent(position, event_from_json(body)) for position, body in rows]
        except pydantic.ValidationError as exc:
            raise StorageError(
                f"a stored event in {self._path} cannot be read (written by another version?)"
            ) from exc

    async def replay(self, session_id: str) -> Session:
        """Rebuild a session's projection from its stored events (parsing only the events
        that change more than its ``last_seq``), for checks and repairs.

        Raises:
            SessionNotFound: the session has no events.
            StorageError: a stored event cannot be read.
        """
        sql = "SELECT type, seq, ts, body FROM events WHERE session_id = ? ORDER BY seq"

        def work() -> Session | None:
            rows = self._db.run(functools.partial(_fetch_all, sql, (session_id,)))
            try:
                return replay_rows((t, s, from_micros(ts), b) for t, s, ts, b in rows)
            except pydantic.ValidationError as exc:
                raise StorageError(f"a stored event of {session_id} cannot be read") from exc

        session = await self._run(work)
        if session is None:
            raise SessionNotFound(session_id)
        return session

    async def read_logs(
        self, session_id: str, *, after: int = 0, limit: int | None = None
    ) -> list[LogEntry]:
        """Return a session's log lines with ``seq`` greater than ``after``, in order.

        Raises:
            ValueError: a negative ``limit``.
            StorageError: the store cannot be read.
        """
        sql = (
            "SELECT seq, ts, stream, text FROM logs WHERE session_id = ? AND seq > ?"
            " ORDER BY seq LIMIT ?"
        )
        params = (session_id, after, check_limit(limit))
        return await self._run(functools.partial(self._read_logs_sync, sql, params))

    def _read_logs_sync(self, sql: str, params: tuple[Any, ...]) -> list[LogEntry]:
        rows = self._db.run(functools.partial(_fetch_all, sql, params))
        return [
            LogEntry(seq=seq, ts=from_micros(ts), stream=stream, text=text)
            for seq, ts, stream, text in rows
        ]

    async def get_cursor(self, session_id: str) -> dict[str, Any] | None:
        """Return the session's output cursor, or ``None`` when none was stored.

        Raises:
            StorageError: the store cannot be read.
        """
        work = functools.partial(
            _fetch_one, "SELECT body FROM cursors WHERE session_id = ?", (session_id,)
        )
        row = await self._run(functools.partial(self._db.run, work))
        return None if row is None else load_cursor(row[0])

    # -- leases --------------------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, ttl: float) -> bool:
        """Take or renew the lease ``name`` for ``holder`` for ``ttl`` seconds.

        Expiry is compared against the database's clock inside one write transaction, so two
        processes never both hold a lease.

        Returns:
            True when ``holder`` now holds the lease.

        Raises:
            ValueError: an empty name or holder, or a ``ttl`` that is not positive.
            StorageBusy: the store stayed locked past every retry.
            StorageError: SQLite failed otherwise.
        """
        check_lease_args(name, holder, ttl)

        def work(conn: sqlite3.Connection) -> bool:
            conn.execute(_ACQUIRE_LEASE, (name, holder, float(ttl)))
            row = conn.execute("SELECT holder FROM leases WHERE name = ?", (name,)).fetchone()
            return row is not None and row[0] == holder

        return await self._run(functools.partial(self._db.run, work, write=True))

    async def take_over_lease(
        self, name: str, expected_holder: str, new_holder: str, ttl: float
    ) -> bool:
        """Give the lease ``name`` to ``new_holder`` for ``ttl`` seconds if ``expected_holder``
        holds it, expired or not (one write transaction compares and sets the holder).

        Returns:
            True when ``new_holder`` now holds the lease.

        Raises:
            ValueError: an empty name or holder, or a ``ttl`` that is not positive.
            StorageBusy: the store stayed locked past every retry.
            StorageError: SQLite failed otherwise.
        """
        check_lease_args(name, expected_holder, ttl)
        check_lease_args(name, new_holder, ttl)

        def work(conn: sqlite3.Connection) -> bool:
            cursor = conn.execute(_TAKE_OVER_LEASE, (new_holder, float(ttl), name, expected_holder))
            return cursor.rowcount == 1

        return await self._run(functools.partial(self._db.run, work, write=True))

    async def release_lease(self, name: str, holder: str) -> None:
        """Give up the lease if ``holder`` holds it; otherwise do nothing.

        Raises:
            StorageBusy: the store stayed locked past every retry.
            StorageError: SQLite failed otherwise.
        """

        def work(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM leases WHERE name = ? AND holder = ?", (name, holder))

        await self._run(functools.partial(self._db.run, work, write=True))

    async def lease_holder(self, name: str) -> str | None:
        """Return who holds the lease now (an unexpired one), or ``None``.

        Raises:
            StorageError: the store cannot be read.
        """
        work = functools.partial(
            _fetch_one,
            f"SELECT holder FROM leases WHERE name = ? AND expires_at > {_DB_NOW}",  # noqa: S608 - a constant
            (name,),
        )
        row = await self._run(functools.partial(self._db.run, work))
        return None if row is None else str(row[0])


def _fetch_one(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> Any:
    return conn.execute(sql, params).fetchone()


def _fetch_all(sql: str, params: tuple[Any, ...], conn: sqlite3.Connection) -> list[Any]:
    return conn.execute(sql, params).fetchall()


def _log_rows(
    session_id: str, last_seq: int, logs: Sequence[LogLine]
) -> list[tuple[str, int, int, str, str]]:
    # The hot path of log collection: plain loop, no per-line model validation.
    rows: list[tuple[str, int, int, str, str]] = []
    append = rows.append
    streams = LOG_STREAMS
    epoch, microsecond = EPOCH, MICROSECOND
    seq = last_seq
    for line in logs:
        ts = line.ts
        if ts.tzinfo is not UTC:
            ts = log_timestamp(ts)
        stream = line.stream
        if stream not in streams:
            raise stream_error(stream)
        seq += 1
        append((session_id, seq, (ts - epoch) // microsecond, stream, line.text))
    return rows


def _session_filter(
    statuses: Sequence[SessionStatus] | None, task_id: str | None
) -> tuple[str | None, tuple[Any, ...]]:
    """Return a WHERE clause and its arguments; ``None`` when nothing can match.

    Raises:
        ValueError: an unknown status.
    """
    clauses: list[str] = []
    args: list[Any] = []
    if statuses is not None:
        if not statuses:
            return None, ()
        values = sorted({SessionStatus(s).value for s in statuses})
        clauses.append(f"status IN ({', '.join('?' * len(values))})")
        args.extend(values)
    if task_id is not None:
        clauses.append("task_id = ?")
        args.append(task_id)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    return where, tuple(args)


def _path_of_url(url: str) -> str | None:
    """The file of a ``sqlite://`` URL (``None``: the default file).

    Raises:
        ConfigError: not a ``sqlite://`` URL, or one with a query or a fragment.
    """
    scheme, sep, rest = url.partition("://")
    if not sep or scheme.lower() != "sqlite":
        raise ConfigError(f"not a SQLite URL: {url!r}; use sqlite:///path/to/file.db")
    if "?" in rest or "#" in rest:
        raise ConfigError(f"a SQLite URL takes no query or fragment: {url!r}")
    return rest or None
