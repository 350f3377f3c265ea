"""A persistent tmux control-mode client (``tmux -C``): sessions start without a process each.

Running ``tmux`` for a command costs a process start, a connection to the server and its
handshake: on a small machine most of the time of a bare ``tmux new-session -d``. A control
client is one ``tmux -C`` process, connected once, that reads command lines on its standard
input and answers each command with a block::

    %begin TIME NUMBER FLAGS
    ...output...
    %end TIME NUMBER FLAGS        (or %error ... when the command failed)

Lines outside blocks are notifications (``%sessions-changed``, ...), read and ignored.

A control client must be attached to a session. It gets one of its own, named
``_scopecraft-control-PID-RANDOM`` (a runtime name never starts with ``_``, so it cannot clash
with an agent's session), whose pane runs a shell that only waits for input, and which has
``destroy-unattached`` on: when the client ends (the executor closes, or its process dies and
the pipe closes) the session ends too, and an otherwise empty server exits as before.

Commands reach the client as text, which tmux parses like a configuration line: every
argument is written double-quoted with ``\\``, ``"``, ``$`` and ``~`` escaped and control
characters as octal escapes (`quote_arg()`), so no argument is ever split, expanded or
read as a separator. A failed command skips the rest of its line and prints no block for
them, so every call ends with a sentinel command on a line of its own, and its answer is
every block up to the sentinel's.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import logging
import os
import secrets
import subprocess
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from typing import IO

import attrs

from .._errors import ExecutorError, ExecutorUnavailable
from ._tmux_client import (
    _SERVER_RACE_RETRIES,
    ControlClientEnded,
    ServerMissing,
    client_base,
    client_env,
    command_argv,
    command_error,
    tmux_not_installed,
)
from ._tmux_config import TmuxExecutorConfig

__all__ = [
    "CONTROL_SESSION_PREFIX",
    "ControlClient",
    "command_line",
    "quote_arg",
]

log = logging.getLogger("scopecraft.executors.tmux")

CONTROL_SESSION_PREFIX = "_scopecraft-control-"
"""Start of the name of a control client's own tmux session."""

# The control session's pane: a shell that waits for lines typed into it and ignores them.
_HOLD = "while read -r _; do :; done"
_CLOSE_WAIT = 2.0
_Block = tuple[bool, list[str]]


def quote_arg(arg: str) -> str:
    """Quote one argument for a tmux command line, so that tmux reads back exactly ``arg``.

    The argument is double-quoted; ``\\``, ``"``, ``$`` (variables) and ``~`` (the home
    folder) are escaped with a backslash, and control characters (a newline would end the
    command) are written as octal escapes. Inside double quotes ``;``, ``#``, ``{``,
    ``}``, ``'`` and spaces are literal. Bytes that are not UTF-8 (surrogate-escaped, as in
    file names) are written as octal escapes too: tmux's parser reads a raw byte 0xFF as the
    end of its input, which would end the quoted argument early.

    Raises:
        ExecutorError: the argument holds a NUL byte (tmux cannot carry one).
    """
    if "\x00" in arg:
        raise ExecutorError("an argument for tmux holds a NUL byte")
    return '"' + arg.translate(_ESCAPES) + '"'


def _escapes() -> dict[int, str]:
    table = {ord(ch): "\\" + ch for ch in '\\"$~'}
    for code in [*range(1, 32), 127]:
        table[code] = f"\\{code:03o}"
    for code in range(0xDC80, 0xDD00):  # an undecodable byte, kept by surrogateescape
        table[code] = f"\\{code - 0xDC00:03o}"
    return table


_ESCAPES = _escapes()


def command_line(commands: Sequence[Sequence[str]]) -> str:
    """One line of tmux commands, each argv quoted (`quote_arg()`), separated by ``;``."""
    return " ; ".join(" ".join(quote_arg(arg) for arg in command) for command in commands)


@attrs.define(eq=False)
class _Call:
    """One call waiting for its answer: the blocks before its sentinel's."""

    token: str
    blocks: list[_Block] = attrs.field(factory=list)
    done: threading.Event = attrs.field(factory=threading.Event)
    ended: bool = False


class _Connection:
    """One running ``tmux -C`` process and the thread that reads its answers.

    Calls are pipelined: each writes its line and its sentinel and waits; tmux answers in
    order, so the reader hands every block to the oldest call still waiting, and completes
    that call at its sentinel's block.
    """

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.lock = threading.Lock()
        self.write_lock = threading.Lock()
        self.calls: collections.deque[_Call] = collections.deque()
        self.ended = False
        self.proc = subprocess.Popen(
            argv,
            env=env,
            cwd="/",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            bufsize=0,
        )
        self._reader = threading.Thread(
            target=self._read, name="scopecraft-tmux-control", daemon=True
        )
        self._reader.start()

    def _read(self) -> None:
        stdout = self.proc.stdout
        assert stdout is not None
        key: str | None = None
        lines: list[str] = []
        try:
            for raw in _lines(stdout):
                line = raw.decode("utf-8", errors="replace")
                if key is None:
                    if line.startswith("%begin "):
                        key, lines = line[len("%begin ") :], []
                    continue
                if line != f"%end {key}" and line != f"%error {key}":
                    lines.append(line)
                    continue
                key = None
                ok = line.startswith("%end")
                with self.lock:
                    call = self.calls[0] if self.calls else None
                    if call is None:
                        continue  # an answer no call is queued for (none is expected)
                    if ok and lines == [call.token]:
                        self.calls.popleft()
                    else:
                        call.blocks.append((ok, lines))
                        continue
                call.done.set()
        finally:
            with self.lock:
                self.ended = True
                waiting, self.calls = list(self.calls), collections.deque()
            for call in waiting:
                call.ended = True
                call.done.set()

    @property
    def alive(self) -> bool:
        return not self.ended and self.proc.poll() is None

    def send(self, call: _Call, data: bytes) -> bool:
        """Queue ``call`` and write its line; False when the client has ended.

        Lines are written in the order calls are queued (``write_lock``); the queue's own
        lock is never held while writing, so a full pipe cannot stall the reader.
        """
        stdin = self.proc.stdin
        assert stdin is not None
        with self.write_lock:
            with self.lock:
                if self.ended:
                    return False
                self.calls.append(call)
            view = memoryview(data)
            try:
                while view:
                    written = stdin.write(view)
                    view = view[written or 0 :]
            except (OSError, ValueError):
                if len(view) < len(data):
                    # Part of the line is in the pipe: tmux may run it. The reader ends the
                    # call when the client ends, and the caller hears it was sent.
                    return True
                with self.lock, contextlib.suppress(ValueError):
                    self.calls.remove(call)
                return False
        return True

    def stderr_text(self) -> str:
        """What the client printed on standard error, once it has ended."""
        stderr = self.proc.stderr
        if stderr is None or self.proc.poll() is None:
            return ""
        with contextlib.suppress(OSError, ValueError):
            return stderr.read().decode("utf-8", errors="replace")
        return ""

    def close(self, wait: float) -> None:
        # Never in the middle of a line being written (the writer would count it unsent, yet
        # tmux may read what was written); a writer stuck on a full pipe is not waited for
        # beyond ``wait``.
        locked = self.write_lock.acquire(timeout=wait)
        try:
            with contextlib.suppress(OSError, ValueError):
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
        finally:
            if locked:
                self.write_lock.release()
        try:
            self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        # The server holds the client's pipes too: the reader may see their end only once the
        # server lets go. It is a daemon thread; its pipe is left to it if it is still reading.
        self._reader.join(timeout=min(wait, 0.5))
        streams = [self.proc.stderr]
        if not self._reader.is_alive():
            streams.append(self.proc.stdout)
        for stream in streams:
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def _lines(stream: IO[bytes]) -> Iterator[bytes]:
    """The stream's lines without their line ends (read unbuffered, a chunk at a time)."""
    pending = b""
    while True:
        data = stream.read(65536)
        if not data:
            break
        pending += data
        *complete, pending = pending.split(b"\n")
        yield from complete
    if pending:
        yield pending


class ControlClient:
    """A ``tmux -C`` client of the configured server, connected at its first use.

    Safe to share by threads, and calls from several threads are in flight at once (tmux
    runs them in order). When the client ends (the server was killed, or a person ended the
    control session), the next call connects again.

    Args:
        config: The executor's configuration (binary, socket, configuration file, timeout).
    """

    def __init__(self, config: TmuxExecutorConfig) -> None:
        self._config = config
        self._base = client_base(config)
        self._env = client_env()
        self._lock = threading.Lock()
        self._conn: _Connection | None = None
        self._tokens = itertools.count(1)
        self._failed: tuple[float, str] | None = None  # when and why the last connect failed
        self.session_name = ""
        _CLIENTS.add(self)

    def _forget_after_fork(self) -> None:
        """In a forked child: let go of the parent's client without touching it.

        The child's copy of the pipe to the client is closed (else the client, and its
        session, would outlive the parent while the child lives); the child connects its
        own client if it ever needs one.
        """
        conn, self._conn = self._conn, None
        self._lock = threading.Lock()
        self.session_name = ""
        if conn is not None and conn.proc.stdin is not None:
            with contextlib.suppress(OSError, ValueError):
                conn.proc.stdin.close()

    @property
    def connected(self) -> bool:
        """True while a control client is connected."""
        conn = self._conn
        return conn is not None and conn.alive

    def run(self, commands: Sequence[Sequence[str]], *, what: str, shell: str) -> str:
        """Run a command list through the control client and return its output.

        Connects (starting the server with the configured ``-f`` file when none runs) when
        no client is connected. A call that finds its client ended before its line was
        written is tried once more on a new one; a call whose client ended after that raises
        `ControlClientEnded` with ``sent`` true: its commands may or may not have run,
        and only the caller can tell which.

        Args:
            commands: tmux commands, each an argv (every argument is quoted here).
            what: A short description for errors.
            shell: The POSIX shell for the control session's waiting pane.

        Raises:
            TargetMissing: a target does not exist.
            TmuxCommandError: tmux refused a command (the first refusal's words).
            ControlClientEnded: the client ended during the call (see above).
            ExecutorUnavailable: tmux cannot be run, or did not answer in time.
        """
        line = _encoded(commands)
        for attempt in (1, 2):
            conn = self._connected(shell)
            try:
                return self._call(conn, line, what)
            except ControlClientEnded as exc:
                self._discard(conn)
                if exc.sent or attempt == 2:
                    raise
                log.debug("tmux control client had ended before %s; connecting again", what)
        raise AssertionError("unreachable")  # pragma: no cover

    def run_connected(self, commands: Sequence[Sequence[str]], *, what: str) -> str:
        """Run a command list through the client already connected; never connect.

        Raises:
            ControlClientEnded: no client is connected, or it ended during the call
                (``sent`` says whether the commands may have run).
            TargetMissing: a target does not exist.
            TmuxCommandError: tmux refused a command.
            ExecutorUnavailable: tmux did not answer in time.
        """
        conn = self._conn
        if conn is None or not conn.alive:
            if conn is not None:
                self._discard(conn)
            raise ControlClientEnded(what, "no tmux control client is connected", 1, sent=False)
        try:
            return self._call(conn, _encoded(commands), what)
        except ControlClientEnded:
            self._discard(conn)
            raise

    def close(self) -> None:
        """End the client (its session ends with it); the next call connects again."""
        with self._lock:
            conn, self._conn = self._conn, None
            self.session_name = ""
        if conn is not None:
            conn.close(_CLOSE_WAIT)

    # -- internals ---------------------------------------------------------------------------

    def _connected(self, shell: str) -> _Connection:
        conn = self._conn
        if conn is not None and conn.alive:
            return conn
        asked = time.monotonic()
        with self._lock:
            conn = self._conn
            if conn is not None and conn.alive:
                return conn
            failed = self._failed
            if failed is not None and failed[0] >= asked:
                # Another call tried to connect while this one waited, and failed: fail at
                # once with its reason rather than wait as long again.
                raise ExecutorUnavailable(failed[1])
            self._conn = None
            if conn is not None:
                conn.close(_CLOSE_WAIT)
            tries = 0
            while True:
                try:
                    conn = self._connect(shell)
                except ServerMissing as exc:
                    # A server that is shutting down (its last session just ended) refuses us.
                    tries += 1
                    if tries >= _SERVER_RACE_RETRIES:
                        message = f"cannot connect a tmux control client: {exc.stderr}"
                        self._failed = (time.monotonic(), message)
                        raise ExecutorUnavailable(message) from exc
                    time.sleep(0.05 * tries)
                except ExecutorUnavailable as exc:
                    self._failed = (time.monotonic(), str(exc))
                    raise
                else:
                    self._conn = conn
                    self._failed = None
                    return conn

    def _connect(self, shell: str) -> _Connection:
        name = f"{CONTROL_SESSION_PREFIX}{os.getpid()}-{secrets.token_hex(3)}"
        target = f"={name}:"
        initial = [
            ["new-session", "-s", name, "-x", "80", "-y", "24", "--", shell, "-c", _HOLD],
            ["set-option", "-t", target, "destroy-unattached", "on"],
            ["refresh-client", "-f", "no-output"],
        ]
        argv = [*self._base, "-f", self._config.config_file, "-C", *command_argv(initial)]
        try:
            conn = _Connection(argv, self._env)
        except FileNotFoundError as exc:
            raise tmux_not_installed(self._config.tmux) from exc
        except OSError as exc:
            raise ExecutorUnavailable(f"cannot run a tmux control client: {exc}") from exc
        try:
            # The initial commands' blocks come first; the sentinel's answer follows them.
            self._call(conn, b"", "control client start")
        except BaseException:
            conn.close(_CLOSE_WAIT)
            raise
        self.session_name = name
        log.debug("tmux control client connected (session %s)", name)
        return conn

    def _discard(self, conn: _Connection) -> None:
        """Forget ``conn`` (ended) unless another call already replaced it."""
        with self._lock:
            if self._conn is conn:
                self._conn = None
                self.session_name = ""
        conn.close(_CLOSE_WAIT)

    def _call(self, conn: _Connection, line: bytes, what: str) -> str:
        call = _Call(token=f"scopecraft-sync-{next(self._tokens)}")
        text = line + b"\n" if line else b""
        if not conn.send(call, text + f"display-message -p {call.token}\n".encode()):
            raise ControlClientEnded(what, "the tmux control client has ended", 1, sent=False)
        if not call.done.wait(self._config.timeout):
            # The call stays queued, so its answer, when it comes, is taken for it and
            # dropped; other calls are not disturbed (ending the client would fail them all).
            raise ExecutorUnavailable(
                f"tmux {what} did not answer within {self._config.timeout:g} s"
            )
        outputs: list[str] = []
        error: str | None = None
        for ok, lines in call.blocks:
            if ok:
                outputs.extend(lines)
            elif error is None:
                error = "\n".join(lines)
        stdout = "".join(f"{out}\n" for out in outputs)
        if call.ended:
            try:
                conn.proc.wait(timeout=_CLOSE_WAIT)
            except subprocess.TimeoutExpired:
                conn.proc.kill()
            stderr = conn.stderr_text().strip() or "the tmux control client ended"
            raise ControlClientEnded(what, stderr, conn.proc.returncode or 1, sent=True)
        if error is not None:
            raise command_error(what, error, 1, stdout)
        return stdout


_CLIENTS: weakref.WeakSet[ControlClient] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for client in list(_CLIENTS):
        client._forget_after_fork()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _encoded(commands: Sequence[Sequence[str]]) -> bytes:
    try:
        return command_line(commands).encode("utf-8", "surrogateescape")
    except UnicodeEncodeError as exc:
        raise ExecutorError(f"an argument for tmux is not valid text: {exc}") from exc
