"""Every exit code the CLI documents is the one a real ``scopecraft`` process returns.

The table in ``docs/cli.md`` ("Errors and exit codes") is parsed and checked against
`ExitCode`; then each code is produced by the real console entry point in a new process
(the internal error, 70, by fault injection in-process, since no real input reaches it).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_support import LOCAL, Cli, cli_for

from scopecraft import Engine
from scopecraft.cli._common import ExitCode

DOCS = Path(__file__).resolve().parents[2] / "docs" / "cli.md"


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


def _documented_codes() -> dict[int, str]:
    text = DOCS.read_text(encoding="utf-8")
    section = text.split("## Errors and exit codes", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| (\d+) \| (.+) \|$", section, flags=re.MULTILINE)
    return {int(code): meaning for code, meaning in rows}


def test_the_documented_table_is_every_exit_code() -> None:
    """The table in docs/cli.md lists exactly the codes of `ExitCode`, no more, no fewer."""
    assert set(_documented_codes()) == {int(code) for code in ExitCode}


def _started(cli: Cli, task_id: str) -> str:
    result = cli.subprocess("--json", "session", "start", task_id, *LOCAL)
    assert result.returncode == 0, result.stderr
    session_id: str = json.loads(result.stdout)["id"]
    return session_id


def test_each_code_comes_from_a_real_process(cli: Cli, tmp_path: Path) -> None:
    """0 to 6 come from the real entry point on inputs a user would give."""
    assert cli.subprocess("tasks", "list").returncode == ExitCode.OK
    follow = cli.subprocess("session", "start", "fail-01B", *LOCAL, "--follow")
    assert follow.returncode == ExitCode.FAILED, follow.stderr
    assert cli.subprocess("tasks", "list", "--no-such-option").returncode == ExitCode.USAGE
    assert cli.subprocess("session", "start", "nope-01Z", *LOCAL).returncode == (ExitCode.NOT_FOUND)
    unknown_agent = cli.subprocess("session", "start", "ok-01A", "-e", "local", "--agent", "nope")
    assert unknown_agent.returncode == ExitCode.NOT_FOUND, unknown_agent.stderr
    dangerous = cli.subprocess("session", "start", "ok-01A", *LOCAL, "--dangerous")
    assert dangerous.returncode == ExitCode.REFUSED, dangerous.stderr
    session_id = _started(cli, "hang-01C")
    waited = cli.subprocess("session", "wait", session_id, "--timeout", "1")
    assert waited.returncode == ExitCode.TIMEOUT, waited.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    not_git = Cli(plain, cli.home).subprocess("tasks", "list")
    assert not_git.returncode == ExitCode.UNAVAILABLE, not_git.stderr
    for result in (unknown_agent, dangerous, waited, not_git):
        assert "Traceback" not in result.stderr
        assert result.stderr.startswith("error: "), result.stderr


def test_docker_that_cannot_be_reached_exits_6_before_queueing(cli: Cli) -> None:
    """A Docker session with no Docker engine to reach is refused with 6 and a hint to run on
    the host instead; nothing is queued."""
    argv = [sys.executable, "-m", "scopecraft.cli", "--repo", str(cli.repo)]
    argv += ["--home", str(cli.home), "session", "start", "ok-01A", "-e", "docker"]
    argv += ["--agent", "fake", "--image", "scopecraft-fake-agent"]
    env = dict(os.environ, DOCKER_HOST="unix:///nonexistent/docker.sock")
    result = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60, check=False)
    assert result.returncode == ExitCode.UNAVAILABLE, result.stderr
    assert "executor='local'" in result.stderr or "-e local" in result.stderr
    assert cli.json("session", "list", "--all") == []


def test_ctrl_c_exits_130_and_the_session_goes_on(cli: Cli) -> None:
    """SIGINT to `session wait` ends the command with 130; the session is still running."""
    session_id = _started(cli, "hang-01C")
    # -X faulthandler: a process that does not end is sent SIGABRT, which prints where each of
    # its threads is, so a hang shows its cause in the failure.
    argv = [sys.executable, "-X", "faulthandler", "-m", "scopecraft.cli", "--repo", str(cli.repo)]
    argv += ["--home", str(cli.home), "session", "wait", session_id]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(3)
        assert process.poll() is None, process.communicate()
        process.send_signal(signal.SIGINT)
        try:
            _, stderr = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            _, stderr = process.communicate(timeout=30)
            pytest.fail(f"`session wait` did not end within 30 s of SIGINT:\n{stderr}")
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert cli.json("session", "show", session_id)["status"] == "running"


def test_ctrl_c_while_the_command_line_loads_exits_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A KeyboardInterrupt before a command runs (injected here: while the CLI's modules load)
    ends with 130 and one line, never with the traceback of an import cut short."""
    import scopecraft.cli
    import scopecraft.cli._app

    def interrupted(**_: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(scopecraft.cli._app, "app", interrupted)
    with pytest.raises(SystemExit) as exited:
        scopecraft.cli.main()
    assert exited.value.code == ExitCode.INTERRUPTED
    assert capsys.readouterr().err == "interrupted\n"


def test_a_bug_exits_70_with_a_hint(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    """An exception scopecraft does not expect (injected here) exits 70 and asks for a report,
    one line, no traceback unless --debug."""

    async def broken(self: Engine) -> None:
        raise RuntimeError("injected")

    monkeypatch.setattr(Engine, "list_tasks", broken)
    result = cli("tasks", "list")
    assert result.exit_code == ExitCode.INTERNAL
    assert "Traceback" not in result.stderr
    assert "--debug" in result.stderr
