"""Storage: durable sessions, events, logs, output cursors and leases.

`StorageAdapter` is the protocol; `SqliteStorage` the default implementation.
In-memory storage and the contract suite for other adapters live in `scopecraft.testing`.
"""

from __future__ import annotations

from ._protocol import LogLine, QueueChanges, QueueFeed, StorageAdapter, StoredEvent
from ._sqlite import SqliteStorage

__all__ = [
    "LogLine",
    "QueueChanges",
    "QueueFeed",
    "SqliteStorage",
    "StorageAdapter",
    "StoredEvent",
]
