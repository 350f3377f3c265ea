"""``GitWorktreeOrchestrator``: one worktree and branch per task environment.

Refs, trees and "what is at this folder" go through pygit2 and git's administrative files
(in-process, well under a millisecond); checking out a new worktree goes through the git CLI,
``git worktree add`` with parallel checkout (``checkout.workers``), which
``benchmarks/worktrees.py`` measures against plain ``git worktree add`` and against pygit2's
single-threaded checkout.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread
import attrs

from .._errors import GitError, InvalidName, MainWorktreeRefused
from .._models import Session, Task, utcnow
from .._names import validate_branch, validate_task_id
from ._binding import BranchTemplate, check_path_template, render_worktree_path
from ._cleanup import decide, sessions_on
from ._errors import WorktreeConflict, WorktreeLocked
from ._gitcli import (
    Checkout,
    commit_all,
    dirty_files,
    hardening,
    identity_env,
    run_git,
    run_in,
    unique_commits,
)
from ._inspect import (
    AdminEntry,
    admin_entries,
    admin_for,
    discard_half_made,
    inspect_slot,
    last_activity,
    open_repo,
    prune_entry,
    restore_dotgit,
    unlock_if_ours,
    write_setup_mark,
)
from ._locks import env_lock, parse_owner, prepare_reason
from ._protocol import (
    ChangeSummary,
    CleanupDecision,
    CleanupPolicy,
    PausedWorktree,
    PreparedWorktree,
    RepoInfo,
    SetupResult,
    WorktreeBinding,
    WorktreeOrchestrator,
    WorktreeStatus,
)
from ._setup import WorktreeSetup, run_setup

if TYPE_CHECKING:
    import pygit2

__all__ = ["BranchFile", "GitWorktreeOrchestrator", "read_branch_files", "run_git"]

log = logging.getLogger("scopecraft.worktrees")

# The lock file of the repository's worktree administration (not a task id: never a clash).
_ADMIN_LOCK = ".worktree-admin"

_T = TypeVar("_T")

DEFAULT_PAUSE_MESSAGE = "scopecraft: pause {env_id}: work in progress, saved before removing"
"""The message of the commit that keeps a paused worktree's uncommitted work."""


def _inside(root: Path, path: Path) -> bool:
    return root in path.parents


_MEMORY_FILE_SYSTEMS = frozenset({"tmpfs", "ramfs"})


def auto_workers(folder: Path) -> int:
    """Choose ``checkout.workers`` for worktrees created under ``folder``.

    Args:
        folder: The worktree root (resolved; it need not exist yet).

    Returns:
        1 on a memory file system or a single CPU, else the CPU count (at most 8).
    """
    import psutil

    cpus = os.cpu_count() or 1
    if cpus < 2:
        return 1
    mount, kind = Path("/"), ""
    try:
        partitions = psutil.disk_partitions(all=True)
    except (OSError, psutil.Error):
        partitions = []
    for part in partitions:
        point = Path(part.mountpoint)
        if (point == folder or point in folder.parents) and len(point.parts) >= len(mount.parts):
            mount, kind = point, part.fstype
    return 1 if kind in _MEMORY_FILE_SYSTEMS else min(cpus, 8)


class GitWorktreeOrchestrator(WorktreeOrchestrator):
    """Binds each task environment to its own branch and worktree, with git.

    The environment id is the parent's id for a subtask, else the task's own id, so every
    subtask of a parent shares one worktree. The branch is ``branch_template`` filled in; the
    worktree is ``worktree_root / worktree_template`` filled in. It never binds, prepares,
    commits in or removes the main worktree, nor runs on the default branch.

    Args:
        repo: Any folder inside the repository.
        branch_template: The branch, with ``{env_id}`` (``task/{env_id}`` is Scopecraft's).
        worktree_root: The folder worktrees go in (default
            ``<repo parent>/<repo name>.worktrees``).
        worktree_template: The worktree folder under ``worktree_root``, with ``{env_id}`` and
            optionally ``{repo_name}``.
        base: What new branches start from (default: the default branch's tip).
        setup: What to do in each new worktree (copy ignored files, run an argv); a
            `WorktreeSetup` or a mapping of its fields.
        checkout_workers: git's ``checkout.workers`` for new worktrees; by default chosen
            from the worktree root's file system (see `checkout_workers()`).
        lock_timeout: Seconds to wait for another process preparing the same environment.
        pause_message: The message of a pause's work-in-progress commit (``{env_id}``,
            ``{branch}`` are filled in).

    Raises:
        ConfigError: a template is malformed.
    """

    def __init__(
        self,
        repo: str | Path = ".",
        *,
        branch_template: str = "feature/{env_id}",
        worktree_root: str | Path | None = None,
        worktree_template: str = "{env_id}",
        base: str | None = None,
        setup: WorktreeSetup | Mapping[str, Any] | None = None,
        checkout_workers: int | None = None,
        lock_timeout: float = 600.0,
        pause_message: str = DEFAULT_PAUSE_MESSAGE,
    ) -> None:
        self._repo = Path(repo)
        self._branches = BranchTemplate(branch_template)
        self._path_template = check_path_template(worktree_template)
        self._worktree_root = Path(worktree_root) if worktree_root is not None else None
        self._base = base
        if setup is not None and not isinstance(setup, WorktreeSetup):
            setup = WorktreeSetup.model_validate(dict(setup))
        self._setup = setup if setup and (setup.copy_files or setup.command) else None
        self._workers = max(1, min(checkout_workers, 64)) if checkout_workers else None
        self._lock_timeout = lock_timeout
        self._pause_message = pause_message
        self._info: RepoInfo | None = None
        self._common: Path | None = None
        self._root: Path | None = None
        self._reason: str | None = None
        self._limiter: anyio.CapacityLimiter | None = None
        self._local_locks: dict[str, anyio.Lock] = {}
        self._paths: dict[tuple[Path, str, str], Path] = {}

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def branch_template(self) -> BranchTemplate:
        """The branch template, to render branches and read env ids back from them."""
        return self._branches

    @property
    def setup(self) -> WorktreeSetup | None:
        """The per-worktree setup, if one is configured."""
        return self._setup

    async def _thread(self, fn: Callable[..., _T], *args: Any) -> _T:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(4)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._limiter)

    @asynccontextmanager
    async def _locked(self, env_id: str) -> AsyncIterator[None]:
        common = await self.common_dir()
        local = self._local_locks.setdefault(env_id, anyio.Lock())
        async with env_lock(
            common / "scopecraft-locks", env_id, local=local, wait=self._lock_timeout
        ):
            yield

    @asynccontextmanager
    async def _admin(self) -> AsyncIterator[None]:
        """Hold the repository's worktree administration: git's ``worktree add`` and
        ``remove`` read every worktree's record, and fail on one another process is writing
        ("failed to read .../commondir"), so they run one at a time per repository, across
        tasks and processes. Taken inside an environment's lock, never around one."""
        async with self._locked(_ADMIN_LOCK):
            yield

    async def repo_info(self) -> RepoInfo:
        """Return (and cache) the main worktree and the default branch.

        Returns:
            The repository's facts.

        Raises:
            GitError: not a git repository, or it has no commit yet.
        """
        if self._info is not None:
            return self._info
        common = (
            await run_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=self._repo)
        ).strip()
        common_path = Path(common)
        root = common_path.parent if common_path.name == ".git" else common_path
        default = await self._default_branch(root)
        self._common = await self._thread(common_path.resolve)
        self._info = RepoInfo(root=await self._thread(root.resolve), default_branch=default)
        return self._info

    async def common_dir(self) -> Path:
        """Return the git common dir (``<main worktree>/.git``).

        Raises:
            GitError: not a git repository.
        """
        if self._common is None:
            await self.repo_info()
        assert self._common is not None
        return self._common

    async def worktree_root(self) -> Path:
        """Return the folder worktrees go in, resolved.

        Raises:
            GitError: not a git repository.
        """
        if self._root is None:
            info = await self.repo_info()
            root = self._worktree_root or info.root.parent / f"{info.root.name}.worktrees"
            self._root = await self._thread(root.resolve)
        return self._root

    async def checkout_workers(self) -> int:
        """Return how many parallel workers check out a new worktree.

        Parallel checkout hides the latency of writing many files to a disk; on a memory file
        system (tmpfs) there is none to hide and the workers only compete for the CPU, so the
        default is one worker there and on a single CPU, else the number of CPUs (at most 8).
        ``benchmarks/worktrees.py`` measures both on the folder it is given.

        Raises:
            GitError: not a git repository.
        """
        if self._workers is None:
            self._workers = await self._thread(auto_workers, await self.worktree_root())
        return self._workers

    async def _default_branch(self, root: Path) -> str:
        ref = await run_git(
            "symbolic-ref", "--quiet", "refs/remotes/origin/HEAD", cwd=root, check=False
        )
        if ref.strip():
            return ref.strip().removeprefix("refs/remotes/origin/")
        for name in ("main", "master", "trunk"):
            found = await run_git(
                "rev-parse", "--verify", "--quiet", f"refs/heads/{name}", cwd=root, check=False
            )
            if found.strip():
                return name
        head = await run_git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=root, check=False)
        if head.strip():
            return head.strip()
        raise GitError(f"cannot tell the default branch of {root}; create a first commit")

    # -- binding -------------------------------------------------------------------------------

    async def bind(self, task: Task, *, branch: str | None = None) -> WorktreeBinding:
        """Bind ``task`` to its environment's branch and worktree.

        Args:
            task: The task; a subtask binds to its parent's environment.
            branch: Overrides the bound branch (the CLI's ``--worktree <branch>``).

        Returns:
            The binding.

        Raises:
            InvalidName: the branch or env id is not a safe name, or the folder would escape
                the worktree root.
            MainWorktreeRefused: the binding is the main worktree or the default branch.
        """
        return await self.bind_env(task.env_id, branch=branch)

    async def conflict(self, binding: WorktreeBinding) -> str | None:
        """Why preparing ``binding`` would fail because of what is already there, or ``None``:
        its folder is a worktree on another branch. Asked before a session is queued, so that
        a request that cannot start is refused at once rather than failed later."""
        common = await self.common_dir()
        slot = await self._thread(inspect_slot, common, binding.path, binding.branch)
        entry = slot.entry
        if entry is not None and slot.exists and entry.branch != binding.branch:
            return (
                f"the worktree {binding.path} is on branch {entry.branch or '(detached)'}, not "
                f"{binding.branch}"
            )
        return None

    async def bind_env(self, env_id: str, *, branch: str | None = None) -> WorktreeBinding:
        """Bind an environment id (a parent task's or a lone task's id) directly.

        Args:
            env_id: The environment id.
            branch: Overrides the bound branch.

        Returns:
            The binding.

        Raises:
            InvalidName: the branch or env id is not a safe name, or the folder would escape
                the worktree root.
            MainWorktreeRefused: the binding is the main worktree or the default branch.
        """
        validate_task_id(env_id)
        name = validate_branch(branch) if branch is not None else self._branches.render(env_id)
        info = await self.repo_info()
        root = await self.worktree_root()
        # The folder is resolved once per environment: later binds (every session of a
        # parent's subtasks, every launch) reuse it without touching the disk.
        key = (root, env_id, info.root.name)
        path = self._paths.get(key)
        if path is None:
            path = await self._thread(
                render_worktree_path, root, self._path_template, env_id, info.root.name
            )
            self._paths[key] = path
        binding = WorktreeBinding(env_id=env_id, branch=name, path=path)
        self._refuse_main(binding, info)
        return binding

    @staticmethod
    def _check_names(binding: WorktreeBinding) -> None:
        validate_task_id(binding.env_id)
        validate_branch(binding.branch)
        if not binding.path.is_absolute() or ".." in binding.path.parts:
            raise InvalidName("worktree path", str(binding.path), "it must be absolute, no '..'")

    @staticmethod
    def _refuse_main(binding: WorktreeBinding, info: RepoInfo) -> None:
        if binding.branch == info.default_branch:
            raise MainWorktreeRefused(
                f"refusing to run an agent on the default branch {info.default_branch!r}; "
                "sessions run on their task's own branch"
            )
        if binding.path == info.root or info.root in binding.path.parents:
            raise MainWorktreeRefused(
                f"refusing to run an agent in the main worktree {info.root}; "
                "choose a worktree folder outside it"
            )

    async def _checked(self, binding: WorktreeBinding) -> RepoInfo:
        self._check_names(binding)
        info = await self.repo_info()
        self._refuse_main(binding, info)
        return info

    # -- prepare -------------------------------------------------------------------------------

    async def prepare(self, binding: WorktreeBinding) -> PreparedWorktree:
        """Reuse the worktree at ``binding.path`` or create it (and the branch).

        Safe to call from several tasks and processes at once: they get the same worktree.
        A registered worktree whose folder was deleted is pruned and re-created; one left
        half-made by a process that died while preparing it (its lock names a dead process)
        is re-created; a setup that never completed runs again.

        Args:
            binding: From `bind()`.

        Returns:
            The prepared worktree, with what was repaired and the setup's output.

        Raises:
            InvalidName: the binding holds a name that is not safe, or a folder outside the
                worktree root that is not already a worktree.
            MainWorktreeRefused: the binding is the main worktree or the default branch, or
                the branch is checked out in the main worktree.
            WorktreeConflict: the folder holds something else, or the branch is checked out
                in another worktree.
            WorktreeLocked: a person locked the worktree and its folder is gone, or another
                live process is preparing it, or the lock wait timed out.
            WorktreeSetupFailed: the setup failed (the worktree is kept).
            GitError: git refused.
        """
        info = await self._checked(binding)
        async with self._locked(binding.env_id):
            return await self._prepare_locked(binding, info)

    async def resume(self, binding: WorktreeBinding) -> PreparedWorktree:
        """Re-add a paused worktree from its branch (the same as `prepare()`).

        Args:
            binding: From `bind()`.

        Returns:
            The prepared worktree.

        Raises:
            InvalidName: the binding holds a name that is not safe.
            MainWorktreeRefused: the binding is the main worktree or the default branch.
            WorktreeConflict: the folder or branch is taken by something else.
            WorktreeLocked: another holder keeps the worktree.
            WorktreeSetupFailed: the setup failed.
            GitError: git refused.
        """
        return await self.prepare(binding)

    async def _own_reason(self) -> str:
        if self._reason is None:
            self._reason = await self._thread(prepare_reason)
        return self._reason

    async def _stale(self, entry: AdminEntry, binding: WorktreeBinding, exists: bool) -> bool:
        """Tell whether ``entry``'s lock is a dead prepare's; raise when it must be respected."""
        assert entry.locked is not None
        owner = parse_owner(entry.locked)
        if owner is None:
            if exists:
                return False  # a person's lock keeps git from pruning it; using it is fine
            raise WorktreeLocked(
                f"the worktree {binding.path} is locked ({entry.locked}) and its folder is "
                "gone (on removable media?); bring it back, or `git worktree unlock` it",
                entry.locked,
            )
        ours = entry.locked == await self._own_reason()
        # Holding the environment's lock, a lock naming this very process is an attempt of
        # ours that was cancelled part-way.
        if not ours and await self._thread(owner.is_alive):
            raise WorktreeLocked(
                f"the worktree {binding.path} is being prepared by process {owner.pid} on "
                f"{owner.host}; wait for it, or `git worktree unlock` it if that is wrong",
                entry.locked,
            )
        return True

    async def _prepare_locked(self, binding: WorktreeBinding, info: RepoInfo) -> PreparedWorktree:
        common = await self.common_dir()
        root = await self.worktree_root()
        path = binding.path
        slot = await self._thread(inspect_slot, common, path, binding.branch)
        entry, exists = slot.entry, slot.exists
        if entry is None and not _inside(root, path):
            raise InvalidName("worktree path", str(path), f"it must lie inside {root}")
        if slot.main_branch == binding.branch:
            raise MainWorktreeRefused(
                f"the branch {binding.branch} is checked out in the main worktree {info.root}; "
                "switch the main worktree to another branch first"
            )
        repaired: list[str] = []
        if (
            entry is not None
            and entry.locked is not None
            and await self._stale(entry, binding, exists)
        ):
            owner = parse_owner(entry.locked)
            log.warning("taking over %s, left half-made by %s", path, entry.locked)
            async with self._admin():
                await self._thread(discard_half_made, entry, path)
            repaired.append(
                f"re-created the worktree left half-made by process {owner.pid if owner else '?'}"
            )
            entry, exists = None, False
            slot = await self._thread(inspect_slot, common, path, binding.branch)
        if entry is not None and exists:
            if entry.branch != binding.branch:
                raise WorktreeConflict(
                    f"the worktree {path} is on branch {entry.branch or '(detached)'}, not "
                    f"{binding.branch}; move it away or bind another branch"
                )
            await self._trusted(entry)  # a reused worktree's .git was its last agent's
            setup = await self._setup_if_needed(binding, info, slot.setup_mark)
            return PreparedWorktree(
                binding=binding, created=False, repaired="; ".join(repaired) or None, setup=setup
            )
        if entry is not None:
            log.info("pruning the record of %s, whose folder was deleted", path)
            async with self._admin():
                await self._thread(prune_entry, entry)
            repaired.append("pruned the record of a worktree whose folder was deleted")
        if slot.exists and not slot.empty and entry is None and not repaired:
            raise WorktreeConflict(
                f"{path} exists and is not a worktree of {info.root}; move it away"
            )
        if slot.held_at is not None:
            raise WorktreeConflict(
                f"the branch {binding.branch} is checked out in {slot.held_at}; "
                "a branch can be checked out in one worktree only"
            )
        reason = await self._own_reason()
        argv = [
            "-c",
            f"checkout.workers={await self.checkout_workers()}",
            "worktree",
            "add",
            "--quiet",
            "--lock",
            "--reason",
            reason,
        ]
        base: str | None = None
        if slot.branch_oid is None:
            base = await self._thread(self._resolve_base, common, info)
            argv += ["-b", binding.branch, "--", str(path), base]
        else:
            argv += ["--", str(path), binding.branch]
        await self._thread(lambda: path.parent.mkdir(parents=True, exist_ok=True))
        async with self._admin():
            await run_git(*argv, cwd=info.root)
        await self._thread(unlock_if_ours, common, path, reason)
        log.info("created worktree %s on %s", path, binding.branch)
        setup = await self._setup_if_needed(binding, info, None)
        return PreparedWorktree(
            binding=binding,
            created=True,
            base=base,
            repaired="; ".join(repaired) or None,
            setup=setup,
        )

    def _resolve_base(self, common: Path, info: RepoInfo) -> str:
        import pygit2

        spec = self._base or info.default_branch
        repo = open_repo(common)
        try:
            commit = repo.revparse_single(spec).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError) as exc:
            raise GitError(f"the base {spec!r} names no commit in {info.root}") from exc
        return str(commit.id)

    async def _setup_if_needed(
        self, binding: WorktreeBinding, info: RepoInfo, mark: str | None
    ) -> SetupResult | None:
        if self._setup is None:
            return None
        fingerprint = self._setup.fingerprint()
        if mark == fingerprint:
            return None
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(4)
        tree = await self.checkout(binding.path)
        result = await run_setup(self._setup, binding, info.root, self._limiter, tree.git_dir)
        await self._thread(write_setup_mark, await self.common_dir(), binding.path, fingerprint)
        return result

    # -- host-side git in a worktree -----------------------------------------------------------

    async def checkout(self, path: Path) -> Checkout:
        """Return the worktree at ``path`` as host-side git must use it, its ``.git`` repaired.

        The git directory comes from the repository's own records, never from the worktree's
        ``.git`` file, which an agent may have rewritten (to a ``gitdir:`` of its own whose
        config or hooks would run commands on the host); that file is put back first.

        Args:
            path: The worktree folder (resolved).

        Returns:
            The worktree and its trusted git directory.

        Raises:
            GitError: no registered worktree of this repository is at ``path``, or its
                folder is gone.
        """
        entry = await self._thread(admin_for, await self.common_dir(), path)
        if entry is None:
            raise GitError(f"{path} is not a worktree of this repository (or was removed)")
        return await self._trusted(entry)

    async def _trusted(self, entry: AdminEntry) -> Checkout:
        try:
            repaired = await self._thread(restore_dotgit, entry)
        except OSError as exc:
            raise GitError(
                f"the worktree {entry.path} cannot be used: {exc.strerror or exc}"
            ) from exc
        if repaired:
            log.warning(
                "the .git of %s did not point at its git directory (rewritten by its agent?); "
                "restored",
                entry.path,
            )
        return Checkout(path=entry.path, git_dir=entry.admin)

    async def _identity(self, info: RepoInfo) -> dict[str, str]:
        return await identity_env(info.root)

    # -- recording, pausing --------------------------------------------------------------------

    async def record_changes(self, path: Path, *, message: str) -> ChangeSummary:
        """Commit leftover work in ``path`` and summarise the branch against the default branch.

        Args:
            path: The session's worktree.
            message: The message of the commit, if one is needed.

        Returns:
            The head after recording and a diff summary of the branch.

        Raises:
            MainWorktreeRefused: ``path`` is the main worktree.
            GitError: git refused.
        """
        info = await self.repo_info()
        resolved = await self._thread(path.resolve)
        if resolved == info.root:
            raise MainWorktreeRefused(
                f"refusing to commit in the main worktree {info.root}; sessions record "
                "their changes in their own worktree"
            )
        tree = await self.checkout(resolved)
        committed = await commit_all(tree, message, identity=await self._identity(info))
        head = (await run_in(tree, "rev-parse", "HEAD")).strip()
        base = (
            await run_in(
                tree, "merge-base", f"refs/heads/{info.default_branch}", "HEAD", check=False
            )
        ).strip()
        files: list[str] = []
        insertions = deletions = 0
        if base:
            numstat = await run_in(
                tree, "diff", "--no-ext-diff", "--no-textconv", "--numstat", "-z", base, "HEAD"
            )
            for record in numstat.split("\0"):
                fields = record.split("\t")
                if len(fields) != 3:
                    continue
                added, removed, name = fields
                files.append(name)
                insertions += int(added) if added.isdigit() else 0
                deletions += int(removed) if removed.isdigit() else 0
        return ChangeSummary(
            head=head,
            committed=committed,
            files=tuple(files),
            insertions=insertions,
            deletions=deletions,
        )

    async def pause(
        self, binding: WorktreeBinding, *, message: str | None = None
    ) -> PausedWorktree:
        """Commit the work in progress, remove the worktree folder, keep the branch.

        Ignored files (build output, copied ``.env``) go with the folder; the setup copies
        and rebuilds them on `resume()`. Stop the environment's sessions first.

        Args:
            binding: From `bind()`.
            message: The commit's message (default: the configured pause message).

        Returns:
            What was done.

        Raises:
            InvalidName: the binding holds a name that is not safe.
            MainWorktreeRefused: the binding is the main worktree or the default branch.
            WorktreeConflict: the folder is not this branch's worktree.
            WorktreeLocked: a person or a live process holds the worktree.
            GitError: git refused (nothing is removed then).
        """
        info = await self._checked(binding)
        common = await self.common_dir()
        text = message or self._pause_message.format(env_id=binding.env_id, branch=binding.branch)
        async with self._locked(binding.env_id):
            slot = await self._thread(inspect_slot, common, binding.path, binding.branch)
            entry = slot.entry
            if entry is None:
                if slot.exists and not slot.empty:
                    raise WorktreeConflict(
                        f"{binding.path} is not a worktree of {info.root}; nothing paused"
                    )
                return PausedWorktree(binding, slot.branch_oid, committed=False, removed=False)
            if entry.locked is not None and parse_owner(entry.locked) is None:
                raise WorktreeLocked(
                    f"the worktree {binding.path} is locked ({entry.locked}); "
                    "`git worktree unlock` it first",
                    entry.locked,
                )
            if entry.locked is not None and await self._stale(entry, binding, slot.exists):
                async with self._admin():
                    await self._thread(discard_half_made, entry, binding.path)
                return PausedWorktree(binding, slot.branch_oid, committed=False, removed=True)
            if not slot.exists:
                async with self._admin():
                    await self._thread(prune_entry, entry)
                return PausedWorktree(binding, slot.branch_oid, committed=False, removed=False)
            if entry.branch != binding.branch:
                raise WorktreeConflict(
                    f"the worktree {binding.path} is on {entry.branch or '(detached)'}, not "
                    f"{binding.branch}; nothing paused"
                )
            tree = await self._trusted(entry)
            committed = await commit_all(tree, text, identity=await self._identity(info))
            head = (await run_in(tree, "rev-parse", "HEAD")).strip()
            async with self._admin():
                await run_git(
                    *hardening(), "worktree", "remove", "--", str(binding.path), cwd=info.root
                )
            log.info("paused %s at %s (committed: %s)", binding.path, head[:12], committed)
            return PausedWorktree(binding, head, committed=committed, removed=True)

    # -- listing and cleanup -------------------------------------------------------------------

    async def list_worktrees(self, *, details: bool = True) -> list[WorktreeStatus]:
        """Return the worktrees under the worktree root (the main one and others never).

        Args:
            details: Also count uncommitted changes and unpushed, unmerged commits, and read
                the last activity (a git process or two per worktree).

        Returns:
            One status per worktree, by folder.

        Raises:
            GitError: not a git repository.
        """
        info = await self.repo_info()
        common = await self.common_dir()
        root = await self.worktree_root()
        entries = [e for e in await self._thread(admin_entries, common) if _inside(root, e.path)]
        found: list[WorktreeStatus] = []
        for entry in sorted(entries, key=lambda e: str(e.path)):
            found.append(await self._status(entry, info, common, details=details))
        return found

    async def status(self, binding: WorktreeBinding) -> WorktreeStatus | None:
        """Return one environment's worktree status, or ``None`` when it has no worktree.

        Args:
            binding: From `bind()`.

        Returns:
            The status with details.

        Raises:
            InvalidName: the binding holds a name that is not safe.
            GitError: not a git repository.
        """
        self._check_names(binding)
        info = await self.repo_info()
        common = await self.common_dir()
        for entry in await self._thread(admin_entries, common):
            if entry.path == binding.path:
                return await self._status(entry, info, common, details=True)
        return None

    def _env_of(self, entry: AdminEntry) -> str | None:
        env = self._branches.env_id_of(entry.branch) if entry.branch else None
        if env is not None:
            return env
        try:
            return validate_task_id(entry.path.name)
        except InvalidName:
            return None

    async def _status(
        self, entry: AdminEntry, info: RepoInfo, common: Path, *, details: bool
    ) -> WorktreeStatus:
        exists = await self._thread(entry.path.is_dir)
        head = dirty = unique = None
        activity: datetime | None = None
        if details:
            # Read the index's change time before `git status` can refresh it.
            activity = await self._thread(last_activity, common, entry)
            if exists:
                tree = await self._trusted(entry)
                dirty = await dirty_files(tree)
                out = await run_in(tree, "rev-parse", "-q", "--verify", "HEAD", check=False)
                head = out.strip() or None
            if entry.branch is not None:
                unique = await unique_commits(entry.branch, info.default_branch, info.root)
        return WorktreeStatus(
            env_id=self._env_of(entry),
            branch=entry.branch,
            path=entry.path,
            exists=exists,
            head=head,
            dirty_files=dirty,
            unique_commits=unique,
            locked=entry.locked,
            last_activity=activity,
        )

    async def cleanup(
        self,
        policy: CleanupPolicy,
        sessions: Sequence[Session] = (),
        *,
        dry_run: bool = False,
        now: datetime | None = None,
    ) -> list[CleanupDecision]:
        """Apply a cleanup policy to every managed worktree, or only say what it would do.

        Each removal happens under the environment's lock after checking again that the
        worktree is clean and the branch's commits are safe; ``git worktree remove`` runs
        without ``--force``, so git refuses too if anything appeared meanwhile.

        Args:
            policy: When to remove worktrees.
            sessions: The sessions of this repository (unfinished ones keep their worktree;
                their outcomes and times drive ``on_success`` and ``expiry``).
            dry_run: Decide and report, change nothing.
            now: The current time (default: now, UTC).

        Returns:
            One decision per worktree, with whether it was carried out.

        Raises:
            GitError: the worktrees could not be listed.
        """
        info = await self.repo_info()
        moment = now or utcnow()
        statuses = await self.list_worktrees(details=policy.kind != "never")
        decisions: list[CleanupDecision] = []
        for status in statuses:
            action, reason = decide(
                status, sessions_on(status, sessions), policy, moment, info.default_branch
            )
            if dry_run or action == "keep":
                decisions.append(CleanupDecision(status, action, reason))
                continue
            try:
                await self._remove(status, delete_branch=action == "remove_worktree_and_branch")
            except (GitError, WorktreeConflict, WorktreeLocked, InvalidName) as exc:
                log.warning("cleanup kept %s: %s", status.path, exc)
                decisions.append(CleanupDecision(status, action, reason, error=str(exc)))
            else:
                log.info("cleanup removed %s: %s", status.path, reason)
                decisions.append(CleanupDecision(status, action, reason, done=True))
        return decisions

    async def _remove(self, status: WorktreeStatus, *, delete_branch: bool) -> None:
        if status.env_id is None:
            raise WorktreeConflict(f"{status.path} names no environment; remove it by hand")
        info = await self.repo_info()
        common = await self.common_dir()
        async with self._locked(status.env_id):
            entry = next(
                (e for e in await self._thread(admin_entries, common) if e.path == status.path),
                None,
            )
            if entry is None:
                return
            if entry.locked is not None:
                raise WorktreeLocked(f"{status.path} is locked ({entry.locked})", entry.locked)
            if await self._thread(status.path.is_dir):
                dirty = await dirty_files(await self._trusted(entry))
                if dirty != 0:
                    raise WorktreeConflict(f"{status.path} has uncommitted changes now")
                async with self._admin():
                    await run_git(
                        *hardening(), "worktree", "remove", "--", str(status.path), cwd=info.root
                    )
            else:
                async with self._admin():
                    await self._thread(prune_entry, entry)
            if delete_branch and entry.branch is not None:
                if await unique_commits(entry.branch, info.default_branch, info.root) != 0:
                    raise WorktreeConflict(f"{entry.branch} gained commits; branch kept")
                oid = (
                    await run_git(
                        "rev-parse", "--verify", "-q", f"refs/heads/{entry.branch}", cwd=info.root
                    )
                ).strip()
                # Compare-and-delete: a commit added since the check keeps the branch.
                await run_git("update-ref", "-d", f"refs/heads/{entry.branch}", oid, cwd=info.root)


@attrs.frozen
class BranchFile:
    """A file as a branch's latest commit holds it, read from git's objects: nothing is
    checked out and no hook, filter or attribute of the branch's content runs.

    Attributes:
        branch: The branch.
        path: The file, relative to the repository, with ``/`` separators.
        present: True when the branch has something at ``path``.
        changed: True when the branch changed ``path`` since it left the default branch (its
            copy differs from the one at their merge base, it was added or deleted there, or
            they share no history).
        regular: True when it is a regular file there (not a symbolic link, a submodule or a
            folder).
        size: Its size in bytes (0 when it is unchanged or not a regular file: not looked at).
        data: Its bytes; empty when it is unchanged, not a regular file, or larger than the
            limit asked for (those bytes are never read).
    """

    branch: str
    path: str
    present: bool
    changed: bool
    regular: bool = False
    size: int = 0
    data: bytes = b""


_REGULAR_MODES = frozenset({0o100644, 0o100755})


def read_branch_files(
    repo_root: Path,
    wanted: Iterable[tuple[str, str]],
    *,
    default_branch: str,
    max_bytes: int,
) -> dict[tuple[str, str], BranchFile]:
    """Read files from branches' latest commits with pygit2, in one pass (blocking: call it
    in a worker thread).

    Each branch is looked up once, with its merge base with the default branch. A copy's
    bytes are read only when the branch changed it and it is at most ``max_bytes`` long (the
    size comes from the object's header where pygit2 can read one without the content).

    Args:
        repo_root: The repository (its main worktree).
        wanted: ``(branch, path)`` pairs; paths relative to the repository, ``/``-separated.
        default_branch: The branch the others left (``main``); a remote-tracking
            ``origin/<name>`` stands in when there is no local one.
        max_bytes: The largest copy whose bytes are read.

    Returns:
        For each pair whose branch exists, what the branch has at that path. Pairs whose
        branch does not exist are left out.

    Raises:
        InvalidName: a branch is not a safe branch name, or a path is absolute or has ``..``.
        GitError: the repository cannot be read.
    """
    import pygit2

    pairs = list(dict.fromkeys(wanted))
    for branch, path in pairs:
        validate_branch(branch)
        parts = PurePosixPath(path).parts
        if not parts or path.startswith("/") or ".." in parts:
            raise InvalidName("repository path", path, "it must be relative, without '..'")
    out: dict[tuple[str, str], BranchFile] = {}
    try:
        repo = open_repo(repo_root)
        default = _tip(repo, f"refs/heads/{default_branch}") or _tip(
            repo, f"refs/remotes/origin/{default_branch}"
        )
        trees: dict[str, tuple[pygit2.Tree, pygit2.Tree | None] | None] = {}
        same_top: dict[tuple[str, str], bool] = {}
        header = getattr(repo.odb, "read_header", None)  # pygit2 1.19.2 and later
        for branch, path in pairs:
            if branch not in trees:
                tip = _tip(repo, f"refs/heads/{branch}")
                if tip is None:
                    trees[branch] = None
                else:
                    base = repo.merge_base(tip.id, default.id) if default is not None else None
                    base_tree = repo[base].peel(pygit2.Commit).tree if base is not None else None
                    trees[branch] = (tip.tree, base_tree)
            found = trees[branch]
            if found is None:
                continue
            tree, base_tree = found
            top = path.split("/", 1)[0]
            if (branch, top) not in same_top:
                mine = _entry(tree, top)
                theirs = _entry(base_tree, top) if base_tree is not None else None
                same_top[(branch, top)] = (
                    mine is not None and theirs is not None and (mine.id == theirs.id)
                )
            entry = _entry(tree, path)
            if entry is None:
                before = _entry(base_tree, path) if base_tree is not None else None
                gone = not same_top[(branch, top)] and (before is not None or base_tree is None)
                out[(branch, path)] = BranchFile(branch, path, present=False, changed=gone)
                continue
            regular = int(entry.filemode) in _REGULAR_MODES
            if same_top[(branch, top)]:  # nothing changed under its top folder there
                changed = False
            else:
                before = _entry(base_tree, path) if base_tree is not None else None
                changed = before is None or before.id != entry.id
            if not (changed and regular):
                out[(branch, path)] = BranchFile(branch, path, True, changed, regular)
                continue
            blob: pygit2.Object | None = None
            if header is not None:
                size = int(header(entry.id)[1])
            else:
                blob = repo[entry.id]
                size = blob.size if isinstance(blob, pygit2.Blob) else 0
            data = b""
            if size <= max_bytes:
                if blob is None:
                    blob = repo[entry.id]
                data = blob.data if isinstance(blob, pygit2.Blob) else b""
            out[(branch, path)] = BranchFile(branch, path, True, changed, True, size, data)
    except pygit2.GitError as exc:
        raise GitError(f"cannot read the task branches of {repo_root}: {exc}") from exc
    return out


def _tip(repo: pygit2.Repository, name: str) -> pygit2.Commit | None:
    """The commit a reference leads to, or ``None`` when it is missing, dangling or names
    something other than a commit (anyone who can push a branch can make one so)."""
    import pygit2

    try:
        ref = repo.references.get(name)
        if ref is None:
            return None
        return repo[ref.resolve().target].peel(pygit2.Commit)
    except (KeyError, ValueError, pygit2.GitError):
        return None


def _entry(tree: pygit2.Tree, path: str) -> pygit2.Object | None:
    try:
        return tree[path]
    except KeyError:
        return None
