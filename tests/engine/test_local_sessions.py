"""End-to-end sessions on the local executor with the scripted fake agent."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import anyio
import psutil
import pytest
from support import git, write_task

import scopecraft
from scopecraft import Engine, SessionStatus
from scopecraft.events import Event

pytestmark = pytest.mark.anyio

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}


async def _events(engine: Engine, session_id: str) -> list[Event]:
    return [e async for e in engine.events(session_id=session_id)]


async def test_session_runs_to_completion_in_its_worktree(repo: Path, home: Path) -> None:
    """A fake-agent session completes; its messages, cost, log lines and file changes are
    recorded; the work is committed on the task branch and the main worktree is untouched."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("ok-01A", **LOCAL)
        assert session.status is SessionStatus.QUEUED
        assert session.branch == "feature/ok-01A"
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        assert done.exit_code == 0
        assert done.cost_usd == pytest.approx(0.25)
        assert done.agent_session_id
        assert done.started_at is not None
        assert done.ended_at is not None
        events = await _events(engine, session.id)
        types = [e.type for e in events]
        assert types[0] == "session_queued"
        for expected in ("session_starting", "session_started", "agent_message", "cost_reported"):
            assert expected in types
        assert types.index("session_started") < types.index("session_completed")
        assert [e.seq for e in events] == list(range(1, len(events) + 1))
        messages = [e.text for e in events if e.type == "agent_message"]
        assert "hello from the fake agent" in messages
        costs = [e for e in events if e.type == "cost_reported"]
        assert sum(c.usd for c in costs) == pytest.approx(0.25)
        assert costs[-1].total_usd == pytest.approx(0.25)
        logs = [entry async for entry in engine.session_logs(session.id)]
        assert logs, "the agent's output is kept as log lines"
        assert [e.seq for e in logs] == list(range(1, len(logs) + 1))
        assert not any("fake: say" in e.text for e in logs), "the prompt is never logged"
        changes = next(e for e in events if e.type == "changes_recorded")
        assert "notes/out.txt" in changes.files
        assert changes.committed
    worktree = Path(done.worktree_path or "")
    assert (worktree / "notes" / "out.txt").read_text() == "made by the agent\n"
    assert git("status", "--porcelain", cwd=worktree) == ""
    assert git("status", "--porcelain", cwd=repo) == ""
    assert not (repo / "notes").exists()
    task_text = (worktree / ".tasks" / "current" / "ok-01A.task.md").read_text()
    assert f"Session {session.id}" in task_text
    assert "status: done" in task_text
    main_task = (repo / ".tasks" / "current" / "ok-01A.task.md").read_text()
    assert "Session" not in main_task, "nothing is written into the main worktree"


async def test_failing_agent_fails_with_its_exit_code(repo: Path, home: Path) -> None:
    """An agent that ends with an error result and exit code 3 gives a failed session."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("fail-01B", **LOCAL)
        done = await engine.wait(session.id, timeout=30)
    assert done.status is SessionStatus.FAILED
    assert done.exit_code == 3
    assert done.error


async def test_cancel_stops_a_hanging_agent(repo: Path, home: Path) -> None:
    """Cancelling a running session ends its process group and records ``cancelled``."""
    async with Engine.open(repo, home=home, config={"stop_grace": 2}) as engine:
        session = await engine.create_session("hang-01C", **LOCAL)
        with anyio.fail_after(20):
            while (await engine.get_session(session.id)).status is not SessionStatus.RUNNING:
                await anyio.sleep(0.05)
        running = await engine.get_session(session.id)
        pid = int((running.runtime_id or "0:0").split(":")[0])
        assert psutil.pid_exists(pid)
        assert await engine.cancel_session(session.id) is True
        done = await engine.wait(session.id, timeout=20)
        assert done.status is SessionStatus.CANCELLED
        assert await engine.cancel_session(session.id) is False, "a second cancel is a no-op"
        with anyio.fail_after(10):
            while psutil.pid_exists(pid) and psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                await anyio.sleep(0.05)


async def test_wait_times_out_and_the_session_goes_on(repo: Path, home: Path) -> None:
    """``wait`` raises SessionTimeout (a TimeoutError) and leaves the session running."""
    async with Engine.open(repo, home=home, config={"stop_grace": 1}) as engine:
        session = await engine.create_session("hang-01C", **LOCAL)
        with pytest.raises(scopecraft.SessionTimeout) as info:
            await engine.wait(session.id, timeout=0.5)
        assert isinstance(info.value, TimeoutError)
        assert not (await engine.get_session(session.id)).is_terminal
        await engine.cancel_session(session.id)
        await engine.wait(session.id, timeout=20)


async def test_continue_resumes_the_agent_session(repo: Path, home: Path) -> None:
    """Feedback on an ended session starts attempt 2 with the same agent session id."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("ok-01A", **LOCAL)
        first = await engine.wait(session.id, timeout=30)
        assert first.status is SessionStatus.COMPLETED
        await engine.continue_session(session.id, "fake: say second round\nfake: cost 0.5")
        second = await engine.wait(session.id, timeout=30)
        # wait may see the ended first attempt: wait for attempt 2 to end.
        with anyio.fail_after(30):
            while second.attempt != 2 or not second.is_terminal:
                await anyio.sleep(0.05)
                second = await engine.get_session(session.id)
        assert second.status is SessionStatus.COMPLETED, second.error
        assert second.agent_session_id == first.agent_session_id
        assert second.cost_usd == pytest.approx(0.75)
        events = await _events(engine, session.id)
        assert any(e.type == "feedback_given" for e in events)
        assert any(e.type == "session_continued" for e in events)
        assert "second round" in [e.text for e in events if e.type == "agent_message"]


async def test_feedback_while_running_becomes_the_next_attempt(repo: Path, home: Path) -> None:
    """Feedback given while a local agent runs is delivered as the next attempt's prompt."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("slow-01D", **LOCAL)
        with anyio.fail_after(20):
            while (await engine.get_session(session.id)).status is not SessionStatus.RUNNING:
                await anyio.sleep(0.05)
        await engine.continue_session(session.id, "fake: say after feedback")
        with anyio.fail_after(40):
            while True:
                current = await engine.get_session(session.id)
                if current.attempt == 2 and current.is_terminal:
                    break
                await anyio.sleep(0.05)
        assert current.status is SessionStatus.COMPLETED
        messages = [e.text for e in await _events(engine, session.id) if e.type == "agent_message"]
        assert "after feedback" in messages


async def test_secrets_are_forwarded_and_redacted_everywhere(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forwarded secret reaches the agent but never the store (events, logs, rows)."""
    secret = "s3cr3t-value-for-the-test-0001"
    monkeypatch.setenv("MY_TOKEN", secret)
    write_task(
        repo, "secret-01E", "fake: echo-env MY_TOKEN\nfake: say sk-ant-api03-abcdefghijklmnop"
    )
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "secret task", cwd=repo)
    async with Engine.open(repo, home=home, forward_env=["MY_TOKEN"]) as engine:
        session = await engine.create_session("secret-01E", **LOCAL)
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED
        messages = [e.text for e in await _events(engine, session.id) if e.type == "agent_message"]
        assert any("[REDACTED]" in m for m in messages), messages
    for path in home.glob("scopecraft.db*"):
        data = path.read_bytes()
        assert secret.encode() not in data, path
        assert b"sk-ant-api03-abcdefghijklmnop" not in data, path
    with sqlite3.connect(home / "scopecraft.db") as db:
        dumped = "\n".join(db.iterdump())
    assert secret not in dumped


async def test_session_outlives_a_short_lived_engine(repo: Path, home: Path) -> None:
    """An engine that exits right after starting a session leaves it running; the next
    engine adopts it and records every log line exactly once."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("slow-01D", **LOCAL)
        with anyio.fail_after(20):
            while (await engine.get_session(session.id)).status is not SessionStatus.RUNNING:
                await anyio.sleep(0.05)
    async with Engine.open(repo, home=home) as engine:
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        messages = [e.text for e in await _events(engine, session.id) if e.type == "agent_message"]
        assert messages.count("one") == 1
        assert messages.count("two") == 1
        logs = [entry.text async for entry in engine.session_logs(session.id)]
        assert len(logs) == len(set(logs)), "no line doubled"


async def test_an_engine_taking_over_bills_the_attempts_costs_once(repo: Path, home: Path) -> None:
    """An engine that stops after the agent reported a cost leaves the attempt to the next
    one, whose parser reads that report back: the result line that sums the attempt's costs
    adds nothing, and the session costs what the agent spent."""
    write_task(repo, "cost-01E", "fake: cost 0.25\nfake: sleep 1\nfake: say done")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "a costly task", cwd=repo)
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("cost-01E", **LOCAL)
        with anyio.fail_after(20):
            while (await engine.get_session(session.id)).cost_usd == 0:
                await anyio.sleep(0.02)
    async with Engine.open(repo, home=home) as engine:
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        assert done.cost_usd == pytest.approx(0.25)
        costs = [e for e in await _events(engine, session.id) if e.type == "cost_reported"]
        assert sum(e.usd for e in costs) == pytest.approx(0.25)


async def test_logs_follow_until_the_session_ends(repo: Path, home: Path) -> None:
    """``session_logs(follow=True)`` yields lines as they come and stops at the end."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("slow-01D", **LOCAL)
        with anyio.fail_after(30):
            lines = [entry async for entry in engine.session_logs(session.id, follow=True)]
        assert any('"two"' in line.text or "two" in line.text for line in lines)
        assert (await engine.get_session(session.id)).is_terminal
        last = [entry async for entry in engine.session_logs(session.id, limit=1)]
        assert len(last) == 1
        assert last[0].seq == lines[-1].seq


async def test_cancel_while_starting_leaves_nothing_running(repo: Path, home: Path) -> None:
    """A session cancelled while it is being started never leaves its runtime running, even
    when the engine closes at once; a reopened engine finds nothing to adopt."""
    tasks = ["hang-01C", "hang-02C", "hang-03C"]  # one task each: no session waits for another
    for task_id in tasks[1:]:
        write_task(repo, task_id, "fake: say waiting\nfake: hang")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "more hanging tasks", cwd=repo)
    async with Engine.open(repo, home=home, config={"stop_grace": 1}) as engine:
        sessions = [await engine.create_session(task_id, **LOCAL) for task_id in tasks]
        for delay, session in zip((0.0, 0.2, 0.5), sessions, strict=True):
            await anyio.sleep(delay)
            assert await engine.cancel_session(session.id)
    async with Engine.open(repo, home=home) as engine:
        await engine.reconcile()
        for session in sessions:
            assert (await engine.get_session(session.id)).status is SessionStatus.CANCELLED
            types = [e.type for e in await _events(engine, session.id)]
            ended = types.index("session_cancelled")
            assert "session_started" not in types[ended:], (
                f"a start stored after the cancel: {types}"
            )
    runs = home / "runs"
    with anyio.fail_after(15):
        while runs.exists() and any(runs.glob("*/*")):
            await anyio.sleep(0.1)
