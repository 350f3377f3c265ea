"""``docs/tutorial.md`` works as written: its shell commands and Python blocks, in order.

The page's `console` blocks give commands (lines starting ``$ ``, continued by a trailing
``\\``; other lines are output and are not compared: ids, times and paths differ per run);
its `python` blocks are scripts. They run one after the other in one ``bash`` with ``set -e``
in a fresh folder, with a home of the test's, a ``PATH`` without any real agent CLI, and the
scripted ``fake`` agent wherever the page says ``claude-code``. Installing (``pip install``)
is the one line not run: the package under test is already installed.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from cli.test_doctor import path_without_agents

TUTORIAL = Path(__file__).resolve().parents[2] / "docs" / "tutorial.md"
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n", re.MULTILINE | re.DOTALL)
_SKIPPED = ("pip install",)
_IDENTITY = {
    "GIT_AUTHOR_NAME": "Ada Tutorial",
    "GIT_AUTHOR_EMAIL": "ada@example.com",
    "GIT_COMMITTER_NAME": "Ada Tutorial",
    "GIT_COMMITTER_EMAIL": "ada@example.com",
}


def tutorial_steps(text: str) -> list[tuple[str, str]]:
    """The page's steps in order: ``("shell", command)`` for each command of a `console`
    block, ``("python", source)`` for each `python` block."""
    steps: list[tuple[str, str]] = []
    for match in _FENCE.finditer(text):
        language, body = match.group(1), match.group(2)
        if language == "python":
            steps.append(("python", body))
            continue
        if language != "console":
            continue
        command: list[str] = []
        for line in body.splitlines():
            if command:
                command.append(line)
            elif line.startswith("$ "):
                command.append(line[2:])
            else:
                continue
            if not line.endswith("\\"):
                steps.append(("shell", "\n".join(command)))
                command = []
        assert not command, f"a command continues past its block: {command}"
    return steps


def with_fake_agent(text: str) -> str:
    """The step with the fake agent where the page names Claude Code."""
    return text.replace("claude-code", "fake")


def script_of(steps: list[tuple[str, str]]) -> str:
    """One bash script running the steps, each announced on standard error first."""
    lines = ["set -euo pipefail"]
    for number, (kind, text) in enumerate(steps, 1):
        if kind == "shell" and text.startswith(_SKIPPED):
            continue
        text = with_fake_agent(text)
        lines.append(f"echo {shlex.quote(f'--- step {number}: {text}')} >&2")
        if kind == "shell":
            lines.append(text)
        else:
            delimiter = f"PYTHON_STEP_{number}"
            assert delimiter not in text
            lines.append(f"\"$TUTORIAL_PYTHON\" - <<'{delimiter}'\n{text}{delimiter}")
    return "\n".join(lines) + "\n"


def test_the_steps_are_found() -> None:
    """The page has the steps this test relies on: a repository made from nothing, a task
    made with `tasks new`, a fake-agent session, the real agent's session, a Python block."""
    steps = tutorial_steps(TUTORIAL.read_text())
    shell = [text for kind, text in steps if kind == "shell"]
    assert shell[0].startswith("pip install")
    assert any(text.startswith("git init") for text in shell)
    first_scopecraft = next(text for text in shell if "scopecraft " in text)
    assert first_scopecraft == "scopecraft doctor"
    assert any("scopecraft tasks new" in text for text in shell)
    assert any("--agent fake" in text for text in shell)
    assert any("--agent claude-code" in text for text in shell)
    assert [kind for kind, _ in steps].count("python") >= 1
    assert tutorial_steps("```console\n$ a \\\n  b\nout\n$ c\n```\n") == [
        ("shell", "a \\\n  b"),
        ("shell", "c"),
    ]


@pytest.mark.timeout(300)
def test_the_tutorial_runs_as_written(tmp_path: Path) -> None:
    """Every command and script of the page succeeds in a fresh folder, and they leave what
    the page says: a committed task, a completed session's work on the task branch, and the
    Python block's session with two attempts."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "scopecraft"
    shim.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m scopecraft "$@"\n')
    shim.chmod(0o755)
    user = tmp_path / "user"
    user.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("SCOPECRAFT_", "GIT_", "DOCKER_"))
        and key not in ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY")
    }
    env |= _IDENTITY | {
        "HOME": str(user),
        "PATH": path_without_agents(str(bin_dir)),
        "TUTORIAL_PYTHON": sys.executable,
        "COLUMNS": "200",
    }
    script = script_of(tutorial_steps(TUTORIAL.read_text()))
    run = subprocess.run(
        ["bash", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
    )
    assert run.returncode == 0, f"{run.stderr}\n--- stdout:\n{run.stdout}"
    repo = work / "hello"
    assert (repo / ".git").is_dir()
    tasks = list((repo / ".tasks" / "backlog").glob("*.task.md"))
    assert len(tasks) == 1
    task_id = tasks[0].name.removesuffix(".task.md")
    assert re.fullmatch(r"add-a-greeting-module-\d\dA", task_id)
    assert task_id in run.stdout
    git = ["git", "-C", str(repo)]
    log = subprocess.run(
        [*git, "log", "--format=%s", "main"], capture_output=True, text=True, check=True, env=env
    ).stdout.splitlines()
    assert log == [f"Add task {task_id}: Add a greeting module", "first commit"]
    greeting = work / "hello.worktrees" / task_id / "greeting.py"
    assert greeting.read_text() == 'def greet(name): return "Hello, " + name\n'
    branch = subprocess.run(
        [*git, "log", "--format=%s", f"feature/{task_id}"],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    assert f"on {task_id} (attempt 1)" in branch
    assert "completed 2 " in run.stdout  # the Python block's session: status and attempts
    assert (user / ".scopecraft" / "scopecraft.db").is_file()
