"""The secret values a session's output must be cleaned of, kept where any collector finds them.

The process that launches an attempt knows which secrets it forwarded to the agent; the one
that collects the output may be another (``scopecraft session wait`` from a shell that lacks
the variable, or the next engine after a crash). So the launcher writes the values to a
private file in the session's folder under the engine's home (``0600`` in a ``0700`` folder,
never mounted into a container, never in the store), and every collector reads it before
it stores a line of that session's output. Redaction does not depend on who collects. The
file is deleted when the session ends, once all its output is stored; a later continue
writes it again from the process that launches the new attempt.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path

__all__ = ["SECRETS_FILE", "read_session_secrets", "write_session_secrets"]

SECRETS_FILE = "secrets.json"
"""The file, in ``<home>/sessions/<session id>/``, holding the session's secret values."""

_MAX_BYTES = 1 << 20


def read_session_secrets(folder: Path) -> set[str]:
    """Return the secret values recorded for a session (none when there is no file).

    Args:
        folder: The session's folder under the home.
    """
    try:
        fd = os.open(folder / SECRETS_FILE, os.O_RDONLY | os.O_NOFOLLOW)
    except (FileNotFoundError, NotADirectoryError):
        return set()
    with os.fdopen(fd, "rb") as handle:
        data = handle.read(_MAX_BYTES)
    try:
        values = json.loads(data)
    except ValueError:
        return set()
    return {v for v in values if isinstance(v, str)} if isinstance(values, list) else set()


def write_session_secrets(folder: Path, values: Iterable[str]) -> set[str]:
    """Add ``values`` to the session's secrets file (created ``0600``) and return them all.

    Args:
        folder: The session's folder under the home (created ``0700`` when missing).
        values: The secret values the attempt's agent gets.

    Returns:
        Every value the file now holds.
    """
    known = read_session_secrets(folder)
    merged = known | {v for v in values if v}
    if merged == known:
        return known
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = folder / f".{SECRETS_FILE}.{os.getpid()}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(sorted(merged), handle)
    os.replace(tmp, folder / SECRETS_FILE)
    return merged
