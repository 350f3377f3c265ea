"""Helpers for tests that need a real Docker engine.

* `require_docker()` skips a test when no engine answers (or busybox-static is missing),
  and fails it instead when ``CI=true`` or ``SCOPECRAFT_REQUIRE_DOCKER=1``.
* Every container a test makes carries ``scopecraft.testrun=<RUN_ID>``: through the executor's
  ``extra_labels`` for engine tests, in the labels of the spec for executor tests.
  `leftovers()` lists what this run left behind; each Docker test module checks it is empty.
* `PrivateDockerd`: a second Docker daemon of the test's own (its socket, data and exec
  roots under a temporary folder), for restarting a daemon without touching the shared one.
* ``python docker_support.py child ...``: an engine process that creates a session and waits to
  be killed (SIGKILL tests).
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from scopecraft.testing._fake_agent import CONTAINER_PATH

if TYPE_CHECKING:
    from scopecraft._models import LogStream
    from scopecraft.executors import LaunchSpec, Resources, RuntimeHandle, RuntimeState
    from scopecraft.executors._docker import DockerExecutor

RUN_ID = f"{os.getpid()}-{uuid.uuid4().hex[:8]}"
"""This test run's id, the value of every test container's ``scopecraft.testrun`` label."""

RUN_LABEL = "scopecraft.testrun"
RUN_LABELS = {RUN_LABEL: RUN_ID}

DOCKER_EXECUTOR = {"network": "none", "extra_labels": RUN_LABELS}
"""Executor configuration of engine tests: no network, the run label."""


def docker_required() -> bool:
    """True when Docker tests must run (and fail rather than skip)."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("SCOPECRAFT_REQUIRE_DOCKER") == "1"
    )


@functools.cache
def _docker_problem() -> str | None:
    """Why Docker tests cannot run here, or ``None``."""
    try:
        import docker
        import docker.errors
        import requests.exceptions
    except ImportError as exc:  # pragma: no cover - docker is a dependency
        return f"docker-py is not installed: {exc}"
    from scopecraft._errors import ExecutorUnavailable
    from scopecraft.executors._docker_config import probe_engine

    try:
        probe_engine(None)
    except ExecutorUnavailable as exc:
        return str(exc)
    try:
        client = docker.from_env(timeout=10)
    except docker.errors.DockerException as exc:
        return f"no Docker engine answers: {exc}"
    try:
        client.ping()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        return f"the Docker engine does not answer: {exc}"
    finally:
        client.close()
    from scopecraft.testing._images import busybox_path

    try:
        busybox_path()
    except FileNotFoundError as exc:
        return str(exc)
    return None


def require_docker() -> None:
    """Skip the calling test without a Docker engine; fail it when Docker is required."""
    problem = _docker_problem()
    if problem is None:
        return
    if docker_required():
        pytest.fail(f"Docker is required (CI=true or SCOPECRAFT_REQUIRE_DOCKER=1): {problem}")
    pytest.skip(problem)


@contextlib.contextmanager
def docker_client(base_url: str | None = None) -> Iterator[Any]:
    """A docker-py client, closed afterwards (an open one is a ResourceWarning)."""
    import docker

    client = docker.DockerClient(base_url=base_url) if base_url else docker.from_env()
    try:
        yield client
    finally:
        client.close()


def leftovers(client: Any, run_id: str = RUN_ID) -> list[str]:
    """Containers and volumes labelled with this run's id that still exist."""
    label = f"{RUN_LABEL}={run_id}"
    found = [
        f"container {c.name}"
        for c in client.containers.list(all=True, filters={"label": label}, ignore_removed=True)
    ]
    found += [f"volume {v.name}" for v in client.volumes.list(filters={"label": label})]
    return found


def remove_leftovers(client: Any, run_id: str = RUN_ID) -> None:
    """Force-remove whatever `leftovers()` lists (so one failure does not cascade)."""
    label = f"{RUN_LABEL}={run_id}"
    for container in client.containers.list(
        all=True, filters={"label": label}, ignore_removed=True
    ):
        with contextlib.suppress(Exception):
            container.remove(force=True, v=True)
    for volume in client.volumes.list(filters={"label": label}):
        with contextlib.suppress(Exception):
            volume.remove(force=True)


def containers_of(client: Any, session_id: str) -> list[Any]:
    """Containers (any state) labelled with a session id."""
    return list(
        client.containers.list(
            all=True, filters={"label": f"scopecraft.session={session_id}"}, ignore_removed=True
        )
    )


def non_root_owner(path: Path) -> tuple[int, int]:
    """Make ``path`` (recursively) owned by a non-root user and return its ``uid, gid``.

    As root, the tree is given to 1000:1000; otherwise it already belongs to the (non-root)
    user running the tests.
    """
    if os.geteuid() != 0:
        return os.getuid(), os.getgid()
    for root, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            os.lchown(Path(root) / name, 1000, 1000)
    os.chown(path, 1000, 1000)
    return 1000, 1000


class PrivateDockerd:
    """A Docker daemon of the test's own, so that it can be restarted mid-session.

    It listens on a socket in a temporary folder (short: a socket path is limited to about
    100 bytes), keeps its data and exec roots there, and runs without a bridge or iptables,
    like the shared one. It needs root and the ``dockerd`` binary.
    """

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="scd-", dir="/tmp"))
        self.socket = self.root / "docker.sock"
        self.base_url = f"unix://{self.socket}"
        self._proc: subprocess.Popen[bytes] | None = None
        (self.root / "daemon.json").write_text("{}")

    @staticmethod
    def problem() -> str | None:
        """Why a private daemon cannot run here, or ``None``."""
        if os.geteuid() != 0:
            return "a private dockerd needs root"
        if shutil.which("dockerd") is None:
            return "dockerd is not installed"
        return None

    def start(self, timeout: float = 60) -> None:
        """Start the daemon and wait until it answers.

        Raises:
            RuntimeError: it did not answer in time (its log is in the message).
        """
        log = open(self.root / "dockerd.log", "ab")  # noqa: SIM115 - closed with the process
        try:
            self._proc = subprocess.Popen(
                [
                    "dockerd",
                    "--host",
                    self.base_url,
                    "--data-root",
                    str(self.root / "data"),
                    "--exec-root",
                    str(self.root / "exec"),
                    "--pidfile",
                    str(self.root / "docker.pid"),
                    "--config-file",
                    str(self.root / "daemon.json"),
                    "--bridge=none",
                    "--iptables=false",
                    "--ip6tables=false",
                    "--log-level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                break
            if self._answers():
                return
            time.sleep(0.2)
        raise RuntimeError(
            "the private dockerd did not start:\n"
            + (self.root / "dockerd.log").read_text(errors="replace")[-3000:]
        )

    def _answers(self) -> bool:
        from scopecraft._errors import ExecutorUnavailable
        from scopecraft.executors._docker_config import probe_engine

        try:
            probe_engine(self.base_url)
        except ExecutorUnavailable:
            return False
        import docker
        import docker.errors
        import requests.exceptions

        try:
            with docker_client(self.base_url) as client:
                return bool(client.ping())
        except (docker.errors.DockerException, requests.exceptions.RequestException):
            return False

    def stop(self, timeout: float = 60) -> None:
        """Stop the daemon (SIGTERM: it stops its containers) and wait for it to exit."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)

    def restart(self) -> None:
        """Stop the daemon, then start it again on the same roots."""
        self.stop()
        self.start()

    def load_image(self, tag: str) -> None:
        """Copy an image from the shared engine into this one (docker save, then load)."""
        with docker_client() as shared, docker_client(self.base_url) as private:
            data = b"".join(shared.images.get(tag).save(named=True))
            private.images.load(data)

    def close(self) -> None:
        """Stop the daemon and delete its folder."""
        self.stop()
        for mount in _mounts_under(self.root):
            subprocess.run(["umount", "-l", mount], check=False, capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def _mounts_under(root: Path) -> list[str]:
    try:
        lines = Path("/proc/self/mounts").read_text().splitlines()
    except OSError:
        return []
    points = [line.split()[1] for line in lines if len(line.split()) > 1]
    return sorted((p for p in points if p.startswith(str(root))), reverse=True)


# -- the engine child of the SIGKILL test ---------------------------------------------------


def _child(repo: str, home: str, image: str, task: str, lines: int, config: str) -> None:
    """Open an engine, start a Docker session, print its id once ``lines`` agent messages are
    recorded, then wait to be killed."""
    import anyio

    from scopecraft import Engine

    async def main() -> None:
        async with Engine.open(repo, home=home, config=json.loads(config)) as engine:
            session = await engine.create_session(
                task, mode="autonomous", executor="docker", agent="fake", image=image
            )
            with anyio.fail_after(60):
                while True:
                    events = [e async for e in engine.events(session_id=session.id)]
                    if sum(e.type == "agent_message" for e in events) >= lines:
                        break
                    await anyio.sleep(0.02)
            print(session.id, flush=True)
            await anyio.sleep(600)

    anyio.run(main)


if __name__ == "__main__":  # pragma: no cover - run as the child process of a test
    if len(sys.argv) == 8 and sys.argv[1] == "child":
        repo, home, image, task, lines, config = sys.argv[2:8]
        _child(repo, home, image, task, int(lines), config)
    else:
        sys.exit("usage: docker_support.py child REPO HOME IMAGE TASK LINES CONFIG_JSON")


FAKE = (CONTAINER_PATH, "--print", "--output-format", "stream-json", "--verbose")
"""The fake agent's argv in its image, as the Claude Code adapter would call it."""


def make_spec(
    tmp_path: Path,
    image: str,
    *,
    stdin: bytes | None = b"fake: say hello\n",
    argv: tuple[str, ...] = FAKE,
    env: Mapping[str, str] | None = None,
    store: str = "store-a",
    session_id: str | None = None,
    attempt: int = 1,
    resources: Resources | None = None,
    read_only_workdir: bool = False,
    workdir: Path | None = None,
) -> LaunchSpec:
    """A launch spec with unique session id and folders under ``tmp_path``."""
    from scopecraft._models import SessionMode
    from scopecraft.executors import LaunchSpec, Resources

    session_id = session_id or f"ses-{uuid.uuid4().hex[:12]}"
    base = tmp_path / session_id
    work = workdir or base / "work"
    work.mkdir(parents=True, exist_ok=True)
    return LaunchSpec(
        session_id=session_id,
        attempt=attempt,
        runtime_name=f"scopecraft-{session_id}-{attempt}",
        mode=SessionMode.PLANNING if read_only_workdir else SessionMode.AUTONOMOUS,
        task_id="task-01A",
        argv=argv,
        stdin=stdin,
        env={"TASK_ID": "task-01A", "WORK_MODE": "autonomous", **(env or {})},
        workdir=work,
        state_dir=base / "state",
        run_dir=base / "run" / str(attempt),
        labels={
            **RUN_LABELS,
            "scopecraft.session": session_id,
            "scopecraft.attempt": str(attempt),
            "scopecraft.task": "task-01A",
            "scopecraft.mode": "autonomous",
            "scopecraft.host": "test-host",
            "scopecraft.store": store,
        },
        image=image,
        resources=resources or Resources(),
        read_only_workdir=read_only_workdir,
    )


async def wait_state(
    executor: DockerExecutor, handle: RuntimeHandle, within: float = 30
) -> RuntimeState:
    """Poll until the runtime is no longer running."""
    import anyio

    from scopecraft.executors import RuntimeStatus

    with anyio.fail_after(within):
        while True:
            state = await executor.state(handle)
            if state.status is not RuntimeStatus.RUNNING:
                return state
            await anyio.sleep(0.05)


async def collect(
    executor: DockerExecutor,
    handle: RuntimeHandle,
    cursor: dict[str, Any] | None = None,
    within: float = 30,
) -> tuple[list[tuple[LogStream, str]], dict[str, Any] | None, RuntimeState]:
    """Read output as the engine does, until the runtime ends and everything is read."""
    import anyio

    from scopecraft.executors import RuntimeStatus

    lines: list[tuple[LogStream, str]] = []
    with anyio.fail_after(within):
        while True:
            state = await executor.state(handle)
            final = state.status is not RuntimeStatus.RUNNING
            chunk = await executor.read_output(handle, cursor, final=final)
            lines.extend(chunk.lines)
            cursor = chunk.cursor
            if final and not chunk.lines:
                return lines, cursor, state
            if not chunk.lines:
                await anyio.sleep(0.05)
