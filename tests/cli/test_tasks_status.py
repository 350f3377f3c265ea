"""`tasks list` and `tasks show` give a task's status from its branch, where sessions change
it, and say where each value lives; `--status` filters on that status."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_support import Cli, cli_for
from support import git

BRANCH = "feature/ok-01A"
TASK = ".tasks/current/ok-01A.task.md"


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


def complete(cli: Cli, task_id: str = "ok-01A") -> dict[str, object]:
    """Run a fake-agent session of ``task_id`` to its end; return its JSON object."""
    started = cli.start(task_id)
    waited = cli("session", "wait", str(started["id"]), "--timeout", "60")
    assert waited.exit_code == 0, waited.stderr
    shown: dict[str, object] = cli.json("session", "show", str(started["id"]))
    return shown


def row(output: str, task_id: str) -> str:
    """The table line of one task."""
    return next(line for line in output.splitlines() if line.startswith(task_id + " "))


def test_list_and_show_give_the_status_a_completed_session_left_on_the_branch(
    cli: Cli, repo: Path
) -> None:
    """After a completed session the main checkout says `todo` and the branch `done`:
    `tasks list` shows `done (branch)` and explains the marker on standard error,
    `--wide` names the branch, `tasks show` gives both values and where each lives, and the
    JSON carries both."""
    session = complete(cli)
    assert session["status"] == "completed"
    assert "status: todo" in (repo / TASK).read_text()
    assert "status: done" in git("show", f"{BRANCH}:{TASK}", cwd=repo)

    listed = cli("tasks", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "done (branch)" in row(listed.stdout, "ok-01A")
    assert "(branch)" not in row(listed.stdout, "fail-01B")
    assert "todo" in row(listed.stdout, "fail-01B")
    assert "(branch): the status on the task's branch" in listed.stderr
    wide = cli("tasks", "list", "--wide")
    assert f"done (branch {BRANCH})" in row(wide.stdout, "ok-01A")

    shown = cli("tasks", "show", "ok-01A")
    assert shown.exit_code == 0, shown.stderr
    assert f"done (on branch {BRANCH}, its latest commit)" in shown.stdout
    assert "todo in the main checkout (the file below)" in shown.stdout
    other = cli("tasks", "show", "fail-01B")
    assert "(branch" not in other.stdout
    assert "todo" in other.stdout

    data = {t["id"]: t for t in cli.json("tasks", "list")}
    ok = data["ok-01A"]
    assert (ok["status"], ok["branch"], ok["branch_status"]) == ("todo", BRANCH, "done")
    assert data["fail-01B"]["branch"] is None
    one = cli.json("tasks", "show", "ok-01A")
    assert (one["status"], one["branch_status"]) == ("todo", "done")


def test_status_filters_use_the_status_on_the_branch(cli: Cli) -> None:
    """`--status done` finds the task whose branch says so; `--status todo` no longer
    does, though its main copy still says `todo`."""
    complete(cli)
    done = [t["id"] for t in cli.json("tasks", "list", "--status", "✅ Done")]
    assert done == ["ok-01A"]
    todo = [t["id"] for t in cli.json("tasks", "list", "--status", "todo")]
    assert "ok-01A" not in todo
    assert "fail-01B" in todo
    table = cli("tasks", "list", "--status", "Done")
    assert "ok-01A" in table.stdout
    assert "fail-01B" not in table.stdout


def test_a_malformed_copy_on_the_branch_is_reported_not_fatal(cli: Cli, repo: Path) -> None:
    """A branch whose copy of the task is broken leaves main's status in `tasks list`, with a
    warning naming the task and branch; `tasks show` says the copy cannot be used and why."""
    worktree = repo.parent / "broken"
    git("worktree", "add", "-q", "-b", BRANCH, str(worktree), "main", cwd=repo)
    (worktree / TASK).write_text("# Broken\n\n---\ntype: [feature\n---\n")
    git("commit", "-q", "-am", "break the task", cwd=worktree)
    listed = cli("tasks", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "todo" in row(listed.stdout, "ok-01A")
    assert "(branch)" not in listed.stdout
    assert "ok-01A" in listed.stderr
    assert BRANCH in listed.stderr
    shown = cli("tasks", "show", "ok-01A")
    assert shown.exit_code == 0, shown.stderr
    assert "todo (the main checkout's, the file below)" in shown.stdout
    assert f"branch {BRANCH}: its copy cannot be used" in shown.stdout


def test_a_deleted_branch_gives_the_main_status_again(cli: Cli, repo: Path) -> None:
    """With the task's worktree and branch deleted, `tasks list` and `tasks show` give the
    main checkout's status, unmarked."""
    session = complete(cli)
    git("worktree", "remove", "--force", str(session["worktree_path"]), cwd=repo)
    git("branch", "-D", BRANCH, cwd=repo)
    listed = cli("tasks", "list")
    assert "todo" in row(listed.stdout, "ok-01A")
    assert "(branch" not in listed.stdout
    assert "(branch)" not in listed.stderr
    shown = cli("tasks", "show", "ok-01A")
    status_line = next(line for line in shown.stdout.splitlines() if line.startswith("status"))
    assert status_line.split() == ["status", "todo"]
    assert cli.json("tasks", "show", "ok-01A")["branch"] is None


def test_an_unchanged_branch_is_named_in_show(cli: Cli, repo: Path) -> None:
    """A task branch that has not changed the task's file leaves the main status, and `tasks
    show` says that branch has not changed it."""
    git("branch", BRANCH, "main", cwd=repo)
    shown = cli("tasks", "show", "ok-01A")
    assert f"todo (branch {BRANCH} has not changed it)" in shown.stdout
    assert "(branch)" not in row(cli("tasks", "list").stdout, "ok-01A")
