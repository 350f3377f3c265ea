"""`session list` and `tasks list` fit the terminal; `tasks list` filters and pages."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_support import Cli, cli_for
from rich.cells import cell_len
from support import git, make_repo, shared_fixture

WIDTHS = (40, 80, 200)

_TITLES = (
    "Refactor the environment configuration into composable functional modules",
    "Add dispatch and MCP execution commands for orchestrated sessions",
    "Fix the 🟡 status emoji being stripped from task files on save",
    "Analyse the current environment and config class dependencies and usage patterns",
    "Write documentation",
)

_TASK = """# {title}

---
type: {type}
status: {status}
area: {area}
priority: {priority}
---

## Instruction
fake: say working on {title}

## Log
"""


def _write(folder: Path, task_id: str, **fields: str) -> None:
    values = {"type": "feature", "status": "todo", "area": "core", "priority": "medium"}
    values.update(fields)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{task_id}.task.md").write_text(_TASK.format(**values))


@pytest.fixture
def many(tmp_path: Path) -> Path:
    """A repository with 40 tasks of long ids and titles, some in a parent folder, in
    several spellings of their statuses and types."""
    repo = make_repo(tmp_path / "many")
    current = repo / ".tasks" / "current"
    statuses = ("todo", "In Progress", "🟡 To Do", "done", "in-progress")
    types = ("feature", "Bug", "🔧 Chore", "documentation")
    for n in range(40):
        folder = current / "refc-env-config-fnctnlcmpsble-06A" if n % 3 == 0 else current
        _write(
            folder,
            f"{n:02d}_anal-curr-envi-conf-depend-{n:02d}X",
            title=_TITLES[n % len(_TITLES)] + f" (part {n})",
            status=statuses[n % len(statuses)],
            type=types[n % len(types)],
            area=("Core", "ui", "mcp server")[n % 3],
        )
    _write(current / "refc-env-config-fnctnlcmpsble-06A", "_overview", title="Parent")
    (current / "refc-env-config-fnctnlcmpsble-06A" / "_overview.task.md").rename(
        current / "refc-env-config-fnctnlcmpsble-06A" / "_overview.md"
    )
    _write(current, "long-running-session-long-id-11A", title="Run a session")
    _write(current, "failing-session-task-long-id-11B", title="Fail")
    text = (current / "failing-session-task-long-id-11B.task.md").read_text()
    (current / "failing-session-task-long-id-11B.task.md").write_text(
        text.replace("fake: say working on Fail", "fake: fail 4")
    )
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "tasks", cwd=repo)
    return repo


@pytest.fixture
def cli(many: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the repository of many tasks."""
    yield from cli_for(many, home)


def _lines(cli: Cli, monkeypatch: pytest.MonkeyPatch, width: int, *args: str) -> list[str]:
    monkeypatch.setenv("COLUMNS", str(width))
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def _assert_fits(lines: list[str], width: int, ids: list[str], headers: tuple[str, ...]) -> None:
    """Every line within ``width``, one line per row, each id whole at its row's start."""
    assert all(cell_len(line) <= width for line in lines), [
        (cell_len(line), line) for line in lines if cell_len(line) > width
    ]
    assert len(lines) == len(ids) + 1, lines
    assert [line.split()[0] for line in lines[1:]] == ids
    heading = lines[0].split()
    assert heading[0] == "ID"
    for word in heading:
        assert word in headers, f"a heading was cut: {word!r} in {lines[0]!r}"


_SESSION_HEADERS = (
    *("ID", "TASK", "MODE", "STATUS", "PRIORITY", "RUNS", "ON"),
    *("BRANCH", "COST", "AGE", "ERROR", "WORKTREE"),
)


def test_session_list_fits_the_terminal_and_never_cuts_an_id(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 40, 80 and 200 columns every line of `session list` fits, each session is one
    line starting with its whole id, and no heading is cut; `--wide` shows every column
    whole (the worktree, the error, the branch) however narrow the terminal."""
    ids = []
    for task_id in (
        "long-running-session-long-id-11A",
        "failing-session-task-long-id-11B",
        "00_anal-curr-envi-conf-depend-00X",
    ):
        started = cli.start(task_id)
        cli("session", "wait", started["id"], "--timeout", "60")
        ids.append(started["id"])
    sessions = {s["id"]: s for s in cli.json("session", "list", "--all")}
    for width in WIDTHS:
        lines = _lines(cli, monkeypatch, width, "session", "list", "--all")
        _assert_fits(lines, width, ids, _SESSION_HEADERS)
    wide = _lines(cli, monkeypatch, 40, "session", "list", "--all", "--wide")
    assert "WORKTREE" in wide[0]
    assert "ERROR" in wide[0]
    for session_id in ids:
        row = next(line for line in wide if line.startswith(session_id))
        assert str(sessions[session_id]["worktree_path"]) in row
        assert str(sessions[session_id]["branch"]) in row
        assert "…" not in row
    failed = sessions[ids[1]]
    assert failed["error"]
    assert " ".join(str(failed["error"]).split()) in " ".join(wide)


def test_tasks_list_fits_the_terminal_and_never_cuts_an_id(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 40, 80 and 200 columns every line of `tasks list` fits, each task is one line
    starting with its whole id, long titles end with an ellipsis; `--wide` shows every
    title whole and each task's file."""
    tasks = cli.json("tasks", "list")
    ids = [t["id"] for t in tasks]
    headers = ("ID", "TITLE", "TYPE", "STATUS", "AREA", "PRIORITY", "PARENT", "FILE")
    for width in WIDTHS:
        lines = _lines(cli, monkeypatch, width, "tasks", "list")
        _assert_fits(lines, width, ids, headers)
    narrow = _lines(cli, monkeypatch, 80, "tasks", "list")
    assert any(line.rstrip().endswith("…") or "… " in line for line in narrow[1:])
    wide = _lines(cli, monkeypatch, 80, "tasks", "list", "--wide")
    assert "FILE" in wide[0]
    for task in tasks:
        row = next(line for line in wide if line.split()[0] == task["id"])
        assert task["title"] in row
        assert Path(task["path"]).name in row
    assert not any("…" in line for line in wide)


def test_tasks_list_filters_ignore_case_spaces_and_spelling(cli: Cli) -> None:
    """`--status "In Progress"` finds the tasks stored as `in_progress` (whatever their
    files say), as do `in-progress` and `IN_PROGRESS`; `--type`, `--area` likewise; a
    status nobody has finds nothing."""
    tasks = cli.json("tasks", "list")
    in_progress = sorted(t["id"] for t in tasks if t["status"] == "in_progress")
    assert in_progress
    for spelling in (
        "In Progress",
        "in-progress",
        "IN_PROGRESS",
        " in progress ",
        "🔵 In Progress",
    ):
        found = sorted(t["id"] for t in cli.json("tasks", "list", "--status", spelling))
        assert found == in_progress, spelling
    todo = sorted(t["id"] for t in tasks if t["status"] == "todo")
    assert sorted(t["id"] for t in cli.json("tasks", "list", "--status", "To Do")) == todo
    bugs = sorted(t["id"] for t in tasks if t["type"] == "bug")
    assert bugs
    assert sorted(t["id"] for t in cli.json("tasks", "list", "--type", "BUG")) == bugs
    chores = cli.json("tasks", "list", "--type", "chore")
    assert chores
    assert all(t["type"] == "chore" for t in chores)
    servers = cli.json("tasks", "list", "--area", "MCP-Server")
    assert servers
    assert all(t["area"].casefold() == "mcp server" for t in servers)
    both = cli.json("tasks", "list", "--area", "core", "--status", "done")
    assert all(t["area"].casefold() == "core" and t["status"] == "done" for t in both)
    assert cli.json("tasks", "list", "--status", "reviewing") == []


def test_tasks_list_pages(cli: Cli) -> None:
    """`--limit N` shows the first N tasks and says how to see the next page; `--offset`
    starts further on; without `--limit` every task is listed."""
    every = [t["id"] for t in cli.json("tasks", "list")]
    assert len(every) > 10
    assert [t["id"] for t in cli.json("tasks", "list", "--limit", "5")] == every[:5]
    page = cli.json("tasks", "list", "--limit", "5", "--offset", "5")
    assert [t["id"] for t in page] == every[5:10]
    shown = cli("tasks", "list", "--limit", "5")
    assert shown.exit_code == 0
    assert len(shown.stdout.splitlines()) == 6
    assert f"tasks 1-5 of {len(every)}; --offset 5 shows the next" in shown.stderr
    assert cli.json("tasks", "list", "--limit", "0") == []
    assert cli.json("tasks", "list", "--offset", str(len(every))) == []


def test_real_task_files_fit_80_columns(
    tmp_path: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The 264 real Scopecraft task files list in one line each at 80 columns (they took
    2,748 lines before), every id whole."""
    repo = make_repo(tmp_path / "real")
    shutil.copytree(
        shared_fixture("scopecraft-real", ".tasks"), repo / ".tasks", dirs_exist_ok=True
    )
    cli = Cli(repo, home)
    result = cli("tasks", "list", as_json=True)
    ids = [t["id"] for t in json.loads(result.stdout)]
    assert len(ids) > 200
    lines = _lines(cli, monkeypatch, 80, "tasks", "list")
    _assert_fits(lines, 80, ids, ("ID", "TITLE", "TYPE", "STATUS", "AREA", "PRIORITY", "PARENT"))
