"""Developer sessions: ``nox -s tests lint typing docs bench``."""

from __future__ import annotations

import nox

nox.options.sessions = ["lint", "typing", "tests", "docs"]
nox.options.reuse_existing_virtualenvs = True

PYTHONS = ["3.11", "3.12", "3.13"]


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """Run the test suite (Docker and tmux tests skip locally when absent)."""
    session.install("-e", ".[dev]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff: lint and format check."""
    session.install("ruff")
    session.run("ruff", "check", "scopecraft", "tests", "benchmarks", "examples")
    session.run("ruff", "format", "--check", "scopecraft", "tests", "benchmarks", "examples")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy --strict on the package and the tests."""
    session.install("-e", ".[dev]")
    session.run(
        "mypy", "scopecraft", "tests", "examples/run_session.py", "examples/echo-executor/src"
    )


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation with --strict."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict")


@nox.session
def bench(session: nox.Session) -> None:
    """Run every benchmark script; each prints its figures and a ratio as its last line."""
    session.install("-e", ".[dev]")
    for script in sorted(__import__("pathlib").Path("benchmarks").glob("*.py")):
        session.run("python", str(script), *session.posargs)
