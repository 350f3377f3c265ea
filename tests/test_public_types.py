"""The public API's types, as a user's type checker sees them.

Each `assert_type` is checked statically by mypy (CI runs ``mypy scopecraft tests``) and, as
it returns its argument, the calls also run here against a real engine: a signature whose
declared type drifts from what it returns fails one or the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import assert_type

import scopecraft
from scopecraft import (
    Engine,
    LogEntry,
    Priority,
    Session,
    SessionMode,
    SessionStatus,
    SyncEngine,
    Task,
)


def test_the_sync_engine_returns_what_it_declares(repo: Path, home: Path) -> None:
    """connect() → SyncEngine; sessions, tasks, logs and costs of their declared types."""
    with scopecraft.connect(repo, home=home) as engine:
        assert_type(engine, SyncEngine)
        session = assert_type(
            engine.create_session("ok-01A", mode="autonomous", executor="local", agent="fake"),
            Session,
        )
        assert isinstance(session, Session)
        done = assert_type(engine.wait(session.id, timeout=60), Session)
        assert isinstance(done.status, SessionStatus)
        assert_type(done.status, SessionStatus)
        assert_type(done.mode, SessionMode)
        assert_type(done.priority, Priority)
        assert_type(engine.get_session(session.id), Session)
        sessions = assert_type(engine.list_sessions(all=True), list[Session])
        assert [s.id for s in sessions] == [session.id]
        tasks = assert_type(engine.list_tasks(), list[Task])
        assert all(isinstance(t, Task) for t in tasks)
        assert_type(engine.get_task("ok-01A"), Task)
        logs = assert_type(engine.session_logs(session.id), Iterator[LogEntry])
        assert all(isinstance(entry, LogEntry) for entry in logs)
        costs = assert_type(engine.costs(), dict[str, float])
        assert all(isinstance(v, float) for v in costs.values())


async def _async_types(repo: Path, home: Path) -> None:
    """Checked by mypy only: the async engine's verbs have the same result types."""
    async with Engine.open(repo, home=home) as engine:
        assert_type(engine, Engine)
        session = assert_type(
            await engine.create_session("ok-01A", mode="autonomous", executor="local"), Session
        )
        assert_type(await engine.wait(session.id), Session)
        assert_type(await engine.list_sessions(), list[Session])
        assert_type(await engine.list_tasks(), list[Task])
        async for entry in engine.session_logs(session.id):
            assert_type(entry, LogEntry)
