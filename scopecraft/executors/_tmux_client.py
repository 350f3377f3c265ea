"""A small, blocking, thread-safe client of one tmux server, driven through tmux's own CLI.

Why the CLI rather than libtmux: libtmux passes a new window's command as one string (tmux then
runs it with ``sh -c``), puts environment values in tmux's argv (``-e NAME=VALUE``), passes
``-c DIR`` (tmux expands ``#{...}`` and ``#(...)`` formats in it), does not escape arguments
that end in ``;`` (tmux reads those as command separators, so an argument ``x;`` followed by
``kill-server`` runs it), runs ``tmux -V`` before each new session and mutates ``os.environ``
while doing so (not thread-safe). Here every call is one ``tmux`` process with an argv list in
which every argument is escaped (`escape_arg()`), the commands of one operation run as one
command list (so a session is created, labelled and piped atomically, in one round trip), and
every target is exact: ``=name`` for sessions, ``%id`` for panes.

Every call runs with a small, fixed environment, so a server this client starts holds no
variable of the engine's environment (agents get exactly what the engine forwards).
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import attrs

from .._errors import ExecutorError, ExecutorUnavailable
from ._tmux_config import TmuxExecutorConfig

if TYPE_CHECKING:
    from ._tmux_control import ControlClient

__all__ = [
    "AGENT_PANE_OPTION",
    "RUN_DIR_OPTION",
    "ControlClientEnded",
    "PaneInfo",
    "ServerMissing",
    "TargetMissing",
    "TmuxClient",
    "TmuxCommandError",
    "client_base",
    "client_env",
    "command_argv",
    "command_error",
    "escape_arg",
    "format_literal",
    "tmux_not_installed",
]

log = logging.getLogger("scopecraft.executors.tmux")

AGENT_PANE_OPTION = "@scopecraft.pane"
"""Session user option holding the agent's pane id (a person may split the window)."""
RUN_DIR_OPTION = "@scopecraft.run-dir"
"""Session user option holding the attempt's run folder (found again by ``discover``)."""

_SEP = "\x1f"
_FIELDS = (
    "#{session_name}",
    "#{session_id}",
    "#{pane_id}",
    "#{pane_pid}",
    "#{pane_dead}",
    "#{pane_dead_status}",
    "#{pane_dead_signal}",
    "#{pane_pipe}",
    "#{pid}",
    "#{@scopecraft.session}",
    "#{@scopecraft.attempt}",
    "#{@scopecraft.store}",
    "#{" + AGENT_PANE_OPTION + "}",
    "#{" + RUN_DIR_OPTION + "}",
)
_LIST_FORMAT = _SEP.join(_FIELDS)
# What a client keeps of the caller's environment: where the socket is, and the locale.
_CLIENT_ENV = ("PATH", "TMUX_TMPDIR", "LANG", "LC_ALL", "LC_CTYPE")
_SERVER_GONE = ("no server running", "error connecting to", "server exited unexpectedly")
_SERVER_RACE_RETRIES = 4
_TARGET_GONE = ("can't find session", "can't find pane", "can't find window", "no such session")


def client_base(config: TmuxExecutorConfig) -> list[str]:
    """The start of every tmux client's argv: the binary, UTF-8, and the server's socket."""
    return [config.tmux, "-u", *config.server_args()]


def client_env() -> dict[str, str]:
    """The small, fixed environment every tmux client runs with (see the module's notes)."""
    return {k: os.environ[k] for k in _CLIENT_ENV if k in os.environ}


def command_argv(commands: Sequence[Sequence[str]]) -> list[str]:
    """A command list as tmux's argv: every argument escaped, the commands joined by ``;``."""
    argv: list[str] = []
    for index, command in enumerate(commands):
        if index:
            argv.append(";")
        argv.extend(escape_arg(arg) for arg in command)
    return argv


def command_error(what: str, stderr: str, returncode: int, stdout: str) -> TmuxCommandError:
    """The error for a refused command, by tmux's words: no server, no target, or other."""
    lowered = stderr.lower()
    if any(marker in lowered for marker in _SERVER_GONE):
        return ServerMissing(what, stderr, returncode, stdout)
    if any(marker in lowered for marker in _TARGET_GONE):
        return TargetMissing(what, stderr, returncode, stdout)
    return TmuxCommandError(what, stderr, returncode, stdout)


def tmux_not_installed(tmux: str) -> ExecutorUnavailable:
    """The error for a tmux binary that cannot be found, with what to do about it."""
    return ExecutorUnavailable(
        f"tmux is not installed (cannot run {tmux!r}); install tmux 3.2 or later, or run the "
        "session with executor='local'"
    )


def escape_arg(arg: str) -> str:
    """Escape one argument of a tmux command list.

    tmux reads an argument that ends in ``;`` as the end of a command (``x;`` then
    ``kill-server`` would run ``kill-server``); a final ``\\;`` is read as a literal ``;``.
    So a final ``;`` becomes ``\\;``, which tmux turns back into exactly the original argument.
    Nothing else in an argument is special to tmux's argv parsing.

    Raises:
        ExecutorError: the argument holds a NUL byte (no argv can carry one).
    """
    if "\x00" in arg:
        raise ExecutorError("an argument for tmux holds a NUL byte")
    if arg.endswith(";"):
        return arg[:-1] + "\\;"
    return arg


def format_literal(text: str) -> str:
    """Return ``text`` for a place where tmux expands formats, so that it stays literal.

    Every ``#`` is doubled: ``##`` is tmux's escape for ``#``, so no ``#{...}``, ``#(...)``
    (which would run a command) or ``#S`` is expanded.
    """
    return text.replace("#", "##")


class TmuxCommandError(ExecutorError):
    """A tmux command failed; the message carries tmux's own words.

    Attributes:
        stderr: What tmux printed on standard error.
        returncode: tmux's exit status.
        stdout: What the commands before the failing one printed.
    """

    def __init__(self, what: str, stderr: str, returncode: int, stdout: str = "") -> None:
        self.stderr = stderr.strip()
        self.returncode = returncode
        self.stdout = stdout
        super().__init__(f"tmux {what} failed ({returncode}): {self.stderr or 'no message'}")


class ServerMissing(TmuxCommandError):
    """No tmux server listens on the configured socket."""


class ControlClientEnded(ServerMissing):
    """The control client ended (its server went away, or it was killed) during a call.

    Attributes:
        sent: The call's commands had been written to it, so they may have run.
    """

    def __init__(self, what: str, stderr: str, returncode: int, *, sent: bool) -> None:
        self.sent = sent
        super().__init__(what, stderr, returncode)


class TargetMissing(TmuxCommandError, LookupError):
    """The targeted session or pane does not exist."""


@attrs.frozen
class PaneInfo:
    """One pane of the server, as one listing saw it.

    Attributes:
        session_name: The tmux session's name.
        session_id: tmux's session id (``$3``).
        pane_id: tmux's pane id (``%7``); never reused while the server lives.
        pane_pid: The pane's process (a session leader: also its process group).
        dead: The pane's process has ended (the pane is kept by ``remain-on-exit``).
        dead_status: Its exit status, when it exited.
        dead_signal: The signal that ended it, when one did.
        piped: The pane's output is piped (to the attempt's log).
        server_pid: The tmux server's process.
        owner_session: The ``@scopecraft.session`` option, ``""`` when not ours.
        owner_attempt: The ``@scopecraft.attempt`` option.
        owner_store: The ``@scopecraft.store`` option.
        agent_pane: The ``@scopecraft.pane`` option: the pane the agent runs in.
        run_dir: The ``@scopecraft.run-dir`` option.
    """

    session_name: str
    session_id: str
    pane_id: str
    pane_pid: int | None
    dead: bool
    dead_status: int | None
    dead_signal: int | None
    piped: bool
    server_pid: int | None
    owner_session: str
    owner_attempt: str
    owner_store: str
    agent_pane: str
    run_dir: str

    @property
    def is_agent_pane(self) -> bool:
        """True for the pane the agent was started in."""
        return bool(self.agent_pane) and self.pane_id == self.agent_pane

    @property
    def exit_code(self) -> int | None:
        """The exit code as a shell reports it: the status, or 128 plus the signal."""
        if not self.dead:
            return None
        if self.dead_status is not None:
            return self.dead_status
        if self.dead_signal is not None:
            return 128 + self.dead_signal
        return None

    def owned_by(self, session_id: str, attempt: int) -> bool:
        """True when the pane is the agent pane of that session's attempt."""
        return (
            self.is_agent_pane
            and self.owner_session == session_id
            and self.owner_attempt == str(attempt)
        )


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def _parse_row(line: str) -> PaneInfo | None:
    parts = line.split(_SEP)
    if len(parts) != len(_FIELDS):
        return None  # a foreign session with a separator in its name: not ours
    (
        name,
        sid,
        pane,
        pid,
        dead,
        status,
        signal,
        piped,
        server,
        owner,
        attempt,
        store,
        agent,
        run_dir,
    ) = parts
    return PaneInfo(
        session_name=name,
        session_id=sid,
        pane_id=pane,
        pane_pid=_int_or_none(pid),
        dead=dead == "1",
        dead_status=_int_or_none(status),
        dead_signal=_int_or_none(signal),
        piped=piped == "1",
        server_pid=_int_or_none(server),
        owner_session=owner,
        owner_attempt=attempt,
        owner_store=store,
        agent_pane=agent,
        run_dir=run_dir,
    )


@attrs.define
class _Snapshot:
    taken: float
    generation: int
    panes: tuple[PaneInfo, ...] | None  # None: no server


class TmuxClient:
    """Runs tmux commands against the configured server, blocking; safe to share by threads.

    Args:
        config: The executor's configuration (binary, socket, timeouts).
    """

    def __init__(self, config: TmuxExecutorConfig) -> None:
        self._config = config
        self._base = client_base(config)
        self._env = client_env()
        self._lock = threading.Lock()
        self._generation = 0
        self._snapshot: _Snapshot | None = None
        self._input_locks: dict[str, threading.Lock] = {}
        self._input_locks_guard = threading.Lock()
        self.control: ControlClient | None = None
        """A control client: while it is connected, commands go through it."""

    def run(
        self,
        commands: Sequence[Sequence[str]],
        *,
        what: str,
        start_server: bool = False,
        cwd: str | None = None,
        repeatable: bool = True,
        control: bool = True,
    ) -> str:
        """Run a command list and return its standard output.

        While `control` is connected the list goes through it (no process of its
        own); otherwise, or when the control client has ended, one ``tmux`` process runs it.

        Args:
            commands: tmux commands, each an argv (every argument is escaped here).
            what: A short description for errors.
            start_server: Pass the configured ``-f`` file (the list may start the server).
            cwd: The client's working directory.
            repeatable: The list may run twice (a listing, ``kill-session``); when not
                (typed input), a control client that ended after it was sent is reported
                (`ControlClientEnded`) instead of running the list again.
            control: Go through the control client while it is connected. False for output
                that a pane's program controls (a capture), which could imitate the
                control client's block markers.

        Raises:
            ServerMissing: no server listens on the socket.
            TargetMissing: a target does not exist.
            TmuxCommandError: tmux refused a command.
            ExecutorUnavailable: tmux cannot be run, or did not answer in time.
        """
        client = self.control if control else None
        if client is not None:
            try:
                return client.run_connected(commands, what=what)
            except ControlClientEnded as exc:
                if exc.sent and not repeatable:
                    raise
                log.debug("tmux control client ended (%s); running %s on its own", exc, what)
        argv = list(self._base)
        if start_server:
            argv += ["-f", self._config.config_file]
        argv += command_argv(commands)
        tries = 0
        while True:
            try:
                return self._run_once(argv, what, cwd)
            except ServerMissing as exc:
                # A server exits when its last session ends; a command that would start one
                # can reach it while it shuts down. Nothing ran there: try again.
                tries += 1
                if not start_server or tries >= _SERVER_RACE_RETRIES:
                    raise
                log.debug("tmux server was shutting down during %s (%s); retrying", what, exc)
                time.sleep(0.05 * tries)

    def _run_once(self, argv: list[str], what: str, cwd: str | None) -> str:
        try:
            result = subprocess.run(
                argv,
                env=self._env,
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self._config.timeout,
                check=False,
            )
        except FileNotFoundError as exc:
            raise tmux_not_installed(self._config.tmux) from exc
        except subprocess.TimeoutExpired as exc:
            raise ExecutorUnavailable(
                f"tmux {what} did not answer within {self._config.timeout:g} s"
            ) from exc
        except OSError as exc:
            raise ExecutorUnavailable(f"cannot run tmux for {what}: {exc}") from exc
        stdout = result.stdout.decode("utf-8", errors="replace")
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", errors="replace")
            raise command_error(what, stderr, result.returncode, stdout)
        return stdout

    # -- listing -----------------------------------------------------------------------------

    def invalidate(self) -> None:
        """Forget the last listing (after this process changed the server)."""
        with self._lock:
            self._generation += 1
            self._snapshot = None

    def panes(self, *, max_age: float = 0.0) -> tuple[PaneInfo, ...] | None:
        """Every pane of the server, or ``None`` when no server runs.

        One listing answers every caller for ``max_age`` seconds (one tmux call per poll,
        however many sessions are watched); a listing started before this process changed
        the server is never reused.

        Raises:
            TmuxCommandError: tmux failed in an unexpected way.
            ExecutorUnavailable: tmux cannot be run.
        """
        with self._lock:
            now = time.monotonic()
            snap = self._snapshot
            if (
                snap is not None
                and snap.generation == self._generation
                and now - snap.taken <= max_age
            ):
                return snap.panes
            generation = self._generation
            try:
                out = self.run([["list-panes", "-a", "-F", _LIST_FORMAT]], what="list-panes")
            except ServerMissing:
                panes: tuple[PaneInfo, ...] | None = None
            except TmuxCommandError as exc:
                # A server with no session left (it is about to exit) has no target to list.
                if "no current target" not in exc.stderr:
                    raise
                panes = ()
            else:
                rows = (_parse_row(line) for line in out.splitlines() if line)
                panes = tuple(row for row in rows if row is not None)
            self._snapshot = _Snapshot(taken=now, generation=generation, panes=panes)
            return panes

    def find(self, name: str, *, max_age: float = 0.0) -> tuple[bool, list[PaneInfo]]:
        """Return whether a server runs, and the panes of the session named exactly ``name``.

        Raises:
            TmuxCommandError: tmux failed in an unexpected way.
            ExecutorUnavailable: tmux cannot be run.
        """
        panes = self.panes(max_age=max_age)
        if panes is None:
            return False, []
        return True, [p for p in panes if p.session_name == name]

    # -- input -------------------------------------------------------------------------------

    def input_lock(self, pane_id: str) -> threading.Lock:
        """A lock per pane, so that two inputs to one agent never interleave."""
        with self._input_locks_guard:
            lock = self._input_locks.get(pane_id)
            if lock is None:
                lock = self._input_locks[pane_id] = threading.Lock()
            return lock
