"""``TmuxExecutor``: interactive and dispatch sessions, each agent in its own tmux session.

One tmux session per attempt, named by the engine's deterministic runtime name
(``scopecraft-<session id>-<attempt>``), on a server of scopecraft's own (``tmux -L
scopecraft`` by default), so a person can attach to any agent and type to it, while the engine
collects its output and outcome:

* **start**: one tmux command list creates the session, keeps its pane after the agent exits
  (``remain-on-exit``), labels it with user options (``@scopecraft.session``, ...), and pipes
  the pane's output to ``pane.log`` in the run folder; it is sent through one persistent
  control-mode client (`scopecraft.executors._tmux_control`), so a start costs no
  process of its own. The pane runs a constant ``sh`` script
  that reads the agent's argv, environment and working directory from a private file
  (``launch-*.sh``, mode 0600, every value a single-quoted literal) and deletes it before
  ``exec``-ing the agent: nothing of the agent's command or secrets is in tmux's argv, and
  tmux, which limits a command to 16 KiB, never sees the (possibly long) prompt argument.
* **status** comes from structured signals, never from the screen: the pane's death and exit
  status (``#{pane_dead_status}``, or 128 plus ``#{pane_dead_signal}``), the agent's hooks
  (`scopecraft._terminal_hooks`), and the adapter's parser over the output.
* **input** is typed as literal keys (``send-keys -l``) with control characters removed, a
  line at a time, each followed by Enter.
* **targets** are always exact: ``=name`` for sessions and ``%id`` for panes, and a session
  is acted on only when its ownership options match the handle (``sess1`` never hits
  ``sess10``, and a stranger's session of the same name is never touched).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread

from .._errors import ConfigError, ExecutorError, InvalidName, RuntimeNotFound
from .._terminal_hooks import HOOKS_FILE, read_hook_signals
from ._protocol import (
    Executor,
    ExecutorCapabilities,
    LaunchSpec,
    OutputChunk,
    RuntimeHandle,
    RuntimeState,
    RuntimeStatus,
)
from ._tmux_client import (
    AGENT_PANE_OPTION,
    RUN_DIR_OPTION,
    ControlClientEnded,
    PaneInfo,
    ServerMissing,
    TargetMissing,
    TmuxClient,
    TmuxCommandError,
    format_literal,
)
from ._tmux_config import (
    TmuxExecutorConfig,
    split_input,
    validate_label,
    validate_runtime_name,
)
from ._tmux_control import ControlClient
from ._tmux_launch import LAUNCHER, LAUNCHER_NAME, pipe_command, resolve_shell, write_launch
from ._tmux_output import PANE_LOG, read_pane_output

__all__ = ["TmuxExecutor"]

log = logging.getLogger("scopecraft.executors.tmux")

T = TypeVar("T")

_PANE_FORMAT = "#{session_id}\x1f#{pane_id}"
_STOP_POLL = 0.05
_KILL_WAIT = 3.0
_SETTLE_LIMIT = 2.0
_STATUS_WAIT = 2.0
_SEND_CHUNK = 1000  # characters per send-keys argument
_SEND_BATCH = 6000  # bytes of text per tmux call (tmux refuses commands over 16 KiB)
_ENTER_PAUSE = 0.2  # seconds between a line's keys and its Enter


class TmuxExecutor(Executor):
    """Runs each attempt's agent in its own tmux session on a server of scopecraft's own.

    Args:
        config: A ready configuration; or give its fields as keywords instead.
        **options: Fields of `TmuxExecutorConfig`
            (``socket_name``, ``socket_path``, ``tmux``, ``width``, ``height``, ...).

    Raises:
        ConfigError: an unknown option or a bad value.
    """

    name = "tmux"
    capabilities = ExecutorCapabilities(
        detached=True, terminal=True, can_send_input=True, can_attach=True
    )

    def __init__(self, *, config: TmuxExecutorConfig | None = None, **options: Any) -> None:
        if config is None:
            try:
                config = TmuxExecutorConfig(**options)
            except ValueError as exc:
                raise ConfigError(f"invalid tmux executor configuration: {exc}") from exc
        elif options:
            raise ConfigError("give the tmux executor either config= or options, not both")
        self.config = config
        self._client = TmuxClient(config)
        self._control = ControlClient(config)
        if config.control_mode:
            self._client.control = self._control
        self._shell: str | None = None  # resolved in a worker thread at the first start
        self._limiter = anyio.CapacityLimiter(config.max_threads)
        self._watch_limiter = anyio.CapacityLimiter(config.max_threads)
        self._settled: set[tuple[str, str]] = set()
        self._hook_details: dict[Path, tuple[int, str]] = {}

    # -- paths -------------------------------------------------------------------------------

    def agent_workdir(self, spec_workdir: Path) -> str:
        """The agent sees the worktree where it is."""
        return str(spec_workdir)

    def agent_state_dir(self, state_dir: Path) -> str:
        """The agent sees the state folder where it is."""
        return str(state_dir)

    # -- start -------------------------------------------------------------------------------

    async def start(self, spec: LaunchSpec) -> RuntimeHandle:
        """Start the agent in a new tmux session, or adopt the session of this attempt.

        Raises:
            InvalidName: a bad runtime name, label or environment variable name.
            ExecutorUnavailable: tmux cannot be run or does not answer.
            ExecutorError: the session could not be started, or a session of that name
                exists that is not this attempt's.
        """
        return await self._run(self._start, spec)

    def _start(self, spec: LaunchSpec) -> RuntimeHandle:
        name = validate_runtime_name(spec.runtime_name)
        if spec.read_only_workdir:
            log.info(
                "tmux cannot mount %s read-only: the agent's own permissions keep it from "
                "writing there",
                spec.workdir,
            )
        run_dir = _checked_path(spec.run_dir, "run folder")
        workdir = _checked_path(spec.workdir, "working directory")
        if not workdir.is_dir():
            raise ExecutorError(f"the working directory {workdir} does not exist")
        options = self._ownership(spec, run_dir)
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        log_path = run_dir / PANE_LOG
        os.close(os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        if self._shell is None:
            self._shell = resolve_shell(self.config.shell)
        launch = write_launch(spec, run_dir, workdir, echo_input=self.config.echo_input)
        target = f"={name}:"
        commands: list[list[str]] = [
            [
                "new-session",
                "-d",
                "-P",
                "-F",
                _PANE_FORMAT,
                "-s",
                name,
                "-c",
                format_literal(str(workdir)),
                "-x",
                str(self.config.width),
                "-y",
                str(self.config.height),
                "--",
                self._shell,
                "-c",
                LAUNCHER,
                LAUNCHER_NAME,
                str(launch),
            ],
            ["set-option", "-w", "-t", target, "remain-on-exit", "on"],
        ]
        commands += [["set-option", "-t", target, key, value] for key, value in options]
        commands += [
            ["set-option", "-F", "-t", target, AGENT_PANE_OPTION, "#{pane_id}"],
            ["pipe-pane", "-o", "-t", target, pipe_command(log_path)],
        ]
        what = f"new-session {name}"
        try:
            if self.config.control_mode:
                out = self._start_through_control(spec, name, run_dir, commands, what)
                if isinstance(out, RuntimeHandle):
                    return out
            else:
                out = self._client.run(commands, what=what, start_server=True, cwd=str(workdir))
        except TmuxCommandError as exc:
            with contextlib.suppress(OSError):
                launch.unlink()
            if "duplicate session" in exc.stderr:
                return self._adopt(spec, name, run_dir)
            if exc.stdout.strip():
                # The session was created, then a later command failed: do not leave it.
                with contextlib.suppress(ExecutorError):
                    self._client.run([["kill-session", "-t", f"={name}"]], what="kill-session")
            raise ExecutorError(f"cannot start tmux session {name}: {exc.stderr}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                launch.unlink()
            raise
        finally:
            self._client.invalidate()
        ids = out.strip().split("\x1f")
        runtime_id = ":".join(ids) if len(ids) == 2 else out.strip()
        log.info("started tmux session %s (%s) for %s", name, runtime_id, spec.session_id)
        return RuntimeHandle(
            session_id=spec.session_id,
            attempt=spec.attempt,
            runtime_name=name,
            runtime_id=runtime_id,
            run_dir=spec.run_dir,
        )

    def _start_through_control(
        self, spec: LaunchSpec, name: str, run_dir: Path, commands: list[list[str]], what: str
    ) -> str | RuntimeHandle:
        """Send the start's command list through the control client.

        When the client ends after the list was sent, tmux may or may not have run it: the
        session is looked up, and adopted when it is this attempt's (its launcher reads and
        deletes the launch file itself, so the file is kept); otherwise the list is sent once
        more, on a new client.
        """
        assert self._shell is not None
        try:
            return self._control.run(commands, what=what, shell=self._shell)
        except ControlClientEnded as exc:
            if not exc.sent:
                raise
            log.warning("the tmux control client ended while %s was sent; checking", name)
        self._client.invalidate()
        _, panes = self._client.find(name)
        if _agent_pane(panes, spec.session_id, spec.attempt) is not None:
            return self._adopt(spec, name, run_dir)
        return self._control.run(commands, what=what, shell=self._shell)

    def _ownership(self, spec: LaunchSpec, run_dir: Path) -> list[tuple[str, str]]:
        labels = dict(spec.labels)
        labels["scopecraft.session"] = spec.session_id
        labels["scopecraft.attempt"] = str(spec.attempt)
        labels["scopecraft.executor"] = self.name
        labels[RUN_DIR_OPTION.removeprefix("@")] = str(run_dir)
        return [validate_label(key, value) for key, value in sorted(labels.items())]

    def _adopt(self, spec: LaunchSpec, name: str, run_dir: Path) -> RuntimeHandle:
        _, panes = self._client.find(name)
        pane = _agent_pane(panes, spec.session_id, spec.attempt)
        if pane is None:
            raise ExecutorError(
                f"a tmux session named {name} exists on {self._server_text()} and is not "
                f"session {spec.session_id} attempt {spec.attempt}; scopecraft never renames "
                f"around a clash: end that session (tmux {' '.join(self.config.server_args())} "
                f"kill-session -t ={name}) and retry"
            )
        log.info("adopting tmux session %s of %s", name, spec.session_id)
        return RuntimeHandle(
            session_id=spec.session_id,
            attempt=spec.attempt,
            runtime_name=name,
            runtime_id=f"{pane.session_id}:{pane.pane_id}",
            run_dir=spec.run_dir,
        )

    # -- status and output -------------------------------------------------------------------

    async def state(self, handle: RuntimeHandle) -> RuntimeState:
        """Running while the agent's pane lives, exited (with its code) once it is dead,
        missing when the tmux session or its server is gone, unknown when tmux fails."""
        return await self._run(self._state, handle, watch=True)

    def _state(self, handle: RuntimeHandle) -> RuntimeState:
        try:
            pane, server = self._locate(handle, max_age=self.config.snapshot_ttl)
            if pane is None:
                # Never declare a runtime gone from a reused listing: look again.
                pane, server = self._locate(handle, max_age=0.0)
        except ExecutorError as exc:
            return RuntimeState(RuntimeStatus.UNKNOWN, detail=str(exc))
        if pane is None:
            detail = (
                f"the tmux session {handle.runtime_name} is gone"
                if server
                else f"no tmux server runs on {self._server_text()}"
            )
            return RuntimeState(RuntimeStatus.MISSING, detail=detail)
        if pane.dead:
            pane = self._await_status(handle, pane)
            self._settle(handle, pane)
            return RuntimeState(
                RuntimeStatus.EXITED, pane.exit_code, detail=self._hook_detail(handle.run_dir)
            )
        if not pane.piped:
            self._repipe(handle, pane)
        return RuntimeState(RuntimeStatus.RUNNING, detail=self._hook_detail(handle.run_dir))

    def _repipe(self, handle: RuntimeHandle, pane: PaneInfo) -> None:
        """Open the pane's pipe again when it was closed (by a person, or a failed ``sh``)."""
        log_path = handle.run_dir / PANE_LOG
        if not handle.run_dir.is_dir():
            return
        try:
            self._client.run(
                [["pipe-pane", "-o", "-t", pane.pane_id, pipe_command(log_path)]],
                what=f"pipe-pane of {handle.runtime_name}",
            )
        except ExecutorError as exc:
            log.warning("cannot pipe the output of %s again: %s", handle.runtime_name, exc)
        else:
            log.warning("the output pipe of %s was closed; opened it again", handle.runtime_name)
        finally:
            self._client.invalidate()

    def _locate(self, handle: RuntimeHandle, *, max_age: float) -> tuple[PaneInfo | None, bool]:
        try:
            name = validate_runtime_name(handle.runtime_name)
        except InvalidName:
            return None, True
        server, panes = self._client.find(name, max_age=max_age)
        return _agent_pane(panes, handle.session_id, handle.attempt), server

    def _await_status(self, handle: RuntimeHandle, pane: PaneInfo) -> PaneInfo:
        """Wait (bounded) for the exit status of a pane that is already dead.

        A pane is dead as soon as its terminal closes; tmux records the status when it reaps
        the process. tmux built with libutempter can miss that SIGCHLD (utempter swaps in its
        own handler while the dead pane's record is removed: tmux issue #311), leaving the
        agent a zombie and the status empty for good. A SIGCHLD sent to the server makes it
        reap its children again, which is all that handler does.
        """
        deadline = time.monotonic() + _STATUS_WAIT
        nudged = False
        while pane.exit_code is None and time.monotonic() < deadline:
            time.sleep(_STOP_POLL / 2)
            if not nudged and pane.server_pid is not None:
                nudged = True
                with contextlib.suppress(OSError):
                    os.kill(pane.server_pid, signal.SIGCHLD)
            try:
                found, _ = self._locate(handle, max_age=0.0)
            except ExecutorError:
                break
            if found is None:
                break
            pane = found
        return pane

    def _settle(self, handle: RuntimeHandle, pane: PaneInfo) -> None:
        """Wait until the piped log stops growing (tmux drains the pane before it is dead;
        the ``cat`` at the pipe's end may still be writing)."""
        key = (handle.runtime_name, pane.pane_id)
        if key in self._settled:
            return
        path = handle.run_dir / PANE_LOG
        deadline = time.monotonic() + _SETTLE_LIMIT
        last = _size(path)
        while time.monotonic() < deadline:
            time.sleep(self.config.settle)
            size = _size(path)
            if size == last:
                break
            last = size
        self._settled.add(key)

    def _hook_detail(self, run_dir: Path) -> str:
        path = run_dir / HOOKS_FILE
        size = _size(path)
        if size <= 0:
            return ""
        memo = self._hook_details.get(run_dir)
        if memo is not None and memo[0] == size:
            return memo[1]
        signals, _ = read_hook_signals(path, 0)
        detail = signals[-1].describe() if signals else ""
        self._hook_details[run_dir] = (size, detail)
        return detail

    async def read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, *, final: bool = False
    ) -> OutputChunk:
        """Read complete lines of the pane's log (escapes removed) and hook signals past the
        byte offsets in ``cursor``; with ``final``, also a last unterminated line."""
        lines, new_cursor = await self._run(
            read_pane_output, handle.run_dir, cursor, final, watch=True
        )
        return OutputChunk(lines=lines, cursor=new_cursor)

    # -- input, attach, capture --------------------------------------------------------------

    async def send_input(self, handle: RuntimeHandle, text: str) -> None:
        """Type ``text`` into the agent's pane: each line as literal keys, then Enter
        (0.2 s later, so a TUI that detects pastes by timing takes it as Enter).

        Control characters (escape sequences, ``C-c``, ...) are removed; each line of a
        multi-line text becomes its own line followed by Enter; blank lines are dropped.
        The lines of one call are never interleaved with another call's.

        Raises:
            RuntimeNotFound: the agent's pane is gone or its agent has ended.
            ExecutorUnavailable: tmux cannot be run.
        """
        await self._run(self._send_input, handle, text)

    def _send_input(self, handle: RuntimeHandle, text: str) -> None:
        lines = split_input(text)
        pane, _ = self._locate(handle, max_age=0.0)
        if pane is None or pane.dead:
            raise RuntimeNotFound(
                f"the agent of session {handle.session_id} is not running in tmux "
                f"({handle.runtime_name}); continue the session to start a new attempt"
            )
        if not lines:
            return
        # (wait first, commands): the Enter after a line waits, the keys do not.
        batches: list[tuple[bool, list[list[str]]]] = []
        for line in lines:
            batches.append((False, []))
            size = 0
            for start in range(0, len(line), _SEND_CHUNK):
                chunk = line[start : start + _SEND_CHUNK]
                weight = len(chunk.encode("utf-8", "surrogateescape"))
                if size + weight > _SEND_BATCH and batches[-1][1]:
                    batches.append((False, []))
                    size = 0
                batches[-1][1].append(["send-keys", "-t", pane.pane_id, "-l", "--", chunk])
                size += weight
            # Enter on its own, a moment after the text: a TUI that tells a paste from typing
            # by timing (Codex's) takes an Enter inside a burst of keys for a new line.
            batches.append((True, [["send-keys", "-t", pane.pane_id, "Enter"]]))
        with self._client.input_lock(pane.pane_id):
            for wait, batch in batches:
                if wait:
                    time.sleep(_ENTER_PAUSE)
                try:
                    self._client.run(
                        batch, what=f"send-keys to {handle.runtime_name}", repeatable=False
                    )
                except ControlClientEnded as exc:
                    raise ExecutorError(
                        f"the tmux control client ended while input was sent to "
                        f"{handle.runtime_name}; some of it may have been typed"
                    ) from exc
                except (ServerMissing, TargetMissing) as exc:
                    raise RuntimeNotFound(
                        f"the tmux session {handle.runtime_name} ended while input was sent"
                    ) from exc

    def attach_command(self, handle: RuntimeHandle) -> list[str]:
        """``tmux -L SOCKET attach-session -t =NAME``: the same in every state of the session.

        Raises:
            InvalidName: the runtime name cannot be a tmux session name.
        """
        name = validate_runtime_name(handle.runtime_name)
        return [self.config.tmux, *self.config.server_args(), "attach-session", "-t", f"={name}"]

    async def capture(self, handle: RuntimeHandle, *, history: bool = False) -> str:
        """Return the text on the agent's screen (``capture-pane -p``), as a person sees it.

        Args:
            handle: The runtime.
            history: Include the scrollback above the screen.

        Raises:
            RuntimeNotFound: the agent's pane is gone.
            ExecutorUnavailable: tmux cannot be run.
        """
        return await self._run(self._capture, handle, history)

    def _capture(self, handle: RuntimeHandle, history: bool) -> str:
        pane, _ = self._locate(handle, max_age=0.0)
        if pane is None:
            raise RuntimeNotFound(f"the tmux session {handle.runtime_name} is gone")
        command = ["capture-pane", "-p", "-J", "-t", pane.pane_id]
        if history:
            command += ["-S", "-"]
        try:
            return self._client.run(
                [command], what=f"capture-pane of {handle.runtime_name}", control=False
            )
        except (ServerMissing, TargetMissing) as exc:
            raise RuntimeNotFound(f"the tmux session {handle.runtime_name} is gone") from exc

    # -- stop and remove ---------------------------------------------------------------------

    async def stop(self, handle: RuntimeHandle, *, grace: float = 10.0) -> int | None:
        """Send SIGTERM to the agent's process group, wait ``grace`` seconds, then SIGKILL it
        (and kill the tmux session if even that fails). The pane is kept, so its exit status
        is read; `remove()` ends the tmux session.

        Returns:
            The agent's exit code (143 after SIGTERM, 137 after SIGKILL), when known.

        Raises:
            ExecutorUnavailable: tmux cannot be run.
        """
        pane = await self._run(self._fresh_pane, handle)
        if pane is None:
            return None
        if pane.dead:
            return (await self.state(handle)).exit_code
        await self._run(_signal_group, pane, signal.SIGTERM)
        ended, code = await self._wait_dead(handle, grace)
        if ended:
            return code
        log.warning("%s did not end within %g s of SIGTERM; killing it", handle.runtime_name, grace)
        await self._run(_signal_group, pane, signal.SIGKILL)
        ended, code = await self._wait_dead(handle, _KILL_WAIT)
        if not ended:
            await self._run(self._kill_session, handle)
        return code

    def _fresh_pane(self, handle: RuntimeHandle) -> PaneInfo | None:
        pane, _ = self._locate(handle, max_age=0.0)
        return pane

    async def _wait_dead(self, handle: RuntimeHandle, seconds: float) -> tuple[bool, int | None]:
        """Poll until the agent's pane is dead or gone: ``(ended, exit code)``."""
        with anyio.move_on_after(seconds):
            while True:
                pane = await self._run(self._fresh_pane, handle)
                if pane is None:
                    return True, None
                if pane.dead:
                    return True, (await self.state(handle)).exit_code
                await anyio.sleep(_STOP_POLL)
        return False, None

    async def remove(self, handle: RuntimeHandle) -> None:
        """End the attempt's tmux session (when it is this attempt's) and delete its spool
        files (output is already collected). Idempotent.

        Raises:
            ExecutorUnavailable: tmux cannot be run.
        """
        await self._run(self._remove, handle)

    def _remove(self, handle: RuntimeHandle) -> None:
        self._kill_session(handle)
        shutil.rmtree(handle.run_dir, ignore_errors=True)
        self._hook_details.pop(handle.run_dir, None)

    def _kill_session(self, handle: RuntimeHandle) -> None:
        try:
            name = validate_runtime_name(handle.runtime_name)
        except InvalidName:
            return
        _, panes = self._client.find(name)
        owned = any(
            p.owner_session == handle.session_id and p.owner_attempt == str(handle.attempt)
            for p in panes
        )
        if not owned:
            if panes:
                log.warning("not removing tmux session %s: it is not %s's", name, handle.session_id)
            return
        try:
            self._client.run([["kill-session", "-t", f"={name}"]], what=f"kill-session {name}")
        except (ServerMissing, TargetMissing):
            pass
        finally:
            self._client.invalidate()
        self._settled = {key for key in self._settled if key[0] != name}

    # -- reconcile ---------------------------------------------------------------------------

    async def discover(self, store_id: str) -> list[RuntimeHandle]:
        """Return the tmux sessions on the configured server labelled with ``store_id``; none
        when no server runs.

        Raises:
            ExecutorUnavailable: tmux cannot be run.
            ExecutorError: tmux failed in an unexpected way.
        """
        return await self._run(self._discover, store_id)

    def _discover(self, store_id: str) -> list[RuntimeHandle]:
        panes = self._client.panes()
        handles: list[RuntimeHandle] = []
        for pane in panes or ():
            if not pane.is_agent_pane or pane.owner_store != store_id or not pane.run_dir:
                continue
            try:
                attempt = int(pane.owner_attempt)
                validate_runtime_name(pane.session_name)
            except ValueError:
                continue
            handles.append(
                RuntimeHandle(
                    session_id=pane.owner_session,
                    attempt=attempt,
                    runtime_name=pane.session_name,
                    runtime_id=f"{pane.session_id}:{pane.pane_id}",
                    run_dir=Path(pane.run_dir),
                )
            )
        return handles

    async def aclose(self) -> None:
        """End the control client (its own tmux session ends with it); agents' tmux sessions
        keep running. The executor can still be used: a later start connects again."""
        self._client.invalidate()
        await anyio.to_thread.run_sync(self._control.close)

    # -- helpers -----------------------------------------------------------------------------

    async def _run(self, func: Callable[..., T], *args: Any, watch: bool = False) -> T:
        # Watching (state, output) and acting (start, input, stop) have a limiter each, so a
        # start or a keystroke never queues behind the polls of many running sessions.
        limiter = self._watch_limiter if watch else self._limiter
        return await anyio.to_thread.run_sync(func, *args, limiter=limiter)

    def _server_text(self) -> str:
        if self.config.socket_path is not None:
            return f"socket {self.config.socket_path}"
        return f"socket name {self.config.socket_name!r}"


def _agent_pane(panes: list[PaneInfo], session_id: str, attempt: int) -> PaneInfo | None:
    for pane in panes:
        if pane.owned_by(session_id, attempt):
            return pane
    return None


def _checked_path(path: Path, what: str) -> Path:
    text = str(path)
    if not path.is_absolute() or any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        raise ExecutorError(
            f"the {what} {text!r} must be an absolute path without control characters"
        )
    return path


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return -1


def _signal_group(pane: PaneInfo, sig: signal.Signals) -> None:
    if pane.pane_pid is None:
        return
    try:
        os.killpg(pane.pane_pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pane.pane_pid, sig)
    except PermissionError:
        log.warning("cannot signal the agent of pane %s (process %s)", pane.pane_id, pane.pane_pid)
