"""The contract every `StorageAdapter` keeps, as pytest tests.

Subclass `StorageContract` in a test module (its name must start with ``Test``) and
give it a ``storage`` fixture that yields an opened store and closes it afterwards::

    import pytest
    from scopecraft.testing.contracts.storage import StorageContract

    class TestMyStorage(StorageContract):
        @pytest.fixture
        async def storage(self, tmp_path):
            store = MyStorage(tmp_path / "store")
            await store.open()
            yield store
            await store.close()

The tests are async (``@pytest.mark.anyio``), so the anyio pytest plugin runs them; give your
test session an ``anyio_backend`` fixture to choose asyncio, trio or both. Each test uses fresh
session ids and lease names and counts relative to what the store already holds, so the store
need not be empty. Lease expiry is checked with ttls of a fraction of a second.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import anyio
import pytest

from scopecraft._errors import (
    CursorMoved,
    DuplicateSession,
    InvalidTransition,
    SessionNotFound,
    StorageError,
)
from scopecraft._models import Priority, SessionMode, SessionStatus, utcnow
from scopecraft.events import (
    ENGINE_STREAM,
    AgentMessage,
    CostReported,
    Event,
    QueueDepthReported,
    SessionCompleted,
    SessionQueued,
    SessionStarted,
    SessionStarting,
    ToolUsed,
)
from scopecraft.storage._protocol import LogLine, QueueChanges, StorageAdapter

__all__ = ["StorageContract", "new_session_id", "queued_event"]

_T0 = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)


def new_session_id() -> str:
    """Return a fresh, valid session id."""
    return f"ses-{uuid.uuid4().hex[:16]}"


def queued_event(
    session_id: str,
    *,
    task_id: str = "auth-05A",
    ts: datetime | None = None,
    **fields: Any,
) -> SessionQueued:
    """Return a ``session_queued`` event with plausible defaults."""
    values: dict[str, Any] = {
        "session_id": session_id,
        "task_id": task_id,
        "mode": SessionMode.AUTONOMOUS,
        "priority": Priority.MEDIUM,
        "executor": "docker",
        "agent": "fake",
        **fields,
    }
    if ts is not None:
        values["ts"] = ts
    return SessionQueued(**values)


def _message(session_id: str, text: str) -> AgentMessage:
    return AgentMessage(session_id=session_id, text=text)


def _line(text: str, stream: str = "stdout", ts: datetime | None = None) -> LogLine:
    return LogLine(stream=stream, text=text, ts=ts or utcnow())  # type: ignore[arg-type]


def _is_utc(ts: datetime | None) -> bool:
    return ts is not None and ts.tzinfo is not None and ts.utcoffset() == timedelta(0)


class StorageContract:
    """Behaviour every storage adapter must have. Subclass it and provide ``storage``."""

    # -- sessions and events -------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_session_queued_creates_the_session(self, storage: StorageAdapter) -> None:
        """A ``session_queued`` event creates a session whose projection carries its fields."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid, task_id="auth-05A", ts=_T0, model="m1")])
        session = await storage.get_session(sid)
        assert session.id == sid
        assert session.task_id == "auth-05A"
        assert session.status is SessionStatus.QUEUED
        assert session.mode is SessionMode.AUTONOMOUS
        assert session.model == "m1"
        assert session.created_at == _T0
        assert session.last_seq == 1

    @pytest.mark.anyio
    async def test_seqs_are_assigned_from_one_without_gaps(self, storage: StorageAdapter) -> None:
        """Events get seq 1, 2, 3... across calls, and the session id they are appended to."""
        sid = new_session_id()
        first = await storage.append(sid, [queued_event(sid), _message("ses-other", "a")])
        second = await storage.append(sid, [_message(sid, "b"), _message(sid, "c")])
        assert [e.seq for e in first + second] == [1, 2, 3, 4]
        assert {e.session_id for e in first + second} == {sid}
        stored = await storage.read_events(sid)
        assert [s.event.seq for s in stored] == [1, 2, 3, 4]
        assert [getattr(s.event, "text", None) for s in stored] == [None, "a", "b", "c"]

    @pytest.mark.anyio
    async def test_concurrent_appends_get_unique_seqs(self, storage: StorageAdapter) -> None:
        """Appends from many tasks at once never share a seq and leave no gap."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid)])

        async def writer(n: int) -> None:
            for i in range(5):
                await storage.append(sid, [_message(sid, f"{n}-{i}")], [_line(f"{n}-{i}")])

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(writer, n)
        seqs = [s.event.seq for s in await storage.read_events(sid)]
        assert seqs == list(range(1, 42))
        assert [e.seq for e in await storage.read_logs(sid)] == list(range(1, 41))
        assert (await storage.get_session(sid)).last_seq == 41

    @pytest.mark.anyio
    async def test_projection_follows_the_lifecycle(self, storage: StorageAdapter) -> None:
        """The stored projection reflects each lifecycle event as it is appended."""
        sid = new_session_id()
        t = [_T0 + timedelta(seconds=i) for i in range(6)]
        await storage.append(sid, [queued_event(sid, ts=t[0])])
        await storage.append(
            sid, [SessionStarting(session_id=sid, attempt=1, runtime_name="rt", ts=t[1])]
        )
        assert (await storage.get_session(sid)).status is SessionStatus.STARTING
        await storage.append(
            sid, [SessionStarted(session_id=sid, attempt=1, runtime_id="abc", ts=t[2])]
        )
        running = await storage.get_session(sid)
        assert running.status is SessionStatus.RUNNING
        assert running.started_at == t[2]
        assert running.runtime_id == "abc"
        await storage.append(
            sid,
            [
                ToolUsed(session_id=sid, name="Bash", ts=t[3]),
                CostReported(session_id=sid, usd=0.5, total_usd=1.25, ts=t[4]),
                SessionCompleted(session_id=sid, attempt=1, exit_code=0, ts=t[5]),
            ],
        )
        done = await storage.get_session(sid)
        assert done.status is SessionStatus.COMPLETED
        assert done.is_terminal
        assert done.cost_usd == 1.25
        assert done.exit_code == 0
        assert done.started_at == t[2]
        assert done.ended_at == t[5]
        assert done.updated_at == t[5]
        assert done.last_seq == 6

    @pytest.mark.anyio
    async def test_second_session_queued_is_refused(self, storage: StorageAdapter) -> None:
        """A second ``session_queued`` raises DuplicateSession and changes nothing."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid, task_id="first")])
        with pytest.raises(DuplicateSession):
            await storage.append(sid, [queued_event(sid, task_id="second")])
        other = new_session_id()
        with pytest.raises(DuplicateSession):
            await storage.append(other, [queued_event(other), queued_event(other)])
        assert (await storage.get_session(sid)).task_id == "first"
        assert len(await storage.read_events(sid)) == 1
        with pytest.raises(SessionNotFound):
            await storage.get_session(other)

    @pytest.mark.anyio
    async def test_event_for_unknown_session_is_refused(self, storage: StorageAdapter) -> None:
        """An event other than ``session_queued`` for an unknown session raises
        InvalidTransition and creates nothing."""
        sid = new_session_id()
        with pytest.raises(InvalidTransition):
            await storage.append(sid, [_message(sid, "too early")])
        with pytest.raises(SessionNotFound):
            await storage.get_session(sid)
        assert await storage.read_events(sid) == []

    @pytest.mark.anyio
    async def test_unknown_session_is_not_found(self, storage: StorageAdapter) -> None:
        """``get_session`` of an unknown id raises SessionNotFound, a LookupError."""
        with pytest.raises(SessionNotFound) as caught:
            await storage.get_session(new_session_id())
        assert isinstance(caught.value, LookupError)

    @pytest.mark.anyio
    async def test_engine_stream_has_events_but_no_session(self, storage: StorageAdapter) -> None:
        """Engine-wide events get seqs of their own and never become a session."""
        before = len(await storage.read_events(ENGINE_STREAM))
        stored = await storage.append(
            ENGINE_STREAM,
            [
                QueueDepthReported(session_id=ENGINE_STREAM, queued=3, running=1),
                QueueDepthReported(session_id=ENGINE_STREAM, queued=2, running=2),
            ],
        )
        assert [e.seq for e in stored] == [before + 1, before + 2]
        with pytest.raises(SessionNotFound):
            await storage.get_session(ENGINE_STREAM)
        assert ENGINE_STREAM not in {s.id for s in await storage.list_sessions()}
        events = await storage.read_events(ENGINE_STREAM, after=before)
        assert [getattr(s.event, "queued", None) for s in events] == [3, 2]
        with pytest.raises(InvalidTransition):
            await storage.append(ENGINE_STREAM, [queued_event(ENGINE_STREAM)])

    @pytest.mark.anyio
    async def test_empty_append_changes_nothing(self, storage: StorageAdapter) -> None:
        """An append with nothing to write returns no events and leaves the session as it was."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid)])
        assert await storage.append(sid) == []
        assert (await storage.get_session(sid)).last_seq == 1

    # -- listing and counting ------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_list_sessions_oldest_first_with_filters(self, storage: StorageAdapter) -> None:
        """Sessions are listed by creation time (not append order), filtered by status and
        task, and cut by limit."""
        task = f"list-{uuid.uuid4().hex[:8]}"
        late, early, middle = new_session_id(), new_session_id(), new_session_id()
        await storage.append(late, [queued_event(late, task_id=task, ts=_T0 + timedelta(3))])
        await storage.append(early, [queued_event(early, task_id=task, ts=_T0 + timedelta(1))])
        await storage.append(middle, [queued_event(middle, task_id=task, ts=_T0 + timedelta(2))])
        await storage.append(middle, [SessionStarted(session_id=middle, attempt=1, runtime_id="r")])
        listed = await storage.list_sessions(task_id=task)
        assert [s.id for s in listed] == [early, middle, late]
        queued = await storage.list_sessions(task_id=task, statuses=[SessionStatus.QUEUED])
        assert [s.id for s in queued] == [early, late]
        either = await storage.list_sessions(
            task_id=task, statuses=[SessionStatus.QUEUED, SessionStatus.RUNNING]
        )
        assert [s.id for s in either] == [early, middle, late]
        assert [s.id for s in await storage.list_sessions(task_id=task, limit=2)] == [
            early,
            middle,
        ]
        assert await storage.list_sessions(task_id=task, statuses=[]) == []
        assert await storage.list_sessions(task_id=f"{task}-none") == []
        everything = {s.id for s in await storage.list_sessions()}
        assert {early, middle, late} <= everything

    @pytest.mark.anyio
    async def test_count_sessions_by_status(self, storage: StorageAdapter) -> None:
        """``count_sessions`` counts all sessions or those in the given statuses."""
        before_all = await storage.count_sessions()
        before_running = await storage.count_sessions(statuses=[SessionStatus.RUNNING])
        ids = [new_session_id() for _ in range(3)]
        for sid in ids:
            await storage.append(sid, [queued_event(sid)])
        await storage.append(ids[0], [SessionStarted(session_id=ids[0], attempt=1, runtime_id="r")])
        assert await storage.count_sessions() == before_all + 3
        assert await storage.count_sessions(statuses=[SessionStatus.RUNNING]) == before_running + 1
        assert await storage.count_sessions(statuses=[]) == 0

    @pytest.mark.anyio
    async def test_queue_view_counts_queued_and_lists_active(self, storage: StorageAdapter) -> None:
        """``queue_view`` (the store's own or the protocol's default) gives the queued count
        and the sessions in the given statuses, as ``count_sessions`` and ``list_sessions``
        would."""
        view = storage.queue_view
        ids = [new_session_id() for _ in range(3)]
        for sid in ids:
            await storage.append(sid, [queued_event(sid)])
        await storage.append(ids[1], [SessionStarted(session_id=ids[1], attempt=1, runtime_id="r")])
        count, active = await view([SessionStatus.STARTING, SessionStatus.RUNNING])
        assert count == await storage.count_sessions(statuses=[SessionStatus.QUEUED])
        expected = await storage.list_sessions(
            statuses=[SessionStatus.STARTING, SessionStatus.RUNNING]
        )
        assert [s.id for s in active] == [s.id for s in expected]
        assert ids[1] in {s.id for s in active}
        assert await view([]) == (count, [])

    @pytest.mark.anyio
    async def test_queue_changes_gives_the_queue_then_what_changed(
        self, storage: StorageAdapter
    ) -> None:
        """``queue_changes`` (an optional extra): with ``after=None`` every queued session and
        the active ones; from its ``position`` on, each session changed since (whatever its
        status now) once, as it is now, and no other; engine-wide events move the position
        only; asking again from the last position gives nothing."""
        if await storage.queue_changes(None, []) is None:
            pytest.skip("this store offers no queue_changes")

        async def changes(after: int | None, active: Sequence[SessionStatus]) -> QueueChanges:
            got = await storage.queue_changes(after, active)
            assert got is not None, "a store that offers queue_changes answers every call"
            return got

        in_flight = [SessionStatus.STARTING, SessionStatus.RUNNING]
        waiting, starts, talks = (new_session_id() for _ in range(3))
        for sid in (waiting, starts, talks):
            await storage.append(sid, [queued_event(sid)])
        first = await changes(None, in_flight)
        queued = await storage.list_sessions(statuses=[SessionStatus.QUEUED])
        assert [s.id for s in first.sessions] == [s.id for s in queued]
        assert {waiting, starts, talks} <= {s.id for s in first.sessions}
        assert [s.id for s in first.active] == [
            s.id for s in await storage.list_sessions(statuses=in_flight)
        ]
        stored = await storage.read_events(after=first.position)
        assert stored == []

        late = new_session_id()
        await storage.append(late, [queued_event(late)])
        await storage.append(
            starts, [SessionStarting(session_id=starts, attempt=1, runtime_name="r")]
        )
        await storage.append(talks, [AgentMessage(session_id=talks, text="one")])
        await storage.append(talks, [AgentMessage(session_id=talks, text="two")])
        await storage.append(
            ENGINE_STREAM, [QueueDepthReported(session_id=ENGINE_STREAM, queued=3, running=1)]
        )
        second = await changes(first.position, in_flight)
        assert sorted(s.id for s in second.sessions) == sorted([late, starts, talks])
        now = {s.id: s for s in second.sessions}
        assert now[starts].status is SessionStatus.STARTING
        assert now[late].status is SessionStatus.QUEUED
        assert now[talks] == await storage.get_session(talks)
        assert starts in {s.id for s in second.active}
        assert second.position == (await storage.read_events(after=first.position))[-1].position

        third = await changes(second.position, in_flight)
        assert third.position == second.position
        assert third.sessions == ()
        assert [s.id for s in third.active] == [s.id for s in second.active]
        assert (await changes(third.position, [])).active == ()
        with pytest.raises(ValueError, match="after"):
            await changes(-1, in_flight)

    # -- reading events ------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_read_events_of_a_session_after_and_limit(self, storage: StorageAdapter) -> None:
        """``read_events(session_id, after=seq, limit=n)`` pages through one session's events."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid), *(_message(sid, str(i)) for i in range(5))])
        page = await storage.read_events(sid, after=2, limit=2)
        assert [s.event.seq for s in page] == [3, 4]
        assert [s.event.seq for s in await storage.read_events(sid, after=4)] == [5, 6]
        assert await storage.read_events(sid, after=6) == []
        assert await storage.read_events(sid, limit=0) == []
        assert await storage.read_events(new_session_id()) == []

    @pytest.mark.anyio
    async def test_read_events_store_wide_by_position(self, storage: StorageAdapter) -> None:
        """Store-wide reads follow append order across sessions, with increasing positions
        that ``after`` and ``limit`` page through."""
        a, b = new_session_id(), new_session_id()
        start = await storage.read_events()
        mark = start[-1].position if start else 0
        await storage.append(a, [queued_event(a)])
        await storage.append(b, [queued_event(b)])
        await storage.append(a, [_message(a, "a2")])
        await storage.append(b, [_message(b, "b2"), _message(b, "b3")])
        new = await storage.read_events(after=mark)
        assert [(s.event.session_id, s.event.seq) for s in new] == [
            (a, 1),
            (b, 1),
            (a, 2),
            (b, 2),
            (b, 3),
        ]
        positions = [s.position for s in new]
        assert positions == sorted(positions)
        assert len(set(positions)) == len(positions)
        assert all(p > mark for p in positions)
        page = await storage.read_events(after=positions[1], limit=2)
        assert [s.position for s in page] == positions[2:4]

    @pytest.mark.anyio
    async def test_events_come_back_typed_and_equal(self, storage: StorageAdapter) -> None:
        """Stored events come back as their own class with every field kept."""
        sid = new_session_id()
        sent: list[Event] = [
            queued_event(sid, labels={"team": "a"}, resources={"cpus": 2}),
            AgentMessage(session_id=sid, text="héllo ✓\nsecond line", message_id="m1"),
            CostReported(session_id=sid, usd=0.1, total_usd=0.30000000000000004),
        ]
        stored = await storage.append(sid, sent)
        read = [s.event for s in await storage.read_events(sid)]
        assert read == stored
        assert isinstance(read[1], AgentMessage)
        assert read[1].text == "héllo ✓\nsecond line"
        assert isinstance(read[2], CostReported)
        assert read[2].total_usd == 0.30000000000000004

    # -- logs and cursors ----------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_logs_get_seqs_and_are_read_after_a_cursor(self, storage: StorageAdapter) -> None:
        """Log lines get seqs from 1 in order and are read back after a seq, with a limit."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid)], [_line("one"), _line("two", "stderr")])
        await storage.append(sid, logs=[_line("three", "system"), _line(""), _line("five")])
        entries = await storage.read_logs(sid)
        assert [(e.seq, e.stream, e.text) for e in entries] == [
            (1, "stdout", "one"),
            (2, "stderr", "two"),
            (3, "system", "three"),
            (4, "stdout", ""),
            (5, "stdout", "five"),
        ]
        assert [e.seq for e in await storage.read_logs(sid, after=2, limit=2)] == [3, 4]
        assert await storage.read_logs(sid, after=5) == []
        assert await storage.read_logs(new_session_id()) == []

    @pytest.mark.anyio
    async def test_logs_for_unknown_session_are_refused(self, storage: StorageAdapter) -> None:
        """Log lines or a cursor for a session that does not exist raise SessionNotFound."""
        sid = new_session_id()
        with pytest.raises(SessionNotFound):
            await storage.append(sid, logs=[_line("orphan")])
        with pytest.raises(SessionNotFound):
            await storage.append(sid, cursor={"offset": 1})
        assert await storage.read_logs(sid) == []
        assert await storage.get_cursor(sid) is None

    @pytest.mark.anyio
    async def test_bad_log_lines_are_refused(self, storage: StorageAdapter) -> None:
        """A log line with a naive timestamp or an unknown stream raises ValueError."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid)])
        with pytest.raises(ValueError, match="timezone"):
            await storage.append(sid, logs=[_line("x", ts=datetime(2030, 1, 1))])
        with pytest.raises(ValueError, match="stream"):
            await storage.append(sid, logs=[_line("x", stream="stdin")])
        assert await storage.read_logs(sid) == []

    @pytest.mark.anyio
    async def test_cursor_is_stored_and_read_back(self, storage: StorageAdapter) -> None:
        """A cursor is ``None`` until set, then read back equal and as a copy of its own."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid)])
        assert await storage.get_cursor(sid) is None
        value = {"offset": 120, "since": "2030-01-01T00:00:00Z", "ids": [1, 2], "n": None}
        await storage.append(sid, cursor=value)
        read = await storage.get_cursor(sid)
        assert read == value
        assert read is not None
        read["offset"] = 0
        assert await storage.get_cursor(sid) == value
        await storage.append(sid, logs=[_line("x")], cursor={"offset": 121})
        assert await storage.get_cursor(sid) == {"offset": 121}

    @pytest.mark.anyio
    async def test_cursor_compare_and_set(self, storage: StorageAdapter) -> None:
        """With ``check_cursor`` the append happens only when the cursor equals
        ``expect_cursor``; otherwise CursorMoved is raised and nothing is written."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid)])
        await storage.append(
            sid, logs=[_line("a")], cursor={"offset": 1}, expect_cursor=None, check_cursor=True
        )
        with pytest.raises(CursorMoved):
            await storage.append(
                sid,
                [_message(sid, "late")],
                [_line("stale")],
                cursor={"offset": 99},
                expect_cursor={"offset": 0},
                check_cursor=True,
            )
        with pytest.raises(CursorMoved):
            await storage.append(sid, cursor={"offset": 5}, expect_cursor=None, check_cursor=True)
        assert await storage.get_cursor(sid) == {"offset": 1}
        assert [e.text for e in await storage.read_logs(sid)] == ["a"]
        assert (await storage.get_session(sid)).last_seq == 1
        await storage.append(
            sid,
            [_message(sid, "next")],
            [_line("b")],
            cursor={"offset": 2},
            expect_cursor={"offset": 1},
            check_cursor=True,
        )
        assert await storage.get_cursor(sid) == {"offset": 2}
        assert [e.text for e in await storage.read_logs(sid)] == ["a", "b"]

    @pytest.mark.anyio
    async def test_failing_append_writes_nothing(self, storage: StorageAdapter) -> None:
        """When any part of an append fails, none of its events, lines or cursor is stored."""
        sid = new_session_id()
        await storage.append(sid, [queued_event(sid)], [_line("kept")], cursor={"offset": 1})
        before = await storage.get_session(sid)
        positions = [s.position for s in await storage.read_events()]
        with pytest.raises(DuplicateSession):
            await storage.append(
                sid,
                [_message(sid, "lost"), queued_event(sid)],
                [_line("lost")],
                cursor={"offset": 2},
            )
        with pytest.raises(ValueError, match="stream"):
            await storage.append(sid, [_message(sid, "lost")], [_line("ok"), _line("bad", "nope")])
        with pytest.raises(TypeError):
            await storage.append(sid, [_message(sid, "lost")], cursor={"bad": object()})
        assert await storage.get_session(sid) == before
        assert [s.event.seq for s in await storage.read_events(sid)] == [1]
        assert [s.position for s in await storage.read_events()] == positions
        assert [e.text for e in await storage.read_logs(sid)] == ["kept"]
        assert await storage.get_cursor(sid) == {"offset": 1}
        stored = await storage.append(sid, [_message(sid, "next")])
        assert [e.seq for e in stored] == [2]

    @pytest.mark.anyio
    async def test_append_batch_stores_several_sessions_at_once(
        self, storage: StorageAdapter
    ) -> None:
        """A batch appends to several sessions, each with its own next seqs; the same
        session twice in one batch gets consecutive seqs."""
        a, b = new_session_id(), new_session_id()
        await storage.append(a, [queued_event(a)])
        stored = await storage.append_batch(
            [
                (a, [_message(a, "one")]),
                (b, [queued_event(b), _message(b, "two")]),
                (a, [_message(a, "three")]),
                (b, []),
            ]
        )
        assert [[e.seq for e in events] for events in stored] == [[2], [1, 2], [3], []]
        assert (await storage.get_session(a)).last_seq == 3
        assert (await storage.get_session(b)).last_seq == 2

    @pytest.mark.anyio
    async def test_failing_batch_writes_nothing(self, storage: StorageAdapter) -> None:
        """When any pair of a batch fails, no event of the batch is stored."""
        a, unknown = new_session_id(), new_session_id()
        await storage.append(a, [queued_event(a)])
        positions = [s.position for s in await storage.read_events()]
        with pytest.raises(InvalidTransition):
            await storage.append_batch(
                [(a, [_message(a, "lost")]), (unknown, [_message(unknown, "x")])]
            )
        assert [s.position for s in await storage.read_events()] == positions
        assert (await storage.get_session(a)).last_seq == 1

    # -- leases --------------------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_lease_is_acquired_and_renewed(self, storage: StorageAdapter) -> None:
        """A free lease is taken; its holder can renew it; ``lease_holder`` names the holder."""
        name = f"lease-{uuid.uuid4().hex}"
        assert await storage.lease_holder(name) is None
        assert await storage.acquire_lease(name, "engine-a", 30)
        assert await storage.lease_holder(name) == "engine-a"
        assert await storage.acquire_lease(name, "engine-a", 30)
        assert await storage.lease_holder(name) == "engine-a"

    @pytest.mark.anyio
    async def test_lease_is_refused_to_another_holder(self, storage: StorageAdapter) -> None:
        """While a lease is held and unexpired, another holder cannot take it."""
        name = f"lease-{uuid.uuid4().hex}"
        assert await storage.acquire_lease(name, "engine-a", 30)
        assert not await storage.acquire_lease(name, "engine-b", 30)
        assert await storage.lease_holder(name) == "engine-a"

    @pytest.mark.anyio
    async def test_lease_expires(self, storage: StorageAdapter) -> None:
        """An expired lease has no holder and can be taken by someone else, while a renewal
        pushes expiry back."""
        renewed, expiring = f"lease-{uuid.uuid4().hex}", f"lease-{uuid.uuid4().hex}"
        assert await storage.acquire_lease(renewed, "engine-a", 0.3)
        assert await storage.acquire_lease(renewed, "engine-a", 30)
        assert await storage.acquire_lease(expiring, "engine-a", 0.3)
        assert not await storage.acquire_lease(expiring, "engine-b", 30)
        await anyio.sleep(0.4)
        assert await storage.lease_holder(renewed) == "engine-a"
        assert not await storage.acquire_lease(renewed, "engine-b", 30)
        assert await storage.lease_holder(expiring) is None
        assert await storage.acquire_lease(expiring, "engine-b", 30)
        assert await storage.lease_holder(expiring) == "engine-b"

    @pytest.mark.anyio
    async def test_lease_release(self, storage: StorageAdapter) -> None:
        """Only the holder's release frees a lease; anyone else's does nothing."""
        name = f"lease-{uuid.uuid4().hex}"
        assert await storage.acquire_lease(name, "engine-a", 30)
        await storage.release_lease(name, "engine-b")
        assert await storage.lease_holder(name) == "engine-a"
        await storage.release_lease(name, "engine-a")
        assert await storage.lease_holder(name) is None
        assert await storage.acquire_lease(name, "engine-b", 30)
        await storage.release_lease(f"{name}-unknown", "engine-a")

    @pytest.mark.anyio
    async def test_bad_lease_arguments_are_refused(self, storage: StorageAdapter) -> None:
        """A lease needs a name, a holder and a positive ttl."""
        with pytest.raises(ValueError, match="ttl"):
            await storage.acquire_lease("lease", "engine-a", 0)
        with pytest.raises(ValueError, match="holder"):
            await storage.acquire_lease("lease", "", 5)
        with pytest.raises(ValueError, match="holder"):
            await storage.take_over_lease("lease", "", "engine-b", 5)
        with pytest.raises(ValueError, match="holder"):
            await storage.take_over_lease("lease", "engine-a", "", 5)
        with pytest.raises(ValueError, match="ttl"):
            await storage.take_over_lease("lease", "engine-a", "engine-b", 0)

    @pytest.mark.anyio
    async def test_lease_is_taken_over_from_its_exact_holder(self, storage: StorageAdapter) -> None:
        """``take_over_lease`` moves an unexpired lease from the expected holder to the new
        one for the new ttl; the old holder can no longer renew it."""
        name = f"lease-{uuid.uuid4().hex}"
        assert await storage.acquire_lease(name, "engine-a", 30)
        assert await storage.take_over_lease(name, "engine-a", "engine-b", 0.3)
        assert await storage.lease_holder(name) == "engine-b"
        assert not await storage.acquire_lease(name, "engine-a", 30)
        assert await storage.lease_holder(name) == "engine-b"
        await anyio.sleep(0.4)
        assert await storage.lease_holder(name) is None
        assert await storage.take_over_lease(name, "engine-b", "engine-c", 30), "expired too"
        assert await storage.lease_holder(name) == "engine-c"

    @pytest.mark.anyio
    async def test_lease_take_over_needs_the_expected_holder(self, storage: StorageAdapter) -> None:
        """A take-over expecting anyone but the holder changes nothing, and a free lease is
        not taken over (``acquire_lease`` takes it)."""
        name, free = f"lease-{uuid.uuid4().hex}", f"lease-{uuid.uuid4().hex}"
        assert await storage.acquire_lease(name, "engine-a", 30)
        assert not await storage.take_over_lease(name, "engine-x", "engine-b", 30)
        assert await storage.lease_holder(name) == "engine-a"
        assert await storage.acquire_lease(name, "engine-a", 30), "its holder still renews it"
        assert not await storage.take_over_lease(free, "engine-a", "engine-b", 30)
        assert await storage.lease_holder(free) is None

    @pytest.mark.anyio
    async def test_one_of_concurrent_take_overs_wins(self, storage: StorageAdapter) -> None:
        """Several contenders taking a lease over from one holder at once: exactly one wins,
        and the lease names it."""
        name = f"lease-{uuid.uuid4().hex}"
        assert await storage.acquire_lease(name, "engine-dead", 30)
        won: list[str] = []

        async def contend(holder: str) -> None:
            if await storage.take_over_lease(name, "engine-dead", holder, 30):
                won.append(holder)

        async with anyio.create_task_group() as tg:
            for n in range(8):
                tg.start_soon(contend, f"engine-{n}")
        assert len(won) == 1
        assert await storage.lease_holder(name) == won[0]

    # -- lifecycle and values ------------------------------------------------------------------

    @pytest.mark.anyio
    async def test_is_a_storage_adapter(self, storage: StorageAdapter) -> None:
        """The store has every method of the ``StorageAdapter`` protocol."""
        assert isinstance(storage, StorageAdapter)

    @pytest.mark.anyio
    async def test_store_id_is_stable(self, storage: StorageAdapter) -> None:
        """``store_id`` is a non-empty string that does not change."""
        assert isinstance(storage.store_id, str)
        assert storage.store_id
        assert storage.store_id == storage.store_id

    @pytest.mark.anyio
    async def test_close_is_idempotent(self, storage: StorageAdapter) -> None:
        """``close`` can be called twice; a closed store refuses calls with StorageError."""
        await storage.close()
        await storage.close()
        with pytest.raises(StorageError):
            await storage.get_session(new_session_id())

    @pytest.mark.anyio
    async def test_timestamps_are_utc_aware(self, storage: StorageAdapter) -> None:
        """Every timestamp read back is timezone-aware UTC and the same instant that was given,
        whatever timezone it was given in."""
        sid = new_session_id()
        plus_two = timezone(timedelta(hours=2))
        given = datetime(2030, 6, 1, 14, 30, 15, 123456, tzinfo=plus_two)
        await storage.append(
            sid,
            [queued_event(sid, ts=given), AgentMessage(session_id=sid, text="x", ts=given)],
            [_line("x", ts=given)],
        )
        session = await storage.get_session(sid)
        assert _is_utc(session.created_at)
        assert _is_utc(session.updated_at)
        assert session.created_at == given
        for stored in await storage.read_events(sid):
            assert _is_utc(stored.event.ts)
            assert stored.event.ts == given
        (entry,) = await storage.read_logs(sid)
        assert _is_utc(entry.ts)
        assert entry.ts == given
        assert entry.ts.microsecond == 123456
