"""PriorityQueuePolicy: limits, order, fairness, budgets, approvals, retries (pure, no I/O)."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from scopecraft import Priority, PriorityQueuePolicy, QueueFull, Session, SessionMode
from scopecraft._errors import ConfigError, PolicyError
from scopecraft.policies import (
    ApprovalRules,
    Budgets,
    Capacity,
    CostAction,
    CostTotals,
    RetryRules,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)
MODES = [SessionMode.AUTONOMOUS, SessionMode.PLANNING, SessionMode.INTERACTIVE]
AREAS = ["api", "ui", "db"]
TEAMS = [None, "ux", "platform"]


def make(
    n: int,
    *,
    mode: SessionMode = SessionMode.AUTONOMOUS,
    priority: Priority = Priority.MEDIUM,
    area: str | None = "api",
    team: str | None = None,
    cpus: float | None = None,
    **extra: Any,
) -> Session:
    """A queued session created ``n`` seconds after T0 (of task ``task-<n>`` by default)."""
    extra.setdefault("task_id", f"task-{n}")
    return Session(
        id=f"ses-{n:08d}",
        mode=mode,
        priority=priority,
        executor="local",
        agent="fake",
        created_at=T0 + timedelta(seconds=n),
        updated_at=T0 + timedelta(seconds=n),
        area=area,
        team=team,
        cpus=cpus,
        **extra,
    )


def test_mode_limits_and_order() -> None:
    """Higher priority first, then older; a mode at its limit does not block other modes."""
    policy = PriorityQueuePolicy({"autonomous": 2, "planning": 1})
    queued = [
        make(1, priority=Priority.LOW),
        make(2, priority=Priority.HIGH),
        make(3),
        make(4, mode=SessionMode.PLANNING),
        make(5, mode=SessionMode.PLANNING),
    ]
    decision = policy.schedule(queued, [], now=T0)
    assert decision.start == ("ses-00000002", "ses-00000003", "ses-00000004")
    assert decision.waiting["ses-00000001"][0] == "limit_reached"
    assert decision.waiting["ses-00000005"][0] == "limit_reached"


def test_dispatch_starts_at_once_unless_queued() -> None:
    """Dispatch sessions ignore limits by default and queue when ``queue_dispatch`` is set."""
    sessions = [make(i, mode=SessionMode.DISPATCH) for i in range(5)]
    assert len(PriorityQueuePolicy({"dispatch": 1}).schedule(sessions, [], now=T0).start) == 5
    limited = PriorityQueuePolicy({"dispatch": 1}, queue_dispatch=True)
    assert len(limited.schedule(sessions, [], now=T0).start) == 1


def test_reserved_slots_for_highest() -> None:
    """The last reserved slot of a mode goes only to a ``highest`` session."""
    policy = PriorityQueuePolicy({"autonomous": 2}, reserved_for_highest=1)
    decision = policy.schedule([make(1), make(2)], [], now=T0)
    assert decision.start == ("ses-00000001",)
    assert decision.waiting["ses-00000002"][0] == "reserved_slot"
    top = policy.schedule([make(2), make(3, priority=Priority.HIGHEST)], [make(1)], now=T0)
    assert top.start == ("ses-00000003",)


def test_area_team_and_capacity_limits() -> None:
    """Per-area, per-team and machine capacity limits each hold sessions back with a reason."""
    policy = PriorityQueuePolicy(
        {"autonomous": 10},
        max_per_area={"api": 1},
        max_per_team={"*": 1},
        capacity=Capacity(cpus=3),
    )
    queued = [
        make(1, area="api"),
        make(2, area="api"),
        make(3, area="ui", team="ux"),
        make(4, area="db", team="ux"),
        make(5, area="db", cpus=2),
        make(6, area="db", cpus=2),
    ]
    decision = policy.schedule(queued, [], now=T0)
    assert decision.start == ("ses-00000001", "ses-00000003", "ses-00000005")
    assert decision.waiting["ses-00000002"][0] == "area_limit"
    assert decision.waiting["ses-00000004"][0] == "team_limit"
    assert decision.waiting["ses-00000006"][0] == "capacity"


def test_a_second_session_of_a_task_waits_for_the_first() -> None:
    """Two sessions of one task never run at once (they would share its worktree): the
    second waits with ``task_busy`` while the first is in flight, queued or started, and
    ``one_per_task=False`` lets them run together."""
    running = make(1, task_id="auth-05A", status="running")
    queued = [make(2, task_id="auth-05A"), make(3, task_id="other-05B")]
    decision = PriorityQueuePolicy().schedule(queued, [running], now=T0)
    assert decision.start == ("ses-00000003",)
    assert decision.waiting["ses-00000002"][0] == "task_busy"
    both = [make(4, task_id="auth-05A"), make(5, task_id="auth-05A")]
    decision = PriorityQueuePolicy().schedule(both, [], now=T0)
    assert decision.start == ("ses-00000004",)
    assert decision.waiting["ses-00000005"][0] == "task_busy"
    decision = PriorityQueuePolicy(one_per_task=False).schedule(both, [], now=T0)
    assert decision.start == ("ses-00000004", "ses-00000005")


def test_retry_backoff_holds_a_session_back() -> None:
    """A session whose ``not_before`` is in the future waits with reason retry_backoff."""
    policy = PriorityQueuePolicy()
    later = make(1, not_before=T0 + timedelta(minutes=1))
    decision = policy.schedule([later], [], now=T0)
    assert decision.start == ()
    assert decision.waiting[later.id][0] == "retry_backoff"
    assert policy.schedule([later], [], now=T0 + timedelta(minutes=2)).start == (later.id,)


def test_queue_size_bound_and_forbidden_operations() -> None:
    """A full queue refuses with QueueFull; a forbidden flag with PolicyError; a supervised
    flag asks for approval."""
    policy = PriorityQueuePolicy(
        max_queue_size=2, approvals=ApprovalRules(supervised=frozenset({"dangerous"}))
    )
    assert policy.admit(make(1), queued=1).approval is None
    with pytest.raises(QueueFull, match="max_queue_size=2"):
        policy.admit(make(2), queued=2)
    assert policy.admit(make(3, dangerous=True), queued=0).approval
    strict = PriorityQueuePolicy(approvals=ApprovalRules(forbidden=frozenset({"planning"})))
    with pytest.raises(PolicyError, match="planning"):
        strict.admit(make(4, mode=SessionMode.PLANNING), queued=0)


def test_bad_configuration_is_refused() -> None:
    """Unknown modes, priorities and fairness names, and negative limits, are ConfigErrors."""
    with pytest.raises(ConfigError, match="unknown mode"):
        PriorityQueuePolicy({"sideways": 1})
    with pytest.raises(ConfigError, match="at least 0"):
        PriorityQueuePolicy({"autonomous": -1})
    with pytest.raises(ConfigError, match="fairness"):
        PriorityQueuePolicy(fairness="random")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="priority"):
        PriorityQueuePolicy(priority_weights={"urgent": 2})


def test_cost_decisions() -> None:
    """Budgets pause, the supervised threshold asks approval once, the forbidden one stops."""
    policy = PriorityQueuePolicy(
        budgets=Budgets(task_usd=5, area_usd={"*": 10}),
        approvals=ApprovalRules(supervised_above_usd=1, forbidden_above_usd=20),
    )
    s = make(1, budget_usd=2.0)
    assert policy.check_cost(s, CostTotals(session=0.5)).action is CostAction.CONTINUE
    assert policy.check_cost(s, CostTotals(session=1.5)).action is CostAction.APPROVAL
    approved = s.model_copy(update={"approved": True})
    assert policy.check_cost(approved, CostTotals(session=1.5)).action is CostAction.CONTINUE
    paused = policy.check_cost(approved, CostTotals(session=2.0))
    assert paused.action is CostAction.PAUSE
    assert paused.reason.startswith("budget_reached")
    assert policy.check_cost(approved, CostTotals(session=1, task=5)).action is CostAction.PAUSE
    assert policy.check_cost(approved, CostTotals(session=1, area=10)).action is CostAction.PAUSE
    assert policy.check_cost(approved, CostTotals(session=21)).action is CostAction.FORBID


def test_cost_scopes_are_those_with_a_budget() -> None:
    """The engine sums only the scopes the policy has a budget for (a sum over every stored
    session is what a cost report costs)."""
    assert PriorityQueuePolicy().cost_scopes(make(1, team="ux")) == frozenset()
    policy = PriorityQueuePolicy(
        budgets=Budgets(task_usd=5, area_usd={"ui": 3}, team_usd={"*": 7}, day_usd=50)
    )
    assert policy.cost_scopes(make(1, area="api", team=None)) == {"task", "day"}
    assert policy.cost_scopes(make(1, area="ui", team="ux")) == {"task", "day", "area", "team"}
    only_area = PriorityQueuePolicy(budgets=Budgets(area_usd={"*": 1}))
    assert only_area.cost_scopes(make(1, area="db")) == {"area"}
    assert only_area.cost_scopes(make(1, area=None)) == frozenset()


@given(reports=st.lists(st.floats(min_value=0.001, max_value=5.0), min_size=1, max_size=50))
def test_budget_is_overshot_by_at_most_one_report(reports: list[float]) -> None:
    """Feeding cost reports one by one, the first pause comes at most one report past the
    budget: the spent total never exceeds budget + the last report."""
    budget = 3.0
    policy = PriorityQueuePolicy(budgets=Budgets(session_usd=budget))
    session = make(1)
    total = 0.0
    for usd in reports:
        total += usd
        decision = policy.check_cost(session, CostTotals(session=total))
        if decision.action is CostAction.PAUSE:
            assert total - usd < budget
            assert total <= budget + usd
            return
    assert total < budget


def test_retry_backoff_grows_with_jitter_and_stops() -> None:
    """Infrastructure failures retry with growing delays (jittered) up to max_retries; agent
    failures do not retry unless configured."""
    policy = PriorityQueuePolicy(
        retries=RetryRules(max_retries=2, base_delay=10, jitter=0.2), rng=random.Random(7)
    )
    first = policy.retry_delay(make(1), reason="x", retryable=True)
    second = policy.retry_delay(make(1, attempt=2), reason="x", retryable=True)
    assert first is not None
    assert 8 <= first <= 12
    assert second is not None
    assert 16 <= second <= 24
    assert policy.retry_delay(make(1, attempt=3), reason="x", retryable=True) is None
    assert policy.retry_delay(make(1), reason="agent", retryable=False) is None
    eager = PriorityQueuePolicy(retries=RetryRules(retry_agent_failures=True))
    assert eager.retry_delay(make(1), reason="agent", retryable=False) is not None


@pytest.mark.parametrize("fairness", ["round-robin", "weighted"])
def test_no_starvation_of_low_priority(fairness: str) -> None:
    """With one slot and a queue always refilled with high-priority work, a low-priority
    session still starts within a bounded number of passes."""
    policy = PriorityQueuePolicy({"autonomous": 1}, fairness=fairness)  # type: ignore[arg-type]
    low = make(0, priority=Priority.LOW)
    queued = [low] + [make(i, priority=Priority.HIGHEST) for i in range(1, 4)]
    counter = 4
    passes = 0
    while passes < 40:
        passes += 1
        decision = policy.schedule(queued, [], now=T0)
        assert len(decision.start) == 1
        started = decision.start[0]
        if started == low.id:
            break
        queued = [s for s in queued if s.id != started] + [make(counter, priority=Priority.HIGHEST)]
        counter += 1
    else:
        pytest.fail("the low-priority session starved")
    assert passes <= 16


def test_round_robin_alternates_between_teams() -> None:
    """Within one lane, round-robin fairness takes turns between teams."""
    policy = PriorityQueuePolicy({"autonomous": 4}, fairness="round-robin")
    queued = [make(i, team="ux") for i in range(4)] + [
        make(10 + i, team="platform") for i in range(4)
    ]
    started = policy.schedule(queued, [], now=T0).start
    teams = ["ux" if int(s[-2:]) < 10 else "platform" for s in started]
    assert sorted(teams) == ["platform", "platform", "ux", "ux"]


class QueueMachine(RuleBasedStateMachine):
    """Random arrivals, passes and completions against every limit of the policy."""

    def __init__(self) -> None:
        super().__init__()
        self.policy = PriorityQueuePolicy(
            {"autonomous": 3, "planning": 1, "interactive": 2},
            max_per_area={"api": 2},
            max_per_team={"ux": 1},
            reserved_for_highest=1,
            capacity=Capacity(cpus=4),
            fairness=random.choice(["fifo", "round-robin", "weighted"]),
            queue_dispatch=True,
        )
        self.queued: list[Session] = []
        self.active: list[Session] = []
        self.counter = 0

    @rule(
        mode=st.sampled_from(MODES),
        priority=st.sampled_from(list(Priority)),
        area=st.sampled_from(AREAS),
        team=st.sampled_from(TEAMS),
        cpus=st.sampled_from([None, 1.0, 2.0]),
    )
    def arrive(
        self, mode: SessionMode, priority: Priority, area: str, team: str | None, cpus: float | None
    ) -> None:
        self.counter += 1
        self.queued.append(
            make(self.counter, mode=mode, priority=priority, area=area, team=team, cpus=cpus)
        )

    @rule()
    def schedule(self) -> None:
        decision = self.policy.schedule(self.queued, self.active, now=T0)
        started = set(decision.start)
        assert started.isdisjoint(decision.waiting)
        assert started | set(decision.waiting) == {s.id for s in self.queued}
        if self.policy.fairness == "fifo":
            # Within one lane and mode, nobody younger starts while an older one waits for
            # no reason of its own.
            for sid in started:
                s = next(x for x in self.queued if x.id == sid)
                for other in self.queued:
                    if (
                        other.id in decision.waiting
                        and other.mode is s.mode
                        and other.area == s.area
                        and other.team == s.team
                        and other.priority is s.priority
                        and other.cpus == s.cpus
                    ):
                        assert other.created_at > s.created_at
        self.active += [s for s in self.queued if s.id in started]
        self.queued = [s for s in self.queued if s.id not in started]

    @rule(data=st.data())
    def finish(self, data: st.DataObject) -> None:
        if self.active:
            index = data.draw(st.integers(0, len(self.active) - 1))
            self.active.pop(index)

    @invariant()
    def limits_hold(self) -> None:
        per_mode: dict[SessionMode, int] = {}
        for s in self.active:
            per_mode[s.mode] = per_mode.get(s.mode, 0) + 1
        for mode, count in per_mode.items():
            limit = self.policy.max_concurrent[mode]
            assert limit is None or count <= limit
        assert sum(1 for s in self.active if s.area == "api") <= 2
        assert sum(1 for s in self.active if s.team == "ux") <= 1
        assert sum(s.cpus or 0 for s in self.active) <= 4
        non_highest = sum(
            1
            for s in self.active
            if s.mode is SessionMode.AUTONOMOUS and s.priority is not Priority.HIGHEST
        )
        assert non_highest <= 2


TestQueueMachine = QueueMachine.TestCase
TestQueueMachine.settings = settings(max_examples=60, stateful_step_count=40, deadline=None)


def test_the_queue_is_counted_only_when_admission_looks_at_it() -> None:
    """``counts_queue`` tells the engine whether to count the queue for ``admit``: only a
    ``max_queue_size`` makes the built-in policy look."""
    assert PriorityQueuePolicy().counts_queue is False
    assert PriorityQueuePolicy(max_queue_size=3).counts_queue is True
