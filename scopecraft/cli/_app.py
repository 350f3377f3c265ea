"""The typer application behind ``scopecraft``: global options, error handling, command groups.

Help is rendered by click's plain formatter (``rich_markup_mode=None``): typer's rich help
imports rich's markdown and syntax modules, which would triple the start-up time of
``scopecraft --help``. Commands import rich (and the engine) only when they run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from ._common import CliState, ExitCode, handle_exception, state_of

__all__ = ["app"]


_HOISTED = ("--json", "--debug")


def hoist_global_flags(args: list[str]) -> list[str]:
    """Move ``--json`` and ``--debug`` given after a command to the front, where the root
    command reads them (``scopecraft session list --json`` works); ``--`` ends the search."""
    end = args.index("--") if "--" in args else len(args)
    flags = [a for a in args[:end] if a in _HOISTED]
    if not flags:
        return args
    rest = [a for a in args[:end] if a not in _HOISTED]
    return [*dict.fromkeys(flags), *rest, *args[end:]]


class ScopecraftGroup(TyperGroup):
    """The root command: global flags anywhere, and every error as one line and an exit code."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:  # type: ignore[override]
        """Parse the root's options, with ``--json``/``--debug`` accepted after a command."""
        return super().parse_args(ctx, hoist_global_flags(args))

    def invoke(self, ctx: typer.Context) -> Any:  # type: ignore[override]
        """Run the command; scopecraft errors become ``error: ...`` and an exit code."""
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException):
            raise
        except KeyboardInterrupt:
            typer.secho(
                "interrupted; sessions go on running (`scopecraft session list` shows them)",
                err=True,
            )
            raise typer.Exit(int(ExitCode.INTERRUPTED)) from None
        except Exception as exc:
            handle_exception(exc, state_of(ctx))


app = typer.Typer(
    name="scopecraft",
    help=(
        "Run AI coding agents as durable sessions bound to tasks and git worktrees.\n\n"
        "Exit codes: 0 ok, 1 session failed or cancelled, 2 bad usage, 3 not found, "
        "4 refused, 5 timed out, 6 backend unavailable, 70 internal error, 130 interrupted."
    ),
    cls=ScopecraftGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        from .. import __version__

        typer.echo(f"scopecraft {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    ctx: typer.Context,
    repo: Annotated[
        Path,
        typer.Option(
            "--repo",
            help="Any folder of the git repository whose tasks to run.",
            envvar="SCOPECRAFT_REPO",
            show_default=True,
        ),
    ] = Path("."),
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="State folder (default: $SCOPECRAFT_HOME or ~/.scopecraft).",
            show_default=False,
        ),
    ] = None,
    json: Annotated[
        bool, typer.Option("--json", help="Print JSON for scripts instead of tables.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show tracebacks and debug logs on errors.")
    ] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run AI coding agents as durable sessions bound to tasks and git worktrees."""
    from ._logging import configure_logging

    ctx.obj = CliState(repo=repo, home=home, json=json, debug=debug)
    configure_logging(debug)


def _register() -> None:
    from . import _agents, _config_cmd, _control, _image, _ops, _session, _tasks, _worktree

    _ = _control  # registers approve, deny, resume and budget on the session group
    from . import _doctor, _tasks_new

    _ = _tasks_new  # registers `tasks new` on the tasks group

    app.add_typer(_session.session_app, name="session")
    app.add_typer(_tasks.tasks_app, name="tasks")
    app.command("queue")(_ops.queue)
    app.add_typer(_worktree.worktree_app, name="worktree")
    app.add_typer(_agents.agents_app, name="agents")
    app.add_typer(_image.image_app, name="image")
    app.add_typer(_config_cmd.config_app, name="config")
    app.command("costs")(_ops.costs)
    app.command("serve")(_ops.serve)
    app.command("mcp")(_ops.mcp)
    app.command("demo")(_ops.demo)
    app.command("doctor")(_doctor.doctor)
    from . import _top

    app.command("top")(_top.top)


_register()
