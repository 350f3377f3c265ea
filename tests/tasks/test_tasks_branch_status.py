"""A task's status where sessions change it: on its branch, read by `Engine.list_tasks()` and
`Engine.get_task()` from the branch's latest commit (never checked out), bounded and parsed
like any task file, and falling back to the main checkout's status, with a note, whenever the
branch's copy cannot be used."""

from __future__ import annotations

import logging
from pathlib import Path

import pygit2
import pytest
from support import git

from scopecraft import InvalidName, MalformedTask, Session, SessionStatus, Task, connect
from scopecraft.tasks import parse_task_bytes, update_task_file
from scopecraft.tasks._files import MAX_TASK_FILE_BYTES
from scopecraft.worktrees._git import read_branch_files

TASK = ".tasks/current/ok-01A.task.md"
BRANCH = "feature/ok-01A"


def run_to_completion(repo: Path, home: Path) -> Session:
    """Run a fake-agent session of ok-01A on the local executor to its end and return it."""
    with connect(repo, home=home) as engine:
        session = engine.create_session("ok-01A", mode="autonomous", executor="local", agent="fake")
        done = engine.wait(session.id, timeout=60)
    assert done.status is SessionStatus.COMPLETED, done.error
    return done


def commit_on_branch(
    repo: Path,
    branch: str,
    files: dict[str, bytes | None],
    *,
    mode: pygit2.enums.FileMode = pygit2.enums.FileMode.BLOB,
) -> None:
    """Commit ``files`` (``None``: delete) on ``branch``, made from ``main`` when it does not
    exist, without touching any worktree."""
    git_repo = pygit2.Repository(str(repo))
    ref = git_repo.references.get(f"refs/heads/{branch}") or git_repo.references["refs/heads/main"]
    parent = git_repo[ref.target].peel(pygit2.Commit)
    index = pygit2.Index()
    index.read_tree(parent.tree)
    for path, data in files.items():
        if data is None:
            index.remove(path)
        else:
            index.add(pygit2.IndexEntry(path, git_repo.create_blob(data), mode))
    tree = index.write_tree(git_repo)
    who = pygit2.Signature("Test Person", "test@example.com")
    git_repo.create_reference(
        f"refs/heads/{branch}",
        git_repo.create_commit(None, who, who, "on the branch", tree, [parent.id]),
        force=True,
    )


def listed(repo: Path, home: Path, task_id: str = "ok-01A") -> tuple[Task, Task]:
    """The task as `list_tasks()` and as `get_task()` return it."""
    with connect(repo, home=home) as engine:
        from_list = next(t for t in engine.list_tasks() if t.id == task_id)
        return from_list, engine.get_task(task_id)


def main_text(repo: Path) -> bytes:
    """The task file in the main checkout."""
    return (repo / TASK).read_bytes()


def test_a_completed_session_leaves_its_status_on_the_branch_and_list_tasks_shows_it(
    repo: Path, home: Path
) -> None:
    """After a completed session the main checkout still says `todo` (nothing is written
    there) and the branch says `done`; `list_tasks()` and `get_task()` give both, the
    branch, and the branch's as the effective status."""
    before = main_text(repo)
    run_to_completion(repo, home)
    assert main_text(repo) == before
    on_branch = git("show", f"{BRANCH}:{TASK}", cwd=repo)
    assert "status: done" in on_branch
    for task in listed(repo, home):
        assert task.status == "todo"
        assert task.branch == BRANCH
        assert task.branch_status == "done"
        assert task.branch_note is None
        assert task.effective_status == "done"
        assert task.status_source == "branch"
    with connect(repo, home=home) as engine:
        others = [t for t in engine.list_tasks() if t.id != "ok-01A"]
    assert others
    assert all(t.branch is None and t.status_source == "file" for t in others)


def test_a_branch_that_has_not_changed_the_file_gives_the_main_status(
    repo: Path, home: Path
) -> None:
    """A task branch made from main that never changed the task's file is named, but the
    status is the main checkout's: an edit made on main since then is not hidden."""
    git("branch", BRANCH, "main", cwd=repo)
    path = repo / TASK
    path.write_text(path.read_text().replace("status: todo", "status: blocked"))
    for task in listed(repo, home):
        assert (task.branch, task.branch_status, task.branch_note) == (BRANCH, None, None)
        assert task.effective_status == "blocked"
        assert task.status_source == "file"


def test_the_branch_is_the_one_the_template_binds(repo: Path, home: Path) -> None:
    """With Scopecraft's branch template (`task/{env_id}`) the task's status is read from
    `task/ok-01A`, where its session ran; a `feature/` branch is not looked at."""
    config = {"branch_template": "task/{env_id}"}
    with connect(repo, home=home, config=config) as engine:
        session = engine.create_session("ok-01A", mode="autonomous", executor="local", agent="fake")
        assert engine.wait(session.id, timeout=60).status is SessionStatus.COMPLETED
    commit_on_branch(repo, BRANCH, {TASK: _valid("blocked")})
    with connect(repo, home=home, config=config) as engine:
        task = engine.get_task("ok-01A")
        assert [t for t in engine.list_tasks() if t.id == "ok-01A"] == [task]
    assert (task.branch, task.branch_status) == ("task/ok-01A", "done")


def test_a_deleted_branch_falls_back_to_the_main_checkout(repo: Path, home: Path) -> None:
    """Once the task's branch and worktree are deleted, the task is the main checkout's again:
    no branch, no branch status."""
    done = run_to_completion(repo, home)
    assert listed(repo, home)[0].branch == BRANCH
    git("worktree", "remove", "--force", done.worktree_path or "", cwd=repo)
    git("branch", "-D", BRANCH, cwd=repo)
    for task in listed(repo, home):
        assert (task.branch, task.branch_status, task.branch_note) == (None, None, None)
        assert task.effective_status == "todo"


def _valid(status: str) -> bytes:
    return (
        f"# Task ok-01A\n\n---\ntype: feature\nstatus: {status}\narea: core\n---\n\n"
        "## Instruction\nfake: say hi\n"
    ).encode()


HOSTILE: dict[str, tuple[bytes, str]] = {
    "broken yaml": (b"# T\n\n---\ntype: [feature\nstatus: done\narea: core\n---\n", ""),
    "no status": (b"# T\n\n---\ntype: feature\narea: core\n---\n", "status"),
    "not utf-8": (_valid("done").replace(b"fake", b"\xff\xfe"), "UTF-8"),
    "oversized": (
        _valid("done") + b"x" * (MAX_TASK_FILE_BYTES + 1),
        "MAX_TASK_FILE_BYTES",
    ),
    "empty": (b"", "empty"),
    "yaml bomb": (
        b"# T\n\n---\ntype: feature\nstatus: &a [x, x, x]\narea: core\n"
        + b"".join(f"k{n}: &b{n} [*a, *a, *a, *a]\n".encode() for n in range(12))
        + b"---\n",
        "",
    ),
}


@pytest.mark.parametrize("kind", sorted(HOSTILE))
def test_a_malformed_copy_on_the_branch_falls_back_with_a_note(
    repo: Path, home: Path, kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A copy on the branch that would not load as a task file (broken, incomplete, not
    text, over the size limit, an alias bomb) never fails the listing: the status is the
    main checkout's, and the note and a warning say why."""
    data, reason = HOSTILE[kind]
    commit_on_branch(repo, BRANCH, {TASK: data})
    with caplog.at_level(logging.WARNING, logger="scopecraft"):
        tasks = listed(repo, home)
    for task in tasks:
        assert task.branch == BRANCH
        assert task.branch_status is None
        assert task.branch_note
        assert reason in task.branch_note
        assert task.effective_status == "todo"
    assert any("ok-01A" in r.getMessage() and BRANCH in r.getMessage() for r in caplog.records)


def test_a_symbolic_link_on_the_branch_is_not_followed(repo: Path, home: Path) -> None:
    """A branch whose task file is a symbolic link (to a secret elsewhere) is not read
    through: main's status, and a note."""
    secret = repo.parent / "secret.task.md"
    secret.write_bytes(_valid("done"))
    commit_on_branch(repo, BRANCH, {TASK: str(secret).encode()}, mode=pygit2.enums.FileMode.LINK)
    for task in listed(repo, home):
        assert task.branch_status is None
        assert task.branch_note is not None
        assert "not a regular file" in task.branch_note


def test_a_task_moved_away_on_the_branch_is_noted(repo: Path, home: Path) -> None:
    """A branch that deleted or moved the task's file (or put a file where its folder was)
    keeps main's status and says the branch has no such file."""
    commit_on_branch(repo, BRANCH, {TASK: None, ".tasks/archive/ok-01A.task.md": _valid("done")})
    for task in listed(repo, home):
        assert (task.branch, task.branch_status) == (BRANCH, None)
        assert task.branch_note is not None
        assert "has no file" in task.branch_note
    commit_on_branch(repo, "feature/fail-01B", {".tasks/current/fail-01B.task.md": None})
    commit_on_branch(repo, "feature/fail-01B", {".tasks/current": b"not a folder"})
    task, _ = listed(repo, home, "fail-01B")
    assert task.branch_note is not None
    assert task.effective_status == "todo"


def test_a_branch_that_is_not_a_commit_is_ignored(repo: Path, home: Path) -> None:
    """A branch ref pointing at a blob (anyone who can push can make one) is as good as no
    branch: nothing fails, main's status is given."""
    git_repo = pygit2.Repository(str(repo))
    blob = git_repo.create_blob(_valid("done"))
    git_repo.references.create(f"refs/heads/{BRANCH}", blob, force=True)
    for task in listed(repo, home):
        assert (task.branch, task.branch_status, task.branch_note) == (None, None, None)


def test_a_valid_copy_with_another_spelling_is_normalised(repo: Path, home: Path) -> None:
    """The branch's status is normalised like main's (`✅ Done` is `done`); a copy whose
    status means the same as main's gives no branch status."""
    commit_on_branch(repo, BRANCH, {TASK: _valid("✅ Done")})
    task, _ = listed(repo, home)
    assert task.branch_status == "done"
    commit_on_branch(repo, BRANCH, {TASK: _valid("To Do")})
    task, _ = listed(repo, home)
    assert (task.branch, task.branch_status, task.branch_note) == (BRANCH, None, None)


def test_read_branch_files_refuses_unsafe_names(repo: Path) -> None:
    """Branch names and paths are validated before git is asked anything."""
    for branch, path in (("-x", TASK), ("a..b", TASK), (BRANCH, "../x"), (BRANCH, "/etc/x")):
        with pytest.raises(InvalidName):
            read_branch_files(repo, [(branch, path)], default_branch="main", max_bytes=10)


def test_read_branch_files_does_not_read_an_oversized_copy(repo: Path) -> None:
    """A copy over the limit comes back with its size and no bytes; one under it whole; a
    missing branch is left out."""
    commit_on_branch(repo, BRANCH, {TASK: b"x" * 200})
    commit_on_branch(repo, "feature/fail-01B", {".tasks/current/fail-01B.task.md": b"small"})
    found = read_branch_files(
        repo,
        [(BRANCH, TASK), ("feature/fail-01B", ".tasks/current/fail-01B.task.md"), ("no/pe", TASK)],
        default_branch="main",
        max_bytes=100,
    )
    big = found[(BRANCH, TASK)]
    assert (big.present, big.changed, big.regular, big.size, big.data) == (
        True,
        True,
        True,
        200,
        b"",
    )
    assert found[("feature/fail-01B", ".tasks/current/fail-01B.task.md")].data == b"small"
    assert ("no/pe", TASK) not in found


def test_parse_task_bytes_applies_the_file_bounds() -> None:
    """Bytes parse like a file: a size over the limit is refused without the bytes, and so
    are bytes over it, and text that is not UTF-8."""
    assert parse_task_bytes(_valid("done"), path="b:x.task.md").status == "done"
    with pytest.raises(MalformedTask, match="MAX_TASK_FILE_BYTES"):
        parse_task_bytes(b"", path="b:x.task.md", size=MAX_TASK_FILE_BYTES + 1)
    with pytest.raises(MalformedTask, match="MAX_TASK_FILE_BYTES"):
        parse_task_bytes(b"x" * (MAX_TASK_FILE_BYTES + 1), path="b:x.task.md")
    with pytest.raises(MalformedTask, match="UTF-8"):
        parse_task_bytes(b"\xff" + _valid("done"), path="b:x.task.md")


def test_update_task_file_only_from_keeps_a_status_chosen_elsewhere(tmp_path: Path) -> None:
    """With ``only_from``, a status is changed only from one of those given (any spelling),
    and the status the file has afterwards is returned."""
    path = tmp_path / "ok-01A.task.md"
    path.write_bytes(_valid("🔵 In Progress"))
    assert update_task_file(path, status="done", only_from=("todo", "in_progress")) == "done"
    assert "status: done" in path.read_text()
    path.write_bytes(_valid("blocked"))
    assert update_task_file(path, status="done", only_from=("in_progress",), log="x") == "blocked"
    text = path.read_text()
    assert "status: blocked" in text
    assert "x" in text.split("## Log")[1]
    assert update_task_file(path) == ""
