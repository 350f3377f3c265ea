"""The ``scopecraft`` command line: a thin layer over the engine.

``main()`` is the console script. The typer application lives in `._app`; every command
imports the engine, anyio and rich only when it runs, so ``scopecraft --help`` stays fast.
"""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``scopecraft`` console script.

    Ctrl-C while the command line is still loading exits 130 with one line, as it does once a
    command runs, never with a traceback of the import it cut short.
    """
    try:
        from ._app import app

        app(prog_name="scopecraft")
    except KeyboardInterrupt:
        import sys

        sys.stderr.write("interrupted\n")
        raise SystemExit(130) from None
