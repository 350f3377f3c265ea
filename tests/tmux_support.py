"""Helpers for tests that need tmux: a private server per test, labelled with the run's id.

Every server a test starts is named ``sc-test-<run id>-<n>`` (``tmux -L``), so the run's
servers can be found and checked at the end: none may be left. A missing tmux skips a test
locally and fails it in CI (``CI=true`` or ``SCOPECRAFT_REQUIRE_TMUX=1``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
import secrets
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import pytest

from scopecraft._models import SessionMode
from scopecraft.executors._protocol import LaunchSpec
from scopecraft.executors._tmux_control import CONTROL_SESSION_PREFIX
from scopecraft.testing._fake_agent import fake_agent_script

RUN_ID = f"{os.getpid():x}{secrets.token_hex(3)}"
"""This test run's label, part of every tmux socket name it uses."""

SOCKET_PREFIX = f"sc-test-{RUN_ID}-"
_counter = itertools.count(1)


def tmux_required() -> bool:
    """True when a missing tmux must fail tests instead of skipping them."""
    return os.environ.get("CI") == "true" or os.environ.get("SCOPECRAFT_REQUIRE_TMUX") == "1"


def require_tmux() -> str:
    """Return the tmux binary; skip the test (fail it in CI) when there is none."""
    found = shutil.which("tmux")
    if found is None:
        message = "tmux is not installed (required here: CI=true or SCOPECRAFT_REQUIRE_TMUX=1)"
        if tmux_required():
            pytest.fail(message)
        pytest.skip("tmux is not installed")
    return found


def new_socket_name() -> str:
    """A fresh socket name for one test's private server."""
    return f"{SOCKET_PREFIX}{next(_counter)}-{secrets.token_hex(2)}"


def tmux(socket: str, *args: str, check: bool = False) -> subprocess.CompletedProcess[str]:
    """Run ``tmux -L socket ARGS`` and return the result (text)."""
    return subprocess.run(
        ["tmux", "-L", socket, *args], capture_output=True, text=True, check=check, timeout=20
    )


def session_names(socket: str) -> list[str]:
    """Names of the server's sessions, leaving out control clients' own sessions."""
    listed = tmux(socket, "list-sessions", "-F", "#{session_name}").stdout.split()
    return [name for name in listed if not name.startswith(CONTROL_SESSION_PREFIX)]


def kill_server(socket: str) -> None:
    """Kill the server on ``socket`` if it runs, and delete its socket file (tmux keeps it)."""
    tmux(socket, "kill-server")
    with contextlib.suppress(OSError):
        (socket_dir() / socket).unlink()


def socket_dir() -> Path:
    """tmux's folder of sockets for this user."""
    return Path(os.environ.get("TMUX_TMPDIR") or "/tmp") / f"tmux-{os.getuid()}"


def live_servers(prefix: str = SOCKET_PREFIX) -> list[str]:
    """Socket names starting with ``prefix`` whose server still answers."""
    try:
        names = [p.name for p in socket_dir().iterdir() if p.name.startswith(prefix)]
    except FileNotFoundError:
        return []
    return [name for name in names if tmux(name, "list-sessions").returncode == 0]


@contextmanager
def private_server() -> Iterator[str]:
    """A socket name for a private server, killed when the block ends."""
    require_tmux()
    name = new_socket_name()
    try:
        yield name
    finally:
        kill_server(name)


def posix_shell() -> str:
    """A POSIX shell's real path (the fake agent's interpreter)."""
    return os.path.realpath("/bin/sh")


def launch_spec(
    tmp: Path,
    argv: tuple[str, ...],
    *,
    session_id: str = "ses-test1",
    attempt: int = 1,
    runtime_name: str | None = None,
    env: Mapping[str, str] | None = None,
    store: str = "store-test",
    stdin: bytes | None = None,
) -> LaunchSpec:
    """A launch spec for ``argv`` with its own worktree and run folder under ``tmp``."""
    name = f"scopecraft-{session_id}-{attempt}" if runtime_name is None else runtime_name
    base = tmp / (name or "unnamed")
    workdir = base / "work"
    workdir.mkdir(parents=True, exist_ok=True)
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}
    return LaunchSpec(
        session_id=session_id,
        attempt=attempt,
        runtime_name=name,
        mode=SessionMode.INTERACTIVE,
        task_id="task-01A",
        argv=argv,
        workdir=workdir,
        state_dir=base / "state",
        run_dir=base / "run",
        env={**base_env, **(env or {})},
        labels={"scopecraft.store": store, "scopecraft.task": "task-01A"},
        stdin=stdin,
    )


def fake_agent_argv(prompt_file: Path) -> tuple[str, ...]:
    """The fake agent's terminal argv reading its prompt from ``prompt_file``."""
    return (
        posix_shell(),
        str(fake_agent_script()),
        "--print",
        "--output-format",
        "stream-json",
        "--verbose",
        "--prompt-file",
        str(prompt_file),
    )


def wait_until(predicate: Callable[[], bool], *, timeout: float = 10.0, step: float = 0.02) -> None:
    """Poll ``predicate`` until it is true; fail the test after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(step)
