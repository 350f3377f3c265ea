"""Fixtures for the agent adapter tests: recorded transcripts and a runner for the fake agent."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable, Mapping
from pathlib import Path

import pytest
from agent_support import AGENT_OUTPUT, BUSYBOX, FakeRun, RunFake, in_ci

from scopecraft.testing._fake_agent import fake_agent_script


@pytest.fixture
def transcript() -> Callable[[str], list[str]]:
    """Read a recorded transcript's lines (without newlines); skip when the fixtures are
    absent, unless ``CI=true``."""

    def read(name: str) -> list[str]:
        path = AGENT_OUTPUT / name
        if not path.is_file():
            if in_ci():
                pytest.fail(f"agent output fixture missing: {path}")
            pytest.skip(f"agent output fixture missing: {path}")
        return path.read_text(encoding="utf-8").splitlines()

    return read


@pytest.fixture(params=["sh", "busybox"])
def shell(request: pytest.FixtureRequest) -> list[str]:
    """The shell running the fake agent: the system ``/bin/sh``, then ``busybox sh`` (skipped
    when ``/bin/busybox`` is absent, unless ``CI=true``)."""
    if request.param == "busybox":
        if not BUSYBOX.exists():
            if in_ci():
                pytest.fail("/bin/busybox is required in CI")
            pytest.skip("/bin/busybox is not installed")
        return [str(BUSYBOX), "sh"]
    return ["/bin/sh"]


@pytest.fixture
def run_fake(shell: list[str], tmp_path: Path) -> RunFake:
    """Run the fake agent script with ``args`` to its end, ``stdin`` on its standard input, in
    a working folder under ``tmp_path``; every standard output line must be JSON."""
    workdir = tmp_path / "work"
    workdir.mkdir()

    def run(
        *args: str,
        stdin: str = "",
        env: Mapping[str, str] | None = None,
        cwd: Path | None = None,
        timeout: float = 30,
    ) -> FakeRun:
        argv = [*shell, str(fake_agent_script()), *args]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("FAKE_AGENT")}
        full_env.update(env or {})
        proc = subprocess.run(
            argv,
            input=stdin.encode("utf-8"),
            capture_output=True,
            cwd=cwd or workdir,
            env=full_env,
            timeout=timeout,
            check=False,
        )
        raw = proc.stdout.decode("utf-8").splitlines()
        lines = [json.loads(line) for line in raw]
        return FakeRun(proc.returncode, lines, raw, proc.stderr.decode("utf-8", "replace"))

    return run


@pytest.fixture
def workdir(run_fake: RunFake, tmp_path: Path) -> Path:
    """The working folder the fake agent runs in."""
    return tmp_path / "work"
