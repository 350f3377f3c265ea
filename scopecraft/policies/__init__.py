"""Queue policies: which queued sessions start, and when; budgets, approvals, retries."""

from __future__ import annotations

from ._index import QueueIndex
from ._priority import ApprovalRules, Budgets, Capacity, PriorityQueuePolicy, RetryRules
from ._protocol import Admission, CostAction, CostDecision, CostTotals, QueuePolicy, Schedule

__all__ = [
    "Admission",
    "ApprovalRules",
    "Budgets",
    "Capacity",
    "CostAction",
    "CostDecision",
    "CostTotals",
    "PriorityQueuePolicy",
    "QueueIndex",
    "QueuePolicy",
    "RetryRules",
    "Schedule",
]
