"""An engine write costs the same at any depth of the queue: ``create_session`` and
``cancel_session``, and the scheduler pass each one wakes, read and write what changed, never
the whole queue (issue 13, item 19: writes had slowed to about 30/s at a depth of 10,000).

Nothing here is timed: the cost is counted, in SQL statements and SQLite virtual-machine
steps, and in the sessions the scheduler reads from the store.
"""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest

from scopecraft import Engine, PriorityQueuePolicy, SessionStatus
from scopecraft.engine._scheduler import SCHEDULER_LEASE
from scopecraft.events import SessionCancelled
from scopecraft.storage import QueueChanges, SqliteStorage, StorageAdapter
from scopecraft.testing._memory_storage import MemoryStorage
from scopecraft.testing.contracts.storage import new_session_id, queued_event

pytestmark = pytest.mark.anyio

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}
TASK = "ok-01A"
STEP = 10  # SQLite virtual-machine instructions per progress call


@attrs.define
class Cost:
    """What the store was asked to do during one operation."""

    statements: int = 0
    steps: int = 0
    sessions_read: int = 0


class CountingStore:
    """Counts, on a store, the SQL it runs (SQLite only) and the sessions handed to the
    scheduler by ``queue_changes``."""

    def __init__(self, store: StorageAdapter) -> None:
        self.store = store
        self.cost: Cost | None = None
        inner = store.queue_changes

        async def queue_changes(after: int | None, active: Any) -> QueueChanges | None:
            changes = await inner(after, active)
            if self.cost is not None and changes is not None:
                self.cost.sessions_read += len(changes.sessions)
            return changes

        store.queue_changes = queue_changes  # type: ignore[method-assign]
        if isinstance(store, SqliteStorage):
            conn: sqlite3.Connection = store._db._conn  # type: ignore[assignment]
            conn.set_trace_callback(self._statement)
            conn.set_progress_handler(self._steps, STEP)

    def _statement(self, sql: str) -> None:
        if self.cost is not None:
            self.cost.statements += 1

    def _steps(self) -> int:
        if self.cost is not None:
            self.cost.steps += STEP
        return 0  # go on

    @contextmanager
    def counting(self) -> Iterator[Cost]:
        """Count what the store does inside the block."""
        self.cost = cost = Cost()
        try:
            yield cost
        finally:
            self.cost = None


@attrs.frozen
class Costs:
    """The costs of one queue depth."""

    first_pass: Cost
    create: Cost
    create_pass: Cost
    cancel: Cost
    cancel_pass: Cost


@pytest.fixture(params=["sqlite", "memory"])
async def store(request: pytest.FixtureRequest, home: Path) -> AsyncIterator[StorageAdapter]:
    """A store of each built-in kind, opened (SQLite: a real file in the test's home)."""
    store: StorageAdapter = (
        SqliteStorage(home=home) if request.param == "sqlite" else MemoryStorage()
    )
    await store.open()
    yield store
    await store.close()


async def _costs(repo: Path, store: StorageAdapter, depth: int) -> Costs:
    """Fill the queue to ``depth``, then count a create, a cancel and the pass after each.

    Another holder keeps the scheduler lease, so that the engine runs no pass of its own:
    the test runs each pass itself, at the moment it chooses.
    """
    assert await store.acquire_lease(SCHEDULER_LEASE, "elsewhere:1:1:x:y", 3600)
    ids = [new_session_id() for _ in range(depth)]
    await store.append_batch([(sid, [queued_event(sid, task_id=TASK)]) for sid in ids])
    counter = CountingStore(store)
    policy = PriorityQueuePolicy({"autonomous": 0})  # starts nothing: every session stays queued
    config = {"archive_history": False, "lease_ttl": 3600}
    async with Engine.open(repo, storage=store, policy=policy, config=config) as engine:
        scheduler = engine._scheduler
        await scheduler.lease_decided.wait()
        assert scheduler.leader_scope is None
        async with anyio.create_task_group() as tg:
            with counter.counting() as first_pass:
                await scheduler.schedule_pass(tg)
            assert scheduler.index is not None
            assert len(scheduler.index) == depth
            # The first pass said why each session waits; this one reads those events back.
            await scheduler.schedule_pass(tg)
            with counter.counting() as create:
                session = await engine.create_session(TASK, **LOCAL)
            with counter.counting() as create_pass:
                await scheduler.schedule_pass(tg)
            assert session.id in scheduler.index
            with counter.counting() as cancel:
                assert await engine.cancel_session(session.id)
            with counter.counting() as cancel_pass:
                await scheduler.schedule_pass(tg)
            assert session.id not in scheduler.index
            assert len(scheduler.index) == depth
    return Costs(first_pass, create, create_pass, cancel, cancel_pass)


async def test_writes_cost_the_same_at_any_queue_depth(
    repo: Path, store: StorageAdapter, tmp_path: Path
) -> None:
    """At a depth of 500 a create, a cancel and the scheduler pass after each run as many
    SQL statements and SQLite steps, and hand the scheduler as many sessions, as at a depth
    of 50: one session each, the one written. Only the first pass, which builds the index and
    says why each session waits, grows with the queue (so the measure does see such work)."""
    shallow = await _costs(repo, store, 50)
    deep_store: StorageAdapter = (
        SqliteStorage(tmp_path / "deep.db") if isinstance(store, SqliteStorage) else MemoryStorage()
    )
    await deep_store.open()
    try:
        deep = await _costs(repo, deep_store, 500)
    finally:
        await deep_store.close()

    assert shallow.first_pass.sessions_read == 50
    assert deep.first_pass.sessions_read == 500
    for name in ("create_pass", "cancel_pass"):
        assert getattr(shallow, name).sessions_read == 1, name
        assert getattr(deep, name).sessions_read == 1, name
    if isinstance(store, SqliteStorage):
        assert deep.first_pass.steps > 5 * shallow.first_pass.steps
        for name in ("create", "create_pass", "cancel", "cancel_pass"):
            few, many = getattr(shallow, name), getattr(deep, name)
            assert many.statements == few.statements, name
            # Session ids are random: a few steps either way, never ten times as many.
            assert many.steps <= few.steps * 1.2 + 5 * STEP, (name, few, many)


async def test_the_index_follows_writes_of_other_processes(repo: Path, home: Path) -> None:
    """The scheduler's index, once built, takes in what another process (another connection
    to the same file) queued and cancelled, at its next pass, without listing the queue."""
    mine = SqliteStorage(home=home)
    other = SqliteStorage(home=home)
    await mine.open()
    await other.open()
    try:
        assert await mine.acquire_lease(SCHEDULER_LEASE, "elsewhere:1:1:x:y", 3600)
        staying, leaving = new_session_id(), new_session_id()
        for sid in (staying, leaving):
            await other.append(sid, [queued_event(sid, task_id=TASK)])
        listed: list[object] = []
        original = mine.list_sessions

        async def list_sessions(**kwargs: Any) -> Any:
            listed.append(kwargs)
            return await original(**kwargs)

        mine.list_sessions = list_sessions  # type: ignore[method-assign]
        policy = PriorityQueuePolicy({"autonomous": 0})
        config = {"archive_history": False, "lease_ttl": 3600}
        async with Engine.open(repo, storage=mine, policy=policy, config=config) as engine:
            scheduler = engine._scheduler
            await scheduler.lease_decided.wait()
            async with anyio.create_task_group() as tg:
                await scheduler.schedule_pass(tg)
                assert scheduler.index is not None
                assert {s.id for s in scheduler.index} == {staying, leaving}
                arrived = new_session_id()
                await other.append(arrived, [queued_event(arrived, task_id=TASK)])
                await other.append(leaving, [SessionCancelled(session_id=leaving, attempt=1)])
                await scheduler.schedule_pass(tg)
                assert {s.id for s in scheduler.index} == {staying, arrived}
                assert (await mine.get_session(leaving)).status is SessionStatus.CANCELLED
        assert listed == []
    finally:
        await other.close()
        await mine.close()
