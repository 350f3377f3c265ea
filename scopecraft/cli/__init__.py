"""The ``scopecraft`` command line: a thin layer over the engine."""

from __future__ import annotations

__all__ = ["main"]


def main() -> None:
    """Entry point of the ``scopecraft`` console script."""
    from ._app import app

    app()
