"""The queue end to end: concurrency limits, budgets with pause and resume, approvals,
retries, costs."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import git, write_task

import scopecraft
from scopecraft import Engine, PriorityQueuePolicy, SessionStatus
from scopecraft.policies import ApprovalRules, QueuePolicy, RetryRules

pytestmark = pytest.mark.anyio

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}


def _commit(repo: Path) -> None:
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "tasks", cwd=repo)


async def test_max_concurrent_two_never_runs_more_than_two(repo: Path, home: Path) -> None:
    """Six sessions under ``max_concurrent`` 2: the event timeline never shows more than two
    in flight (from session_starting to their end), and all six complete."""
    for i in range(6):
        # Long enough that the six are queued before the first two end, however slowly a
        # loaded machine creates them (else nothing would have to wait).
        write_task(repo, f"q{i}-02A", "fake: say working\nfake: sleep 1")
    _commit(repo)
    policy = PriorityQueuePolicy({"autonomous": 2})
    async with Engine.open(
        repo, home=home, policy=policy, config={"scheduler_interval": 0.2}
    ) as engine:
        sessions = [await engine.create_session(f"q{i}-02A", **LOCAL) for i in range(6)]
        for s in sessions:
            done = await engine.wait(s.id, timeout=60)
            assert done.status is SessionStatus.COMPLETED
        timeline: list[tuple[object, int]] = []
        waited = set()
        for s in sessions:
            async for event in engine.events(session_id=s.id):
                if event.type == "session_starting":
                    timeline.append((event.ts, 1))
                elif event.type in ("session_completed", "session_failed"):
                    timeline.append((event.ts, -1))
                elif event.type == "session_waiting":
                    waited.add(s.id)
    timeline.sort(key=lambda item: (item[0], item[1]))
    running = peak = 0
    for _, delta in timeline:
        running += delta
        peak = max(peak, running)
    assert peak <= 2
    assert peak == 2
    assert waited, "queued sessions said why they waited"


async def test_budget_pauses_and_resumes_after_raise(repo: Path, home: Path) -> None:
    """A session over its budget pauses with ``budget_reached`` (overshooting by at most one
    report); raising the budget and resuming lets it finish on its next attempt.

    The reports are a second apart, five output reads (``poll_interval`` 0.2 s): reports
    that reach the engine in one read were all spent before it could react, so the bound
    holds as long as the engine reads at least once between two of them, even on a loaded
    host."""
    steps = "\n".join(["fake: cost 0.3\nfake: sleep 1"] * 4)
    write_task(repo, "budget-03A", steps)
    _commit(repo)
    async with Engine.open(repo, home=home, config={"stop_grace": 2}) as engine:
        session = await engine.create_session("budget-03A", budget_usd=0.5, **LOCAL)
        with anyio.fail_after(30):
            while (
                current := await engine.get_session(session.id)
            ).status is not SessionStatus.PAUSED:
                assert not current.is_terminal, current.error
                await anyio.sleep(0.05)
        assert current.error is not None
        assert "budget_reached" in current.error
        assert 0.5 <= current.cost_usd <= 0.5 + 0.3 + 1e-9
        # The runtime was stopped and the worktree kept.
        assert Path(current.worktree_path or "").is_dir()
        with pytest.raises(scopecraft.InvalidTransition):
            await engine.approve_session(session.id)
        await engine.set_budget(session.id, 100)
        resumed = await engine.resume_session(session.id)
        assert resumed.attempt == 2
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED
        types = [e.type async for e in engine.events(session_id=session.id)]
        assert "session_paused" in types
        assert "session_resumed" in types


async def test_cost_totals_sum_only_the_asked_scopes(repo: Path, home: Path) -> None:
    """``cost_totals`` sums every scope by default; asked for the task alone it reads only the
    task's sessions and gives the same task total."""
    write_task(repo, "spend-03C", "fake: cost 0.25")
    _commit(repo)
    async with Engine.open(repo, home=home) as engine:
        first = await engine.create_session("spend-03C", **LOCAL)
        await engine.wait(first.id, timeout=30)
        other = await engine.create_session("ok-01A", **LOCAL)
        elsewhere = (await engine.wait(other.id, timeout=30)).cost_usd
        second = await engine.create_session("spend-03C", **LOCAL)
        done = await engine.wait(second.id, timeout=30)
        full = await engine._costs.totals(done)
        task_only = await engine._costs.totals(done, scopes={"task"})
        none = await engine._costs.totals(done, scopes=())
    assert full.task == pytest.approx(0.5)
    assert full.day == pytest.approx(0.5 + elsewhere)
    assert task_only.task == pytest.approx(0.5)
    assert (task_only.session, task_only.day, task_only.area) == (0.25, 0.0, 0.0)
    assert (none.session, none.task) == (0.25, 0.0)


async def test_supervised_session_waits_for_approval(repo: Path, home: Path) -> None:
    """A supervised operation waits in awaiting_approval until approved; a denied one is
    cancelled."""
    policy = PriorityQueuePolicy(approvals=ApprovalRules(supervised=frozenset({"autonomous"})))
    async with Engine.open(repo, home=home, policy=policy) as engine:
        session = await engine.create_session("ok-01A", **LOCAL)
        assert session.status is SessionStatus.AWAITING_APPROVAL
        await anyio.sleep(0.5)
        assert (await engine.get_session(session.id)).status is SessionStatus.AWAITING_APPROVAL
        await engine.approve_session(session.id, by="lead@example.com")
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED
        other = await engine.create_session("ok-01A", **LOCAL)
        denied = await engine.deny_session(other.id, reason="not now")
        assert denied.status is SessionStatus.CANCELLED
        types = [e.type async for e in engine.events(session_id=session.id)]
        assert types[:3] == ["session_queued", "approval_requested", "approval_granted"]


async def test_cost_threshold_asks_approval_mid_run(repo: Path, home: Path) -> None:
    """Passing the supervised cost threshold halts the session until a person approves."""
    write_task(repo, "spend-03B", "fake: cost 0.4\nfake: sleep 0.3\nfake: cost 0.4\nfake: sleep 5")
    _commit(repo)
    policy = PriorityQueuePolicy(approvals=ApprovalRules(supervised_above_usd=0.5))
    async with Engine.open(repo, home=home, policy=policy, config={"stop_grace": 2}) as engine:
        session = await engine.create_session("spend-03B", **LOCAL)
        with anyio.fail_after(30):
            while (
                await engine.get_session(session.id)
            ).status is not SessionStatus.AWAITING_APPROVAL:
                await anyio.sleep(0.05)
        approved = await engine.approve_session(session.id)
        assert approved.status is SessionStatus.QUEUED
        assert approved.approved
        await engine.wait(session.id, timeout=30)


async def test_infrastructure_failure_is_retried(repo: Path, home: Path) -> None:
    """A runtime that vanishes (killed with its supervisor: an infrastructure failure) is
    retried after a backoff as attempt 2; an agent's own failure is not retried."""
    policy = PriorityQueuePolicy(retries=RetryRules(max_retries=1, base_delay=0.1, jitter=0))
    config = {"scheduler_interval": 0.2, "stop_grace": 1}
    async with Engine.open(repo, home=home, policy=policy, config=config) as engine:
        plain = await engine.create_session("fail-01B", **LOCAL)
        done = await engine.wait(plain.id, timeout=30)
        assert done.status is SessionStatus.FAILED
        assert done.attempt == 1
        flaky = await engine.create_session("hang-01C", **LOCAL)
        with anyio.fail_after(20):
            while (first := await engine.get_session(flaky.id)).status is not SessionStatus.RUNNING:
                await anyio.sleep(0.05)
        os.killpg(int((first.runtime_id or "0").split(":")[0]), signal.SIGKILL)
        with anyio.move_on_after(30) as waited:
            while not (
                (second := await engine.get_session(flaky.id)).attempt == 2
                and second.status is SessionStatus.RUNNING
            ):
                await anyio.sleep(0.05)
        if waited.cancelled_caught:  # say what happened instead, event by event
            story = [
                e.model_dump(mode="json", exclude={"session_id", "ts"})
                async for e in engine.events(session_id=flaky.id)
            ]
            pytest.fail(f"attempt 2 did not start within 30 s: {second!r}; events: {story}")
        types = [e.type async for e in engine.events(session_id=flaky.id)]
        assert "session_retry_scheduled" in types
        failed = [e async for e in engine.events(session_id=flaky.id) if e.type == "session_failed"]
        assert failed[0].retryable
        assert "vanished" in failed[0].reason
        await engine.cancel_session(flaky.id)
        await engine.wait(flaky.id, timeout=20)
        costs = await engine.costs(group_by="mode")
        assert set(costs) == {"autonomous"}
        with pytest.raises(scopecraft.RequestRefused):
            await engine.costs(group_by="planet")


async def test_the_queue_is_counted_only_for_a_policy_that_looks(repo: Path, home: Path) -> None:
    """No store read for the count when the policy says it does not look (``counts_queue``
    false); a policy with a queue limit, or one that does not say, is given the count."""

    class Silent(QueuePolicy):
        """A policy that does not say whether it looks: it inherits the protocol's default
        (``counts_queue`` true) and is given the count."""

        def __init__(self) -> None:
            self._inner = PriorityQueuePolicy()

        def admit(self, session: Any, *, queued: int) -> Any:
            return self._inner.admit(session, queued=queued)

        def schedule(self, queued: Any, active: Any, *, now: Any) -> Any:
            return self._inner.schedule(queued, active, now=now)

        def check_cost(self, session: Any, totals: Any) -> Any:
            return self._inner.check_cost(session, totals)

        def retry_delay(self, session: Any, *, reason: str, retryable: bool) -> Any:
            return self._inner.retry_delay(session, reason=reason, retryable=retryable)

    for policy, counted in (
        (PriorityQueuePolicy(), False),
        (PriorityQueuePolicy(max_queue_size=5), True),
        (Silent(), True),
    ):
        assert await _counts_the_queue(repo, home, policy) is counted


async def _counts_the_queue(repo: Path, home: Path, policy: Any) -> bool:
    async with Engine.open(repo, home=home, policy=policy) as engine:
        calls: list[object] = []
        original = engine.storage.count_sessions

        async def count(*args: Any, **kwargs: Any) -> int:
            calls.append(kwargs)
            return await original(*args, **kwargs)

        engine.storage.count_sessions = count  # type: ignore[method-assign]
        assert await engine._requests.queued_count() == 0
        return bool(calls)
