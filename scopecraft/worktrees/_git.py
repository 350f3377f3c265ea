"""``GitWorktreeOrchestrator``: one worktree and branch per task environment, with the git CLI."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from .._errors import GitError, MainWorktreeRefused
from .._models import Task
from .._names import validate_branch, validate_task_id
from ._protocol import ChangeSummary, PreparedWorktree, RepoInfo, WorktreeBinding

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = ["GitWorktreeOrchestrator", "run_git"]

log = logging.getLogger("scopecraft.worktrees")

_FALLBACK_IDENTITY = {
    "GIT_AUTHOR_NAME": "scopecraft",
    "GIT_AUTHOR_EMAIL": "scopecraft@localhost",
    "GIT_COMMITTER_NAME": "scopecraft",
    "GIT_COMMITTER_EMAIL": "scopecraft@localhost",
}


async def run_git(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, check: bool = True
) -> str:
    """Run ``git`` with an argv list in ``cwd`` and return its standard output.

    Raises:
        GitError: git exited non-zero (with ``check``), carrying git's own message.
    """
    full_env = dict(os.environ)
    full_env["GIT_TERMINAL_PROMPT"] = "0"
    full_env["LC_ALL"] = "C"
    if env:
        full_env.update(env)
    result = await anyio.run_process(["git", *args], cwd=cwd, env=full_env, check=False)
    if check and result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip() or "no message"
        raise GitError(f"git {' '.join(args[:2])} failed in {cwd}: {message}")
    return result.stdout.decode(errors="replace")


class GitWorktreeOrchestrator:
    """Binds each task environment to ``feature/<env id>`` in ``<repo>.worktrees/<env id>``.

    Args:
        repo: Any folder inside the repository.
        branch_template: The branch name, with ``{env_id}`` (``task/{env_id}`` is Scopecraft's).
        worktree_root: The folder worktrees go in (default
            ``<repo parent>/<repo name>.worktrees``).
        base: What new branches start from (default: the default branch's tip).
    """

    def __init__(
        self,
        repo: str | Path = ".",
        *,
        branch_template: str = "feature/{env_id}",
        worktree_root: str | Path | None = None,
        base: str | None = None,
    ) -> None:
        self._repo = Path(repo)
        self._branch_template = branch_template
        self._worktree_root = Path(worktree_root) if worktree_root is not None else None
        self._base = base
        self._info: RepoInfo | None = None
        self._lock = anyio.Lock()

    async def repo_info(self) -> RepoInfo:
        """Return (and cache) the main worktree and the default branch.

        Raises:
            GitError: not a git repository.
        """
        if self._info is not None:
            return self._info
        common = (
            await run_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=self._repo)
        ).strip()
        root = Path(common).parent if Path(common).name == ".git" else Path(common)
        default = await self._default_branch(root)
        self._info = RepoInfo(root=root.resolve(), default_branch=default)
        return self._info

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

    async def bind(self, task: Task, *, branch: str | None = None) -> WorktreeBinding:
        """Bind ``task`` to its environment's branch and worktree.

        Raises:
            InvalidName: the branch or env id is not a safe name.
            MainWorktreeRefused: the binding is the main worktree or the default branch.
        """
        info = await self.repo_info()
        env_id = validate_task_id(task.env_id)
        name = validate_branch(branch or self._branch_template.format(env_id=env_id))
        root = self._worktree_root or info.root.parent / f"{info.root.name}.worktrees"
        path = (root / env_id).resolve()
        if root.resolve() not in path.parents:
            raise MainWorktreeRefused(f"worktree path {path} escapes {root}")
        binding = WorktreeBinding(env_id=env_id, branch=name, path=path)
        self._refuse_main(binding, info)
        return binding

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

    async def prepare(self, binding: WorktreeBinding) -> PreparedWorktree:
        """Reuse the worktree at ``binding.path`` or create it (and the branch) with git.

        Raises:
            MainWorktreeRefused: the binding is the main worktree or the default branch.
            GitError: git refused, or the folder holds another branch.
        """
        info = await self.repo_info()
        self._refuse_main(binding, info)
        async with self._lock:
            lock = await self._file_lock(info, binding.env_id)
            try:
                return await self._prepare_locked(binding, info)
            finally:
                await anyio.to_thread.run_sync(lock.release)

    async def _file_lock(self, info: RepoInfo, env_id: str) -> BaseFileLock:
        from filelock import FileLock

        common = (
            await run_git("rev-parse", "--path-format=absolute", "--git-common-dir", cwd=info.root)
        ).strip()
        lock_dir = Path(common) / "scopecraft-locks"
        lock_dir.mkdir(exist_ok=True)
        lock = FileLock(str(lock_dir / f"{env_id}.lock"))
        await anyio.to_thread.run_sync(lock.acquire)
        return lock

    async def _prepare_locked(self, binding: WorktreeBinding, info: RepoInfo) -> PreparedWorktree:
        path = binding.path
        if (path / ".git").exists():
            current = (
                await run_git("symbolic-ref", "--quiet", "--short", "HEAD", cwd=path, check=False)
            ).strip()
            if current != binding.branch:
                raise GitError(
                    f"the worktree {path} is on branch {current or '(detached)'}, "
                    f"not {binding.branch}; move it away or bind another branch"
                )
            return PreparedWorktree(binding=binding, created=False)
        # A registered worktree whose folder was deleted blocks `worktree add`: prune it.
        await run_git("worktree", "prune", cwd=info.root)
        path.parent.mkdir(parents=True, exist_ok=True)
        exists = (
            await run_git(
                "rev-parse",
                "--verify",
                "--quiet",
                f"refs/heads/{binding.branch}",
                cwd=info.root,
                check=False,
            )
        ).strip()
        if exists:
            await run_git("worktree", "add", "--", str(path), binding.branch, cwd=info.root)
            return PreparedWorktree(binding=binding, created=True)
        base_ref = self._base or info.default_branch
        base = (
            await run_git("rev-parse", "--verify", f"{base_ref}^{{commit}}", cwd=info.root)
        ).strip()
        await run_git("worktree", "add", "-b", binding.branch, "--", str(path), base, cwd=info.root)
        log.info("created worktree %s on %s from %s", path, binding.branch, base[:12])
        return PreparedWorktree(binding=binding, created=True, base=base)

    async def record_changes(self, path: Path, *, message: str) -> ChangeSummary:
        """Commit leftover work in ``path`` and summarise the branch against the default branch.

        Raises:
            GitError: git refused.
        """
        info = await self.repo_info()
        status = await run_git("status", "--porcelain", cwd=path)
        committed = False
        if status.strip():
            await run_git("add", "-A", cwd=path)
            identity = await self._identity_env(path)
            await run_git("commit", "--no-verify", "-q", "-m", message, cwd=path, env=identity)
            committed = True
        head = (await run_git("rev-parse", "HEAD", cwd=path)).strip()
        base = (
            await run_git("merge-base", info.default_branch, "HEAD", cwd=path, check=False)
        ).strip()
        files: list[str] = []
        insertions = deletions = 0
        if base:
            numstat = await run_git("diff", "--numstat", "-z", base, "HEAD", cwd=path)
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

    @staticmethod
    async def _identity_env(path: Path) -> dict[str, str]:
        email = (await run_git("config", "--get", "user.email", cwd=path, check=False)).strip()
        return {} if email else dict(_FALLBACK_IDENTITY)
