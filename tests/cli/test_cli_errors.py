"""Bad input gives a one-line error with a hint and a meaningful exit code, never a traceback."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_support import LOCAL, Cli, cli_for

from scopecraft import Priority, SessionMode
from scopecraft.cli._common import ExitCode, classify_error
from scopecraft.cli._session import ModeChoice, PriorityChoice


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


def _one_error_line(stderr: str) -> str:
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_unknown_task_exits_3_with_a_hint(cli: Cli) -> None:
    """Starting a session for a task that does not exist exits 3 (not found) with one line
    that names the task and says how to list tasks; nothing is created."""
    result = cli("session", "start", "nope-01Z", *LOCAL)
    assert result.exit_code == ExitCode.NOT_FOUND
    line = _one_error_line(result.stderr)
    assert "nope-01Z" in line
    assert "scopecraft tasks list" in line
    assert cli.json("session", "list", "--all") == []


def test_bad_branch_exits_2(cli: Cli) -> None:
    """A branch name git would refuse (`--worktree 'bad..name'`) is bad usage: exit 2."""
    result = cli("session", "start", "ok-01A", *LOCAL, "--worktree", "bad..name")
    assert result.exit_code == ExitCode.USAGE
    assert "invalid branch" in _one_error_line(result.stderr)


def test_main_branch_is_refused_with_exit_4(cli: Cli) -> None:
    """Asking to work on the default branch is refused (exit 4): agents never run on main."""
    result = cli("session", "start", "ok-01A", *LOCAL, "--worktree", "main")
    assert result.exit_code == ExitCode.REFUSED
    _one_error_line(result.stderr)


def test_bad_task_id_exits_2(cli: Cli) -> None:
    """A task id with characters no task id has is bad usage (exit 2), checked before any
    file is read."""
    result = cli("session", "start", "../etc/passwd", *LOCAL)
    assert result.exit_code == ExitCode.USAGE
    assert "invalid task id" in _one_error_line(result.stderr)


def test_unknown_session_exits_3(cli: Cli) -> None:
    """Every command that takes a session id exits 3 for an id that is not in the store."""
    for command in (
        ["session", "show"],
        ["session", "logs"],
        ["session", "events"],
        ["session", "cancel"],
        ["session", "wait"],
        ["session", "attach"],
    ):
        result = cli(*command, "ses-doesnotexist")
        assert result.exit_code == ExitCode.NOT_FOUND, (command, result.stderr)
        assert "session list --all" in _one_error_line(result.stderr)
    result = cli("session", "continue", "ses-doesnotexist", "more")
    assert result.exit_code == ExitCode.NOT_FOUND


def test_malformed_session_id_exits_2(cli: Cli) -> None:
    """A session id that cannot be one (spaces, capitals) is bad usage: exit 2."""
    result = cli("session", "show", "Not A Session")
    assert result.exit_code == ExitCode.USAGE
    assert "invalid session id" in _one_error_line(result.stderr)


def test_unknown_option_value_is_a_usage_error(cli: Cli) -> None:
    """A mode that does not exist is refused by the option parser with exit 2."""
    result = cli("session", "start", "ok-01A", "--mode", "bogus")
    assert result.exit_code == 2
    assert "bogus" in result.stderr


def test_orchestration_mode_is_refused_with_exit_4(cli: Cli) -> None:
    """Orchestration sessions are refused (exit 4) until their issue lands."""
    result = cli("session", "start", "ok-01A", *LOCAL, "--mode", "orchestration")
    assert result.exit_code == ExitCode.REFUSED
    assert "orchestration" in _one_error_line(result.stderr)


def test_dangerous_on_the_host_is_refused_with_exit_4(
    cli: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    """--dangerous outside a container executor is refused (exit 4) with the way out."""
    monkeypatch.delenv("SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST", raising=False)
    result = cli("session", "start", "ok-01A", *LOCAL, "--dangerous")
    assert result.exit_code == ExitCode.REFUSED
    assert "SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST" in _one_error_line(result.stderr)


def test_unknown_executor_is_refused_with_exit_4(cli: Cli) -> None:
    """An executor no plugin provides is refused (exit 4), naming the installed ones."""
    result = cli("session", "start", "ok-01A", "--executor", "nope", "--agent", "fake")
    assert result.exit_code == ExitCode.REFUSED
    assert "local" in _one_error_line(result.stderr)


def test_empty_feedback_is_refused_with_exit_4(cli: Cli) -> None:
    """`session continue` with blank feedback is refused (exit 4); the session is unchanged."""
    started = cli.start("ok-01A")
    cli.json("session", "wait", started["id"], "--timeout", "60")
    result = cli("session", "continue", started["id"], "   ")
    assert result.exit_code == ExitCode.REFUSED
    assert "feedback is empty" in _one_error_line(result.stderr)
    assert cli.json("session", "show", started["id"])["attempt"] == 1


def test_attach_to_a_local_session_is_refused_with_exit_4(cli: Cli) -> None:
    """`session attach` on a session without a terminal (local executor) exits 4 and says
    which executor has one."""
    started = cli.start("ok-01A", "--no-wait")
    result = cli("session", "attach", started["id"])
    assert result.exit_code == ExitCode.REFUSED
    assert "tmux" in _one_error_line(result.stderr)
    cli.json("session", "wait", started["id"], "--timeout", "60")


def test_debug_shows_the_traceback(cli: Cli) -> None:
    """--debug prints the traceback before the one-line error."""
    result = cli("--debug", "session", "show", "ses-doesnotexist")
    assert result.exit_code == ExitCode.NOT_FOUND
    assert "Traceback" in result.stderr
    assert "SessionNotFound" in result.stderr
    assert result.stderr.rstrip().splitlines()[-1].startswith("error: ")


def test_json_errors_are_objects_on_stderr(cli: Cli) -> None:
    """With --json the error is a JSON object on standard error (type, message, hint, exit
    code) and standard output stays empty."""
    result = cli("session", "show", "ses-doesnotexist", as_json=True)
    assert result.exit_code == ExitCode.NOT_FOUND
    assert result.stdout == ""
    error = json.loads(result.stderr)["error"]
    assert error["type"] == "SessionNotFound"
    assert error["exit_code"] == 3
    assert "ses-doesnotexist" in error["message"]


def test_not_a_git_repository_is_a_backend_error(tmp_path: Path, home: Path) -> None:
    """Pointing --repo at a folder outside any git repository exits 6 with a git hint."""
    folder = tmp_path / "plain"
    folder.mkdir()
    result = Cli(folder, home)("tasks", "list")
    assert result.exit_code == ExitCode.UNAVAILABLE, result.stderr
    assert "hint:" in _one_error_line(result.stderr)


def test_unexpected_exceptions_are_internal_errors() -> None:
    """An exception that is not a scopecraft error is reported as an internal error (70)."""
    code, hint = classify_error(RuntimeError("boom"))
    assert code is ExitCode.INTERNAL
    assert hint is not None
    assert "--debug" in hint


def test_choices_match_the_engine_enums() -> None:
    """The CLI's --mode and --priority choices are the engine's enum values (plus
    `normal`, which the engine reads as `medium`)."""
    assert [m.value for m in ModeChoice] == [m.value for m in SessionMode]
    assert {p.value for p in PriorityChoice} == {p.value for p in Priority} | {"normal"}


def test_a_repository_folder_that_is_not_there_is_a_usage_error(tmp_path: Path) -> None:
    """``--repo`` naming a folder that does not exist exits 2 (usage) with one line that
    names the folder, not an internal error."""
    result = Cli(tmp_path / "nowhere", tmp_path / "home")("tasks", "list")
    assert result.exit_code == ExitCode.USAGE
    line = _one_error_line(result.stderr)
    assert "does not exist" in line
    assert "nowhere" in line


def test_a_home_that_cannot_be_made_is_a_backend_error(repo: Path, tmp_path: Path) -> None:
    """A home that cannot be created (under a file) exits 6 with one line that says how to
    choose another, not an internal error."""
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    result = Cli(repo, blocker / "home")("session", "list")
    assert result.exit_code == ExitCode.UNAVAILABLE
    line = _one_error_line(result.stderr)
    assert "cannot create the scopecraft home" in line
    assert "SCOPECRAFT_HOME" in line
