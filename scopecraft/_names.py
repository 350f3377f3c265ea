"""Validation of every name that reaches git, tmux, Docker or the filesystem (invariant 4).

Names are checked against strict patterns *before* any call uses them; paths derived from
them are resolved and checked to lie inside their root.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path

from ._errors import InvalidName

__all__ = [
    "TASK_ID_PATTERN",
    "contained",
    "new_session_id",
    "validate_branch",
    "validate_env_name",
    "validate_session_id",
    "validate_task_id",
]

TASK_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")
"""What every task id matches (with ``fullmatch``); the one definition of a task id."""
_SESSION_ID = re.compile(r"[a-z0-9][a-z0-9-]{2,62}")
_BRANCH_CHARS = re.compile(r"[A-Za-z0-9._/-]+")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_SESSION_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"


def _check_text(kind: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidName(kind, repr(value), "must be a string")
    if not value:
        raise InvalidName(kind, value, "must not be empty")
    return value


def validate_task_id(value: str) -> str:
    """Return ``value`` if it is a valid task id (``auth-05A``, ``01_research-05B``).

    Raises:
        InvalidName: anything but letters, digits, ``_`` and ``-`` (starting with a letter or
            digit, at most 128 characters).
    """
    _check_text("task id", value)
    if TASK_ID_PATTERN.fullmatch(value) is None:
        raise InvalidName(
            "task id",
            value,
            "use letters, digits, '_' and '-' only, starting with a letter or digit "
            "(at most 128 characters)",
        )
    return value


def validate_session_id(value: str) -> str:
    """Return ``value`` if it is a valid session id (lowercase letters, digits and ``-``).

    Raises:
        InvalidName: when it is not.
    """
    _check_text("session id", value)
    if _SESSION_ID.fullmatch(value) is None:
        raise InvalidName(
            "session id", value, "use 3 to 63 lowercase letters, digits and '-', like ses-1a2b3c"
        )
    return value


def new_session_id() -> str:
    """Return a fresh random session id such as ``ses-k3v9x0q2m7ab``."""
    return "ses-" + "".join(secrets.choice(_SESSION_ALPHABET) for _ in range(12))


def validate_branch(value: str) -> str:
    """Return ``value`` if it is a safe git branch name.

    Git's ref rules, narrowed: letters, digits, ``.``, ``_``, ``-`` and ``/`` only; no ``..``,
    no leading ``-`` or ``/``, no empty, ``.``-leading or ``.lock``-ending component, no
    trailing ``/`` or ``.``, at most 200 characters.

    Raises:
        InvalidName: with the rule that failed.
    """
    _check_text("branch", value)
    reason = None
    if len(value) > 200:
        reason = "is longer than 200 characters"
    elif _BRANCH_CHARS.fullmatch(value) is None:
        reason = "use letters, digits, '.', '_', '-' and '/' only"
    elif value.startswith("-"):
        reason = "must not start with '-'"
    elif ".." in value:
        reason = "must not contain '..'"
    elif value.endswith(("/", ".")):
        reason = "must not end with '/' or '.'"
    elif value == "HEAD":
        reason = "HEAD is not a branch"
    else:
        for part in value.split("/"):
            if not part:
                reason = "must not have an empty component ('//' or a leading '/')"
            elif part.startswith("."):
                reason = "no component may start with '.'"
            elif part.endswith(".lock"):
                reason = "no component may end with '.lock'"
            if reason:
                break
    if reason:
        raise InvalidName("branch", value, reason)
    return value


def validate_env_name(value: str) -> str:
    """Return ``value`` if it is a valid environment variable name.

    Raises:
        InvalidName: when it is not an identifier of letters, digits and ``_``.
    """
    _check_text("environment variable name", value)
    if _ENV_NAME.fullmatch(value) is None:
        raise InvalidName(
            "environment variable name",
            value,
            "use letters, digits and '_', not starting with a digit",
        )
    return value


def contained(root: Path, *parts: str) -> Path:
    """Join ``parts`` under ``root``, resolve, and check the result lies inside ``root``.

    Raises:
        InvalidName: the resolved path escapes ``root``.
    """
    base = root.resolve()
    target = base.joinpath(*parts).resolve()
    if target != base and base not in target.parents:
        raise InvalidName("path", str(Path(*parts)) if parts else str(root), f"escapes {base}")
    return target
