"""``scopecraft session diff``: what a session changed, read from the main repository.

A session's worktree belongs to its agent, its ``.git`` file and hooks included, so nothing
here runs git in it. git runs in the main worktree (the person's own repository), with its
git directory and work tree given explicitly and every command-running setting switched off
(`run_in()`), on commits named by the repository's refs and
by the session's events: the base its branch was created from (``worktree_prepared``), else
where the branch left the default branch, and the head the engine recorded when the session
ended (``changes_recorded``), else the branch's tip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._errors import ScopecraftError
from ..events import ChangesRecorded, WorktreePrepared
from ..worktrees._gitcli import Checkout, run_git, run_in

if TYPE_CHECKING:
    from ..engine import Engine

__all__ = ["DiffUnavailable", "FileChange", "SessionDiff", "session_diff"]

_OID = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
_DIFF = ("diff", "--no-ext-diff", "--no-textconv", "--no-color")


class DiffUnavailable(ScopecraftError, LookupError):
    """The session has nothing to compare yet (no branch, or its commits are gone)."""


@dataclass(frozen=True, slots=True)
class FileChange:
    """One file the session changed: lines added and removed (``None`` for binary files)."""

    path: str
    insertions: int | None
    deletions: int | None


@dataclass(frozen=True, slots=True)
class SessionDiff:
    """A session's changes: its branch from ``base`` to ``head``.

    Attributes:
        session_id: The session.
        branch: Its branch.
        base: The commit its changes start from.
        head: The commit they end at.
        files: What changed, file by file.
        patch: git's patch (``None`` with ``--stat``).
        stat: git's ``--stat`` summary (``None`` without it).
        note: What a person should know about what is shown (a running session).
    """

    session_id: str
    branch: str
    base: str
    head: str
    files: tuple[FileChange, ...]
    patch: str | None
    stat: str | None
    note: str | None

    @property
    def insertions(self) -> int:
        """Lines added, over every text file."""
        return sum(f.insertions or 0 for f in self.files)

    @property
    def deletions(self) -> int:
        """Lines removed, over every text file."""
        return sum(f.deletions or 0 for f in self.files)

    def to_json(self) -> dict[str, Any]:
        """The JSON object of ``session diff --json``."""
        return {
            "session_id": self.session_id,
            "branch": self.branch,
            "base": self.base,
            "head": self.head,
            "files": [
                {"path": f.path, "insertions": f.insertions, "deletions": f.deletions}
                for f in self.files
            ],
            "insertions": self.insertions,
            "deletions": self.deletions,
            "patch": self.patch,
            "stat": self.stat,
            "note": self.note,
        }


async def _commit(tree: Checkout, name: str) -> str | None:
    """The commit id ``name`` (a full ref or a commit id) names, or ``None``."""
    out = await run_in(tree, "rev-parse", "--verify", "--quiet", f"{name}^{{commit}}", check=False)
    oid = out.strip()
    return oid if _OID.fullmatch(oid) else None


def _numstat(out: str) -> tuple[FileChange, ...]:
    files = []
    for record in out.split("\0"):
        fields = record.split("\t")
        if len(fields) != 3:
            continue
        added, removed, name = fields
        files.append(
            FileChange(
                path=name,
                insertions=int(added) if added.isdigit() else None,
                deletions=int(removed) if removed.isdigit() else None,
            )
        )
    return tuple(files)


async def session_diff(
    engine: Engine, session_id: str, *, stat: bool = False, stat_width: int = 80
) -> SessionDiff:
    """Compute what the session changed on its branch.

    Args:
        engine: An open engine.
        session_id: The session.
        stat: Summarise (``git diff --stat``) instead of the patch.
        stat_width: The width of the summary's lines.

    Raises:
        SessionNotFound: no such session.
        DiffUnavailable: the session has no branch yet, or its commits are gone.
        GitError: git failed in the main repository.
    """
    session = await engine.get_session(session_id)
    branch = session.branch
    if not branch:
        raise DiffUnavailable(
            f"{session_id} has no branch yet ({session.status.value}); its changes can be "
            "shown once its worktree is prepared"
        )
    prepared_base: str | None = None
    recorded_head: str | None = None
    async for event in engine.events(session_id=session_id):
        if isinstance(event, WorktreePrepared) and prepared_base is None:
            if event.base and _OID.fullmatch(event.base):
                prepared_base = event.base
        elif isinstance(event, ChangesRecorded) and _OID.fullmatch(event.head):
            recorded_head = event.head
    info = await engine.worktrees.repo_info()
    # The main worktree is the person's own repository: asking it for its git directory is
    # what the engine does too. The session's worktree is never asked anything.
    common = await run_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=info.root)
    tree = Checkout(path=info.root, git_dir=Path(common.strip()))
    tip = await _commit(tree, f"refs/heads/{branch}")
    recorded = await _commit(tree, recorded_head) if recorded_head else None
    note: str | None = None
    if session.is_terminal and recorded is not None:
        head = recorded
        if tip is not None and tip != head:
            note = (
                f"{branch} has moved on since {session_id} ended (now at {tip[:10]}); "
                f"this is the session's own head"
            )
    elif tip is not None:
        head = tip
        if not session.is_terminal:
            note = (
                f"{session_id} is {session.status.value.replace('_', ' ')}: this is what is "
                f"committed on {branch}; what its agent has not committed is recorded when "
                "the attempt ends"
            )
    elif recorded is not None:
        head = recorded
    else:
        raise DiffUnavailable(
            f"the branch {branch} of {session_id} no longer exists and no commit of the "
            "session is left to show"
        )
    base: str | None = None
    if prepared_base is not None and await _commit(tree, prepared_base) is not None:
        joint = (await run_in(tree, "merge-base", prepared_base, head, check=False)).strip()
        base = prepared_base if joint == prepared_base else None
    if base is None:
        default = f"refs/heads/{info.default_branch}"
        joint = (await run_in(tree, "merge-base", default, head, check=False)).strip()
        if not _OID.fullmatch(joint):
            raise DiffUnavailable(
                f"{branch} shares no history with {info.default_branch}; nothing to compare with"
            )
        base = joint
    numstat = await run_in(tree, *_DIFF, "--no-renames", "--numstat", "-z", base, head, "--")
    if stat:
        text = await run_in(tree, *_DIFF, f"--stat={max(40, stat_width)}", base, head, "--")
    else:
        text = await run_in(tree, *_DIFF, base, head, "--")
    return SessionDiff(
        session_id=session.id,
        branch=branch,
        base=base,
        head=head,
        files=_numstat(numstat),
        patch=None if stat else text,
        stat=text if stat else None,
        note=note,
    )
