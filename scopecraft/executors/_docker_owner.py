"""Who the agent runs as in its container: never root.

The agent runs as the ``uid:gid`` owning the worktree, so it can write there and the user owns
what it writes. When that owner is root (the engine runs as root, as on a CI machine), the agent
runs as an unprivileged user instead (`DockerExecutorConfig.agent_user`, ``1000:1000`` unless
set): before the container starts the worktree is handed to that user, and once the container
has ended it is handed back to its owner, so host tools (git, the engine's finalize step) find it
as they left it.

The handover is recorded in ``<run_dir>/owner.json`` (private to the engine, never mounted into
the container) before any file changes hands, so a handback happens exactly when a handover may
have happened: after the container exits, is stopped, is found gone, or is removed, and after an
engine restart. A handback never follows a link, and clears set-user-ID and set-group-ID bits,
so an agent cannot leave behind a program that runs as root on the host.
"""

from __future__ import annotations

import json
import logging
import os
import stat
from pathlib import Path

__all__ = ["OWNER_FILE", "hand_back", "hand_over", "handed_over"]

log = logging.getLogger("scopecraft.executors.docker")

OWNER_FILE = "owner.json"
"""Name of the record, in the attempt's run folder, of a worktree handed to the agent's user."""

_PRIVILEGE_BITS = stat.S_ISUID | stat.S_ISGID


def handed_over(run_dir: Path) -> bool:
    """Whether the attempt whose run folder is ``run_dir`` holds a worktree not yet handed back."""
    return (run_dir / OWNER_FILE).is_file()


def hand_over(workdir: Path, run_dir: Path, uid: int, gid: int) -> None:
    """Give ``workdir`` (recursively, links not followed) to ``uid:gid`` for an attempt.

    The owner it had is recorded first (a retried start keeps the first record), so that
    `hand_back()` restores it even after a crash in the middle of the walk.
    """
    record = run_dir / OWNER_FILE
    if not record.is_file():
        st = workdir.stat()
        data = {"path": str(workdir), "uid": st.st_uid, "gid": st.st_gid}
        partial = run_dir / f".{OWNER_FILE}.partial"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
        os.replace(partial, record)
    count = _chown_tree(workdir, uid, gid, clear_privileges=False)
    log.info("handed %s (%s entries) to %s:%s for the attempt", workdir, count, uid, gid)


def hand_back(run_dir: Path) -> bool:
    """Give the worktree recorded in ``run_dir`` back to its owner; idempotent.

    Returns:
        Whether a worktree was handed back (``False`` when none was handed over, or when the
        walk failed: the record is kept and a later call tries again).
    """
    record = run_dir / OWNER_FILE
    try:
        data = json.loads(record.read_text(encoding="utf-8"))
        workdir, uid, gid = Path(str(data["path"])), int(data["uid"]), int(data["gid"])
    except FileNotFoundError:
        return False
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("cannot read %s (%s): the worktree keeps its owner", record, exc)
        return False
    if workdir.is_dir() and not workdir.is_symlink():
        try:
            count = _chown_tree(workdir, uid, gid, clear_privileges=True)
        except OSError as exc:
            # The record stays: the next state(), stop() or remove() tries again.
            log.warning("cannot hand %s back to %s:%s yet: %s", workdir, uid, gid, exc)
            return False
        log.info("handed %s (%s entries) back to %s:%s", workdir, count, uid, gid)
    record.unlink(missing_ok=True)
    return True


def _chown_tree(top: Path, uid: int, gid: int, *, clear_privileges: bool) -> int:
    """``lchown`` every entry under ``top`` (and ``top``); with ``clear_privileges``, also drop
    set-user-ID and set-group-ID bits of regular files. Returns the number of entries."""
    count = 0
    for folder, dirs, files in os.walk(top, followlinks=False):
        for name in (*dirs, *files):
            _chown_one(Path(folder, name), uid, gid, clear_privileges)
            count += 1
    _chown_one(top, uid, gid, clear_privileges)
    return count + 1


def _chown_one(path: Path, uid: int, gid: int, clear_privileges: bool) -> None:
    try:
        st = os.lstat(path)
        if st.st_uid != uid or st.st_gid != gid:
            os.chown(path, uid, gid, follow_symlinks=False)
        if clear_privileges and stat.S_ISREG(st.st_mode) and st.st_mode & _PRIVILEGE_BITS:
            os.chmod(path, stat.S_IMODE(st.st_mode) & ~_PRIVILEGE_BITS)
    except FileNotFoundError:
        pass  # removed while walking (never by the agent: its container has ended)
