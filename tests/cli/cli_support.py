"""Helpers for the CLI tests: run ``scopecraft`` in-process on a test repository."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from scopecraft.cli._app import app

LOCAL = ("--executor", "local", "--agent", "fake")


@dataclass
class Cli:
    """Runs ``scopecraft --repo REPO --home HOME ...`` in-process with typer's runner."""

    repo: Path
    home: Path

    def __call__(self, *args: str, as_json: bool = False, stdin: str | None = None) -> Result:
        """Run the command; ``as_json`` adds the global ``--json``; ``stdin`` is its input."""
        argv = ["--repo", str(self.repo), "--home", str(self.home)]
        if as_json:
            argv.append("--json")
        return CliRunner().invoke(app, [*argv, *args], prog_name="scopecraft", input=stdin)

    def json(self, *args: str) -> Any:
        """Run with ``--json``, check it succeeded, and parse standard output."""
        result = self(*args, as_json=True)
        assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
        return json.loads(result.stdout)

    def start(self, task_id: str, *args: str) -> dict[str, Any]:
        """Start a fake-agent session on the local executor; return its JSON object."""
        data: dict[str, Any] = self.json("session", "start", task_id, *LOCAL, *args)
        return data

    def subprocess(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run the real console entry point (``python -m scopecraft.cli``) in a new process."""
        argv = [sys.executable, "-m", "scopecraft.cli", "--repo", str(self.repo)]
        argv += ["--home", str(self.home), *args]
        env = dict(os.environ, COLUMNS="200")
        return subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=env, check=False
        )


def cli_for(repo: Path, home: Path) -> Iterator[Cli]:
    """Yield a `Cli`; afterwards cancel whatever sessions the test left running."""
    cli = Cli(repo, home)
    yield cli
    left = Cli(repo, home)("session", "list", as_json=True)
    if left.exit_code == 0:
        for session in json.loads(left.stdout):
            Cli(repo, home)("session", "cancel", session["id"])
