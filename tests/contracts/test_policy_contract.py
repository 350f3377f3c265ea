"""The queue policy contract over the built-in `PriorityQueuePolicy` (default, and with limits,
budgets, approvals and retries) and over a minimal policy written as a plugin author would."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import pytest

from scopecraft import PriorityQueuePolicy, Session
from scopecraft.policies import (
    Admission,
    ApprovalRules,
    Budgets,
    CostDecision,
    CostTotals,
    QueueIndex,
    QueuePolicy,
    RetryRules,
    Schedule,
)
from scopecraft.testing.contracts.policies import QueuePolicyContract


class OneAtATime(QueuePolicy):
    """A plugin's policy: oldest first, one session at a time, no budgets, no retries."""

    def admit(self, session: Session, *, queued: int) -> Admission:
        """Everyone may queue."""
        return Admission()

    def schedule(
        self, queued: Sequence[Session] | QueueIndex, active: Sequence[Session], *, now: datetime
    ) -> Schedule:
        """Start the oldest when nothing runs; everyone else waits for the one slot."""
        waiting = sorted(queued, key=lambda s: s.created_at)
        start = () if active or not waiting else (waiting[0].id,)
        rest = {s.id: ("limit_reached", "one at a time") for s in waiting if s.id not in start}
        return Schedule(start=start, waiting=rest)

    def check_cost(self, session: Session, totals: CostTotals) -> CostDecision:
        """Spending is not this policy's business."""
        return CostDecision()

    def retry_delay(self, session: Session, *, reason: str, retryable: bool) -> float | None:
        """No retries."""
        return None


class TestDefaultPriorityPolicy(QueuePolicyContract):
    """`PriorityQueuePolicy()` as the engine makes it by default."""

    @pytest.fixture
    def policy(self) -> QueuePolicy:
        """The default policy."""
        return PriorityQueuePolicy()


class TestConfiguredPriorityPolicy(QueuePolicyContract):
    """`PriorityQueuePolicy` with limits, fairness, budgets, approvals and retries."""

    @pytest.fixture
    def policy(self) -> QueuePolicy:
        """A policy with most of its knobs turned."""
        return PriorityQueuePolicy(
            {"autonomous": 2},
            fairness="round-robin",
            max_per_area={"core": 3},
            budgets=Budgets(session_usd=5.0, day_usd=50.0),
            approvals=ApprovalRules(supervised_above_usd=2.0, forbidden_above_usd=100.0),
            retries=RetryRules(max_retries=3, base_delay=0.5),
        )


class TestPluginPolicy(QueuePolicyContract):
    """A minimal policy subclassing the protocol (its optional members inherited)."""

    @pytest.fixture
    def policy(self) -> QueuePolicy:
        """One at a time."""
        return OneAtATime()
