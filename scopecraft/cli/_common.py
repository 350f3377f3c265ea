"""What every command shares: global options, opening the engine, output, errors, exit codes.

Only the standard library and typer are imported at module level, so that ``scopecraft
--help`` stays fast; the engine, anyio and rich are imported inside the functions that use
them.
"""

from __future__ import annotations

import enum
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from pydantic import BaseModel
    from rich.console import Console

    from ..engine import Engine

__all__ = [
    "CliState",
    "ExitCode",
    "classify_error",
    "console",
    "emit_json",
    "emit_json_line",
    "fail",
    "handle_exception",
    "interruptible",
    "new_typer",
    "run_with_engine",
    "state_of",
    "stderr_is_terminal",
]

T = TypeVar("T")


class ExitCode(enum.IntEnum):
    """What the ``scopecraft`` process's exit status means (documented in ``docs/cli.md``)."""

    OK = 0
    """The command did what was asked."""
    FAILED = 1
    """The session ended failed or cancelled (where the command waits for it), a check found
    problems, or another scopecraft error."""
    USAGE = 2
    """Bad usage: an unknown option, a bad value, an invalid name, a bad configuration."""
    NOT_FOUND = 3
    """No such task, session, agent or runtime."""
    REFUSED = 4
    """The engine refused the request (dangerous outside a container, the main branch, a full
    queue, an unavailable mode, no terminal to attach to, empty feedback)."""
    TIMEOUT = 5
    """A ``--timeout`` ran out; the session goes on."""
    UNAVAILABLE = 6
    """A backend failed or cannot be reached (Docker, tmux, git, the store)."""
    INTERNAL = 70
    """A bug in scopecraft: rerun with ``--debug`` and report the traceback."""
    INTERRUPTED = 130
    """Interrupted with Ctrl-C; sessions go on."""


@dataclass(slots=True)
class CliState:
    """The global options, kept on the click context for every command.

    Attributes:
        repo: Any folder of the git repository (``--repo``).
        home: The state folder (``--home``), ``None`` for the engine's default.
        json: Print JSON for scripts instead of tables (``--json``).
        debug: Show tracebacks and debug logs (``--debug``).
    """

    repo: Path = Path(".")
    home: Path | None = None
    json: bool = False
    debug: bool = False


def state_of(ctx: typer.Context) -> CliState:
    """Return the global options of this invocation (defaults when the callback did not run)."""
    root = ctx.find_root()
    obj = root.obj
    if isinstance(obj, CliState):
        return obj
    state = CliState()
    root.obj = state
    return state


# -- running the engine ------------------------------------------------------------------------


def run_with_engine(state: CliState, func: Callable[[Engine], Awaitable[T]]) -> T:
    """Open an engine on ``state.repo``, run ``func`` with it, close it, return the result.

    The engine competes for the scheduler lease while it is open, like every engine; closing
    it leaves runtimes running (they are collected by the next engine that opens).

    Ctrl-C (SIGINT) cancels the whole command through an anyio cancel scope, which stays
    cancelled until the command has unwound: a shielded step (closing the store, releasing the
    lease) finishes first, and the interrupt cannot be lost in it, as a one-shot native task
    cancel can. The engine is then closed and `KeyboardInterrupt` is raised (exit 130).

    Raises:
        KeyboardInterrupt: Ctrl-C was pressed while the command ran.
    """
    import anyio

    from ..engine import Engine

    async def with_engine() -> T:
        async with Engine.open(state.repo, home=state.home) as engine:
            return await func(engine)

    return anyio.run(interruptible, with_engine)


async def interruptible(func: Callable[[], Awaitable[T]]) -> T:
    """Run ``func``; on SIGINT cancel it (level-triggered) and raise `KeyboardInterrupt`.

    Outside the main thread, where no signal handler can be installed, ``func`` just runs.
    """
    import threading

    import anyio

    if threading.current_thread() is not threading.main_thread():
        return await func()
    outcome: list[T] = []
    failure: list[BaseException] = []
    interrupted = False

    async def watch(scope: anyio.CancelScope) -> None:
        nonlocal interrupted
        with anyio.open_signal_receiver(signal.SIGINT) as signals:
            async for _ in signals:
                interrupted = True
                scope.cancel()

    async def body(scope: anyio.CancelScope) -> None:
        try:
            outcome.append(await func())
        except anyio.get_cancelled_exc_class():
            raise
        except BaseException as exc:  # handed to the caller as it is, not as a group
            failure.append(exc)
        finally:
            scope.cancel()

    async with anyio.create_task_group() as group:
        group.start_soon(watch, group.cancel_scope)
        group.start_soon(body, group.cancel_scope)
    if interrupted:
        raise KeyboardInterrupt
    if failure:
        raise failure[0]
    return outcome[0]


# -- output ------------------------------------------------------------------------------------


def console(*, stderr: bool = False) -> Console:
    """A rich console on the current standard output (or error) stream.

    Lines are never wrapped (``soft_wrap``), so ids and paths stay whole; when the stream is
    not a terminal, tables are laid out for ``$COLUMNS`` or 120 columns instead of 80.
    """
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    width: int | None = None
    if not _is_terminal(stream):
        try:
            width = int(os.environ.get("COLUMNS", "120"))
        except ValueError:
            width = 120
    return Console(file=stream, highlight=False, soft_wrap=True, stderr=stderr, width=width)


def _is_terminal(stream: Any) -> bool:
    try:
        return os.isatty(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False


def _jsonable(item: Any) -> Any:
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        return dump(mode="json")
    return item


def emit_json(data: BaseModel | Iterable[BaseModel] | dict[str, Any] | list[Any]) -> None:
    """Print a model as a JSON object, or models as a JSON array, on standard output."""
    if isinstance(data, dict):
        payload: Any = {key: _jsonable(value) for key, value in data.items()}
    elif hasattr(data, "model_dump"):
        payload = _jsonable(data)
    else:
        payload = [_jsonable(item) for item in data]
    import json

    sys.stdout.write(json.dumps(payload, indent=2, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def emit_json_line(item: BaseModel | dict[str, Any]) -> None:
    """Print one JSON object on one line (for streams: ``--follow --json``)."""
    import json

    sys.stdout.write(json.dumps(_jsonable(item), ensure_ascii=False) + "\n")
    sys.stdout.flush()


# -- errors ------------------------------------------------------------------------------------

_HINTS: tuple[tuple[str, str], ...] = (
    ("ExecutorUnavailable", "start the backend (Docker, tmux) or pass `--executor local`"),
    ("StorageBusy", "another process holds the store's write lock; try again"),
    ("SchemaError", "upgrade scopecraft, or point --home at another state folder"),
    ("GitError", "check that --repo is inside a git repository with at least one commit"),
    ("PluginError", "`pip list` shows what is installed; check the plugin's name"),
)


def classify_error(exc: BaseException) -> tuple[ExitCode, str | None]:
    """Map an exception to the process's exit code and a hint for the person.

    Args:
        exc: What a command raised.

    Returns:
        The exit code, and a hint (``None`` when the message says it all).
    """
    from .. import _errors as e

    if not isinstance(exc, e.ScopecraftError):
        return ExitCode.INTERNAL, "this is a bug in scopecraft; rerun with --debug and report it"
    hint = next((h for name, h in _HINTS if type(exc).__name__ == name), None)
    if isinstance(exc, e.SessionTimeout):
        return ExitCode.TIMEOUT, hint
    if isinstance(
        exc,
        e.TaskNotFound
        | e.SessionNotFound
        | e.AgentNotFound
        | e.AgentProgramNotFound
        | e.RuntimeNotFound,
    ):
        return ExitCode.NOT_FOUND, hint
    if isinstance(exc, e.InvalidName | e.ConfigError):
        return ExitCode.USAGE, hint
    if isinstance(exc, e.ExecutorUnavailable):
        return ExitCode.UNAVAILABLE, hint
    if isinstance(
        exc, e.RequestRefused | e.InvalidTransition | e.CapabilityMissing | e.PolicyError
    ):
        return ExitCode.REFUSED, hint
    if isinstance(exc, e.StorageError | e.ExecutorError | e.WorktreeError | e.AgentError):
        return ExitCode.UNAVAILABLE, hint
    return ExitCode.FAILED, hint


def _one_line(text: str) -> str:
    return " ".join(text.split())


def fail(
    message: str, code: ExitCode, *, hint: str | None = None, json_mode: bool = False
) -> NoReturn:
    """Print a one-line error (with a hint) on standard error and exit with ``code``."""
    if json_mode:
        import json

        payload = {"error": {"message": message, "hint": hint, "exit_code": int(code)}}
        sys.stderr.write(json.dumps(payload) + "\n")
    else:
        text = f"error: {_one_line(message)}"
        if hint:
            text += f" (hint: {hint})"
        typer.secho(text, fg="red", err=True)
    raise typer.Exit(int(code))


def handle_exception(exc: BaseException, state: CliState) -> NoReturn:
    """Turn an exception from a command into a one-line error and an exit code.

    With ``--debug`` the traceback is printed first. ``--json`` prints the error as a JSON
    object on standard error.
    """
    code, hint = classify_error(exc)
    if state.debug:
        import traceback

        traceback.print_exception(exc, file=sys.stderr)
    message = str(exc) or type(exc).__name__
    if code is ExitCode.INTERNAL:
        message = f"internal error: {type(exc).__name__}: {message}"
    if state.json:
        import json

        payload = {
            "error": {
                "type": type(exc).__name__,
                "message": _one_line(message),
                "hint": hint,
                "exit_code": int(code),
            }
        }
        sys.stderr.write(json.dumps(payload) + "\n")
        raise typer.Exit(int(code))
    fail(message, code, hint=hint)


def stderr_is_terminal() -> bool:
    """True when standard error is a terminal (live progress is shown only then)."""
    return _is_terminal(sys.stderr)


def new_typer(help: str) -> typer.Typer:
    """A command group with the house settings (plain, fast help; no completion)."""
    return typer.Typer(
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
    )
