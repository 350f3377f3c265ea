"""Property: the projection SQLite stores is what replaying the stored events gives."""

from __future__ import annotations

import enum
import types
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scopecraft._projection import replay
from scopecraft.events import Event, SessionQueued
from scopecraft.storage import SqliteStorage
from scopecraft.testing.contracts.storage import new_session_id, queued_event

_BASE_FIELDS = frozenset({"type", "session_id", "seq", "ts"})
_T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _values(annotation: Any) -> st.SearchStrategy[Any]:
    """Values of a field's type that survive a JSON round trip (finite floats, UTC times)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin in (Union, types.UnionType):
        return st.one_of(*(_values(a) for a in args))
    if origin is Literal:
        return st.sampled_from(args)
    if origin is list:
        return st.lists(_values(args[0]), max_size=3)
    if origin is dict:
        return st.dictionaries(_values(args[0]), _values(args[1]), max_size=3)
    if annotation is Any:
        return st.text(max_size=5)
    if annotation is type(None):
        return st.none()
    if annotation is bool:
        return st.booleans()
    if annotation is int:
        return st.integers(min_value=-1, max_value=1000)
    if annotation is float:
        return st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
    if annotation is str:
        return st.text(max_size=20)
    if annotation is datetime:
        return st.integers(min_value=0, max_value=10**12).map(
            lambda us: _T0 + timedelta(microseconds=us)
        )
    if isinstance(annotation, type) and issubclass(annotation, enum.Enum):
        return st.sampled_from(list(annotation))
    return st.from_type(annotation)


def _event_kinds() -> list[st.SearchStrategy[tuple[type[Any], dict[str, Any]]]]:
    """For every event class but ``session_queued``: the class and values for its fields."""
    union = get_args(Event)[0]
    kinds = []
    for cls in get_args(union):
        if cls is SessionQueued:
            continue
        fields = {
            name: _values(info.annotation)
            for name, info in cls.model_fields.items()
            if name not in _BASE_FIELDS
        }
        kinds.append(st.tuples(st.just(cls), st.fixed_dictionaries(fields)))
    return kinds


_STREAMS = st.lists(
    st.tuples(st.one_of(_event_kinds()), st.integers(min_value=0, max_value=10**9)), max_size=25
)
_BATCH_SIZES = st.lists(st.integers(min_value=1, max_value=6), min_size=1, max_size=25)


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SqliteStorage]:
    """One store for every example of a test; each example uses a new session."""
    async with SqliteStorage(tmp_path / "scopecraft.db") as opened:
        yield opened


@pytest.mark.anyio
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(stream=_STREAMS, batch_sizes=_BATCH_SIZES)
async def test_replaying_stored_events_gives_the_stored_projection(
    store: SqliteStorage,
    stream: list[tuple[tuple[type[Any], dict[str, Any]], int]],
    batch_sizes: list[int],
) -> None:
    """For any stream of events appended in any batches, folding the events read back gives
    exactly the session the store holds, in this store and in a fresh one on the same file."""
    sid = new_session_id()
    events: list[Event] = [queued_event(sid, ts=_T0)]
    for (cls, fields), micros in stream:
        events.append(cls(session_id=sid, ts=_T0 + timedelta(microseconds=micros), **fields))
    position = 0
    sizes = iter(batch_sizes * len(events))
    while position < len(events):
        size = next(sizes)
        await store.append(sid, events[position : position + size])
        position += size

    stored = await store.get_session(sid)
    replayed = replay(s.event for s in await store.read_events(sid))
    assert replayed == stored
    assert stored.last_seq == len(events)
    async with SqliteStorage(store.path) as fresh:
        assert await fresh.get_session(sid) == stored
