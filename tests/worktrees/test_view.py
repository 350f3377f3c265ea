"""The worktree-aware task view: status per branch from committed trees, with sessions."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from support import git, make_repo, write_task

from scopecraft import Session
from scopecraft.tasks import central_tasks_dir
from scopecraft.worktrees import AmbiguousBinding, GitWorktreeOrchestrator, WorktreeTaskView


def _set_status(path: Path, status: str) -> None:
    path.write_text(path.read_text().replace("status: todo", f"status: {status}"))


@pytest.mark.anyio
async def test_each_branch_has_its_own_status_and_sessions_join(
    wt_repo: Path, orch: GitWorktreeOrchestrator, make_session: Callable[..., Session]
) -> None:
    """A status committed on a task branch shows on that branch only; sessions are attached."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    _set_status(binding.path / ".tasks/current/auth-05A.task.md", "in_progress")
    git("commit", "-q", "-am", "agent: working", cwd=binding.path)
    (binding.path / ".tasks/current/auth-05A.task.md").write_text("uncommitted, not read\n")
    git("branch", "unrelated", "main", cwd=wt_repo)
    runs = [
        make_session("ses-aaa", "auth-05A", branch=binding.branch),
        make_session("ses-bbb", "02_impl-05B", branch="feature/api-05B", status="running"),
    ]
    view = WorktreeTaskView(orch)
    assert await view.branches(runs) == ["main", "feature/auth-05A"]
    tasks = {t.task_id: t for t in await view.overview(runs)}
    assert set(tasks) == {"auth-05A", "fix-auth-05A", "api-05B", "01_design-05B", "02_impl-05B"}
    auth = tasks["auth-05A"]
    assert auth.status_on("main") == "todo"
    assert auth.status_on("feature/auth-05A") == "in_progress"
    assert auth.on_branches[0].branch == "main"
    assert auth.on_branches[0].path == ".tasks/current/auth-05A.task.md"
    assert [s.id for s in auth.sessions] == ["ses-aaa"]
    impl = tasks["02_impl-05B"]
    assert impl.env_id == "api-05B"
    assert impl.branch == "feature/api-05B"
    assert [s.id for s in impl.sessions] == ["ses-bbb"]
    assert impl.status_on("feature/auth-05A") == "todo"


@pytest.mark.anyio
async def test_one_worktree_query(wt_repo: Path, orch: GitWorktreeOrchestrator) -> None:
    """A worktree named by branch, env id or task id lists the tasks it owns, no others."""
    view = WorktreeTaskView(orch)
    by_branch = await view.worktree("feature/auth-05A")
    assert by_branch.env_id == "auth-05A"
    assert [t.task_id for t in by_branch.tasks] == ["auth-05A", "fix-auth-05A"]
    by_subtask = await view.worktree("01_design-05B")
    assert by_subtask.branch == "feature/api-05B"
    assert by_subtask.path.name == "api-05B"
    assert [t.task_id for t in by_subtask.tasks] == ["01_design-05B", "02_impl-05B", "api-05B"]
    with pytest.raises(AmbiguousBinding) as caught:
        await view.worktree("05A")
    assert caught.value.candidates == ("auth-05A", "fix-auth-05A")


@pytest.mark.anyio
async def test_a_task_only_on_a_branch_is_seen_without_checkout(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """Tasks added on a branch with no worktree, and malformed files, are handled from trees."""
    git("checkout", "-q", "-b", "feature/plan-05E", cwd=wt_repo)
    write_task(wt_repo, "plan-05E", "planned", folder="backlog")
    (wt_repo / ".tasks/current/broken-05E.task.md").write_text("no title, no front matter\n")
    git("add", "-A", cwd=wt_repo)
    git("commit", "-q", "-m", "plan", cwd=wt_repo)
    git("checkout", "-q", "main", cwd=wt_repo)
    view = WorktreeTaskView(orch)
    tasks = {t.task_id: t for t in await view.overview()}
    assert tasks["plan-05E"].on_branches[0].branch == "feature/plan-05E"
    assert tasks["plan-05E"].on_branches[0].location == "backlog"
    assert "broken-05E" not in tasks
    on_branch = await view.tasks_on_branch("feature/plan-05E")
    assert "plan-05E" in {t.id for t in on_branch}
    assert await view.tasks_on_branch("no/such-branch") == []


@pytest.mark.anyio
async def test_the_central_layout(
    tmp_path: Path, make_session: Callable[..., Session], tracker: Callable[[Path], Path]
) -> None:
    """With tasks in the central folder, each task has one status there, with its sessions."""
    repo = tracker(make_repo(tmp_path / "src", name="central"))
    shutil.rmtree(repo / ".tasks")  # an empty folder, never committed: no repository layout
    home = tmp_path / "home"
    orch = GitWorktreeOrchestrator(repo)
    info = await orch.repo_info()
    central = central_tasks_dir(home, info.root)
    (central / "current").mkdir(parents=True)
    (central / "current" / "deploy-05F.task.md").write_text(
        "# Deploy\n\n---\ntype: chore\nstatus: done\narea: ops\n---\n\n## Instruction\nship\n"
    )
    view = WorktreeTaskView(orch, home=home)
    [entry] = await view.overview([make_session("ses-ddd", "deploy-05F")])
    assert entry.status_on(None) == "done"
    assert entry.on_branches[0].location == "current"
    assert entry.branch == "feature/deploy-05F"
    assert [s.id for s in entry.sessions] == ["ses-ddd"]
