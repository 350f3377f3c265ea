"""The ``Executor`` protocol: start, watch, message, stop and re-discover a session's runtime."""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import attrs

from .._errors import RequestRefused
from .._models import LogStream, SessionMode

__all__ = [
    "Executor",
    "ExecutorCapabilities",
    "LaunchSpec",
    "OutputChunk",
    "Resources",
    "RuntimeHandle",
    "RuntimeState",
    "RuntimeStatus",
]


@attrs.frozen
class Resources:
    """Limits for one runtime; ``None`` means the executor's default.

    Attributes:
        cpus: CPU cores (fractions allowed).
        memory_mb: Memory limit in MiB (no swap beyond it).
        pids: Maximum number of processes.
    """

    cpus: float | None = attrs.field(default=None, validator=lambda _, a, v: _check(a.name, v))
    memory_mb: int | None = attrs.field(
        default=None, validator=lambda _, a, v: _check(a.name, v, integer=True)
    )
    pids: int | None = attrs.field(
        default=None, validator=lambda _, a, v: _check(a.name, v, integer=True)
    )


def _check(name: str, value: object, *, integer: bool = False) -> None:
    """Refuse a limit that is not a positive finite number (``None`` is the default)."""
    if value is None:
        return
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise RequestRefused(f"resources: {name} must be {kind}, not {value!r}")
    if integer and not isinstance(value, int):
        raise RequestRefused(f"resources: {name} must be a whole number, not {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise RequestRefused(f"resources: {name} must be more than 0, not {value!r}")


@attrs.frozen
class ExecutorCapabilities:
    """What an executor can do; checked when a session is created, not mid-run.

    Attributes:
        detached: Runtimes outlive the engine process that started them.
        isolated: The agent runs in a sandbox (a container): ``dangerous`` is allowed.
        terminal: The agent runs in a terminal a person can attach to.
        can_send_input: ``send_input`` delivers text to a running agent.
        can_attach: ``attach_command`` returns a command to attach.
        can_limit_memory: ``Resources.memory_mb`` is enforced.
        can_limit_cpu: ``Resources.cpus`` is enforced.
    """

    detached: bool = True
    isolated: bool = False
    terminal: bool = False
    can_send_input: bool = False
    can_attach: bool = False
    can_limit_memory: bool = False
    can_limit_cpu: bool = False


@attrs.frozen
class LaunchSpec:
    """Everything an executor needs to start one attempt of a session.

    Attributes:
        session_id: The session.
        attempt: The attempt number, from 1.
        runtime_name: Deterministic name of the runtime (same session and attempt, same name),
            so a retried start adopts instead of duplicating.
        mode: The session's mode.
        task_id: The task, for labels.
        argv: The agent's command; never a shell string.
        stdin: Bytes to feed the agent's standard input, then close it; ``None`` for none.
        env: The agent's environment additions, secrets included: never log, label or put them
            in argv.
        workdir: The worktree on the host.
        state_dir: The per-session folder for the agent's own state on the host.
        run_dir: A per-attempt folder on the host the executor may spool output to.
        labels: Ownership labels (``scopecraft.session``, ``scopecraft.attempt``, ...).
        image: A container image, for container executors.
        resources: Limits.
        read_only_workdir: Mount the worktree read-only (planning, and the ``read-only``
            permission level), where the executor can.
    """

    session_id: str
    attempt: int
    runtime_name: str
    mode: SessionMode
    task_id: str
    argv: tuple[str, ...]
    workdir: Path
    state_dir: Path
    run_dir: Path
    stdin: bytes | None = None
    env: Mapping[str, str] = attrs.field(factory=dict, repr=False)
    labels: Mapping[str, str] = attrs.field(factory=dict)
    image: str | None = None
    resources: Resources = attrs.field(factory=Resources)
    read_only_workdir: bool = False


@attrs.frozen
class RuntimeHandle:
    """Enough to find a runtime again, from any process, after any restart.

    Attributes:
        session_id: The session.
        attempt: The attempt.
        runtime_name: The deterministic name.
        runtime_id: The backend's id (container id, ``pid:start-time``, tmux session id).
        run_dir: The attempt's spool folder on the host.
    """

    session_id: str
    attempt: int
    runtime_name: str
    runtime_id: str
    run_dir: Path


class RuntimeStatus(enum.StrEnum):
    """What an executor knows of a runtime."""

    RUNNING = "running"
    EXITED = "exited"
    MISSING = "missing"
    """Gone without a recorded exit (removed, or the machine restarted)."""
    UNKNOWN = "unknown"
    """The backend did not answer; check again later, never treat as dead."""


@attrs.frozen
class RuntimeState:
    """A runtime's status and, once exited, its exit code.

    Attributes:
        status: Running, exited, missing or unknown.
        exit_code: The exit code, once exited.
        detail: Why it ended, when worth saying.
        interrupted: It was ended from outside (a signal that was neither the agent's own
            nor out of memory: a daemon or host restart, ``docker stop``), an infrastructure
            failure that a retry may get past.
    """

    status: RuntimeStatus
    exit_code: int | None = None
    detail: str = ""
    interrupted: bool = False


@attrs.frozen
class OutputChunk:
    """Complete output lines read past a cursor, and the cursor after them.

    Attributes:
        lines: ``(stream, text)`` pairs in the order read, without newlines.
        cursor: The new cursor (an opaque JSON object the engine stores with the lines).
    """

    lines: Sequence[tuple[LogStream, str]]
    cursor: dict[str, Any]


@runtime_checkable
class Executor(Protocol):
    """Runs agents: starts a runtime per attempt, reads its output by cursor, stops it, and
    finds it again after a restart.

    Implementations must pass `scopecraft.testing.contracts.executors.ExecutorContract()`.
    Subclass `Executor` to inherit the defaults of its optional members (`preflight()`).
    """

    @property
    def name(self) -> str:
        """The entry-point name (``local``, ``docker``, ``tmux``)."""
        ...

    @property
    def capabilities(self) -> ExecutorCapabilities:
        """What this executor can do."""
        ...

    def agent_workdir(self, spec_workdir: Path) -> str:
        """The worktree's path as the agent sees it (``/workspace`` in a container)."""
        ...

    def agent_state_dir(self, state_dir: Path) -> str:
        """The state folder's path as the agent sees it."""
        ...

    async def start(self, spec: LaunchSpec) -> RuntimeHandle:
        """Start the runtime, or adopt the one already running under ``spec.runtime_name``.

        Raises:
            ExecutorUnavailable: the backend cannot be reached.
            ExecutorError: the runtime could not be started.
        """
        ...

    async def state(self, handle: RuntimeHandle) -> RuntimeState:
        """Return the runtime's status; ``UNKNOWN`` when the backend does not answer."""
        ...

    async def read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, *, final: bool = False
    ) -> OutputChunk:
        """Return complete lines past ``cursor``; with ``final``, also a last unterminated line.

        Raises:
            RuntimeNotFound: the runtime's output is gone.
        """
        ...

    async def send_input(self, handle: RuntimeHandle, text: str) -> None:
        """Deliver a line of text to the running agent.

        Raises:
            CapabilityMissing: the executor cannot send input.
            RuntimeNotFound: the runtime is gone.
        """
        ...

    async def stop(self, handle: RuntimeHandle, *, grace: float = 10.0) -> int | None:
        """Stop the runtime: ask it to end, wait ``grace`` seconds, then kill it.

        Returns:
            The exit code when known.
        """
        ...

    async def remove(self, handle: RuntimeHandle) -> None:
        """Remove what is left of an ended runtime (container, spool files); idempotent."""
        ...

    async def discover(self, store_id: str) -> list[RuntimeHandle]:
        """Return the runtimes labelled as owned by the store ``store_id``."""
        ...

    def attach_command(self, handle: RuntimeHandle) -> list[str]:
        """Return the argv a person runs to attach to the runtime.

        Raises:
            CapabilityMissing: the executor has no terminal to attach to.
        """
        ...

    async def aclose(self) -> None:
        """Release clients and connections; runtimes keep running."""
        ...

    # -- optional: an executor that subclasses Executor inherits this default --------------

    async def preflight(self, *, image: str | None) -> str | None:
        """Why a session on this executor could not start now (no image), checked before it
        is queued; ``None`` when nothing is known to be wrong (the default).

        Raises:
            ExecutorUnavailable: The backend (an engine, a server) does not answer; the engine
                refuses the session with `ExecutorUnreachable`.
        """
        return None
