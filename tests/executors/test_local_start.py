"""Starting a local runtime on a slow host: a start the engine gave up on never runs the
agent, and the supervisor starts like a bare interpreter (it imports no package)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from scopecraft._errors import ConfigError, ExecutorError
from scopecraft.executors import _local_runner
from scopecraft.executors._local import LocalExecutor
from scopecraft.testing.contracts.executors import spec_factory


def _slow_python(folder: Path, delay: float) -> Path:
    """An interpreter whose detached part comes ``delay`` seconds late (an overloaded host):
    the process the executor waits for ends at once, the supervisor runs later."""
    wrapper = folder / "slow-python"
    came = folder / "runner-came"
    wrapper.write_text(
        f'#!/bin/sh\n( sleep {delay}; "{sys.executable}" "$@"; touch "{came}" ) '
        "</dev/null >/dev/null 2>&1 &\n"
    )
    wrapper.chmod(0o700)
    return wrapper


def _runners_under(folder: Path) -> list[int]:
    import psutil

    found = []
    for proc in psutil.process_iter(["cmdline", "status"]):
        cmdline = proc.info.get("cmdline") or []
        if proc.info.get("status") == psutil.STATUS_ZOMBIE:
            continue
        if any(part.endswith("_local_runner.py") for part in cmdline) and any(
            str(folder) in part for part in cmdline
        ):
            found.append(proc.pid)
    return found


def test_a_start_given_up_on_never_runs_the_agent(tmp_path: Path) -> None:
    """The supervisor records itself after the engine stopped waiting: the start fails with
    a reason, and the late supervisor ends without starting the agent (no agent runs that
    nobody supervises, and a retry of the attempt cannot run it twice)."""
    executor = LocalExecutor(python=str(_slow_python(tmp_path, 1.5)), start_timeout=0.3)
    marker = tmp_path / "agent-ran"
    spec = spec_factory(tmp_path)(["/bin/sh", "-c", f"touch {marker}"])
    with pytest.raises(ExecutorError, match="did not record itself"):
        executor._start(spec)
    came = tmp_path / "runner-came"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and (not came.exists() or _runners_under(tmp_path)):
        time.sleep(0.05)
    assert came.exists(), "the late runner came"
    assert not _runners_under(tmp_path)
    assert not marker.exists(), "the agent of an abandoned start ran"
    assert not (spec.run_dir / "runtime.json").exists()


def test_a_runner_that_records_itself_first_is_adopted_at_the_give_up(tmp_path: Path) -> None:
    """Under the start lock, whoever comes first wins: a runner that recorded itself is the
    attempt's runtime even at the deadline; one that comes after the give-up stands down; a
    second runner of the same attempt never records itself."""
    executor = LocalExecutor()
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    assert _local_runner.claim(first, "aaaa")
    adopted = executor._give_up(first, "aaaa")
    assert adopted is not None
    assert adopted.startswith(f"{os.getpid()}:")
    assert not _local_runner.claim(first, "bbbb"), "a second runner of one attempt"
    assert executor._give_up(second, "cccc") is None
    assert not _local_runner.claim(second, "cccc")
    assert not (second / "runtime.json").exists()


def test_the_runner_imports_no_package(tmp_path: Path) -> None:
    """Run by path without its folder on the import path, the supervisor imports nothing of
    scopecraft (a package's imports cost a loaded host seconds before it records itself)."""
    runner = Path(_local_runner.__file__)
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-P", str(runner)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stderr
    assert "usage" in result.stderr
    assert "scopecraft" not in result.stderr.replace(str(runner), "")


def test_a_start_timeout_must_be_positive() -> None:
    """A zero or negative wait is refused as configuration."""
    with pytest.raises(ConfigError, match="start_timeout"):
        LocalExecutor(start_timeout=0)
