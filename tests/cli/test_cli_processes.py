"""The real console entry point in its own processes: one-shot calls, `serve`, help, demo."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_support import LOCAL, Cli, cli_for
from typer.testing import CliRunner

from scopecraft.cli._app import app


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


def test_one_shot_start_leaves_the_session_running_for_the_next_engine(cli: Cli) -> None:
    """A `session start` process exits once the runtime started; the agent goes on
    detached, and a later process (`session wait`) collects its output and outcome."""
    started = cli.subprocess("--json", "session", "start", "slow-01D", *LOCAL)
    assert started.returncode == 0, started.stderr
    session = json.loads(started.stdout)
    assert session["status"] == "running"
    waited = cli.subprocess("--json", "session", "wait", session["id"], "--timeout", "60")
    assert waited.returncode == 0, waited.stderr
    assert json.loads(waited.stdout)["status"] == "completed"
    logs = cli.subprocess("session", "logs", session["id"])
    assert "two" in logs.stdout.splitlines()


def test_one_shot_list_records_the_end_of_a_finished_agent(cli: Cli) -> None:
    """With no engine left open, a session whose agent has finished is shown ended by the
    next one-shot `session list` (it collects what the runtime left), not `running`."""
    started = cli.subprocess("--json", "session", "start", "slow-01D", *LOCAL)
    assert started.returncode == 0, started.stderr
    session_id = json.loads(started.stdout)["id"]
    deadline = time.monotonic() + 60
    status = "running"
    while status == "running" and time.monotonic() < deadline:
        time.sleep(0.5)
        listed = cli.subprocess("--json", "session", "list", "--all")
        assert listed.returncode == 0, listed.stderr
        (entry,) = [s for s in json.loads(listed.stdout) if s["id"] == session_id]
        status = entry["status"]
    assert status == "completed"
    shown = cli.subprocess("--json", "session", "show", session_id)
    assert json.loads(shown.stdout)["status"] == "completed"
    logs = cli.subprocess("session", "logs", session_id)
    assert "two" in logs.stdout.splitlines()


def test_errors_in_a_real_process_are_one_line(cli: Cli) -> None:
    """The console script prints a one-line error and exits with its code, no traceback."""
    result = cli.subprocess("session", "start", "nope-01Z", *LOCAL)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("error: ")


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line:
            return line
        if proc.poll() is not None:
            break
        time.sleep(0.05)
    raise AssertionError("serve printed nothing")


def test_serve_runs_sessions_until_sigterm(cli: Cli, repo: Path, home: Path) -> None:
    """`serve` holds an engine open: sessions queued by other processes start and complete
    under it, it prints their lifecycle, and SIGTERM stops it with exit 0."""
    argv = [sys.executable, "-m", "scopecraft.cli", "--repo", str(repo), "--home", str(home)]
    proc = subprocess.Popen(
        [*argv, "--json", "serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    try:
        ready = json.loads(_read_line(proc, 30))
        assert ready["serving"] == str(repo.resolve())
        queued = cli.start("ok-01A", "--no-wait")
        done = cli.json("session", "wait", queued["id"], "--timeout", "60")
        assert done["status"] == "completed"
        seen: list[str] = []
        while "session_completed" not in seen:
            event = json.loads(_read_line(proc, 30))
            if event["session_id"] == queued["id"]:
                seen.append(event["type"])
        assert seen.index("session_started") < seen.index("session_completed")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    assert proc.returncode == 0, stderr
    assert "SIGTERM: stopping" in stderr


def test_help_lists_every_command() -> None:
    """`scopecraft --help` lists every command of the issue; each group lists its verbs."""
    runner = CliRunner()
    top = runner.invoke(app, ["--help"])
    assert top.exit_code == 0
    for name in ("session", "tasks", "queue", "worktree", "costs", "serve", "mcp", "demo"):
        assert f"  {name}" in top.stdout, name
    assert "Exit codes" in top.stdout
    verbs = runner.invoke(app, ["session", "--help"]).stdout
    for verb in ("start", "list", "show", "logs", "cancel", "continue", "attach"):
        assert f"  {verb}" in verbs, verb
    start = runner.invoke(app, ["session", "start", "--help"]).stdout
    for option in ("--mode", "--worktree", "--dangerous", "--priority", "--parent"):
        assert option in start
    for option in ("--agent", "--executor", "--image", "--model", "--follow", "--prompt"):
        assert option in start
    assert "--dry-run" in runner.invoke(app, ["worktree", "prune", "--help"]).stdout


def test_help_does_not_import_the_engine() -> None:
    """`scopecraft --help` imports neither the engine, pydantic nor rich (start-up speed)."""
    code = (
        "import sys\n"
        "sys.argv = ['scopecraft', '--help']\n"
        "from scopecraft.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "heavy = [m for m in ('scopecraft.engine._facade', 'pydantic', 'rich', 'anyio') "
        "if m in sys.modules]\n"
        "print('heavy=' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    assert result.stdout.splitlines()[-1] == "heavy="


def test_version() -> None:
    """`scopecraft --version` prints the package version."""
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("scopecraft 0.")


def test_demo_still_runs(tmp_path: Path) -> None:
    """`scopecraft demo --folder F` runs the README's fake-agent session and shows the
    events, the status and the change on the task branch."""
    result = CliRunner().invoke(app, ["demo", "--folder", str(tmp_path)])
    assert result.exit_code == 0, result.stderr
    assert "status completed" in result.stdout
    assert "greeting.py" in result.stdout


def test_global_flags_after_the_command_are_moved_to_the_front() -> None:
    """`--json` and `--debug` are read wherever they are, except after `--`."""
    from scopecraft.cli._app import hoist_global_flags

    assert hoist_global_flags(["session", "list", "--json"]) == ["--json", "session", "list"]
    assert hoist_global_flags(["--debug", "tasks", "list", "--debug"]) == [
        "--debug",
        "tasks",
        "list",
    ]
    assert hoist_global_flags(["session", "continue", "s", "--", "--json"]) == [
        "session",
        "continue",
        "s",
        "--",
        "--json",
    ]
