"""Shared fixtures: every async test runs on asyncio and on trio; nothing is left behind."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support import make_repo

FAKE_OK = (
    "fake: say hello from the fake agent\n"
    "fake: cost 0.25\n"
    "fake: write notes/out.txt made by the agent"
)


@pytest.fixture(params=["asyncio", "trio"])
def anyio_backend(request: pytest.FixtureRequest) -> str:
    """Run each ``@pytest.mark.anyio`` test on both backends."""
    return str(request.param)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private SCOPECRAFT_HOME for the test."""
    path = tmp_path / "home"
    monkeypatch.setenv("SCOPECRAFT_HOME", str(path))
    return path


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repository with a few scripted tasks for the fake agent."""
    return make_repo(
        tmp_path / "src",
        {
            "ok-01A": FAKE_OK,
            "fail-01B": "fake: say trying\nfake: fail 3",
            "hang-01C": "fake: say waiting\nfake: hang",
            "slow-01D": "fake: say one\nfake: sleep 1\nfake: say two",
        },
    )


def _runner_processes(base: Path) -> list[str]:
    """Command lines of live (not zombie) local runners started under ``base``."""
    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        runner = any(part.endswith("/scopecraft/executors/_local_runner.py") for part in cmdline)
        if runner and any(str(base) in part for part in cmdline):
            found.append(" ".join(cmdline))
    return found


@pytest.fixture(autouse=True, scope="session")
def _no_local_runtime_left(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the whole run, no local agent process started by a test is still alive."""
    base = tmp_path_factory.getbasetemp()
    yield
    deadline = time.monotonic() + 10
    while (left := _runner_processes(base)) and time.monotonic() < deadline:
        time.sleep(0.1)  # a runner may be writing its exit record right now
    assert not left, f"local runtimes left running: {left}"
