"""Queue policies: which queued sessions start, and when."""

from __future__ import annotations

from ._priority import PriorityQueuePolicy
from ._protocol import QueuePolicy, Schedule

__all__ = ["PriorityQueuePolicy", "QueuePolicy", "Schedule"]
