"""Reading and writing single task files: atomic replacement, exclusive creation."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from collections.abc import Collection
from datetime import datetime
from pathlib import Path
from typing import Final

from scopecraft._errors import InvalidName, MalformedTask
from scopecraft.tasks._document import TaskDocument, parse_document
from scopecraft.tasks._identity import OVERVIEW_FILE, TASK_FILE_SUFFIX, validate_task_id
from scopecraft.tasks._normalize import normalize_status

__all__ = ["parse_task_bytes", "read_document", "update_task_file", "write_task"]

# New task files get the usual permissions of a file a person creates (mkstemp makes 0600).
_NEW_FILE_MODE = 0o644

MAX_TASK_FILE_BYTES: Final = 1024 * 1024
"""The largest task file read or written, in bytes (real ones are under 32 KiB)."""


def _too_large(path: Path, size: int | None) -> MalformedTask:
    shown = f" ({size} bytes)" if size is not None and size > MAX_TASK_FILE_BYTES else ""
    return MalformedTask(
        path,
        f"the file is larger than the limit of {MAX_TASK_FILE_BYTES} bytes for a task file"
        f"{shown} (MAX_TASK_FILE_BYTES); move long material to a supporting document",
    )


def read_document(path: Path | str) -> TaskDocument:
    """Read and parse a task file.

    Args:
        path: The file.

    Returns:
        The document.

    Raises:
        MalformedTask: When the file is larger than `MAX_TASK_FILE_BYTES`, not UTF-8
            text or not a valid task document.
        OSError: When the file cannot be read.
    """
    path = Path(path)
    with path.open("rb") as handle:
        # One byte past the limit tells a file that is too large without reading it all,
        # whatever its size says (it may be growing, or not a regular file).
        raw = handle.read(MAX_TASK_FILE_BYTES + 1)
        if len(raw) > MAX_TASK_FILE_BYTES:
            raise _too_large(path, os.fstat(handle.fileno()).st_size)
    return parse_task_bytes(raw, path=path)


def parse_task_bytes(raw: bytes, *, path: Path | str, size: int | None = None) -> TaskDocument:
    """Parse a task file given as bytes, with the bounds `read_document()` applies.

    For a copy that is not on disk: a task file as a branch's commit holds it, read from
    git's object database.

    Args:
        raw: The file's bytes.
        path: The file, named in errors (it need not exist).
        size: The file's full size when known: a file larger than `MAX_TASK_FILE_BYTES` is
            refused on its size alone, so its bytes need not have been read (``raw`` may then
            be empty).

    Returns:
        The document.

    Raises:
        MalformedTask: When the file is larger than `MAX_TASK_FILE_BYTES`, not UTF-8 text
            or not a valid task document.
    """
    if (size is not None and size > MAX_TASK_FILE_BYTES) or len(raw) > MAX_TASK_FILE_BYTES:
        raise _too_large(Path(path), max(size or 0, len(raw)))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedTask(path, f"the file is not UTF-8 text ({exc.reason})") from exc
    return parse_document(text, path=path)


def update_task_file(
    path: Path | str,
    *,
    status: str | None = None,
    log: str | None = None,
    now: datetime | None = None,
    only_from: Collection[str] | None = None,
) -> str:
    """Set a task file's status and/or append a log line, changing nothing else.

    The status is written in its canonical form (``"In Progress"`` is written
    ``in_progress``) on the ``status:`` line only, and left alone when the file already says the
    same thing in another spelling, or (with ``only_from``) when the file's status is not one
    of those given: how a status someone else chose (``blocked``, ``reviewing``) is kept.
    The log line ``- YYYY-MM-DD HH:MM: text`` (UTC) goes at the end of ``## Log``, which is
    added when missing. A file that put its front matter first is written back title-first.
    The new text replaces the file atomically (a temporary file in the same folder, then
    ``os.replace``), keeping its permissions.

    Args:
        path: The task file.
        status: The new status, or ``None`` to keep it.
        log: The log entry's text, or ``None`` for no entry.
        now: The log entry's time, timezone-aware (default: the current time).
        only_from: Change the status only when the file's status is one of these (in any
            spelling); ``None``: whatever it is.

    Returns:
        The file's status afterwards, normalised (see `normalize_status()`); ``""`` when
        nothing was asked for (the file is not read).

    Raises:
        MalformedTask: When the file is not a valid task document, or the new text would be
            larger than `MAX_TASK_FILE_BYTES` (the file is left as it was).
        ValueError: When ``status`` or ``log`` is empty, or ``now`` is naive.
        OSError: When the file cannot be read or replaced.
    """
    if status is None and log is None:
        return ""
    path = Path(path)
    document = read_document(path)
    before = document.render(original_order=True)
    current = normalize_status(document.status)
    if status is not None:
        wanted = normalize_status(status)
        if not wanted:
            raise ValueError(f"a status is one non-empty line of text, not {status!r}")
        allowed = only_from is None or current in {normalize_status(s) for s in only_from}
        if current != wanted and allowed:
            document.set_status(wanted)
            current = wanted
    if log is not None:
        document.append_log(log, now=now)
    if document.render(original_order=True) != before:
        data = document.render().encode("utf-8")
        if len(data) > MAX_TASK_FILE_BYTES:
            raise _too_large(path, len(data))
        _atomic_write(path, data, exclusive=False)
    return current


def write_task(path: Path | str, document: TaskDocument, *, overwrite: bool = False) -> None:
    """Write a task document to a new file, title-first, atomically.

    Missing parent folders are created. The file name must make a valid task id
    (``<id>.task.md``) or be ``_overview.md`` in a folder named by a valid id.

    Args:
        path: The file to write.
        document: The document.
        overwrite: Replace an existing file instead of refusing.

    Raises:
        InvalidName: When the file name does not make a valid task id.
        MalformedTask: When the document would not read back as a valid task (a required key
            missing or empty, or larger than `MAX_TASK_FILE_BYTES`).
        FileExistsError: When the file exists and ``overwrite`` is false.
        OSError: When the file cannot be written.
    """
    path = Path(path)
    if path.name == OVERVIEW_FILE:
        validate_task_id(path.parent.name)
    elif path.name.endswith(TASK_FILE_SUFFIX):
        validate_task_id(path.name[: -len(TASK_FILE_SUFFIX)])
    else:
        raise InvalidName(
            "task file name",
            path.name,
            f"a task file ends in {TASK_FILE_SUFFIX} or is _overview.md",
        )
    text = document.render()
    data = text.encode("utf-8")
    if len(data) > MAX_TASK_FILE_BYTES:  # it would not read back
        raise _too_large(path, len(data))
    parse_document(text, path=path)  # refuse to write what would not read back as a task
    path.parent.mkdir(parents=True, exist_ok=True)
    _atomic_write(path, data, exclusive=not overwrite)


def _atomic_write(path: Path, data: bytes, *, exclusive: bool) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder.

    With ``exclusive``, the file must not exist yet: the temporary file is hard-linked into
    place, which fails if another writer got there first.
    """
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        if exclusive:
            os.chmod(tmp, _NEW_FILE_MODE)
            _link_exclusive(tmp, path, data)
        else:
            try:
                os.chmod(tmp, path.stat().st_mode & 0o7777)
            except FileNotFoundError:
                os.chmod(tmp, _NEW_FILE_MODE)
            os.replace(tmp, path)
        _fsync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


def _link_exclusive(tmp: Path, path: Path, data: bytes) -> None:
    try:
        os.link(tmp, path)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        # A file system without hard links: create exclusively and write in place.
        with open(path, "xb") as handle:
            handle.write(data)


def _fsync_folder(folder: Path) -> None:
    # Makes the rename durable on POSIX; folders cannot be opened this way everywhere.
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
