"""The worktree layer through the engine: setup events, history in git, cleanup, pause and
resume, and the task view across branches."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import anyio
import pytest
from support import git

import scopecraft
from scopecraft import Engine, SessionStatus

pytestmark = pytest.mark.anyio

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}


async def test_setup_history_view_cleanup_pause_resume(repo: Path, home: Path) -> None:
    """A session's worktree gets the ignored ``.env`` and the setup output as an event; its
    record lands on refs/scopecraft/history without dirtying any worktree; the task view
    shows its status on the task branch; a dirty worktree survives cleanup; pause keeps the
    work on the branch and resume brings it back."""
    (repo / ".gitignore").write_text(".env\n")
    (repo / ".env").write_text("TOKEN=local\n")
    git("add", ".gitignore", cwd=repo)
    git("commit", "-q", "-m", "ignore .env", cwd=repo)
    config = {
        "worktree_setup": {"copy": [".env"], "command": ["sh", "-c", "echo setup ran"]},
        "cleanup": {"kind": "on_success"},
    }
    async with Engine.open(repo, home=home, config=config) as engine:
        session = await engine.create_session("ok-01A", **LOCAL)
        done = await engine.wait(session.id, timeout=60)
        assert done.status is SessionStatus.COMPLETED, done.error
        worktree = Path(done.worktree_path or "")
        assert (worktree / ".env").read_text() == "TOKEN=local\n"
        setup = [
            e async for e in engine.events(session_id=session.id) if e.type == "worktree_setup_ran"
        ]
        assert setup
        assert "setup ran" in setup[0].output
        history = await engine.history("ok-01A")
        assert [r["session"]["id"] for r in history] == [session.id]
        assert history[0]["final_commit"]
        assert history[0]["cost_usd"] == pytest.approx(0.25)
        assert git("status", "--porcelain", cwd=repo) == ""
        view = {t.task_id: t for t in await engine.task_view()}
        assert view["ok-01A"].status_on("feature/ok-01A") == "done"
        assert [s.id for s in view["ok-01A"].sessions] == [session.id]
        # A dirty worktree survives every cleanup.
        (worktree / "scratch.txt").write_text("uncommitted\n")
        decisions = await engine.cleanup_worktrees(dry_run=False)
        assert worktree.is_dir()
        assert all(d.action == "keep" for d in decisions if d.status.path == worktree)
        paused = await engine.pause_worktree("ok-01A")
        assert paused is not None
        assert not worktree.exists()
        await engine.resume_worktree("ok-01A")
        assert (worktree / "scratch.txt").read_text() == "uncommitted\n"
        with pytest.raises(scopecraft.InvalidName):
            await engine.history("../etc")


async def test_cancelled_sessions_are_archived(repo: Path, home: Path) -> None:
    """A session cancelled while running, and one cancelled while queued, both have their
    record in the git history."""
    policy = scopecraft.PriorityQueuePolicy({"autonomous": 1})
    async with Engine.open(repo, home=home, policy=policy, config={"stop_grace": 1}) as engine:
        running = await engine.create_session("hang-01C", **LOCAL)
        queued = await engine.create_session("hang-01C", **LOCAL)
        while (await engine.get_session(running.id)).status is not SessionStatus.RUNNING:
            await anyio.sleep(0.05)
        assert await engine.cancel_session(queued.id)
        assert await engine.cancel_session(running.id)
        await engine.wait(running.id, timeout=30)
        with anyio.fail_after(30):
            while len(await engine.history("hang-01C")) < 2:
                await anyio.sleep(0.1)
        statuses = {
            r["session"]["id"]: r["session"]["status"] for r in await engine.history("hang-01C")
        }
        assert statuses == {running.id: "cancelled", queued.id: "cancelled"}
