"""Task ids, file names and the encoded project path of the central layout.

A task's id is its file name without ``.task.md``; a parent task's id is its folder's name; a
subtask keeps its ``NN_`` prefix. Scopecraft generates ids as ``<name>-<MM><A-Z>`` (subtasks
``NN_<name>-<MM><A-Z>``), but older files in its own history carry other names
(``otel-event-sourcing``, ``03-ui-update``), so reading accepts any id made of ASCII letters,
digits, ``-`` and ``_`` (`TASK_ID_PATTERN`), while new tasks are always given the generated
form (`GENERATED_TASK_ID_PATTERN`). Neither pattern admits a path separator, a dot, white
space or a shell metacharacter, so an id can always be joined to a folder safely.
"""

from __future__ import annotations

import os
import re
import unicodedata
from pathlib import Path, PurePath

from scopecraft._errors import InvalidName
from scopecraft._names import TASK_ID_PATTERN as _TASK_ID_PATTERN

__all__ = [
    "GENERATED_TASK_ID_PATTERN",
    "TASK_FILE_SUFFIX",
    "TASK_ID_PATTERN",
    "central_tasks_dir",
    "encode_project_path",
    "is_task_id",
    "name_from_title",
    "subtask_sequence",
    "validate_task_id",
]

TASK_FILE_SUFFIX = ".task.md"
"""The suffix of every task file."""

OVERVIEW_FILE = "_overview.md"
"""The file that makes a folder a parent task."""

TASK_ID_PATTERN = _TASK_ID_PATTERN
"""What any task id read from disk matches (use with ``fullmatch``); shared with the engine."""

GENERATED_TASK_ID_PATTERN = re.compile(
    r"(?:(?P<seq>[0-9]{2})_)?[a-z0-9]+(?:-[a-z0-9]+)*-(?P<month>0[1-9]|1[0-2])[A-Z]"
)
"""The form Scopecraft generates: ``<name>-<MM><A-Z>``, optionally prefixed ``NN_``."""

_SEQUENCE_PREFIX = re.compile(r"([0-9]{2})[_-]")
_NAME_PART = re.compile(r"[a-z0-9]+")


def is_task_id(value: str) -> bool:
    """Tell whether a string could be a task id.

    Args:
        value: The candidate id.

    Returns:
        True when ``value`` matches `TASK_ID_PATTERN`.
    """
    return TASK_ID_PATTERN.fullmatch(value) is not None


def validate_task_id(value: str) -> str:
    """Check that a string could be a task id before it goes near the file system.

    Args:
        value: The candidate id.

    Returns:
        ``value`` unchanged.

    Raises:
        InvalidName: When ``value`` is not a string of ASCII letters, digits, ``-`` and ``_``
            starting with a letter or digit, at most 128 characters long.
    """
    if not isinstance(value, str):
        raise InvalidName("task id", repr(value), "a task id is a string")
    if TASK_ID_PATTERN.fullmatch(value) is None:
        if not value:
            reason = "it is empty"
        elif len(value) > 128:
            reason = "it is longer than 128 characters"
        else:
            reason = (
                "a task id has only ASCII letters, digits, '-' and '_' and starts with a letter "
                "or digit (for example add-oauth-05A or 02_impl-api-05C)"
            )
        raise InvalidName("task id", value, reason)
    return value


def subtask_sequence(file_name: str) -> int | None:
    """Return the sequence number of a subtask file, from its ``NN_`` (or older ``NN-``) prefix.

    Args:
        file_name: The subtask's file name or id.

    Returns:
        ``NN`` as an int, or ``None`` when the name has no sequence prefix.
    """
    match = _SEQUENCE_PREFIX.match(file_name)
    return int(match.group(1)) if match else None


def name_from_title(title: str, *, max_length: int = 30) -> str:
    """Turn a title into the ``<name>`` part of a new task id.

    ``"Add OAuth login (GitHub, Google)"`` gives ``add-oauth-login-github-google``; words are
    dropped from the end to keep within ``max_length``. Accents are removed; other characters
    outside ``[a-z0-9]`` separate words.

    Args:
        title: The task's title.
        max_length: The longest name to return (Scopecraft keeps names within 30 characters).

    Returns:
        A non-empty name (``task`` when the title has no usable characters).
    """
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = _NAME_PART.findall(ascii_title.lower())
    name = ""
    for word in words:
        candidate = f"{name}-{word}" if name else word
        if len(candidate) > max_length:
            if not name:
                name = word[:max_length]
            break
        name = candidate
    return name or "task"


def encode_project_path(repo_root: Path | str) -> str:
    """Encode a repository's absolute path as Scopecraft names its central project folder.

    Each part of the absolute path (without following symbolic links, as Node's
    ``path.resolve`` does) has every character outside ``[a-zA-Z0-9-]`` replaced by ``_``; the
    parts are joined with ``-`` and the result is lowercased. ``/home/alice/code/myapp`` gives
    ``home-alice-code-myapp``; ``/Users/Bob/My App`` gives ``users-bob-my_app``. A character
    outside the Basic Multilingual Plane counts twice, as it does in JavaScript strings.

    Args:
        repo_root: The main repository's root folder.

    Returns:
        The encoded path.
    """
    absolute = PurePath(os.path.abspath(os.fspath(repo_root)))
    parts = list(absolute.parts[1:]) if absolute.anchor else list(absolute.parts)
    if absolute.drive:
        parts.insert(0, absolute.drive)
    encoded = [_encode_part(part) for part in parts if part]
    return "-".join(encoded).lower()


def _encode_part(part: str) -> str:
    out: list[str] = []
    for char in part:
        if char.isascii() and (char.isalnum() or char == "-"):
            out.append(char)
        else:
            out.append("_" * (len(char.encode("utf-16-le")) // 2))
    return "".join(out)


def central_tasks_dir(home: Path, repo_root: Path) -> Path:
    """Return the central layout's tasks folder for a repository.

    Args:
        home: scopecraft's home folder (``~/.scopecraft`` or ``SCOPECRAFT_HOME``).
        repo_root: The main repository's root folder (not a worktree of it).

    Returns:
        ``<home>/projects/<encoded repo path>/tasks``.
    """
    return Path(home) / "projects" / encode_project_path(repo_root) / "tasks"
