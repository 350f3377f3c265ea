"""Run the storage contract over every built-in store: SQLite (a real file) and memory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from scopecraft.storage import SqliteStorage
from scopecraft.testing._memory_storage import MemoryStorage
from scopecraft.testing.contracts.storage import StorageContract


class TestSqliteStorage(StorageContract):
    """``SqliteStorage`` on a file in the test's temporary folder."""

    @pytest.fixture
    async def storage(self, tmp_path: Path) -> AsyncIterator[SqliteStorage]:
        """An opened SQLite store, closed after the test."""
        store = SqliteStorage(tmp_path / "scopecraft.db")
        await store.open()
        yield store
        await store.close()


class TestMemoryStorage(StorageContract):
    """``MemoryStorage``, the in-memory double."""

    @pytest.fixture
    async def storage(self) -> AsyncIterator[MemoryStorage]:
        """An opened memory store, closed after the test."""
        store = MemoryStorage()
        await store.open()
        yield store
        await store.close()
