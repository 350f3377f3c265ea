"""``EchoExecutor``: an example scopecraft executor plugin.

It runs the agent as a local process group under a tiny supervisor script
(`scopecraft_echo_executor._supervise`), detached from the engine so that the session
outlives it. The supervisor writes a banner line to the log before the agent's own output,
the output to two files, and the exit code to ``exit.json``; everything the engine needs to
find the runtime again lives in the attempt's run folder. Nothing is isolated, so
``dangerous`` sessions are refused on it (unless ``SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST=1``).

Register it in ``pyproject.toml``::

    [project.entry-points."scopecraft.executors"]
    echo = "scopecraft_echo_executor:EchoExecutor"
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Literal

import anyio
import anyio.to_thread

from scopecraft import CapabilityMissing, ExecutorError
from scopecraft.executors import (
    Executor,
    ExecutorCapabilities,
    LaunchSpec,
    OutputChunk,
    RuntimeHandle,
    RuntimeState,
    RuntimeStatus,
)

__all__ = ["EchoExecutor"]

_SUPERVISOR = Path(__file__).with_name("_supervise.py")
Stream = Literal["stdout", "stderr"]
_STREAMS: tuple[Stream, ...] = ("stdout", "stderr")


class EchoExecutor(Executor):
    """Runs the agent as a detached local process and puts a banner line in its log.

    Args:
        banner: The word that starts the banner line (``echo-executor: running ...``).
    """

    name = "echo"
    capabilities = ExecutorCapabilities(detached=True)

    def __init__(self, *, banner: str = "echo-executor") -> None:
        self.banner = banner

    def agent_workdir(self, spec_workdir: Path) -> str:
        """The agent sees the worktree where it is."""
        return str(spec_workdir)

    def agent_state_dir(self, state_dir: Path) -> str:
        """The agent sees its state folder where it is."""
        return str(state_dir)

    async def start(self, spec: LaunchSpec) -> RuntimeHandle:
        """Start the supervisor and the agent, or adopt the attempt already started.

        Raises:
            ExecutorError: the supervisor could not be started.
        """
        return await anyio.to_thread.run_sync(self._start, spec)

    def _start(self, spec: LaunchSpec) -> RuntimeHandle:
        run_dir = spec.run_dir
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        pid_file = run_dir / "echo.pid"
        if pid_file.exists():  # a retried start adopts the runtime the first one started
            return self._handle(spec, pid_file.read_text().strip())
        if spec.stdin is not None:
            (run_dir / "stdin").write_bytes(spec.stdin)
        argv = [sys.executable, str(_SUPERVISOR), "--detach", str(run_dir), str(spec.workdir)]
        argv += [self.banner, "--", *spec.argv]
        try:
            # The supervisor forks into its own session and its first process exits at
            # once, so nothing is left for this process to reap when the engine goes away.
            subprocess.run(
                argv,
                cwd=spec.workdir,
                env={**os.environ, **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=True,
                timeout=30,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise ExecutorError(f"cannot start the echo supervisor: {exc}") from exc
        deadline = time.monotonic() + 10
        while not pid_file.exists():
            if time.monotonic() > deadline:
                raise ExecutorError(f"the echo supervisor did not record itself in {run_dir}")
            time.sleep(0.005)  # in a worker thread; the supervisor writes it at once
        return self._handle(spec, pid_file.read_text().strip())

    @staticmethod
    def _handle(spec: LaunchSpec, runtime_id: str) -> RuntimeHandle:
        return RuntimeHandle(
            session_id=spec.session_id,
            attempt=spec.attempt,
            runtime_name=spec.runtime_name,
            runtime_id=runtime_id,
            run_dir=spec.run_dir,
        )

    async def state(self, handle: RuntimeHandle) -> RuntimeState:
        """Exited once ``exit.json`` exists, running while the supervisor lives, else missing."""
        return await anyio.to_thread.run_sync(self._state, handle)

    def _state(self, handle: RuntimeHandle) -> RuntimeState:
        exit_file = handle.run_dir / "exit.json"
        if exit_file.exists():
            code = json.loads(exit_file.read_text()).get("exit_code")
            return RuntimeState(RuntimeStatus.EXITED, code if isinstance(code, int) else None)
        if _alive(int(handle.runtime_id)):
            return RuntimeState(RuntimeStatus.RUNNING)
        if exit_file.exists():  # written between the two checks
            return self._state(handle)
        return RuntimeState(RuntimeStatus.MISSING, detail="the supervisor ended without a record")

    async def read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, *, final: bool = False
    ) -> OutputChunk:
        """Complete lines of ``stdout.log`` and ``stderr.log`` past the cursor's byte offsets."""
        return await anyio.to_thread.run_sync(self._read_output, handle, cursor, final)

    def _read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, final: bool
    ) -> OutputChunk:
        new_cursor: dict[str, Any] = dict(cursor or {})
        lines: list[tuple[Stream, str]] = []
        for stream in _STREAMS:
            offset = int(new_cursor.get(stream, 0))
            try:
                with open(handle.run_dir / f"{stream}.log", "rb") as fh:
                    fh.seek(offset)
                    data = fh.read()
            except FileNotFoundError:
                continue
            if not final:
                data = data[: data.rfind(b"\n") + 1]  # only complete lines while it runs
            if not data:
                continue
            new_cursor[stream] = offset + len(data)
            text = data.decode("utf-8", errors="replace")
            lines.extend((stream, line) for line in text.splitlines())
        return OutputChunk(lines=lines, cursor=new_cursor)

    async def send_input(self, handle: RuntimeHandle, text: str) -> None:
        """Not supported: the agent's input is its prompt.

        Raises:
            CapabilityMissing: always.
        """
        raise CapabilityMissing("the echo executor cannot send input to a running agent")

    async def stop(self, handle: RuntimeHandle, *, grace: float = 10.0) -> int | None:
        """SIGTERM the process group, wait up to ``grace`` seconds, then SIGKILL it."""
        pgid = int(handle.runtime_id)
        if not _alive(pgid):
            return (await self.state(handle)).exit_code
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
        return (await self.state(handle)).exit_code

    async def remove(self, handle: RuntimeHandle) -> None:
        """Delete the attempt's run folder (the engine has collected its output)."""
        with anyio.move_on_after(5):  # the supervisor ends right after writing exit.json
            while True:
                if not _alive(int(handle.runtime_id)):
                    break
                await anyio.sleep(0.02)
        await anyio.to_thread.run_sync(lambda: shutil.rmtree(handle.run_dir, ignore_errors=True))

    async def discover(self, store_id: str) -> list[RuntimeHandle]:
        """Runtimes are found again from the store's records, not from the system."""
        return []

    def attach_command(self, handle: RuntimeHandle) -> list[str]:
        """Not supported.

        Raises:
            CapabilityMissing: always; there is no terminal to attach to.
        """
        raise CapabilityMissing("echo sessions have no terminal; use the tmux executor")

    async def aclose(self) -> None:
        """Nothing to release: runtimes keep running."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie is not alive; /proc says so on Linux (elsewhere, trust the signal).
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"
