"""Launching the agent inside a tmux pane: a constant launcher and a private launch file.

tmux runs the pane's program from its own argv (and a single argument with ``sh -c``), and
refuses commands over 16 KiB. So nothing of the agent's command goes through tmux: the pane
runs `LAUNCHER`, a constant ``sh`` script, with one argument, the path of a launch file
this module writes (mode 0600) with the agent's environment, working directory and argv, each
value a single-quoted literal. The launcher reads the file, deletes it (it may hold secrets),
and ``exec``s the agent.
"""

from __future__ import annotations

import os
import secrets
import shlex
import shutil
from pathlib import Path

from .._errors import ExecutorError
from .._names import validate_env_name
from ._protocol import LaunchSpec
from ._tmux_client import format_literal

__all__ = [
    "LAUNCHER",
    "LAUNCHER_NAME",
    "pipe_command",
    "resolve_shell",
    "write_launch",
    "write_private",
]

# The pane's program: load the launch file (exports, the working directory, `set -- argv`),
# delete it (it may hold secrets), turn the terminal's echo off unless asked not to, and exec
# the agent. A constant: the only argument tmux passes it is the launch file's path, kept in a
# variable first because the launch file's `set --` replaces "$1" with the agent's argv (and
# only a file named like a launch file is ever deleted).
LAUNCHER = """\
_sc_launch=$1
. "$_sc_launch" || exit 126
case $_sc_launch in */launch-*.sh) rm -f -- "$_sc_launch" ;; esac
cd -- "$_sc_workdir" || exit 126
if [ "$_sc_echo" != 1 ] && [ -t 0 ]; then stty -echo 2>/dev/null; fi
if [ -n "$_sc_stdin" ]; then exec "$@" <"$_sc_stdin"; fi
exec "$@"
"""
LAUNCHER_NAME = "scopecraft-agent"
# Variables the terminal sets for the pane; the engine's values would be wrong there.
_TERMINAL_ENV = frozenset({"TERM", "TMUX", "TMUX_PANE", "COLUMNS", "LINES"})


def write_launch(spec: LaunchSpec, run_dir: Path, workdir: Path, *, echo_input: bool) -> Path:
    """Write the agent's launch file (mode 0600) into ``run_dir`` and return its path.

    It holds ``export NAME='value'`` lines (the terminal's own variables are left out), the
    working directory, whether to echo, the input file, and ``set -- argv``: every value a
    single-quoted literal (`shlex.quote()`).

    Raises:
        InvalidName: an environment variable name is not an identifier.
        ExecutorError: the command is empty, or a value holds a NUL byte.
    """
    if not spec.argv:
        raise ExecutorError("the agent's command is empty")
    lines = ["# scopecraft: the agent's launch; deleted by the pane once read"]
    for key, value in spec.env.items():
        validate_env_name(key)
        if key in _TERMINAL_ENV or key.startswith("_sc_"):
            continue
        lines.append(f"export {key}={_quote(value, 'an environment value')}")
    lines.append(f"_sc_workdir={_quote(str(workdir), 'the working directory')}")
    lines.append(f"_sc_echo={1 if echo_input else 0}")
    if spec.stdin is not None:
        stdin_path = run_dir / "stdin"
        write_private(stdin_path, spec.stdin)
        lines.append(f"_sc_stdin={_quote(str(stdin_path), 'the input file')}")
    else:
        lines.append("_sc_stdin=")
    lines.append("set -- " + " ".join(_quote(arg, "an argument") for arg in spec.argv))
    path = run_dir / f"launch-{secrets.token_hex(6)}.sh"
    write_private(path, ("\n".join(lines) + "\n").encode("utf-8", "surrogateescape"))
    return path


def resolve_shell(configured: str) -> str:
    """The shell's real file: a later change of the ``/bin/sh`` link cannot break a start."""
    real = os.path.realpath(configured)
    if os.access(real, os.X_OK):
        return real
    for fallback in ("dash", "sh", "bash"):
        found = shutil.which(fallback)
        if found:
            return os.path.realpath(found)
    return configured


def _quote(value: str, what: str) -> str:
    if "\x00" in value:
        raise ExecutorError(f"{what} for the agent holds a NUL byte")
    return shlex.quote(value)


def pipe_command(log_path: Path) -> str:
    """The ``pipe-pane`` command appending the pane's output to ``log_path``.

    tmux runs it with ``sh -c`` after expanding formats: the path is quoted for the shell,
    then every ``#`` doubled so that tmux expands nothing in it.
    """
    return format_literal(f"exec cat >> {shlex.quote(str(log_path))}")


def write_private(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path``, readable by its owner only.

    Raises:
        OSError: the file cannot be written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
