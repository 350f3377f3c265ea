"""Session history on refs/scopecraft/history: written without checkout, read, shared."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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
    """Records land as .tasks/sessions/<task>/<shard>/<session>.json on the ref (the shard:
    two characters of the id after ``ses-``); no worktree changes."""
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
    shown = git("show", f"{HISTORY_REF}:.tasks/sessions/auth-05A/bb/ses-bbb111.json", cwd=wt_repo)
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


def _tree(node: Any, *names: str) -> Any:
    """The subtree at ``names`` below ``node``, checked to be a folder at each step."""
    import pygit2

    for name in names:
        node = node[name]
        assert isinstance(node, pygit2.Tree), name
    return node


def _history_tree(repo: Any) -> Any:
    import pygit2

    return repo.references[HISTORY_REF].peel(pygit2.Commit).tree


@pytest.mark.anyio
async def test_records_of_the_flat_layout_are_read_and_moved_when_written(wt_repo: Path) -> None:
    """A record an earlier version wrote straight in the task's folder is read; writing that
    session again moves it into its shard (one record, never two)."""
    import pygit2

    history = GitHistory(wt_repo)
    await history.archive_session({"created_at": "2025-05-01"}, "auth-05A", "ses-aaa111")
    repo = pygit2.Repository(str(wt_repo))
    tip = repo.references[HISTORY_REF].peel(pygit2.Commit)
    # Rewrite the tip as the flat layout had it: .tasks/sessions/auth-05A/ses-old222.json.
    blob = repo.create_blob(b'{"created_at": "2025-04-01", "summary": "old"}\n')
    builder = repo.TreeBuilder(_tree(tip.tree, ".tasks", "sessions", "auth-05A"))
    builder.insert("ses-old222.json", blob, pygit2.GIT_FILEMODE_BLOB)
    sessions = repo.TreeBuilder(_tree(tip.tree, ".tasks", "sessions"))
    sessions.insert("auth-05A", builder.write(), pygit2.GIT_FILEMODE_TREE)
    dot = repo.TreeBuilder(_tree(tip.tree, ".tasks"))
    dot.insert("sessions", sessions.write(), pygit2.GIT_FILEMODE_TREE)
    root = repo.TreeBuilder(tip.tree)
    root.insert(".tasks", dot.write(), pygit2.GIT_FILEMODE_TREE)
    signature = pygit2.Signature("t", "t@example.invalid")
    commit = repo.create_commit(None, signature, signature, "flat", root.write(), [tip.id])
    repo.references[HISTORY_REF].set_target(commit)

    records = await history.read_history("auth-05A")
    assert [r["session_id"] for r in records] == ["ses-old222", "ses-aaa111"]
    await history.archive_session(
        {"created_at": "2025-04-01", "summary": "new"}, "auth-05A", "ses-old222"
    )
    records = await history.read_history("auth-05A")
    assert [(r["session_id"], r.get("summary")) for r in records] == [
        ("ses-old222", "new"),
        ("ses-aaa111", None),
    ]
    task = _tree(_history_tree(repo), ".tasks", "sessions", "auth-05A")
    assert "ses-old222.json" not in task
    assert "ses-old222.json" in _tree(task, "ol")


@pytest.mark.anyio
async def test_the_folder_each_commit_rewrites_stays_small(wt_repo: Path) -> None:
    """However many sessions a task archives, its folder holds at most 36² shard folders,
    not one entry per session: the cost of a commit does not grow with the records."""
    import pygit2

    history = GitHistory(wt_repo)
    ids = [f"ses-{a}{b}x" for a in "abc" for b in "0123456789"]
    for session_id in ids:
        await history.archive_session({}, "auth-05A", session_id)
    repo = pygit2.Repository(str(wt_repo))
    task = _tree(_history_tree(repo), ".tasks", "sessions", "auth-05A")
    assert len(task) == 30
    assert all(isinstance(item, pygit2.Tree) and len(item) == 1 for item in task)
    assert len(await history.read_history("auth-05A")) == 30
