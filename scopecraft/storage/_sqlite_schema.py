"""The SQLite store's schema and its migrations.

The schema version lives in the ``meta`` table. `MIGRATIONS` holds one function per
version: ``MIGRATIONS[0]`` builds version 1 from an empty file, ``MIGRATIONS[1]`` would take
version 1 to 2, and so on. They run in one write transaction at `SqliteStorage.open()`, so
a store is never left half migrated. Never edit a released migration: append a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

__all__ = ["MIGRATIONS", "Migration", "latest_version"]

Migration = Callable[[sqlite3.Connection], None]
"""Takes a store from one schema version to the next, inside an open write transaction."""

_V1 = (
    # Everything that is not a table of its own: schema_version, store_id.
    """
    CREATE TABLE IF NOT EXISTS meta (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    )
    """,
    # The projection of each session (JSON) beside the columns that lists filter and sort on.
    # last_seq lets a reader reuse a projection it already parsed: (id, last_seq) names it.
    # Every timestamp column holds microseconds since the epoch (UTC): cheap to write and to
    # sort; `datetime(ts / 1e6, 'unixepoch')` shows one in the sqlite3 shell.
    """
    CREATE TABLE sessions (
        id         TEXT PRIMARY KEY,
        status     TEXT NOT NULL,
        task_id    TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seq   INTEGER NOT NULL,
        body       TEXT NOT NULL
    )
    """,
    # Covering indexes: a listing finds ids and last_seq without reading any projection.
    "CREATE INDEX sessions_by_status ON sessions (status, created_at, id, last_seq)",
    "CREATE INDEX sessions_by_task ON sessions (task_id, created_at, id, last_seq)",
    "CREATE INDEX sessions_by_created ON sessions (created_at, id, last_seq)",
    # AUTOINCREMENT: a position is never handed out twice, even if a later version archives
    # old events away.
    """
    CREATE TABLE events (
        position   INTEGER PRIMARY KEY AUTOINCREMENT,
        session_id TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        type       TEXT NOT NULL,
        ts         INTEGER NOT NULL,
        body       TEXT NOT NULL,
        UNIQUE (session_id, seq)
    )
    """,
    """
    CREATE TABLE logs (
        session_id TEXT NOT NULL,
        seq        INTEGER NOT NULL,
        ts         INTEGER NOT NULL,
        stream     TEXT NOT NULL,
        text       TEXT NOT NULL,
        UNIQUE (session_id, seq)
    )
    """,
    """
    CREATE TABLE cursors (
        session_id TEXT PRIMARY KEY,
        body       TEXT NOT NULL
    )
    """,
    # expires_at is in seconds since the epoch by the database's clock.
    """
    CREATE TABLE leases (
        name       TEXT PRIMARY KEY,
        holder     TEXT NOT NULL,
        expires_at REAL NOT NULL
    )
    """,
    *(
        f"""
        CREATE TRIGGER {table}_append_only_{action.lower()}
        BEFORE {action} ON {table}
        BEGIN
            SELECT RAISE(ABORT, '{table} are append-only: {action} is refused');
        END
        """
        for table in ("events", "logs")
        for action in ("UPDATE", "DELETE")
    ),
)


def _to_v1(conn: sqlite3.Connection) -> None:
    for statement in _V1:
        conn.execute(statement)


MIGRATIONS: list[Migration] = [_to_v1]
"""``MIGRATIONS[n]`` takes a store from version ``n`` to ``n + 1``."""


def latest_version() -> int:
    """The schema version this scopecraft writes."""
    return len(MIGRATIONS)
