"""One SQLite connection with scopecraft's pragmas, schema versions and lock handling.

`SqliteDatabase` is blocking and confined to one thread at a time; ``SqliteStorage``
calls it from a worker thread, never from the event loop.

Every write is one ``BEGIN IMMEDIATE`` transaction: the write lock is taken up front, so two
writers never deadlock on a lock upgrade, and SQLite's busy handler waits for the lock. The few
cases where SQLite reports ``database is locked`` without waiting (WAL recovery, a change of
journal mode) are retried with backoff; only when every retry fails does
`StorageBusy` reach the caller, never sqlite3's own error.
"""

from __future__ import annotations

import functools
import logging
import os
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Final, Literal, TypeVar

from scopecraft._errors import SchemaError, StorageBusy, StorageError
from scopecraft._private import private_dir, private_file

from . import _sqlite_schema

__all__ = ["SqliteDatabase", "is_busy"]

logger = logging.getLogger("scopecraft.storage")

_T = TypeVar("_T")

_RETRY_ATTEMPTS: Final = 8
_RETRY_WAIT_INITIAL: Final = 0.02
_RETRY_WAIT_MAX: Final = 1.0
_RETRY_WAIT_JITTER: Final = 0.05

Work = Callable[[sqlite3.Connection], _T]


def is_busy(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite saying another connection holds a lock."""
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
    message = str(exc).lower()
    return "locked" in message or "busy" in message


class SqliteDatabase:
    """A store file: opening (pragmas, migrations, store id), transactions with retries, closing.

    Args:
        path: The database file.
        home: A folder to create (mode 0700) before opening, for the default location.
        synchronous: ``NORMAL`` or ``FULL``.
        busy_timeout: Seconds SQLite waits for another writer's lock.
    """

    def __init__(
        self,
        path: Path,
        *,
        home: Path | None,
        synchronous: Literal["NORMAL", "FULL"],
        busy_timeout: float,
    ) -> None:
        self.path = path
        self._home = home
        self._synchronous = synchronous
        self._busy_timeout = busy_timeout
        self._conn: sqlite3.Connection | None = None
        self.store_id: str | None = None

    @property
    def is_open(self) -> bool:
        """Whether a connection is open."""
        return self._conn is not None

    def open(self) -> None:
        """Connect, set the pragmas, create or migrate the schema; does nothing when open.

        Raises:
            SchemaError: the file was written by a newer scopecraft.
            StorageBusy: the file stayed locked past every retry.
            StorageError: the file cannot be opened or migrated.
        """
        if self._conn is not None:
            return
        try:
            if self._home is not None:
                private_dir(self._home)
            else:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            private_file(self.path)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(f"{self.path}{suffix}"):
                    private_file(Path(f"{self.path}{suffix}"))
            conn = sqlite3.connect(
                self.path,
                timeout=self._busy_timeout,
                isolation_level=None,
                check_same_thread=False,
                cached_statements=256,
            )
        except (OSError, sqlite3.Error) as exc:
            raise StorageError(f"cannot open the store {self.path}: {exc}") from exc
        self._conn = conn
        try:
            self.run(self._configure)
            self._migrate()
        except BaseException:
            self._conn = None
            conn.close()
            raise
        logger.debug("opened store %s (id %s)", self.path, self.store_id)

    def close(self) -> None:
        """Close the connection; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()
            logger.debug("closed store %s", self.path)

    def run(self, work: Work[_T], *, write: bool = False, snapshot: bool = False) -> _T:
        """Run ``work`` on the connection, retrying while SQLite is busy.

        Args:
            work: Takes the connection; must be safe to run again after a busy error.
            write: Run it in a ``BEGIN IMMEDIATE`` transaction (all or nothing).
            snapshot: Run it in a read transaction, so that its statements see one state.

        Raises:
            StorageBusy: still busy after every retry.
            StorageError: the store is closed, or any other SQLite error.
        """
        begin = "BEGIN IMMEDIATE" if write else "BEGIN" if snapshot else None
        try:
            return self._attempt(work, begin)
        except sqlite3.Error as exc:
            if not is_busy(exc):
                raise StorageError(f"store {self.path}: {exc}") from exc
            logger.info("store %s is busy (%s); retrying", self.path, exc)
        # Imported here: retries are rare, and the fast path should not pay for them.
        import stamina

        try:
            for attempt in stamina.retry_context(
                on=is_busy,
                attempts=_RETRY_ATTEMPTS,
                timeout=max(self._busy_timeout, _RETRY_WAIT_MAX),
                wait_initial=_RETRY_WAIT_INITIAL,
                wait_max=_RETRY_WAIT_MAX,
                wait_jitter=_RETRY_WAIT_JITTER,
            ):
                with attempt:
                    return self._attempt(work, begin)
        except sqlite3.Error as exc:
            if is_busy(exc):
                raise StorageBusy(
                    f"the store {self.path} stayed locked by other writers past the busy"
                    f" timeout ({self._busy_timeout:g} s) and every retry; try again later or"
                    " raise busy_timeout"
                ) from exc
            raise StorageError(f"store {self.path}: {exc}") from exc
        raise StorageBusy(f"the store {self.path} stayed locked by other writers")

    def _attempt(self, work: Work[_T], begin: str | None) -> _T:
        conn = self._conn
        if conn is None:
            raise StorageError(f"the store {self.path} is closed; open it first")
        if begin is None:
            return work(conn)
        conn.execute(begin)
        try:
            result = work(conn)
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return result

    def _configure(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":
            logger.warning("store %s runs in journal mode %s, not WAL", self.path, mode)
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")

    def _migrate(self) -> None:
        latest = _sqlite_schema.latest_version()
        version, store_id = self.run(_read_meta)
        self._check_version(version, latest)
        if version < latest or store_id is None:
            store_id = self.run(functools.partial(self._migrate_tx, latest), write=True)
        self.store_id = store_id

    def _migrate_tx(self, latest: int, conn: sqlite3.Connection) -> str:
        # Read again under the write lock: another process may have migrated meanwhile.
        version, store_id = _read_meta(conn)
        self._check_version(version, latest)
        for target in range(version + 1, latest + 1):
            logger.info("migrating store %s to schema version %d", self.path, target)
            try:
                _sqlite_schema.MIGRATIONS[target - 1](conn)
            except sqlite3.Error as exc:
                raise StorageError(
                    f"migrating the store {self.path} to schema version {target} failed: {exc};"
                    " nothing was changed"
                ) from exc
        conn.execute(
            "INSERT INTO meta (key, value) VALUES ('schema_version', ?)"
            " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (str(latest),),
        )
        if store_id is None:
            store_id = uuid.uuid4().hex
            conn.execute("INSERT INTO meta (key, value) VALUES ('store_id', ?)", (store_id,))
        return store_id

    def _check_version(self, version: int, latest: int) -> None:
        if version > latest:
            raise SchemaError(
                f"the store {self.path} has schema version {version}, but this scopecraft"
                f" understands versions up to {latest}; upgrade scopecraft to open it"
            )


def _read_meta(conn: sqlite3.Connection) -> tuple[int, str | None]:
    """Return the schema version (0 for an empty file) and the store id (if any).

    Raises:
        SchemaError: the stored version is not a number.
    """
    has_meta = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'"
    ).fetchone()
    if has_meta is None:
        return 0, None
    values = dict(conn.execute("SELECT key, value FROM meta").fetchall())
    raw_version = values.get("schema_version")
    try:
        version = int(raw_version) if raw_version is not None else 0
    except ValueError as exc:
        raise SchemaError(f"the store's schema version {raw_version!r} is not a number") from exc
    store_id = values.get("store_id")
    return version, None if store_id is None else str(store_id)
