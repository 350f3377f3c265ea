"""``scopecraft doctor``: one line per check of this machine and repository, with its fix."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

import typer

from ._common import ExitCode, console, emit_json, state_of

if TYPE_CHECKING:
    from .._doctor import DoctorCheck

__all__ = ["doctor"]

_STYLES = {"ok": "green", "warn": "yellow", "fail": "red"}


def doctor(
    ctx: typer.Context,
    require: Annotated[
        list[str] | None,
        typer.Option(
            "--require",
            metavar="NAMES",
            help="Fail instead of warning when one of these is missing: docker, tmux or an "
            "agent (comma-separated or repeated, e.g. --require docker,claude-code).",
            show_default=False,
        ),
    ] = None,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            min=0.1,
            metavar="SECONDS",
            help="Seconds each agent's `--version` or `--help` may take.",
        ),
    ] = 15.0,
) -> None:
    """Check git, the repository and its tasks, Docker, tmux, the agent CLIs, the home
    folder and the store, changing nothing; one line per check with its fix. Exit 1 when
    something needed is missing (git, a repository with a commit, a writable home, a
    readable store, or what --require names)."""
    from .._doctor import doctor_failed, run_doctor
    from ..engine import Engine

    state = state_of(ctx)
    names = [part for value in require or () for part in value.split(",")]
    # An engine that is never opened: the configuration and plugins every command uses,
    # without creating the home folder or the store.
    engine = Engine(state.repo, home=state.home)
    checks = run_doctor(
        state.repo,
        home=engine.home,
        config=engine.config,
        plugins=engine.plugins,
        require=names,
        timeout=timeout,
    )
    if state.json:
        emit_json([check.to_dict() for check in checks])
    else:
        _print(checks)
    if doctor_failed(checks):
        raise typer.Exit(int(ExitCode.FAILED))


def _print(checks: list[DoctorCheck]) -> None:
    from rich.text import Text

    out = console()
    width = max(len(check.check) for check in checks)
    for check in checks:
        line = Text()
        line.append(f"{check.status:<4}", style=_STYLES[check.status])
        line.append(f"  {check.check:<{width}}  {check.detail}")
        if check.fix:
            line.append(f"  fix: {check.fix}", style="bright_black")
        out.print(line)
    warned = sum(check.status == "warn" for check in checks)
    failed = sum(check.status == "fail" for check in checks)
    if failed:
        out.print(f"{failed} needed thing(s) missing, {warned} warning(s)", style="red")
    elif warned:
        out.print(f"ready; {warned} warning(s)", style="yellow")
    else:
        out.print("ready", style="green")
