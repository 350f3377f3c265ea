"""Planning sessions: the plan is validated, asked for again when invalid, stored as an
artifact, and written out as Scopecraft subtask files on the task branch."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from support import git, write_task

from scopecraft import Engine, SessionStatus
from scopecraft._plan import PlanInvalid, extract_plan

pytestmark = pytest.mark.anyio

PLAN = {
    "subtasks": [
        {"title": "Write the parser", "sequence": 1, "instruction": "Parse it."},
        {"title": "Add the API", "sequence": 2, "instruction": "Serve it."},
        {"title": "Add the UI", "sequence": 2, "instruction": "Show it."},
    ]
}


def test_extract_plan_from_fenced_json_and_errors() -> None:
    """The last valid JSON plan wins; bad answers give a reason."""
    text = f"Here is the plan.\n```json\n{json.dumps(PLAN)}\n```\n"
    plan = extract_plan(["thinking...", text])
    assert [s.sequence for s in plan.subtasks] == [1, 2, 2]
    with pytest.raises(PlanInvalid, match="no JSON object"):
        extract_plan(["no plan here"])
    with pytest.raises(PlanInvalid, match="subtasks"):
        extract_plan(['{"subtasks": []}'])
    with pytest.raises(PlanInvalid, match="sequence"):
        extract_plan(['{"subtasks": [{"title": "x", "sequence": 0, "instruction": "y"}]}'])


async def test_planning_session_stores_and_writes_a_plan(repo: Path, home: Path) -> None:
    """A planning agent's valid plan (after other talk) is stored as an artifact and written
    as subtask files, committed in the task's worktree, never in the main one."""
    write_task(
        repo,
        "plan-04A",
        f"fake: say I will think first.\nfake: say {json.dumps(PLAN)}",
    )
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "plan task", cwd=repo)
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session(
            "plan-04A", mode="planning", executor="local", agent="fake"
        )
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        plan = await engine.plan(session.id)
        assert plan is not None
        assert len(plan.subtasks) == 3
        written = await engine.write_plan(session.id)
        assert [t.sequence for t in written] == [1, 2, 2]
        assert all(t.parent_id == "plan-04A" for t in written)
    worktree = Path(done.worktree_path or "")
    folder = worktree / ".tasks" / "current" / "plan-04A"
    assert (folder / "_overview.md").exists()
    assert len(list(folder.glob("0*_*.task.md"))) == 3
    assert git("status", "--porcelain", cwd=worktree) == ""
    assert not (repo / ".tasks" / "current" / "plan-04A").exists()


async def test_planning_without_a_valid_plan_fails_after_retries(repo: Path, home: Path) -> None:
    """An agent that never gives a valid plan is asked again ``plan_retries`` times, then the
    session fails saying why."""
    write_task(repo, "noplan-04B", "fake: say I have no plan.")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "no plan task", cwd=repo)
    async with Engine.open(repo, home=home, config={"plan_retries": 1}) as engine:
        session = await engine.create_session(
            "noplan-04B", mode="planning", executor="local", agent="fake"
        )
        done = await engine.wait(session.id, timeout=30)
        while done.attempt < 2 or not done.is_terminal:
            done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.FAILED
        assert done.error is not None
        assert "no valid plan" in done.error
        assert await engine.plan(session.id) is None
