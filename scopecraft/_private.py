"""Private folders and files: the engine's home, its store and run folders (0700 / 0600).

Every session's output, prompts and agent state live under the home; another local user
must not be able to read them. Folders are created ``0700`` and files ``0600``; a home or
store left more open by an earlier version (or a loose umask) is tightened when it belongs
to this user.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

__all__ = ["private_dir", "private_file"]


def _tighten(path: Path, mode: int) -> None:
    try:
        info = path.lstat()
    except FileNotFoundError:
        return
    if stat.S_ISLNK(info.st_mode) or info.st_uid != os.getuid():
        return
    if stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, mode)


def private_dir(path: Path) -> None:
    """Create ``path`` (and its parents) as a private folder, or make it private.

    Raises:
        OSError: it cannot be created (a parent is a file, no permission, a full disk).
    """
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    _tighten(path, 0o700)


def private_file(path: Path) -> None:
    """Create ``path`` empty with mode ``0600`` when missing, else make it ``0600``.

    SQLite creates its ``-wal`` and ``-shm`` files with the permissions of the database
    file, so a private database keeps them private too.

    Raises:
        OSError: it cannot be created.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        _tighten(path, 0o600)
    else:
        os.close(fd)
