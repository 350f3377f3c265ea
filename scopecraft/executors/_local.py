"""``LocalExecutor``: the agent as a plain subprocess in the worktree, detached from the engine.

Each attempt runs under a small supervisor (`scopecraft.executors._local_runner`) in its
own session and process group, writing output and exit code to files in the attempt's run
folder. Cancel signals the whole group. Nothing is isolated: ``dangerous`` sessions are refused
here unless ``SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST=1``.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread

from .._errors import CapabilityMissing, ConfigError, ExecutorError
from .._models import LogStream
from ._protocol import (
    Executor,
    ExecutorCapabilities,
    LaunchSpec,
    OutputChunk,
    RuntimeHandle,
    RuntimeState,
    RuntimeStatus,
)

__all__ = ["LocalExecutor"]

log = logging.getLogger("scopecraft.executors.local")

_STREAMS: tuple[LogStream, ...] = ("stdout", "stderr")
_RUNNER = Path(__file__).with_name("_local_runner.py")
START_LOCK, ABANDONED = "start.lock", "abandoned"  # as the runner names them
_READ_LIMIT = 4 * 1024 * 1024


class LocalExecutor(Executor):
    """Runs the agent as a local process group, detached so it outlives the engine.

    Args:
        python: The Python interpreter that runs the supervisor (default: this one).
        start_timeout: Seconds to wait for the supervisor to record itself; then the start
            fails, and the supervisor, should it come later, ends without running the agent.
    """

    name = "local"
    capabilities = ExecutorCapabilities(detached=True)

    def __init__(self, *, python: str | None = None, start_timeout: float = 60.0) -> None:
        if not start_timeout > 0:
            raise ConfigError(f"start_timeout must be more than 0 seconds, not {start_timeout}")
        self._python = python or sys.executable
        self._start_timeout = start_timeout
        self._limiter = anyio.CapacityLimiter(8)

    def agent_workdir(self, spec_workdir: Path) -> str:
        """The agent sees the worktree where it is."""
        return str(spec_workdir)

    def agent_state_dir(self, state_dir: Path) -> str:
        """The agent sees the state folder where it is."""
        return str(state_dir)

    async def start(self, spec: LaunchSpec) -> RuntimeHandle:
        """Start the supervisor and the agent, or adopt the attempt already started.

        Raises:
            ExecutorError: the supervisor could not be started.
        """
        return await anyio.to_thread.run_sync(self._start, spec, limiter=self._limiter)

    def _start(self, spec: LaunchSpec) -> RuntimeHandle:
        run_dir = spec.run_dir
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        existing = self._read_runtime_id(run_dir)
        if existing is not None:
            log.info("adopting local runtime %s of %s", existing, spec.session_id)
            return self._handle(spec.session_id, spec.attempt, spec.runtime_name, existing, run_dir)
        if spec.stdin is not None:
            stdin_path = run_dir / "stdin"
            fd = os.open(stdin_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as fh:
                fh.write(spec.stdin)
        # Only what the engine chose for the agent (its adapter's variables, the forwarded
        # ones, the basics of a login), never the engine's whole environment; the runner is
        # a Python of this installation, which may need the engine's import path.
        env = dict(spec.env)
        if "PYTHONPATH" in os.environ and "PYTHONPATH" not in env:
            env["PYTHONPATH"] = os.environ["PYTHONPATH"]
        token = secrets.token_hex(8)
        # By path, without its folder on the import path (-P): it imports no package.
        argv = [
            self._python,
            "-P",
            str(_RUNNER),
            str(run_dir),
            str(spec.workdir),
            token,
            "--",
            *spec.argv,
        ]
        (run_dir / "labels.json").write_text(json.dumps(dict(spec.labels)))
        try:
            # The runner forks and its parent exits at once: nothing is left for us to reap.
            result = subprocess.run(
                argv,
                cwd=spec.workdir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,  # a pipe would stay open in the detached runner
                start_new_session=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ExecutorError(f"cannot start the local runner: {exc}") from exc
        if result.returncode != 0:
            raise ExecutorError(f"the local runner failed to start (exit code {result.returncode})")
        deadline = time.monotonic() + self._start_timeout
        while (runtime_id := self._read_runtime_id(run_dir)) is None:
            if time.monotonic() > deadline:
                runtime_id = self._give_up(run_dir, token)
                if runtime_id is not None:
                    break  # it recorded itself at the last moment: it runs, and is ours
                raise ExecutorError(
                    f"the local runner did not record itself in {run_dir} within "
                    f"{self._start_timeout:g} s (an overloaded host?); it will not run the agent"
                )
            time.sleep(0.005)  # in a worker thread: the runner writes this within milliseconds
        return self._handle(spec.session_id, spec.attempt, spec.runtime_name, runtime_id, run_dir)

    def _give_up(self, run_dir: Path, token: str) -> str | None:
        """Give up on the start named ``token``, under the runner's start lock: the runtime
        id when the runner recorded itself meanwhile, else ``None`` (and that runner, when it
        comes, ends without running the agent)."""
        import fcntl

        with open(run_dir / START_LOCK, "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            runtime_id = self._read_runtime_id(run_dir)
            if runtime_id is None:
                with open(run_dir / ABANDONED, "a", encoding="ascii") as fh:
                    fh.write(token + "\n")
            return runtime_id

    @staticmethod
    def _handle(
        session_id: str, attempt: int, name: str, runtime_id: str, run_dir: Path
    ) -> RuntimeHandle:
        return RuntimeHandle(
            session_id=session_id,
            attempt=attempt,
            runtime_name=name,
            runtime_id=runtime_id,
            run_dir=run_dir,
        )

    @staticmethod
    def _read_runtime_id(run_dir: Path) -> str | None:
        try:
            data = json.loads((run_dir / "runtime.json").read_text())
        except (OSError, ValueError):
            return None
        value = data.get("runtime_id")
        return value if isinstance(value, str) else None

    async def state(self, handle: RuntimeHandle) -> RuntimeState:
        """Exited when ``exit.json`` exists, running while the supervisor lives, else missing."""
        return await anyio.to_thread.run_sync(self._state, handle, limiter=self._limiter)

    def _state(self, handle: RuntimeHandle) -> RuntimeState:
        exit_file = handle.run_dir / "exit.json"
        if exit_file.exists():
            try:
                code = json.loads(exit_file.read_text()).get("exit_code")
            except (OSError, ValueError):
                code = None
            return RuntimeState(RuntimeStatus.EXITED, code if isinstance(code, int) else None)
        if _alive(handle.runtime_id):
            return RuntimeState(RuntimeStatus.RUNNING)
        # The supervisor may have written exit.json between the two checks.
        if exit_file.exists():
            return self._state(handle)
        return RuntimeState(
            RuntimeStatus.MISSING, detail="the local process ended without a record"
        )

    async def read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, *, final: bool = False
    ) -> OutputChunk:
        """Read complete lines of ``stdout.log`` and ``stderr.log`` past the byte offsets."""
        return await anyio.to_thread.run_sync(
            self._read_output, handle, cursor, final, limiter=self._limiter
        )

    def _read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, final: bool
    ) -> OutputChunk:
        new_cursor: dict[str, Any] = dict(cursor or {})
        lines: list[tuple[LogStream, str]] = []
        for stream in _STREAMS:
            offset = int(new_cursor.get(stream, 0))
            path = handle.run_dir / f"{stream}.log"
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    data = fh.read(_READ_LIMIT)
            except FileNotFoundError:
                continue
            if not data:
                continue
            if final and len(data) < _READ_LIMIT:
                chunk = data  # the process is gone: a last unterminated line counts too
            else:
                end = data.rfind(b"\n")
                if end < 0:
                    if len(data) < _READ_LIMIT:
                        continue  # wait for the rest of the line
                    end = len(data) - 1  # one huge line: cut it rather than stall
                chunk = data[: end + 1]
            offset += len(chunk)
            parts = chunk.decode("utf-8", errors="replace").split("\n")
            if parts[-1] == "":
                parts.pop()
            lines.extend((stream, part.rstrip("\r")) for part in parts)
            new_cursor[stream] = offset
        return OutputChunk(lines=lines, cursor=new_cursor)

    async def send_input(self, handle: RuntimeHandle, text: str) -> None:
        """Not supported: a local agent's input is its prompt.

        Raises:
            CapabilityMissing: always.
        """
        raise CapabilityMissing(
            "the local executor cannot send input to a running agent; "
            "the feedback is delivered as the next attempt's prompt"
        )

    async def stop(self, handle: RuntimeHandle, *, grace: float = 10.0) -> int | None:
        """Send SIGTERM to the process group, wait ``grace`` seconds, then SIGKILL it."""
        pgid = _pid_of(handle.runtime_id)
        if pgid is None or not _alive(handle.runtime_id):
            state = await self.state(handle)
            return state.exit_code
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGTERM)
        with anyio.move_on_after(grace):
            while True:
                state = await self.state(handle)
                if state.status is not RuntimeStatus.RUNNING:
                    return state.exit_code
                await anyio.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        await anyio.sleep(0.05)
        state = await self.state(handle)
        return state.exit_code

    async def remove(self, handle: RuntimeHandle) -> None:
        """Delete the attempt's spool folder (output is already collected).

        The supervisor writes the exit record just before it ends: give it a moment to end,
        so that nothing of the runtime is left once this returns.
        """
        with anyio.move_on_after(5):
            while _alive(handle.runtime_id):  # noqa: ASYNC110 - a process exit has no event here
                await anyio.sleep(0.02)
        await anyio.to_thread.run_sync(
            lambda: shutil.rmtree(handle.run_dir, ignore_errors=True), limiter=self._limiter
        )

    async def discover(self, store_id: str) -> list[RuntimeHandle]:
        """Local runtimes are found from the store's records, not from the system."""
        return []

    def attach_command(self, handle: RuntimeHandle) -> list[str]:
        """Not supported.

        Raises:
            CapabilityMissing: always; run the session with the tmux executor to attach.
        """
        raise CapabilityMissing("local sessions have no terminal; use the tmux executor")

    async def aclose(self) -> None:
        """Nothing to release: runtimes are detached."""


def _pid_of(runtime_id: str) -> int | None:
    try:
        return int(runtime_id.split(":", 1)[0])
    except ValueError:
        return None


def _alive(runtime_id: str) -> bool:
    import psutil

    pid = _pid_of(runtime_id)
    if pid is None:
        return False
    expected = runtime_id.split(":", 1)[1] if ":" in runtime_id else None
    try:
        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return expected is None or f"{proc.create_time():.2f}" == expected
    except psutil.Error:
        return False
