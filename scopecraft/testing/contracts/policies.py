"""The queue policy contract: what every ``QueuePolicy`` must do, for the built-in one and
plugins alike.

Subclass `QueuePolicyContract` in a test module and provide the ``policy`` fixture (your
policy, configured so that at least one autonomous session may run at a time)::

    class TestMyPolicy(QueuePolicyContract):
        @pytest.fixture
        def policy(self):
            return MyPolicy()

The engine's scheduler relies on each of these: a decision names only sessions it was given,
each once; a session the policy does not start is never started behind its back; the same
queue given as a list or as the scheduler's `QueueIndex` gets the same decision (for a policy
that draws no lots); a cost report at zero never halts a session.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

import pytest

from scopecraft._models import Priority, Session, SessionStatus, utcnow
from scopecraft._projection import session_from_queued
from scopecraft.policies._index import QueueIndex
from scopecraft.policies._protocol import (
    Admission,
    CostAction,
    CostDecision,
    CostTotals,
    QueuePolicy,
    Schedule,
)

from .storage import new_session_id, queued_event

__all__ = ["QueuePolicyContract", "queued_session"]

_SCOPES = {"task", "area", "team", "day"}


def queued_session(*, age: float = 0.0, **fields: Any) -> Session:
    """A queued session with plausible defaults, created ``age`` seconds ago; ``fields``
    are those of a ``session_queued`` event (``task_id``, ``priority``, ``mode``, ...)."""
    fields.setdefault("task_id", f"t{new_session_id()[4:10]}-01A")
    event = queued_event(new_session_id(), ts=utcnow() - timedelta(seconds=age), **fields)
    return session_from_queued(event.model_copy(update={"seq": 1}))


def _running(session: Session) -> Session:
    return session.model_copy(
        update={"status": SessionStatus.RUNNING, "attempt": 1, "started_at": utcnow()}
    )


class QueuePolicyContract:
    """Behaviour every queue policy must have. Subclass it and provide ``policy``."""

    def test_it_is_a_queue_policy(self, policy: QueuePolicy) -> None:
        """It meets the protocol, optional members included (inherited or its own)."""
        assert isinstance(policy, QueuePolicy)
        assert isinstance(policy.counts_queue, bool)

    def test_it_admits_a_plain_session(self, policy: QueuePolicy) -> None:
        """An ordinary session, with an empty queue, is admitted (maybe pending approval)."""
        admission = policy.admit(queued_session(), queued=0)
        assert isinstance(admission, Admission)
        assert admission.approval is None or isinstance(admission.approval, str)

    def test_an_empty_queue_starts_nothing(self, policy: QueuePolicy) -> None:
        """Nothing queued: nothing starts, and nobody waits."""
        schedule = policy.schedule([], [], now=utcnow())
        assert isinstance(schedule, Schedule)
        assert schedule.start == ()
        assert dict(schedule.waiting) == {}

    def test_one_session_with_free_slots_starts(self, policy: QueuePolicy) -> None:
        """One queued session and nothing in flight: it starts."""
        session = queued_session()
        assert policy.schedule([session], [], now=utcnow()).start == (session.id,)

    def test_a_decision_names_only_sessions_it_was_given_each_once(
        self, policy: QueuePolicy
    ) -> None:
        """Started ids are queued ones, without repeats; waiting ids are queued ones not
        started, each with a reason code and a detail."""
        queued = [
            queued_session(age=10 - i, priority=prio)
            for i, prio in enumerate([Priority.LOW, Priority.HIGHEST, Priority.MEDIUM] * 3)
        ]
        active = [_running(queued_session(age=30))]
        schedule = policy.schedule(queued, active, now=utcnow())
        ids = {s.id for s in queued}
        assert len(set(schedule.start)) == len(schedule.start)
        assert set(schedule.start) <= ids
        assert set(schedule.waiting) <= ids - set(schedule.start)
        for reason, detail in schedule.waiting.values():
            assert isinstance(reason, str)
            assert reason
            assert isinstance(detail, str)

    def test_a_list_and_an_index_get_the_same_decision(self, policy: QueuePolicy) -> None:
        """The scheduler gives its `QueueIndex`; tests and simple callers give a list."""
        queued = [queued_session(age=20 - i, priority=Priority.MEDIUM) for i in range(6)]
        now = utcnow()
        from_list = policy.schedule(queued, [], now=now)
        from_index = policy.schedule(QueueIndex(queued), [], now=now)
        assert from_list.start == from_index.start

    def test_deciding_twice_starts_as_many(self, policy: QueuePolicy) -> None:
        """Deciding twice on one queue (nothing started between) starts as many sessions: a
        pass repeated after a crash is bound by the same limits (which ones may differ for a
        policy that draws lots)."""
        queued = [queued_session(age=20 - i) for i in range(5)]
        now = utcnow()
        first = policy.schedule(queued, [], now=now).start
        assert len(policy.schedule(queued, [], now=now).start) == len(first)

    def test_a_cost_at_zero_never_halts(self, policy: QueuePolicy) -> None:
        """A session that has spent nothing goes on."""
        session = _running(queued_session())
        decision = policy.check_cost(session, CostTotals())
        assert isinstance(decision, CostDecision)
        assert decision.action is CostAction.CONTINUE

    def test_a_halting_decision_says_why(self, policy: QueuePolicy) -> None:
        """Whatever a very large cost makes it do, anything but going on carries a reason."""
        session = _running(queued_session())
        huge = 1e9
        decision = policy.check_cost(
            session, CostTotals(session=huge, task=huge, area=huge, team=huge, day=huge)
        )
        assert isinstance(decision.action, CostAction)
        if decision.action is not CostAction.CONTINUE:
            assert decision.reason

    @pytest.mark.parametrize("retryable", [True, False])
    def test_a_retry_delay_is_none_or_a_finite_wait(
        self, policy: QueuePolicy, retryable: bool
    ) -> None:
        """No retry, or a number of seconds of at least 0."""
        session = _running(queued_session())
        delay = policy.retry_delay(session, reason="it broke", retryable=retryable)
        assert delay is None or (
            isinstance(delay, int | float) and math.isfinite(delay) and delay >= 0
        )

    def test_cost_scopes_are_known_ones(self, policy: QueuePolicy) -> None:
        """``None`` (every total) or some of task, area, team and day."""
        scopes = policy.cost_scopes(queued_session())
        assert scopes is None or set(scopes) <= _SCOPES
