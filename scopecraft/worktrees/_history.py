"""Session history kept in git, on a ref of its own, without touching any worktree.

Each finished session's record is a JSON file ``.tasks/sessions/<task id>/<session id>.json`` in
a commit on ``refs/scopecraft/history`` (the previous history commit is its parent). Commits are
written with pygit2 straight into the object database: nothing is checked out, no index or
worktree changes, and the main worktree never turns dirty. Writers race only on the ref: each
builds its commit on the tip it read, then moves the ref in a pygit2 reference transaction
that checks the tip is still the one it built on, and starts again when another writer won.

The ref travels with the repository like any other: `GitHistory.push()` and
`GitHistory.fetch()` share it, and a fetch merges another clone's history into ours (the
union of both; the same session written differently on both sides keeps ours).
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from .._errors import GitError, InvalidName
from .._names import validate_session_id, validate_task_id
from ._gitcli import run_git

if TYPE_CHECKING:
    import pygit2

__all__ = ["HISTORY_REF", "GitHistory"]

log = logging.getLogger("scopecraft.worktrees")

HISTORY_REF = "refs/scopecraft/history"
"""The ref holding archived session records."""

_SESSIONS = (".tasks", "sessions")
_T = TypeVar("_T")
_ATTEMPTS = 50


class _Raced(Exception):
    """Another writer moved the history ref first."""


def _signature(repo: pygit2.Repository) -> pygit2.Signature:
    import pygit2

    try:
        return repo.default_signature
    except (KeyError, pygit2.GitError):
        return pygit2.Signature("scopecraft", "scopecraft@localhost")


def _tip(repo: pygit2.Repository, ref: str) -> pygit2.Commit | None:
    import pygit2

    found = repo.references.get(ref)
    if found is None:
        return None
    return repo[found.resolve().target].peel(pygit2.Commit)


def _shard(session_id: str) -> str:
    """The folder of a session's record under its task's: two characters of its id (after
    ``ses-``), so that no folder the archive rewrites on each commit grows past 36² entries."""
    return session_id.removeprefix("ses-")[:2]


def _put(
    repo: pygit2.Repository,
    tree: pygit2.Tree | None,
    parts: tuple[str, ...],
    blob: pygit2.Oid | None,
) -> pygit2.Oid:
    """Return a tree like ``tree`` with ``blob`` at ``parts`` (``None``: nothing there),
    sharing every other entry."""
    import pygit2

    builder = repo.TreeBuilder(tree) if tree is not None else repo.TreeBuilder()
    head, rest = parts[0], parts[1:]
    if not rest:
        if blob is not None:
            builder.insert(head, blob, pygit2.GIT_FILEMODE_BLOB)
        elif tree is not None and head in tree:
            builder.remove(head)
        return builder.write()
    sub: pygit2.Tree | None = None
    if tree is not None and head in tree:
        found = tree[head]
        if isinstance(found, pygit2.Tree):
            sub = found
    if sub is None and blob is None:
        return builder.write()
    builder.insert(head, _put(repo, sub, rest, blob), pygit2.GIT_FILEMODE_TREE)
    return builder.write()


def _has(tree: pygit2.Tree | None, parts: tuple[str, ...]) -> bool:
    import pygit2

    node: pygit2.Object | None = tree
    for part in parts:
        if not isinstance(node, pygit2.Tree) or part not in node:
            return False
        node = node[part]
    return True


def _files(repo: pygit2.Repository, tree: pygit2.Tree, prefix: str = "") -> dict[str, pygit2.Oid]:
    import pygit2

    out: dict[str, pygit2.Oid] = {}
    for item in tree:
        name = f"{prefix}{item.name}"
        if isinstance(item, pygit2.Tree):
            out.update(_files(repo, item, name + "/"))
        else:
            out[name] = item.id
    return out


def _build(repo: pygit2.Repository, files: Mapping[str, pygit2.Oid]) -> pygit2.Oid:
    import pygit2

    folders: dict[str, dict[str, pygit2.Oid]] = {}
    leaves: dict[str, pygit2.Oid] = {}
    for name, oid in files.items():
        head, _, rest = name.partition("/")
        if rest:
            folders.setdefault(head, {})[rest] = oid
        else:
            leaves[head] = oid
    builder = repo.TreeBuilder()
    for name, oid in leaves.items():
        builder.insert(name, oid, pygit2.GIT_FILEMODE_BLOB)
    for name, sub in folders.items():
        builder.insert(name, _build(repo, sub), pygit2.GIT_FILEMODE_TREE)
    return builder.write()


class GitHistory:
    """Archived session records on a dedicated ref of a repository.

    Args:
        repo: Any folder of the repository (the main worktree or a linked one).
        ref: The ref to keep history on.
    """

    def __init__(self, repo: str | Path, *, ref: str = HISTORY_REF) -> None:
        self._repo = Path(repo)
        self._ref = ref
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def ref(self) -> str:
        """The ref history is kept on."""
        return self._ref

    async def _thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(2)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    def _open(self) -> pygit2.Repository:
        import pygit2

        try:
            return pygit2.Repository(str(self._repo))
        except pygit2.GitError as exc:
            raise GitError(f"{self._repo} is not a git repository: {exc}") from exc

    # -- writing -------------------------------------------------------------------------------

    async def archive_session(
        self,
        record: Mapping[str, Any],
        task_id: str,
        session_id: str,
        *,
        message: str | None = None,
    ) -> str:
        """Write a session's record as ``.tasks/sessions/<task id>/<session id>.json``.

        The record must already be redacted (the engine redacts before archiving). Writing
        the same record again changes nothing; a new record for the same session replaces
        the old one in a new commit.

        Args:
            record: The session's record; JSON-serialisable (datetimes become ISO text).
            task_id: The task the session worked on.
            session_id: The session.
            message: The commit message (default names the session and task).

        Returns:
            The history commit holding the record.

        Raises:
            InvalidName: ``task_id`` or ``session_id`` is not valid.
            TypeError: ``record`` cannot be turned into JSON.
            GitError: the repository cannot be written, or the ref stayed contended.
        """
        validate_task_id(task_id)
        validate_session_id(session_id)
        text = json.dumps(dict(record), indent=2, sort_keys=True, default=_jsonable) + "\n"
        summary = message or f"scopecraft: archive session {session_id} of {task_id}"
        return await self._thread(self._write, text, task_id, session_id, summary)

    def _write(self, text: str, task_id: str, session_id: str, message: str) -> str:
        repo = self._open()
        name = f"{session_id}.json"
        parts = (*_SESSIONS, task_id, _shard(session_id), name)
        flat = (*_SESSIONS, task_id, name)  # where earlier versions kept it
        blob = repo.create_blob(text.encode())
        for attempt in range(_ATTEMPTS):
            tip = _tip(repo, self._ref)
            try:
                return self._commit_on(repo, tip, parts, blob, message, flat)
            except _Raced:
                # Back off a little, with jitter, so that racing writers spread out.
                time.sleep(min(0.2, 0.005 * 2**attempt) * random.random())  # noqa: S311
        raise GitError(
            f"could not move {self._ref} after {_ATTEMPTS} tries: other writers kept winning"
        )

    def _commit_on(
        self,
        repo: pygit2.Repository,
        tip: pygit2.Commit | None,
        parts: tuple[str, ...],
        blob: pygit2.Oid,
        message: str,
        flat: tuple[str, ...] | None = None,
    ) -> str:
        import pygit2

        tree = _put(repo, tip.tree if tip is not None else None, parts, blob)
        if flat is not None and tip is not None and _has(tip.tree, flat):
            tree = _put(repo, repo[tree].peel(pygit2.Tree), flat, None)
        if tip is not None and tip.tree_id == tree:
            return str(tip.id)
        signature = _signature(repo)
        parents = [tip.id] if tip is not None else []
        commit = repo.create_commit(None, signature, signature, message, tree, parents)
        try:
            with repo.transaction() as txn:
                txn.lock_ref(self._ref)
                # Checked under the ref's lock: a writer that moved it first makes us retry.
                now = repo.references.get(self._ref)
                current = now.resolve().target if now is not None else None
                if current != (tip.id if tip is not None else None):
                    raise _Raced
                txn.set_target(self._ref, commit, message=message)
        except pygit2.GitError as exc:
            if "lock" in str(exc).lower() or "exists" in str(exc).lower():
                raise _Raced from exc
            raise GitError(f"could not move {self._ref}: {exc}") from exc
        return str(commit)

    # -- reading -------------------------------------------------------------------------------

    async def read_history(self, task_id: str) -> list[dict[str, Any]]:
        """Return a task's archived session records, oldest first.

        Records are ordered by their ``created_at`` (when present), then session id.

        Args:
            task_id: The task.

        Returns:
            The records (empty when none was archived).

        Raises:
            InvalidName: ``task_id`` is not valid.
            GitError: the repository cannot be read.
        """
        validate_task_id(task_id)
        return await self._thread(self._read, task_id)

    def _read(self, task_id: str) -> list[dict[str, Any]]:
        import pygit2

        repo = self._open()
        tip = _tip(repo, self._ref)
        if tip is None:
            return []
        node: pygit2.Object = tip.tree
        for part in (*_SESSIONS, task_id):
            if not isinstance(node, pygit2.Tree) or part not in node:
                return []
            node = node[part]
        if not isinstance(node, pygit2.Tree):
            return []
        # Records in shard folders, and (from earlier versions) directly in the task's folder;
        # a session in both (a merge of two versions' histories) is read from its shard.
        found: dict[str, dict[str, Any]] = {}
        flat: list[pygit2.Object] = []
        for item in node:
            if isinstance(item, pygit2.Tree):
                for record in item:
                    self._take(record, task_id, found)
            else:
                flat.append(item)
        for item in flat:
            name = item.name or ""
            if name.removesuffix(".json") not in found:
                self._take(item, task_id, found)
        records = list(found.values())
        records.sort(key=lambda r: (str(r.get("created_at") or ""), str(r["session_id"])))
        return records

    @staticmethod
    def _take(item: pygit2.Object, task_id: str, found: dict[str, dict[str, Any]]) -> None:
        import pygit2

        name = item.name or ""
        if not isinstance(item, pygit2.Blob) or not name.endswith(".json"):
            return
        try:
            value = json.loads(item.data)
        except ValueError:
            log.warning("skipping unreadable history record %s of %s", name, task_id)
            return
        if isinstance(value, dict):
            value.setdefault("session_id", name[: -len(".json")])
            found[name[: -len(".json")]] = value

    async def task_ids(self) -> list[str]:
        """Return the tasks that have archived sessions, sorted.

        Raises:
            GitError: the repository cannot be read.
        """
        return await self._thread(self._task_ids)

    def _task_ids(self) -> list[str]:
        import pygit2

        repo = self._open()
        tip = _tip(repo, self._ref)
        if tip is None:
            return []
        node: pygit2.Object = tip.tree
        for part in _SESSIONS:
            if not isinstance(node, pygit2.Tree) or part not in node:
                return []
            node = node[part]
        if not isinstance(node, pygit2.Tree):
            return []
        return sorted(item.name for item in node if isinstance(item, pygit2.Tree) and item.name)

    # -- sharing -------------------------------------------------------------------------------

    async def push(self, remote: str = "origin") -> None:
        """Push the history ref to ``remote``, merging the remote's first if it moved.

        Args:
            remote: A configured remote's name or a URL/path.

        Raises:
            InvalidName: ``remote`` starts with ``-``.
            GitError: the push or fetch failed.
        """
        _check_remote(remote)
        failure: GitError | None = None
        for _ in range(3):
            try:
                await run_git("push", "--quiet", remote, f"{self._ref}:{self._ref}", cwd=self._repo)
            except GitError as exc:
                failure = exc
                await self.fetch(remote)
            else:
                return
        raise GitError(f"could not push {self._ref} to {remote}: {failure}")

    async def fetch(self, remote: str = "origin") -> None:
        """Fetch ``remote``'s history and merge it into ours (the union of both).

        Args:
            remote: A configured remote's name or a URL/path.

        Raises:
            InvalidName: ``remote`` starts with ``-``.
            GitError: the fetch failed.
        """
        _check_remote(remote)
        scratch = "refs/scopecraft/fetched/history"
        try:
            await run_git("fetch", "--quiet", remote, f"+{self._ref}:{scratch}", cwd=self._repo)
        except GitError as exc:
            if "couldn't find remote ref" in str(exc):
                return
            raise
        await self._thread(self._merge, scratch)

    def _merge(self, scratch: str) -> None:
        repo = self._open()
        theirs = _tip(repo, scratch)
        if theirs is None:
            return
        for attempt in range(_ATTEMPTS):
            ours = _tip(repo, self._ref)
            try:
                self._merge_once(repo, ours, theirs)
                return
            except _Raced:
                time.sleep(min(0.2, 0.005 * 2**attempt) * random.random())  # noqa: S311
        raise GitError(f"could not merge into {self._ref}: other writers kept winning")

    def _merge_once(
        self, repo: pygit2.Repository, ours: pygit2.Commit | None, theirs: pygit2.Commit
    ) -> None:
        import pygit2

        if ours is not None and (ours.id == theirs.id or repo.descendant_of(ours.id, theirs.id)):
            return
        if ours is None or repo.descendant_of(theirs.id, ours.id):
            target, parents = theirs.id, None
        else:
            files = _files(repo, theirs.tree)
            files.update(_files(repo, ours.tree))
            tree = _build(repo, files)
            signature = _signature(repo)
            target = repo.create_commit(
                None,
                signature,
                signature,
                "scopecraft: merge fetched session history",
                tree,
                [ours.id, theirs.id],
            )
            parents = [ours.id, theirs.id]
        try:
            with repo.transaction() as txn:
                txn.lock_ref(self._ref)
                now = repo.references.get(self._ref)
                current = now.resolve().target if now is not None else None
                if current != (ours.id if ours is not None else None):
                    raise _Raced
                txn.set_target(self._ref, target, message="scopecraft: merge history")
        except pygit2.GitError as exc:
            raise _Raced from exc
        log.info("merged fetched history into %s (%s)", self._ref, "merge" if parents else "ff")


def _check_remote(remote: str) -> None:
    if not remote or remote.startswith("-") or "\0" in remote or "\n" in remote:
        raise InvalidName("remote", remote, "give a remote's name or a URL, not an option")


def _jsonable(value: object) -> object:
    iso = getattr(value, "isoformat", None)
    if callable(iso):
        return iso()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):
        return model_dump(mode="json")
    raise TypeError(f"{type(value).__name__} is not JSON-serialisable")
