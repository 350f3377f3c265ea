"""Requests the engine refuses: each with a clear error, and nothing created."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import git

import scopecraft
from scopecraft import Engine, RequestRefused, SessionStatus

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("task_id", "kwargs", "error", "words"),
    [
        (
            "nope-01Z",
            {"mode": "autonomous", "executor": "local"},
            scopecraft.TaskNotFound,
            "no task",
        ),
        ("../etc", {"mode": "autonomous", "executor": "local"}, scopecraft.InvalidName, "task id"),
        (
            "$(touch x)",
            {"mode": "autonomous", "executor": "local"},
            scopecraft.InvalidName,
            "task id",
        ),
        (
            "ok-01A",
            {"mode": "sideways", "executor": "local"},
            scopecraft.RequestRefused,
            "unknown mode",
        ),
        (
            "ok-01A",
            {"mode": "orchestration", "executor": "local"},
            scopecraft.RequestRefused,
            "orchestration",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "priority": "urgent"},
            scopecraft.RequestRefused,
            "priority",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "dangerous": True},
            scopecraft.DangerousRefused,
            "container",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "permissions": "full"},
            scopecraft.DangerousRefused,
            "container",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "permissions": "root"},
            scopecraft.RequestRefused,
            "unknown permissions",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "permissions": "edit", "dangerous": True},
            scopecraft.RequestRefused,
            "contradicts",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "resources": {"pids": -5}},
            scopecraft.RequestRefused,
            "pids must be more than 0",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "resources": {"cpus": float("nan")}},
            scopecraft.RequestRefused,
            "cpus must be more than 0",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "resources": {"memory_mb": 1.5}},
            scopecraft.RequestRefused,
            "whole number",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "resources": {"gpus": 1}},
            scopecraft.RequestRefused,
            "unknown gpus",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "budget_usd": float("inf")},
            scopecraft.RequestRefused,
            "finite",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "budget_usd": float("nan")},
            scopecraft.RequestRefused,
            "finite",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "prompt": "lone \ud800"},
            scopecraft.RequestRefused,
            "not valid Unicode",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "model": 3},
            scopecraft.RequestRefused,
            "model must be text",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "branch": "main"},
            scopecraft.MainWorktreeRefused,
            "default branch",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "branch": "a;b"},
            scopecraft.InvalidName,
            "branch",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "branch": "-x"},
            scopecraft.InvalidName,
            "branch",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "nowhere"},
            scopecraft.RequestRefused,
            "nowhere",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "agent": "nobody"},
            scopecraft.RequestRefused,
            "nobody",
        ),
        (
            "ok-01A",
            {"mode": "interactive", "executor": "local"},
            scopecraft.RequestRefused,
            "terminal",
        ),
        (
            "ok-01A",
            {"mode": "autonomous", "executor": "local", "parent_id": "ghost-01Q"},
            scopecraft.TaskNotFound,
            "ghost",
        ),
    ],
)
async def test_bad_requests_are_refused_and_create_nothing(
    repo: Path,
    home: Path,
    task_id: str,
    kwargs: dict[str, object],
    error: type[Exception],
    words: str,
) -> None:
    """Each bad request raises its ScopecraftError subclass naming the problem; no session
    is stored."""
    async with Engine.open(repo, home=home) as engine:
        with pytest.raises(error) as info:
            await engine.create_session(task_id, **{"agent": "fake", **kwargs})  # type: ignore[arg-type]
        assert isinstance(info.value, scopecraft.ScopecraftError)
        assert words in str(info.value)
        assert await engine.list_sessions(all=True) == []


async def test_dangerous_on_host_needs_the_opt_in(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST=1 a dangerous local session is accepted."""
    monkeypatch.setenv("SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST", "1")
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session(
            "ok-01A", mode="autonomous", executor="local", agent="fake", dangerous=True
        )
        assert session.dangerous
        await engine.wait(session.id, timeout=30)


@pytest.mark.parametrize(
    ("kwargs", "level"),
    [
        ({"mode": "autonomous"}, "edit"),
        ({"mode": "planning"}, "read-only"),
        ({"mode": "autonomous", "permissions": "read-only"}, "read-only"),
        ({"mode": "planning", "permissions": "edit"}, "edit"),
    ],
)
async def test_permission_levels_default_by_mode(
    repo: Path, home: Path, kwargs: dict[str, str], level: str
) -> None:
    """A session's permission level is ``edit`` by default, ``read-only`` for planning, or
    what was asked; it is stored on the session and survives a reopen."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("ok-01A", executor="local", agent="fake", **kwargs)  # type: ignore[arg-type]
        assert session.permissions == level
        assert not session.dangerous
        await engine.cancel_session(session.id)
    async with Engine.open(repo, home=home) as engine:
        assert (await engine.get_session(session.id)).permissions == level


async def test_dangerous_is_permissions_full(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``dangerous=True`` and ``permissions="full"`` are the same request."""
    monkeypatch.setenv("SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST", "1")
    async with Engine.open(repo, home=home) as engine:
        one = await engine.create_session(
            "ok-01A", mode="autonomous", executor="local", agent="fake", dangerous=True
        )
        other = await engine.create_session(
            "fail-01B", mode="autonomous", executor="local", agent="fake", permissions="full"
        )
        assert (one.permissions, one.dangerous) == (other.permissions, other.dangerous)
        assert one.permissions == "full"
        assert one.dangerous
        for session in (one, other):
            await engine.wait(session.id, timeout=30)


async def test_default_executor_for_autonomous_is_docker(repo: Path, home: Path) -> None:
    """Without ``executor=``, an autonomous session asks for docker; when docker cannot be
    loaded, or no image is named, the error says how to run it locally."""
    policy = scopecraft.PriorityQueuePolicy({"autonomous": 0})
    async with Engine.open(repo, home=home, policy=policy) as engine:
        try:
            engine.executor("docker")
        except scopecraft.PluginError:
            with pytest.raises(scopecraft.RequestRefused, match=r"docker.*executor='local'"):
                await engine.create_session("ok-01A", mode="autonomous", agent="fake")
        else:
            # Docker it is; with no image it could not start, so it is refused at once.
            with pytest.raises(scopecraft.RequestRefused, match=r"'docker'.*needs an image"):
                await engine.create_session("ok-01A", mode="autonomous", agent="fake")
            assert await engine.list_sessions(all=True) == []


async def test_unknown_session_ids(repo: Path, home: Path) -> None:
    """Unknown and malformed session ids raise SessionNotFound and InvalidName."""
    async with Engine.open(repo, home=home) as engine:
        with pytest.raises(scopecraft.SessionNotFound):
            await engine.get_session("ses-000000000000")
        with pytest.raises(scopecraft.InvalidName):
            await engine.get_session("../../etc/passwd")
        with pytest.raises(LookupError):
            await engine.cancel_session("ses-000000000000")


async def test_priority_defaults_to_the_task_priority(repo: Path, home: Path) -> None:
    """``priority=None`` takes the task's own priority; ``normal`` is read as medium."""
    async with Engine.open(
        repo, home=home, policy=scopecraft.PriorityQueuePolicy({"autonomous": 0})
    ) as engine:
        session = await engine.create_session(
            "ok-01A", mode="autonomous", executor="local", agent="fake"
        )
        assert session.priority is scopecraft.Priority.MEDIUM
        other = await engine.create_session(
            "ok-01A", mode="autonomous", executor="local", agent="fake", priority="normal"
        )
        assert other.priority is scopecraft.Priority.MEDIUM
        for s in (session, other):
            assert await engine.cancel_session(s.id)


async def test_bad_feedback_is_refused_before_anything_is_stored(repo: Path, home: Path) -> None:
    """Feedback over the limit, holding a lone surrogate, or not text at all raises a
    RequestRefused; nothing is stored for it."""
    from scopecraft.engine._facade import MAX_FEEDBACK_CHARS

    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session(
            "ok-01A", mode="autonomous", executor="local", agent="fake"
        )
        await engine.wait(session.id, timeout=30)
        before = [e async for e in engine.events(session_id=session.id)]
        for feedback in ("x" * (MAX_FEEDBACK_CHARS + 1), "bad \ud800 text", 42):
            with pytest.raises(scopecraft.RequestRefused):
                await engine.continue_session(session.id, feedback)  # type: ignore[arg-type]
        for budget in ("x", float("nan"), float("inf"), -1.0, True):
            with pytest.raises(scopecraft.RequestRefused, match="budget_usd"):
                await engine.set_budget(session.id, budget)  # type: ignore[arg-type]
        after = [e async for e in engine.events(session_id=session.id)]
        assert len(after) == len(before)


async def test_a_branch_other_than_the_worktrees_is_refused_before_queueing(
    repo: Path, home: Path
) -> None:
    """``branch=`` (the CLI's ``-w``) naming another branch than the one the task's existing
    worktree is on is refused at once, saying so, and nothing is queued; the worktree's own
    branch is accepted."""
    async with Engine.open(repo, home=home) as engine:
        first = await engine.create_session(
            "ok-01A", mode="autonomous", executor="local", agent="fake"
        )
        done = await engine.wait(first.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        before = len(await engine.list_sessions(all=True))
        with pytest.raises(RequestRefused, match="is on branch") as refused:
            await engine.create_session(
                "ok-01A", mode="autonomous", executor="local", agent="fake", branch="elsewhere"
            )
        assert done.branch is not None
        assert done.branch in str(refused.value)
        assert len(await engine.list_sessions(all=True)) == before
        again = await engine.create_session(
            "ok-01A", mode="autonomous", executor="local", agent="fake", branch=done.branch
        )
        assert (await engine.wait(again.id, timeout=30)).status is SessionStatus.COMPLETED


@pytest.mark.parametrize(
    ("agent", "options", "program"),
    [
        ("claude-code", {"executable": "/nonexistent/claude"}, "/nonexistent/claude"),
        ("codex", {"executable": "codex-not-installed-here"}, "codex-not-installed-here"),
        ("command", {"argv": ["no-such-program-xyz", "{prompt}"]}, "no-such-program-xyz"),
    ],
)
async def test_an_agent_cli_that_is_not_installed_is_refused_before_queueing(
    repo: Path, home: Path, agent: str, options: dict[str, object], program: str
) -> None:
    """On a host executor the agent's program must be installed: a missing one is refused at
    `create_session` (`AgentProgramNotFound`, also a `RequestRefused`) naming the program and
    `scopecraft doctor`; no session, worktree or branch is created."""
    config = {"agents": {agent: options}}
    async with Engine.open(repo, home=home, config=config) as engine:
        with pytest.raises(scopecraft.AgentProgramNotFound) as info:
            await engine.create_session("ok-01A", mode="autonomous", executor="local", agent=agent)
        assert isinstance(info.value, RequestRefused)
        assert repr(program) in str(info.value)
        assert "scopecraft doctor" in str(info.value)
        assert await engine.list_sessions(all=True) == []
    assert git("branch", "--list", cwd=repo).split() == ["*", "main"]
