"""Cleanup policies, dry runs, and pause/resume: nothing uncommitted or unpushed is lost."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import git

from scopecraft import Session
from scopecraft._errors import MainWorktreeRefused
from scopecraft.worktrees import CleanupPolicy, GitWorktreeOrchestrator, WorktreeLocked

LATER = datetime.now(UTC) + timedelta(days=365)
POLICIES = [
    CleanupPolicy(),
    CleanupPolicy(kind="on_success"),
    CleanupPolicy(kind="expiry", expiry_hours=1),
]


async def _ready(orch: GitWorktreeOrchestrator, env_id: str) -> Path:
    binding = await orch.bind_env(env_id)
    await orch.prepare(binding)
    return binding.path


@pytest.mark.anyio
@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.kind)
async def test_a_dirty_worktree_survives_every_policy(
    wt_repo: Path,
    orch: GitWorktreeOrchestrator,
    policy: CleanupPolicy,
    make_session: Callable[..., Session],
    registered: Callable[[Path], list[str]],
) -> None:
    """Uncommitted or untracked work keeps its worktree, whatever the policy says."""
    path = await _ready(orch, "auth-05A")
    (path / "README.md").write_text("edited, not committed\n")
    (path / "draft.txt").write_text("untracked\n")
    done = [make_session("ses-aaa", "auth-05A", worktree_path=str(path))]
    decisions = await orch.cleanup(policy, done, now=LATER)
    assert [d.action for d in decisions] == ["keep"]
    assert not decisions[0].done
    assert (path / "draft.txt").read_text() == "untracked\n"
    assert (path / "README.md").read_text() == "edited, not committed\n"
    assert registered(wt_repo) == [str(path)]


@pytest.mark.anyio
async def test_dry_run_says_what_and_why_and_changes_nothing(
    wt_repo: Path,
    orch: GitWorktreeOrchestrator,
    make_session: Callable[..., Session],
    registered: Callable[[Path], list[str]],
) -> None:
    """A dry run lists every worktree with its action and reason, and removes none."""
    clean = await _ready(orch, "auth-05A")
    dirty = await _ready(orch, "billing-05A")
    running = await _ready(orch, "other-05C")
    (dirty / "wip.txt").write_text("wip\n")
    runs = [
        make_session("ses-aaa", "auth-05A", worktree_path=str(clean)),
        make_session("ses-bbb", "billing-05A", worktree_path=str(dirty)),
        make_session("ses-ccc", "other-05C", status="running", worktree_path=str(running)),
    ]
    decisions = await orch.cleanup(CleanupPolicy(kind="on_success"), runs, dry_run=True)
    by_env = {d.status.env_id: d for d in decisions}
    assert by_env["auth-05A"].action == "remove_worktree_and_branch"
    assert "every commit" in by_env["auth-05A"].reason
    assert by_env["billing-05A"].action == "keep"
    assert "uncommitted" in by_env["billing-05A"].reason
    assert by_env["other-05C"].action == "keep"
    assert "ses-ccc (running)" in by_env["other-05C"].reason
    assert not any(d.done for d in decisions)
    assert len(registered(wt_repo)) == 3
    never = await orch.cleanup(CleanupPolicy(), runs[:2])
    assert {d.reason for d in never} == {"the cleanup policy is never"}


@pytest.mark.anyio
async def test_on_success_removes_clean_worktrees_and_keeps_unique_commits(
    wt_repo: Path,
    orch: GitWorktreeOrchestrator,
    make_session: Callable[..., Session],
    registered: Callable[[Path], list[str]],
) -> None:
    """After a completed session a clean worktree goes; a branch with local commits stays."""
    merged = await _ready(orch, "auth-05A")
    ahead = await _ready(orch, "billing-05A")
    failed = await _ready(orch, "other-05C")
    (ahead / "feature.txt").write_text("done\n")
    git("add", "-A", cwd=ahead)
    git("commit", "-q", "-m", "feature", cwd=ahead)
    runs = [
        make_session("ses-aaa", "auth-05A", worktree_path=str(merged)),
        make_session("ses-bbb", "billing-05A", worktree_path=str(ahead)),
        make_session("ses-ccc", "other-05C", status="failed", worktree_path=str(failed)),
    ]
    decisions = await orch.cleanup(CleanupPolicy(kind="on_success"), runs)
    by_env = {d.status.env_id: d for d in decisions}
    assert by_env["auth-05A"].done
    assert by_env["billing-05A"].done
    assert not by_env["other-05C"].done
    assert "failed" in by_env["other-05C"].reason
    assert "1 commit(s) are on no remote" in by_env["billing-05A"].reason
    branches = git("branch", "--format=%(refname:short)", cwd=wt_repo).split()
    assert "feature/auth-05A" not in branches
    assert "feature/billing-05A" in branches
    assert registered(wt_repo) == [str(failed)]


@pytest.mark.anyio
async def test_expiry_counts_hours_since_the_last_activity(
    wt_repo: Path,
    orch: GitWorktreeOrchestrator,
    tmp_path: Path,
    registered: Callable[[Path], list[str]],
) -> None:
    """A worktree idle past the expiry goes; pushed commits let its branch go too."""
    path = await _ready(orch, "auth-05A")
    (path / "feature.txt").write_text("done\n")
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "feature", cwd=path)
    policy = CleanupPolicy(kind="expiry", expiry_hours=2)
    fresh = await orch.cleanup(policy, now=datetime.now(UTC) + timedelta(hours=1))
    assert fresh[0].action == "keep"
    assert "expires after 2 h" in fresh[0].reason
    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    git("remote", "add", "origin", str(remote), cwd=wt_repo)
    git("push", "-q", "origin", "feature/auth-05A", cwd=wt_repo)
    expired = await orch.cleanup(policy, now=datetime.now(UTC) + timedelta(hours=3))
    assert expired[0].action == "remove_worktree_and_branch"
    assert expired[0].done
    assert registered(wt_repo) == []
    assert git("branch", "--list", "feature/auth-05A", cwd=wt_repo) == ""
    assert "feature/auth-05A" in git("ls-remote", "--heads", str(remote), cwd=tmp_path)


@pytest.mark.anyio
async def test_a_deleted_folder_is_pruned_by_cleanup(
    wt_repo: Path, orch: GitWorktreeOrchestrator, registered: Callable[[Path], list[str]]
) -> None:
    """A worktree whose folder vanished is forgotten; its branch is kept if it has commits."""
    path = await _ready(orch, "auth-05A")
    (path / "f.txt").write_text("x\n")
    git("add", "-A", cwd=path)
    git("commit", "-q", "-m", "work", cwd=path)
    git("worktree", "lock", str(path), cwd=wt_repo)
    locked = await orch.cleanup(CleanupPolicy(kind="expiry", expiry_hours=1), now=LATER)
    assert locked[0].action == "keep"
    assert "locked" in locked[0].reason
    git("worktree", "unlock", str(path), cwd=wt_repo)
    __import__("shutil").rmtree(path)
    decisions = await orch.cleanup(CleanupPolicy(kind="expiry", expiry_hours=1), now=LATER)
    assert decisions[0].action == "remove_worktree"
    assert decisions[0].done
    assert "already gone" in decisions[0].reason
    assert registered(wt_repo) == []
    assert git("branch", "--list", "feature/auth-05A", cwd=wt_repo).strip()


@pytest.mark.anyio
async def test_pause_then_resume_keeps_the_work(
    wt_repo: Path, orch: GitWorktreeOrchestrator, registered: Callable[[Path], list[str]]
) -> None:
    """Pause commits work in progress and removes the folder; resume brings it all back."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    (binding.path / "README.md").write_text("changed\n")
    (binding.path / "new.txt").write_text("new file\n")
    paused = await orch.pause(binding)
    assert paused.committed
    assert paused.removed
    assert not binding.path.exists()
    assert registered(wt_repo) == []
    message = git("log", "-1", "--format=%s", "feature/auth-05A", cwd=wt_repo)
    assert message.startswith("scopecraft: pause auth-05A: work in progress")
    assert git("status", "--porcelain", cwd=wt_repo) == ""
    again = await orch.pause(binding)
    assert not again.removed
    assert not again.committed
    resumed = await orch.resume(binding)
    assert resumed.created
    assert (binding.path / "README.md").read_text() == "changed\n"
    assert (binding.path / "new.txt").read_text() == "new file\n"
    assert git("rev-parse", "HEAD", cwd=binding.path).strip() == paused.head


@pytest.mark.anyio
async def test_pause_refuses_locked_and_main(wt_repo: Path, orch: GitWorktreeOrchestrator) -> None:
    """A person's lock stops a pause; the main worktree can never be paused."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    git("worktree", "lock", "--reason", "hands off", str(binding.path), cwd=wt_repo)
    with pytest.raises(WorktreeLocked, match="hands off"):
        await orch.pause(binding)
    git("worktree", "unlock", str(binding.path), cwd=wt_repo)
    with pytest.raises(MainWorktreeRefused):
        await orch.pause(binding.__class__(env_id="auth-05A", branch="main", path=binding.path))


@pytest.mark.anyio
async def test_list_worktrees_reports_state(wt_repo: Path, orch: GitWorktreeOrchestrator) -> None:
    """The listing shows each managed worktree's branch, changes and unique commits."""
    path = await _ready(orch, "api-05B")
    (path / "x.txt").write_text("x\n")
    [status] = await orch.list_worktrees()
    assert status.env_id == "api-05B"
    assert status.branch == "feature/api-05B"
    assert status.exists
    assert status.dirty_files == 1
    assert status.unique_commits == 0
    assert status.last_activity is not None
    [plain] = await orch.list_worktrees(details=False)
    assert plain.dirty_files is None
    assert await orch.status(await orch.bind_env("auth-05A")) is None
