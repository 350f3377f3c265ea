"""The rows of ``scopecraft doctor`` and the one way its checks run a program."""

from __future__ import annotations

import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

__all__ = [
    "DoctorCheck",
    "DoctorStatus",
    "Ran",
    "doctor_failed",
    "first_line",
    "git_env",
    "run_git",
    "run_program",
]

DoctorStatus = Literal["ok", "warn", "fail"]
"""How a check went: ``ok``; ``warn`` (something optional is missing or odd); ``fail``
(something needed is missing: sessions cannot run)."""

_TIMEOUT = 30.0  # seconds: git and `tmux -V` answer at once; a hung one must not hang doctor


@dataclass(frozen=True, slots=True)
class DoctorCheck:
    """One line of ``scopecraft doctor``.

    Attributes:
        check: What was checked (``git``, ``repository``, ``docker``, ``agent claude-code``).
        status: ``ok``, ``warn`` or ``fail``.
        detail: What was found (a version, a path, a count, or what is wrong).
        fix: What to do about it; ``None`` when there is nothing to do.
    """

    check: str
    status: DoctorStatus
    detail: str
    fix: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        """The line as a JSON-ready mapping: ``check``, ``status``, ``detail``, ``fix``."""
        return {"check": self.check, "status": self.status, "detail": self.detail, "fix": self.fix}


def doctor_failed(checks: Iterable[DoctorCheck]) -> bool:
    """Tell whether any check failed (something needed is missing)."""
    return any(check.status == "fail" for check in checks)


@dataclass(frozen=True, slots=True)
class Ran:
    """What a program run by `run_program()` gave: its exit code and decoded output."""

    code: int
    out: str
    err: str


def run_program(argv: Sequence[str], *, cwd: Path | None, env: Mapping[str, str]) -> Ran:
    """Run an argv (never a shell) with standard input closed; a program that cannot be
    started or runs past the time limit is an exit code of 127 with the reason."""
    try:
        done = subprocess.run(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Ran(127, "", str(exc))
    return Ran(
        done.returncode,
        done.stdout.decode(errors="replace"),
        done.stderr.decode(errors="replace"),
    )


def git_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` for git: no credential prompt, messages in English (they are quoted)."""
    return {**env, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def run_git(*args: str, cwd: Path, env: Mapping[str, str]) -> Ran:
    """Run ``git ARGS`` in ``cwd`` with `run_program()`."""
    return run_program(["git", *args], cwd=cwd, env=git_env(env))


def first_line(text: str) -> str:
    """The first line of ``text`` that is not blank, stripped (``""`` when none is)."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
