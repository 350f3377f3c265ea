"""The attempt's spool folder of a Docker runtime: the prompt in, the output out.

The folder ``<run_dir>/io`` is bind-mounted at ``/run/scopecraft``. The engine writes the prompt
there before the container exists; the container's shell redirects the agent's standard input
from it and appends its standard output and error to ``stdout.log`` and ``stderr.log`` there.
The engine reads those files by byte offset, so a cursor stored with the log lines says exactly
what was collected, whatever happens to the engine or to the Docker daemon in between, and the
output outlives the container until `DockerExecutor.remove()` deletes the folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from .._models import LogStream

__all__ = [
    "READ_LIMIT",
    "STREAMS",
    "delete_spool",
    "give_to",
    "prepare_spool",
    "read_spool",
    "spool_dir",
]

log = logging.getLogger("scopecraft.executors.docker")

STREAMS: tuple[LogStream, ...] = ("stdout", "stderr")
READ_LIMIT = 256 * 1024
"""Bytes read per stream per call: bounds the engine's memory with many busy sessions."""


def spool_dir(run_dir: Path) -> Path:
    """The folder mounted at ``/run/scopecraft`` for the attempt whose run folder is ``run_dir``."""
    return run_dir / "io"


def give_to(path: Path, uid: int, gid: int, *, mode: int) -> None:
    """Make ``path`` usable by the container's ``uid:gid``.

    As root the engine hands it over (``chown``); otherwise it is already the user's when the
    agent runs as the engine's own user, and is opened up (``mode``) when it runs as another
    (the parent folders stay private to the engine's user).
    """
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    elif uid != os.geteuid():
        log.warning(
            "the agent runs as uid %s, not the engine's %s: opening %s to it",
            uid,
            os.geteuid(),
            path,
        )
        path.chmod(mode)


def prepare_spool(run_dir: Path, stdin: bytes | None, uid: int, gid: int) -> Path:
    """Create the spool folder and write the prompt into it (atomically: a retried start may
    find a container already reading the earlier copy).

    Returns:
        The spool folder.
    """
    folder = spool_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    give_to(folder, uid, gid, mode=0o777)
    if stdin is not None:
        partial = folder / ".stdin.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(stdin)
        give_to(partial, uid, gid, mode=0o644)
        os.replace(partial, folder / "stdin")
    return folder


def delete_spool(run_dir: Path) -> None:
    """Delete the spool folder (prompt and raw output) and the run folder when it is empty."""
    shutil.rmtree(spool_dir(run_dir), ignore_errors=True)
    with contextlib.suppress(OSError):
        run_dir.rmdir()


def read_spool(
    run_dir: Path, cursor: dict[str, Any] | None, *, final: bool
) -> tuple[list[tuple[LogStream, str]], dict[str, Any]]:
    """Read complete lines of both streams past the cursor's byte offsets.

    Args:
        run_dir: The attempt's run folder.
        cursor: ``{"stdout": offset, "stderr": offset, ...}``; other keys are kept.
        final: The writer is gone: a last line without a newline counts too.

    Returns:
        The lines and the new cursor.
    """
    folder = spool_dir(run_dir)
    new_cursor: dict[str, Any] = dict(cursor or {})
    lines: list[tuple[LogStream, str]] = []
    for stream in STREAMS:
        offset = int(new_cursor.get(stream, 0))
        try:
            with open(folder / f"{stream}.log", "rb") as fh:
                fh.seek(offset)
                data = fh.read(READ_LIMIT)
        except FileNotFoundError:
            continue
        if not data:
            continue
        if final and len(data) < READ_LIMIT:
            chunk = data
        else:
            end = data.rfind(b"\n")
            if end < 0:
                if len(data) < READ_LIMIT:
                    continue  # the rest of the line is still to come
                end = len(data) - 1  # one line longer than a read: cut it rather than stall
            chunk = data[: end + 1]
        new_cursor[stream] = offset + len(chunk)
        parts = chunk.decode("utf-8", errors="replace").split("\n")
        if parts[-1] == "":
            parts.pop()
        lines.extend((stream, part.rstrip("\r")) for part in parts)
    return lines, new_cursor
