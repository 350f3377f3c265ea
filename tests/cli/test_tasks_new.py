"""``scopecraft tasks new``: a valid task file with a fresh id, read back by the engine,
committed alone in the main repository; clear refusals that leave nothing behind."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli.cli_support import Cli
from support import git, make_repo

from scopecraft import Priority, connect
from scopecraft.cli._common import ExitCode
from scopecraft.cli._tasks_new import TaskKind, TaskPriority
from scopecraft.tasks import GENERATED_TASK_ID_PATTERN, TaskType, encode_project_path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A repository with one commit and no task folder in git."""
    return make_repo(tmp_path / "src")


@pytest.fixture
def cli(repo: Path, tmp_path: Path) -> Cli:
    """The CLI on the test repository, with a home of the test's."""
    return Cli(repo, tmp_path / "home")


def months() -> set[str]:
    """This month as ``MM`` (two around a month's end, so a test never races the clock)."""
    return {datetime.now(UTC).strftime("%m")}


def new(cli: Cli, *args: str) -> dict[str, object]:
    """Run `tasks new ARGS --json` and return its object."""
    data: dict[str, object] = cli.json("tasks", "new", *args)
    return data


def head(repo: Path) -> str:
    """The main worktree's HEAD commit."""
    return git("rev-parse", "HEAD", cwd=repo).strip()


def committed_files(repo: Path, rev: str = "HEAD") -> list[str]:
    """The files a commit changed."""
    return git("show", "--name-only", "--format=", rev, cwd=repo).split()


def test_new_task_is_written_read_back_and_committed(cli: Cli, repo: Path) -> None:
    """The file lands in `.tasks/backlog/<id>.task.md` with a `<name>-<MM><A-Z>` id made from
    the title; the engine's own reader returns its fields; one commit holds that file alone
    and the tree is clean after it."""
    before = head(repo)
    month = months()
    result = cli("tasks", "new", "Add a greeting module", "--area", "core", "--type", "bug")
    assert result.exit_code == 0, result.stderr
    task_id = result.stdout.split()[1].rstrip(":")
    assert GENERATED_TASK_ID_PATTERN.fullmatch(task_id)
    assert re.fullmatch(r"add-a-greeting-module-(\d\d)A", task_id)
    assert task_id[-3:-1] in month
    rel = f".tasks/backlog/{task_id}.task.md"
    assert f"created {task_id}: {rel}" in result.stdout
    assert f"scopecraft session start {task_id}" in result.stdout
    with connect(repo, home=cli.home) as engine:
        task = engine.get_task(task_id)
        listed = [t.id for t in engine.list_tasks()]
        problems = engine.check_tasks()
    assert task.title == "Add a greeting module"
    assert (task.type, task.area, task.status, task.priority) == ("bug", "core", "todo", "medium")
    assert task.path == (repo / rel).resolve()
    assert listed == [task_id]
    assert problems == []
    assert git("rev-parse", "HEAD~1", cwd=repo).strip() == before
    assert committed_files(repo) == [rel]
    assert git("log", "-1", "--format=%s", cwd=repo).strip() == (
        f"Add task {task_id}: Add a greeting module"
    )
    assert git("status", "--porcelain", cwd=repo) == ""
    assert f"committed {head(repo)[:12]} on main" in result.stdout


def test_only_the_new_file_is_committed(cli: Cli, repo: Path) -> None:
    """What the person had staged or changed stays staged or changed, out of the commit."""
    (repo / "staged.txt").write_text("staged\n")
    git("add", "staged.txt", cwd=repo)
    (repo / "README.md").write_text("# app, edited\n")
    made = new(cli, "Keep my work alone")
    assert committed_files(repo) == [made["path"]]
    status = git("status", "--porcelain", cwd=repo).splitlines()
    assert sorted(status) == [" M README.md", "A  staged.txt"]


def test_json_and_quiet_outputs(cli: Cli, repo: Path) -> None:
    """`--json` gives the id, the path relative to the repository, the commit, the branch
    and the task as the engine reads it; `--quiet` prints the id alone."""
    made = new(cli, "Shape of the output", "--priority", "high", "-i", "Do the thing.")
    task = made["task"]
    assert isinstance(task, dict)
    assert made["id"] == task["id"]
    assert made["path"] == f".tasks/backlog/{made['id']}.task.md"
    assert made["commit"] == head(repo)
    assert made["branch"] == "main"
    assert task["priority"] == "high"
    assert task["instruction"].strip() == "Do the thing."
    quiet = cli("tasks", "new", "Only the id", "-q")
    assert quiet.exit_code == 0, quiet.stderr
    assert re.fullmatch(r"only-the-id-\d\dA\n", quiet.stdout)


def test_ids_follow_the_rules(cli: Cli) -> None:
    """The same title twice takes the month's next letter; long titles give names of at most
    30 characters cut at a word; accents are dropped; a title without ASCII letters or
    digits gives `task`; every id is Scopecraft's generated form."""
    first = new(cli, "Same title")["id"]
    second = new(cli, "Same title")["id"]
    assert isinstance(first, str)
    assert isinstance(second, str)
    assert (first[:-1], first[-1], second[-1]) == (second[:-1], "A", "B")
    long = new(cli, "Refresh the OAuth tokens before they expire on every request")["id"]
    assert isinstance(long, str)
    name = long.rsplit("-", 1)[0]
    assert name == "refresh-the-oauth-tokens"
    assert len(name) <= 30
    assert str(new(cli, "Café déjà vu")["id"]).startswith("cafe-deja-vu-")
    assert str(new(cli, "日本語")["id"]).startswith("task-")
    for made in (first, second, long):
        assert GENERATED_TASK_ID_PATTERN.fullmatch(made)


def test_a_repository_without_commits_is_refused(tmp_path: Path) -> None:
    """No commit yet: exit 4, a message saying how to make one, and no file written."""
    repo = tmp_path / "empty"
    repo.mkdir()
    git("init", "-q", "-b", "main", cwd=repo)
    result = Cli(repo, tmp_path / "home")("tasks", "new", "First task")
    assert result.exit_code == ExitCode.REFUSED
    assert "has no commit yet" in result.stderr
    assert "git commit --allow-empty" in result.stderr
    assert not (repo / ".tasks").exists()
    assert not (tmp_path / "home").exists()


def test_a_folder_outside_git_is_refused(tmp_path: Path) -> None:
    """Outside a git repository: exit 6 (git is the backend that fails), nothing written."""
    folder = tmp_path / "plain"
    folder.mkdir()
    result = Cli(folder, tmp_path / "home")("tasks", "new", "Nowhere")
    assert result.exit_code == ExitCode.UNAVAILABLE, result.stderr
    assert not (folder / ".tasks").exists()


@pytest.mark.parametrize(
    ("title", "reason"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("x" * 201, "longer than 200"),
        ("two\nlines", "U+000A"),
        ("bell\x07", "U+0007"),
        ("esc \x1b[31m red", "U+001B"),
        ("del\x7f", "U+007F"),
        ("sep\u2028arator", "U+2028"),
        ("evil \u202egnp.exe", "U+202E"),
    ],
)
def test_bad_titles_are_refused(cli: Cli, repo: Path, title: str, reason: str) -> None:
    """An empty title, one over 200 characters, or one holding a control character (line
    breaks, escapes, bidirectional overrides) is bad usage: exit 2, nothing written or
    committed."""
    before = head(repo)
    result = cli("tasks", "new", title)
    assert result.exit_code == ExitCode.USAGE, result.stdout
    assert "invalid task title" in result.stderr
    assert reason in result.stderr
    assert not (repo / ".tasks" / "backlog").exists()
    assert head(repo) == before


def test_a_title_of_200_characters_is_taken(cli: Cli) -> None:
    """200 characters is the limit, not past it; emoji with joiners are plain text."""
    title = "👩‍💻 " + "y" * 196
    assert len(title) == 200
    made = new(cli, title)
    task = made["task"]
    assert isinstance(task, dict)
    assert task["title"] == title


def test_other_bad_values_are_refused(cli: Cli, repo: Path) -> None:
    """A control character in the area, an instruction with a `## ` heading line (it would
    split the document), an unknown type: exit 2 and nothing written."""
    for args in (
        ("Area", "--area", "co\x1bre"),
        ("Heading", "-i", "first\n## Sneaky section"),
        ("Type", "--type", "epic"),
    ):
        result = cli("tasks", "new", *args)
        assert result.exit_code == ExitCode.USAGE, (args, result.stdout, result.stderr)
    assert not (repo / ".tasks" / "backlog").exists()


def make_parent(repo: Path, parent_id: str = "payments-07B") -> Path:
    """Commit a parent task: a folder holding `_overview.md`."""
    folder = repo / ".tasks" / "current" / parent_id
    folder.mkdir(parents=True)
    (folder / "_overview.md").write_text(
        "# Payments\n\n---\ntype: feature\nstatus: todo\narea: billing\n---\n\n## Instruction\n"
        "Take payments.\n"
    )
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "parent", cwd=repo)
    return folder


def test_parent_makes_numbered_subtasks(cli: Cli, repo: Path) -> None:
    """`--parent` writes `NN_<name>-<MM><A-Z>.task.md` in the parent's folder, numbered one
    past the highest; `--sequence` joins a parallel group; the engine reads each as a
    subtask of the parent, and each is committed."""
    folder = make_parent(repo)
    first = new(cli, "Card form", "--parent", "payments-07B")
    second = new(cli, "Webhook", "--parent", "payments-07B")
    third = new(cli, "Receipts", "--parent", "payments-07B", "--sequence", "2")
    ids = [str(made["id"]) for made in (first, second, third)]
    assert re.fullmatch(r"01_card-form-\d\dA", ids[0])
    assert re.fullmatch(r"02_webhook-\d\dA", ids[1])
    assert re.fullmatch(r"02_receipts-\d\dA", ids[2])
    for task_id in ids:
        assert (folder / f"{task_id}.task.md").is_file()
    with connect(repo, home=cli.home) as engine:
        tasks = [engine.get_task(task_id) for task_id in ids]
    assert [(t.parent_id, t.sequence) for t in tasks] == [
        ("payments-07B", 1),
        ("payments-07B", 2),
        ("payments-07B", 2),
    ]
    assert committed_files(repo) == [f".tasks/current/payments-07B/{ids[2]}.task.md"]
    assert git("status", "--porcelain", cwd=repo) == ""


def test_parent_must_exist_and_be_a_parent(cli: Cli, repo: Path) -> None:
    """An unknown parent: exit 3; a task that is not a parent: exit 4; a bad id and
    `--sequence` without `--parent`: exit 2; nothing is written in any case."""
    before = head(repo)
    missing = cli("tasks", "new", "Orphan", "--parent", "nope-05Z")
    assert missing.exit_code == ExitCode.NOT_FOUND, missing.stderr
    assert "no task 'nope-05Z'" in missing.stderr
    plain = new(cli, "Plain task")["id"]
    before = head(cli.repo)
    not_parent = cli("tasks", "new", "Child", "--parent", str(plain))
    assert not_parent.exit_code == ExitCode.REFUSED, not_parent.stderr
    assert "is not a parent task" in not_parent.stderr
    bad = cli("tasks", "new", "Child", "--parent", "../etc")
    assert bad.exit_code == ExitCode.USAGE, bad.stderr
    lone = cli("tasks", "new", "Child", "--sequence", "3")
    assert lone.exit_code == ExitCode.USAGE, lone.stderr
    assert "give --parent too" in lone.stderr
    assert head(repo) == before
    assert sorted(p.name for p in (repo / ".tasks" / "backlog").iterdir()) == [f"{plain}.task.md"]


def test_location_current(cli: Cli, repo: Path) -> None:
    """`--location current` writes into `.tasks/current/`."""
    made = new(cli, "Now please", "--location", "current")
    assert made["path"] == f".tasks/current/{made['id']}.task.md"


def test_from_a_linked_worktree_the_main_repository_gets_the_commit(
    cli: Cli, repo: Path, tmp_path: Path
) -> None:
    """`--repo` inside a task's worktree still writes and commits in the main worktree, on
    its branch; the linked worktree's branch and files are untouched."""
    linked = tmp_path / "wt"
    git("worktree", "add", "-q", "-b", "feature/x", str(linked), cwd=repo)
    linked_head = git("rev-parse", "HEAD", cwd=linked).strip()
    made = Cli(linked, cli.home).json("tasks", "new", "From a worktree")
    assert made["branch"] == "main"
    assert made["commit"] == head(repo)
    assert (repo / str(made["path"])).is_file()
    assert not (linked / ".tasks" / "backlog").exists()
    assert git("rev-parse", "HEAD", cwd=linked).strip() == linked_head


def test_central_tasks_stay_central(cli: Cli, repo: Path) -> None:
    """A repository whose tasks live in the central folder (no `.tasks/`, central tasks
    present) gets the new task there, uncommitted, and the repository is left alone."""
    (repo / ".tasks" / "current").rmdir()
    (repo / ".tasks").rmdir()
    central = cli.home / "projects" / encode_project_path(repo.resolve()) / "tasks" / "current"
    central.mkdir(parents=True)
    (central / "old-01A.task.md").write_text(
        "# Old\n\n---\ntype: chore\nstatus: todo\narea: ops\n---\n\n## Instruction\nOld.\n"
    )
    before = head(repo)
    made = new(cli, "Central one")
    assert made["commit"] is None
    assert Path(str(made["path"])).parent == central.resolve()
    assert head(repo) == before
    assert not (repo / ".tasks").exists()
    with connect(repo, home=cli.home) as engine:
        assert engine.get_task(str(made["id"])).title == "Central one"


def test_a_failed_commit_leaves_nothing_behind(cli: Cli, repo: Path) -> None:
    """When git refuses the commit (here a pre-commit hook), the command fails with git's
    words and the new file is neither kept on disk nor left staged."""
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.write_text("#!/bin/sh\necho 'no commits today' >&2\nexit 1\n")
    hook.chmod(0o755)
    before = head(repo)
    result = cli("tasks", "new", "Blocked by a hook")
    assert result.exit_code == ExitCode.UNAVAILABLE, result.stderr
    assert "no commits today" in result.stderr
    assert head(repo) == before
    assert list((repo / ".tasks" / "backlog").iterdir()) == []
    assert git("status", "--porcelain", cwd=repo) == ""


def test_choices_match_the_models() -> None:
    """`--type` and `--priority` offer exactly the canonical task types and priorities."""
    assert [k.value for k in TaskKind] == [t.value for t in TaskType]
    assert [p.value for p in TaskPriority] == [p.value for p in Priority]


def test_help_lists_the_options(cli: Cli) -> None:
    """`tasks new --help` names every option."""
    result = cli("tasks", "new", "--help")
    assert result.exit_code == 0
    for option in ("--type", "--area", "--priority", "--parent", "--sequence", "--instruction"):
        assert option in result.stdout
    listed = json.dumps(result.stdout)
    assert "--quiet" in listed
