"""Looks at (and a few small writes to) a repository's linked worktrees, for worker threads.

Git keeps one administrative folder per linked worktree, ``<common dir>/worktrees/<id>/``
(documented in gitrepository-layout): ``gitdir`` names the worktree's ``.git`` file, ``HEAD``
its checked-out branch, ``locked`` a lock's reason. Reading those files, and refs through
pygit2, answers "what is at this path" in well under a millisecond, where each git process
costs several.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    import pygit2

__all__ = [
    "SETUP_MARK",
    "AdminEntry",
    "Slot",
    "admin_entries",
    "admin_for",
    "branch_target",
    "discard_half_made",
    "inspect_slot",
    "last_activity",
    "main_branch",
    "open_repo",
    "prune_entry",
    "read_text",
    "restore_dotgit",
    "unlock_if_ours",
    "write_setup_mark",
]

SETUP_MARK = "scopecraft-setup"
"""The file, in a worktree's administrative folder, holding the fingerprint of its setup."""


def read_text(path: Path) -> str | None:
    """Return a small file's text without its trailing newline, or ``None`` if unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").rstrip("\n")
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError):
        return None


def _branch_of(head: str | None) -> str | None:
    if head and head.startswith("ref: refs/heads/"):
        return head[len("ref: refs/heads/") :]
    return None


@attrs.frozen
class AdminEntry:
    """One registered linked worktree.

    Attributes:
        admin: Its administrative folder in the common dir.
        path: The worktree folder git recorded.
        branch: The branch checked out there, if any.
        locked: The lock reason, if locked.
    """

    admin: Path
    path: Path
    branch: str | None
    locked: str | None


def admin_entries(common: Path) -> list[AdminEntry]:
    """Return every linked worktree registered in a repository.

    Args:
        common: The git common dir.

    Returns:
        The entries, by administrative folder name.
    """
    base = common / "worktrees"
    try:
        names = sorted(os.listdir(base))
    except FileNotFoundError:
        return []
    entries: list[AdminEntry] = []
    for name in names:
        admin = base / name
        gitdir = read_text(admin / "gitdir")
        if not gitdir:
            continue
        entries.append(
            AdminEntry(
                admin=admin,
                path=Path(gitdir).parent,
                branch=_branch_of(read_text(admin / "HEAD")),
                locked=read_text(admin / "locked"),
            )
        )
    return entries


def main_branch(common: Path) -> str | None:
    """Return the branch checked out in the main worktree, if any."""
    return _branch_of(read_text(common / "HEAD"))


def open_repo(path: Path) -> pygit2.Repository:
    """Open a repository with pygit2 (imported here, on first use).

    Returns:
        The repository.
    """
    import pygit2

    return pygit2.Repository(str(path))


def branch_target(repo: pygit2.Repository, branch: str) -> str | None:
    """Return the commit a local branch points at, or ``None`` when it does not exist."""
    ref = repo.references.get(f"refs/heads/{branch}")
    if ref is None:
        return None
    return str(ref.resolve().target)


@attrs.frozen
class Slot:
    """What a binding's worktree folder and branch look like now.

    Attributes:
        entry: The registered worktree at that folder, if any.
        exists: True when the folder exists.
        empty: True when the folder exists and is empty.
        main_branch: The branch of the main worktree.
        branch_oid: The commit the bound branch points at, if it exists.
        held_at: Another registered worktree with the bound branch checked out, if any.
        setup_mark: The setup fingerprint recorded for the worktree, if any.
    """

    entry: AdminEntry | None
    exists: bool
    empty: bool
    main_branch: str | None
    branch_oid: str | None
    held_at: Path | None
    setup_mark: str | None


def inspect_slot(common: Path, path: Path, branch: str) -> Slot:
    """Look at what is at a worktree folder and where a branch is checked out.

    Args:
        common: The git common dir.
        path: The worktree folder (resolved).
        branch: The bound branch.

    Returns:
        The slot.
    """
    entries = admin_entries(common)
    entry = next((e for e in entries if e.path == path), None)
    held = next((e.path for e in entries if e.branch == branch and e.path != path), None)
    exists = path.is_dir()
    empty = False
    if exists:
        with os.scandir(path) as listing:
            empty = next(listing, None) is None
    mark = read_text(entry.admin / SETUP_MARK) if entry is not None else None
    return Slot(
        entry=entry,
        exists=exists,
        empty=empty,
        main_branch=main_branch(common),
        branch_oid=branch_target(open_repo(common), branch),
        held_at=held,
        setup_mark=mark,
    )


def last_activity(common: Path, entry: AdminEntry) -> datetime | None:
    """Return the latest of the branch head's commit time and the worktree index's change.

    Args:
        common: The git common dir.
        entry: The worktree.

    Returns:
        A UTC datetime, or ``None`` when neither is known.
    """
    import pygit2

    times: list[float] = []
    with contextlib.suppress(OSError):
        times.append((entry.admin / "index").stat().st_mtime)
    if entry.branch:
        repo = open_repo(common)
        oid = branch_target(repo, entry.branch)
        if oid is not None:
            commit = repo.revparse_single(oid).peel(pygit2.Commit)
            times.append(float(commit.commit_time))
    return datetime.fromtimestamp(max(times), UTC) if times else None


def admin_for(common: Path, path: Path) -> AdminEntry | None:
    """Return the registered worktree at ``path``, read from the common dir only.

    The worktree's own ``.git`` file is never consulted: an agent can rewrite it to point
    anywhere (a ``gitdir:`` of its own with hooks or ``core.fsmonitor`` in its config), so
    host-side code finds a worktree's administrative folder from git's records alone.

    Args:
        common: The git common dir.
        path: The worktree folder (resolved).

    Returns:
        The entry, or ``None`` when no registered worktree is at ``path``.
    """
    return next((e for e in admin_entries(common) if e.path == path), None)


def restore_dotgit(entry: AdminEntry) -> bool:
    """Make the worktree's ``.git`` a file that points at its administrative folder again.

    Whatever an agent put there instead (another ``gitdir:``, a symlink, a folder of its
    own) is removed, so neither the engine nor a person running git there later reads a git
    directory the agent controls.

    Args:
        entry: The registered worktree (from `admin_for()`).

    Returns:
        True when the ``.git`` was repaired, False when it was already right.

    Raises:
        OSError: the worktree folder is gone or cannot be written.
    """
    dotgit = entry.path / ".git"
    expected = f"gitdir: {entry.admin}"
    if not dotgit.is_symlink() and dotgit.is_file():
        text = read_text(dotgit)
        if text is not None and text.startswith("gitdir: "):
            target = Path(text[len("gitdir: ") :])
            if not target.is_absolute():
                target = entry.path / target
            if os.path.normpath(target) == os.path.normpath(entry.admin):
                return False
    if dotgit.is_dir() and not dotgit.is_symlink():
        shutil.rmtree(dotgit)
    else:
        dotgit.unlink(missing_ok=True)
    fd = os.open(dotgit, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(expected + "\n")
    return True


def discard_half_made(entry: AdminEntry, path: Path) -> None:
    """Remove a half-made worktree (folder and record); only for a dead prepare's own."""
    shutil.rmtree(path, ignore_errors=True)
    shutil.rmtree(entry.admin, ignore_errors=True)


def prune_entry(entry: AdminEntry) -> None:
    """Forget a registered worktree whose folder is gone (what ``git worktree prune`` does)."""
    shutil.rmtree(entry.admin, ignore_errors=True)


def unlock_if_ours(common: Path, path: Path, reason: str) -> None:
    """Remove the worktree's lock if it still holds ``reason`` (``git worktree unlock``).

    Doing it here saves a process; checking the reason first never drops a lock someone else
    put there meanwhile.
    """
    entry = admin_for(common, path)
    if entry is not None and read_text(entry.admin / "locked") == reason:
        (entry.admin / "locked").unlink(missing_ok=True)


def write_setup_mark(common: Path, path: Path, fingerprint: str) -> None:
    """Record that the worktree's setup with this fingerprint completed."""
    entry = admin_for(common, path)
    if entry is not None:
        (entry.admin / SETUP_MARK).write_text(fingerprint + "\n", encoding="utf-8")
