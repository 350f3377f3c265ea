"""Session history on refs/scopecraft/history: written without checkout, read, shared."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import anyio
import pytest
from support import git

from scopecraft._errors import InvalidName
from scopecraft.worktrees import HISTORY_REF, GitHistory, GitWorktreeOrchestrator

WORKER = Path(__file__).with_name("history_worker.py")


@pytest.mark.anyio
async def test_archive_and_read_back_without_dirtying_any_worktree(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """Records land as .tasks/sessions/<task>/<session>.json on the ref; no worktree changes."""
    binding = await orch.bind_env("auth-05A")
    await orch.prepare(binding)
    history = GitHistory(binding.path)
    record = {
        "summary": "added login",
        "cost_usd": 0.25,
        "created_at": datetime(2025, 5, 2, tzinfo=UTC),
        "files": ("a.py",),
    }
    first = await history.archive_session(record, "auth-05A", "ses-bbb111")
    await history.archive_session(
        {"created_at": "2025-05-01T00:00:00+00:00"}, "auth-05A", "ses-aaa111"
    )
    assert await history.archive_session(record, "auth-05A", "ses-bbb111") != first
    records = await history.read_history("auth-05A")
    assert [r["session_id"] for r in records] == ["ses-aaa111", "ses-bbb111"]
    assert records[1]["summary"] == "added login"
    assert records[1]["created_at"] == "2025-05-02T00:00:00+00:00"
    assert records[1]["files"] == ["a.py"]
    shown = git("show", f"{HISTORY_REF}:.tasks/sessions/auth-05A/ses-bbb111.json", cwd=wt_repo)
    assert '"summary": "added login"' in shown
    assert git("status", "--porcelain", cwd=wt_repo) == ""
    assert git("status", "--porcelain", cwd=binding.path) == ""
    assert git("rev-list", "--count", HISTORY_REF, cwd=wt_repo).strip() == "2"
    assert await history.read_history("other-05C") == []
    assert await history.task_ids() == ["auth-05A"]


@pytest.mark.anyio
async def test_bad_names_and_records_are_refused(wt_repo: Path) -> None:
    """Task and session ids are validated before git is touched; records must be JSON."""
    history = GitHistory(wt_repo)
    with pytest.raises(InvalidName, match="task id"):
        await history.archive_session({}, "../etc", "ses-aaa111")
    with pytest.raises(InvalidName, match="session id"):
        await history.archive_session({}, "auth-05A", "ses/../x")
    with pytest.raises(InvalidName):
        await history.read_history("a;b")
    with pytest.raises(TypeError):
        await history.archive_session({"x": object()}, "auth-05A", "ses-aaa111")
    assert git("for-each-ref", HISTORY_REF, cwd=wt_repo) == ""


def test_concurrent_writers_from_two_processes_lose_nothing(wt_repo: Path) -> None:
    """Two processes archiving at once both land every record, in one linear history."""
    procs = [
        subprocess.Popen([sys.executable, str(WORKER), str(wt_repo), prefix, "15"])
        for prefix in ("a", "b")
    ]
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    records = anyio.run(GitHistory(wt_repo).read_history, "race-05A")
    assert len(records) == 30
    assert git("rev-list", "--count", "--merges", HISTORY_REF, cwd=wt_repo).strip() == "0"
    assert git("rev-list", "--count", HISTORY_REF, cwd=wt_repo).strip() == "30"


@pytest.mark.anyio
async def test_concurrent_writers_in_one_process(wt_repo: Path) -> None:
    """Tasks of one process archiving at once land every record."""
    history = GitHistory(wt_repo)
    async with anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(history.archive_session, {"n": n}, "race-05A", f"ses-t{n:03d}")
    assert len(await history.read_history("race-05A")) == 8


@pytest.mark.anyio
async def test_push_and_fetch_share_the_history(wt_repo: Path, tmp_path: Path) -> None:
    """Pushed to a bare remote, fetched in a clone, merged both ways: nobody loses a record."""
    remote = tmp_path / "remote.git"
    git("init", "-q", "--bare", str(remote), cwd=tmp_path)
    git("remote", "add", "origin", str(remote), cwd=wt_repo)
    mine = GitHistory(wt_repo)
    await mine.archive_session({"who": "me"}, "auth-05A", "ses-mine01")
    await mine.push()
    clone = tmp_path / "clone"
    git("clone", "-q", str(remote), str(clone), cwd=tmp_path)
    theirs = GitHistory(clone)
    await theirs.fetch()
    assert [r["who"] for r in await theirs.read_history("auth-05A")] == ["me"]
    await theirs.archive_session({"who": "them"}, "auth-05A", "ses-them01")
    await mine.archive_session({"who": "me again"}, "billing-05A", "ses-mine02")
    await theirs.push()
    await mine.push()  # rejected at first (diverged): fetches, merges, pushes again
    await theirs.fetch()
    for side in (mine, theirs):
        assert {r["who"] for r in await side.read_history("auth-05A")} == {"me", "them"}
        assert await side.task_ids() == ["auth-05A", "billing-05A"]
    with pytest.raises(InvalidName, match="remote"):
        await mine.push("--upload-pack=touch x")
