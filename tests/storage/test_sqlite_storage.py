"""What only the SQLite store does: files, pragmas, triggers, schema versions, locking."""

from __future__ import annotations

import sqlite3
import stat
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import closing
from importlib.metadata import entry_points
from pathlib import Path

import anyio
import pytest
import stamina
from blockbuster import blockbuster_ctx

from scopecraft._errors import ConfigError, SchemaError, StorageBusy, StorageError
from scopecraft._models import SessionStatus, utcnow
from scopecraft.events import AgentMessage, SessionStarted
from scopecraft.storage import LogLine, SqliteStorage, _sqlite_schema
from scopecraft.testing.contracts.storage import new_session_id, queued_event


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A path for a new store file."""
    return tmp_path / "scopecraft.db"


@pytest.fixture
async def store(db: Path) -> AsyncIterator[SqliteStorage]:
    """An opened store on ``db``."""
    async with SqliteStorage(db) as opened:
        yield opened


@pytest.fixture
def raw(db: Path, store: SqliteStorage) -> Iterator[sqlite3.Connection]:
    """A plain sqlite3 connection to the store's file (after the store created it)."""
    with closing(sqlite3.connect(db, isolation_level=None, check_same_thread=False)) as conn:
        yield conn


def _line(text: str) -> LogLine:
    return LogLine(stream="stdout", text=text, ts=utcnow())


async def _fill(store: SqliteStorage) -> str:
    sid = new_session_id()
    await store.append(sid, [queued_event(sid)], [_line("one")], cursor={"offset": 1})
    await store.append(sid, [SessionStarted(session_id=sid, attempt=1, runtime_id="rt")])
    return sid


@pytest.mark.anyio
async def test_reopened_file_has_everything(db: Path) -> None:
    """Everything written is there after the store is closed and the file opened again by a
    new object: sessions, events, logs, cursors, leases and the store id."""
    async with SqliteStorage(db) as first:
        sid = await _fill(first)
        assert await first.acquire_lease("scheduler", "engine-a", 60)
        store_id = first.store_id
        events = await first.read_events(sid)
        session = await first.get_session(sid)
    async with SqliteStorage(db) as second:
        assert second.store_id == store_id
        assert await second.get_session(sid) == session
        assert await second.read_events(sid) == events
        assert [e.text for e in await second.read_logs(sid)] == ["one"]
        assert await second.get_cursor(sid) == {"offset": 1}
        assert await second.lease_holder("scheduler") == "engine-a"
        assert [s.id for s in await second.list_sessions(statuses=[SessionStatus.RUNNING])] == [sid]


@pytest.mark.anyio
async def test_same_object_can_be_opened_again(db: Path) -> None:
    """A closed ``SqliteStorage`` can be opened again and keeps working."""
    store = SqliteStorage(db)
    await store.open()
    sid = await _fill(store)
    await store.close()
    await store.open()
    try:
        assert (await store.get_session(sid)).status is SessionStatus.RUNNING
    finally:
        await store.close()


@pytest.mark.anyio
async def test_two_objects_see_each_others_writes(db: Path) -> None:
    """Two stores on one file (as two processes would be) always read the other's latest
    projection, even after each has cached it."""
    async with SqliteStorage(db) as a, SqliteStorage(db) as b:
        sid = new_session_id()
        await a.append(sid, [queued_event(sid)])
        assert (await b.get_session(sid)).status is SessionStatus.QUEUED
        await b.append(sid, [SessionStarted(session_id=sid, attempt=1, runtime_id="rt")])
        assert (await a.get_session(sid)).status is SessionStatus.RUNNING
        await a.append(sid, [AgentMessage(session_id=sid, text="hi")])
        assert (await b.get_session(sid)).last_seq == 3
        assert [s.last_seq for s in await b.list_sessions()] == [3]


def test_default_file_lives_in_scopecraft_home(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a path the file is ``$SCOPECRAFT_HOME/scopecraft.db``; ``home=`` wins over the
    variable."""
    monkeypatch.setenv("SCOPECRAFT_HOME", str(tmp_path / "env-home"))
    assert SqliteStorage().path == tmp_path / "env-home" / "scopecraft.db"
    assert SqliteStorage(home=tmp_path / "h").path == tmp_path / "h" / "scopecraft.db"
    assert SqliteStorage(tmp_path / "x.db", home=tmp_path / "h").path == tmp_path / "x.db"
    monkeypatch.delenv("SCOPECRAFT_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    assert SqliteStorage().path == tmp_path / "user" / ".scopecraft" / "scopecraft.db"


@pytest.mark.anyio
async def test_open_creates_a_private_home(tmp_path: Path) -> None:
    """Opening the default file creates its home folder, readable by its owner only."""
    home = tmp_path / "deep" / "home"
    async with SqliteStorage(home=home) as store:
        assert store.path.exists()
    assert stat.S_IMODE(home.stat().st_mode) == 0o700


@pytest.mark.anyio
@pytest.mark.parametrize(("synchronous", "level"), [("NORMAL", 1), ("FULL", 2)])
async def test_wal_and_synchronous_are_set(db: Path, synchronous: str, level: int) -> None:
    """The file is in WAL mode and the connection uses the ``synchronous`` level asked for."""
    async with SqliteStorage(db, synchronous=synchronous) as store:  # type: ignore[arg-type]
        conn = store._db._conn
        assert conn is not None

        def read(conn: sqlite3.Connection = conn) -> int:
            return int(conn.execute("PRAGMA synchronous").fetchone()[0])

        value = await anyio.to_thread.run_sync(read, limiter=store._limiter)
        assert value == level
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_registered_as_the_sqlite_entry_point() -> None:
    """The ``scopecraft.storage`` entry point ``sqlite`` loads ``SqliteStorage``."""
    (entry,) = entry_points(group="scopecraft.storage", name="sqlite")
    assert entry.load() is SqliteStorage


def test_bad_settings_are_refused(db: Path) -> None:
    """An unknown ``synchronous`` value or a negative busy timeout raises ConfigError."""
    with pytest.raises(ConfigError, match="synchronous"):
        SqliteStorage(db, synchronous="OFF")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="busy_timeout"):
        SqliteStorage(db, busy_timeout=-1)


@pytest.mark.anyio
async def test_unopened_store_refuses_calls(db: Path) -> None:
    """Before ``open`` the store id and every call raise StorageError."""
    store = SqliteStorage(db)
    with pytest.raises(StorageError, match="open"):
        _ = store.store_id
    with pytest.raises(StorageError, match="open"):
        await store.list_sessions()
    await store.close()


@pytest.mark.anyio
async def test_a_file_that_is_not_a_store_is_refused(db: Path) -> None:
    """Opening a file that is not an SQLite database raises StorageError, not sqlite3's own."""
    await anyio.Path(db).write_bytes(b"this is not a database, it is a text file" * 100)
    with pytest.raises(StorageError) as caught:
        await SqliteStorage(db).open()
    assert isinstance(caught.value.__cause__, sqlite3.DatabaseError)


@pytest.mark.anyio
@pytest.mark.parametrize("table", ["events", "logs"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET seq = seq + 100", "DELETE FROM {table}"])
async def test_events_and_logs_are_append_only(
    store: SqliteStorage, raw: sqlite3.Connection, table: str, statement: str
) -> None:
    """A trigger refuses UPDATE and DELETE on events and logs, even from plain sqlite3."""
    await _fill(store)
    count = f"SELECT count(*), sum(seq) FROM {table}"  # noqa: S608 - a parametrized table name
    (before,) = raw.execute(count).fetchall()
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        raw.execute(statement.format(table=table))
    assert raw.execute(count).fetchall() == [before]


@pytest.mark.anyio
async def test_newer_schema_is_refused(db: Path) -> None:
    """A store written by a newer scopecraft (a higher schema version) raises SchemaError
    and is left untouched."""
    async with SqliteStorage(db):
        pass
    newer = _sqlite_schema.latest_version() + 1
    with closing(sqlite3.connect(db, isolation_level=None)) as conn:
        conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(newer),))
    store = SqliteStorage(db)
    with pytest.raises(SchemaError, match="upgrade scopecraft"):
        await store.open()
    with pytest.raises(StorageError):
        await store.list_sessions()
    with closing(sqlite3.connect(db)) as conn:
        version = conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()
    assert version == (str(newer),)


@pytest.mark.anyio
async def test_older_schema_is_migrated(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Opening a store of an older schema runs the missing migrations once, in order, and
    keeps the data."""
    async with SqliteStorage(db) as old:
        sid = await _fill(old)
        store_id = old.store_id
    ran: list[int] = []

    def to_v2(conn: sqlite3.Connection) -> None:
        ran.append(2)
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('migrated')")

    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", [*_sqlite_schema.MIGRATIONS, to_v2])
    async with SqliteStorage(db) as new:
        assert new.store_id == store_id
        assert (await new.get_session(sid)).status is SessionStatus.RUNNING
    async with SqliteStorage(db):
        pass
    assert ran == [2]
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "2",
        )
        assert conn.execute("SELECT text FROM notes").fetchall() == [("migrated",)]


@pytest.mark.anyio
async def test_failed_migration_changes_nothing(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A migration that fails rolls back entirely: the version and the tables stay as they
    were, and the error says which version failed."""
    async with SqliteStorage(db):
        pass

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half_done (id INTEGER)")
        conn.execute("ALTER TABLE no_such_table ADD COLUMN x TEXT")

    monkeypatch.setattr(_sqlite_schema, "MIGRATIONS", [*_sqlite_schema.MIGRATIONS, broken])
    with pytest.raises(StorageError, match="schema version 2"):
        await SqliteStorage(db).open()
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone() == (
            "1",
        )
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master")}
    assert "half_done" not in tables


@pytest.mark.anyio
async def test_a_writer_is_waited_for(store: SqliteStorage, raw: sqlite3.Connection) -> None:
    """While another connection holds the write lock briefly, an append waits and then
    succeeds instead of failing with 'database is locked'."""
    sid = new_session_id()
    raw.execute("BEGIN IMMEDIATE")
    timer = threading.Timer(0.2, raw.execute, ("COMMIT",))
    timer.start()
    try:
        started = time.monotonic()
        await store.append(sid, [queued_event(sid)])
        assert time.monotonic() - started >= 0.15
    finally:
        timer.join()
    assert (await store.get_session(sid)).id == sid


@pytest.mark.anyio
async def test_a_store_locked_too_long_raises_storage_busy(db: Path) -> None:
    """When the write lock stays taken past the busy timeout and every retry, the caller gets
    StorageBusy (chained to SQLite's error), never sqlite3's 'database is locked'; once the
    lock is free, writes work again."""
    async with SqliteStorage(db, busy_timeout=0.05) as store:
        with closing(sqlite3.connect(db, isolation_level=None)) as blocker:
            blocker.execute("BEGIN IMMEDIATE")
            with stamina.set_testing(True, attempts=2):
                sid = new_session_id()
                with pytest.raises(StorageBusy) as caught:
                    await store.append(sid, [queued_event(sid)])
            assert isinstance(caught.value.__cause__, sqlite3.OperationalError)
            blocker.execute("ROLLBACK")
        await store.append(sid, [queued_event(sid)])
        assert (await store.get_session(sid)).id == sid


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_event_loop_is_never_blocked(db: Path) -> None:
    """No call does blocking I/O on the event loop's thread (blockbuster watches asyncio)."""
    store = SqliteStorage(db)
    with blockbuster_ctx():
        await store.open()
        sid = await _fill(store)
        await store.get_session(sid)
        await store.list_sessions()
        await store.read_events(sid)
        await store.read_logs(sid)
        await store.acquire_lease("scheduler", "engine-a", 5)
        await store.close()
