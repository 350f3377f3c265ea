"""The SQLite store's cache of parsed projections, when a listing holds more sessions than the
cache does (16,384 by default; made small here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scopecraft._models import SessionStatus
from scopecraft.storage import SqliteStorage, _sqlite
from scopecraft.testing.contracts.storage import new_session_id, queued_event

pytestmark = pytest.mark.anyio


async def test_a_listing_larger_than_the_cache_gives_every_session(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Listing eight sessions with a cache of four, whose newest four are cached: parsing the
    oldest four pushes the cached ones out, and every session is still listed (it raised a
    ``KeyError`` when a projection it meant to take from the cache had been pushed out),
    by ``list_sessions`` and by ``queue_changes`` alike."""
    monkeypatch.setattr(_sqlite, "_SESSION_CACHE_SIZE", 4)
    ids = [new_session_id() for _ in range(8)]
    async with SqliteStorage(tmp_path / "store.db") as store:
        for sid in ids:
            await store.append(sid, [queued_event(sid)])
        assert [s.id for s in await store.list_sessions()] == ids
        changes = await store.queue_changes(None, [SessionStatus.RUNNING])
        assert [s.id for s in changes.sessions] == ids
        since = await store.queue_changes(0, [SessionStatus.QUEUED])
        assert sorted(s.id for s in since.sessions) == sorted(ids)
        assert [s.id for s in since.active] == ids
