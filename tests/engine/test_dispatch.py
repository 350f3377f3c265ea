"""Dispatch: one call starts a session for every subtask of a parallel group."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import copy_fixture_tasks, git

import scopecraft
from scopecraft import Engine, SessionStatus

pytestmark = pytest.mark.anyio


async def test_dispatch_starts_the_parallel_group(repo: Path, home: Path) -> None:
    """Dispatching the fixture's ``auth-05A`` starts its two ``02`` subtasks (``01`` is done),
    both in the parent's one worktree; a group with no subtask is refused."""
    copy_fixture_tasks(repo)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "fixture tasks", cwd=repo)
    async with Engine.open(repo, home=home) as engine:
        sessions = await engine.dispatch(
            "auth-05A", mode="autonomous", executor="local", agent="fake"
        )
        assert sorted(s.task_id for s in sessions) == ["02_impl-api-05C", "02_impl-ui-05D"]
        assert {s.branch for s in sessions} == {"feature/auth-05A"}
        assert all(s.parent_id == "auth-05A" for s in sessions)
        for session in sessions:
            done = await engine.wait(session.id, timeout=60)
            assert done.status is SessionStatus.COMPLETED, done.error
        with pytest.raises(scopecraft.TaskNotFound, match="sequence 7"):
            await engine.dispatch("auth-05A", sequence=7, executor="local", agent="fake")
        assert len(await engine.list_sessions(all=True)) == 2
