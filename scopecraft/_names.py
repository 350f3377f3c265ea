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


# First components that name a ref namespace or the usual remote: ``refs/heads/x`` given as a
# branch would become ``refs/heads/refs/heads/x``, and ``heads/x``, ``tags/x``, ``remotes/x`` and
# ``origin/x`` read back as other refs when git resolves a short name. Compared without case,
# for file systems that ignore it.
_REF_NAMESPACES = frozenset({"refs", "heads", "tags", "remotes", "origin"})


def _branch_problem(value: str) -> str | None:
    """Return why ``value`` is not a safe branch name, or ``None`` when it is."""
    if len(value) > 200:
        return "is longer than 200 characters"
    if _BRANCH_CHARS.fullmatch(value) is None:
        return "use letters, digits, '.', '_', '-' and '/' only"
    if value.startswith("-"):
        return "must not start with '-'"
    if ".." in value:
        return "must not contain '..'"
    if value.endswith(("/", ".")):
        return "must not end with '/' or '.'"
    if value == "HEAD":
        return "HEAD is not a branch"
    for part in value.split("/"):
        if not part:
            return "must not have an empty component ('//' or a leading '/')"
        if part.startswith("."):
            return "no component may start with '.'"
        if part.endswith(".lock"):
            return "no component may end with '.lock'"
    return _namespace_problem(value)


def _namespace_prefix(parts: list[str]) -> int:
    """How many leading components of a branch name are a ref namespace (0 when none)."""
    if len(parts) < 2 or parts[0].lower() not in _REF_NAMESPACES:
        return 0
    first = parts[0].lower()
    second = parts[1].lower() if len(parts) > 2 else ""
    if first == "refs" and second == "remotes" and len(parts) > 3:
        return 3  # refs/remotes/<remote>/
    if (first == "refs" and second in ("heads", "tags")) or (first == "remotes" and second):
        return 2  # refs/heads/, refs/tags/, remotes/<remote>/
    return 1


def _namespace_problem(value: str) -> str | None:
    parts = value.split("/")
    first = parts[0].lower()
    stripped = 0
    while count := _namespace_prefix(parts[stripped:]):
        stripped += count
    if not stripped:
        return None
    prefix = "/".join(parts[:stripped]) + "/"
    if first in ("origin", "remotes") or (first == "refs" and parts[1].lower() == "remotes"):
        why = "; it names a remote-tracking branch, not a local one"
    elif first != "refs":
        why = f"; git reads {first}/<name> as a ref under refs/{first}/"
    else:
        why = ""
    suggestion = "/".join(parts[stripped:])
    if _branch_problem(suggestion) is None:
        return f"pass the branch name without {prefix}: {suggestion!r}{why}"
    return f"pass the branch name without {prefix}{why}"


def validate_branch(value: str) -> str:
    """Return ``value`` if it is a safe git branch name, given as its short name.

    Git's ref rules (what ``git check-ref-format --branch`` accepts), narrowed: letters, digits,
    ``.``, ``_``, ``-`` and ``/`` only; no ``..``, no leading ``-`` or ``/``, no empty,
    ``.``-leading or ``.lock``-ending component, no trailing ``/`` or ``.``, not ``HEAD``, at
    most 200 characters.

    A branch is given by its short name (``main``, ``feature/x``), so a name whose first
    component is ``refs``, ``heads``, ``tags``, ``remotes`` or ``origin`` (in any case) is
    refused, and the message says what to pass instead: ``refs/heads/main`` would otherwise
    create ``refs/heads/refs/heads/main``, and ``heads/main`` or ``origin/main`` would be read
    back by git as other refs. Git allows a local branch named ``origin/x``; it is refused here
    on purpose, because it reads as the remote-tracking branch of the usual remote.

    Args:
        value: The branch's short name.

    Returns:
        ``value``, unchanged.

    Raises:
        InvalidName: with the rule that failed.
    """
    _check_text("branch", value)
    reason = _branch_problem(value)
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
