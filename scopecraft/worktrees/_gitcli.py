"""The git command line, run as argv lists (never a shell), and the few questions asked of it.

The git CLI is used where a process is worth it: checking out (parallel checkout), status,
commits, and reachability counts. Refs and trees are read in-process with pygit2 instead.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import anyio

from .._errors import GitError

__all__ = ["commit_all", "dirty_files", "identity_env", "run_git", "unique_commits"]

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

    Args:
        *args: git's arguments (never a shell string).
        cwd: The folder to run in.
        env: Extra environment variables.
        check: Raise when git exits non-zero.

    Returns:
        git's standard output, decoded.

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
        shown = " ".join(a for a in args[:4] if not a.startswith("checkout.workers"))
        raise GitError(f"git {shown} failed in {cwd}: {message}")
    return result.stdout.decode(errors="replace")


async def identity_env(path: Path) -> dict[str, str]:
    """Return a committer identity to use when the repository has none configured."""
    email = (await run_git("config", "--get", "user.email", cwd=path, check=False)).strip()
    return {} if email else dict(_FALLBACK_IDENTITY)


async def commit_all(path: Path, message: str) -> bool:
    """Commit everything uncommitted in a worktree (hooks skipped); tell whether it did.

    Raises:
        GitError: git refused.
    """
    status = await run_git("status", "--porcelain", cwd=path)
    if not status.strip():
        return False
    await run_git("add", "-A", cwd=path)
    identity = await identity_env(path)
    await run_git("commit", "--no-verify", "-q", "-m", message, cwd=path, env=identity)
    return True


async def dirty_files(path: Path) -> int | None:
    """Count uncommitted changes (modified, staged, untracked; not ignored), or ``None``.

    ``--no-optional-locks`` keeps ``git status`` from rewriting the index, whose change time
    is one of the worktree's activity signs.
    """
    try:
        out = await run_git(
            "--no-optional-locks", "status", "--porcelain", "--untracked-files=normal", cwd=path
        )
    except GitError:
        return None
    return sum(1 for line in out.splitlines() if line.strip())


async def unique_commits(branch: str, default_branch: str, root: Path) -> int | None:
    """Count the commits of ``branch`` on neither the default branch nor any remote branch.

    Returns:
        The count, or ``None`` when git cannot tell (no such branch).
    """
    out = await run_git(
        "rev-list",
        "--count",
        f"refs/heads/{branch}",
        "--not",
        f"refs/heads/{default_branch}",
        "--remotes",
        "--",
        cwd=root,
        check=False,
    )
    return int(out.strip()) if out.strip().isdigit() else None
