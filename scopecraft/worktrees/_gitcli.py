"""The git command line, run as argv lists (never a shell), and the few questions asked of it.

The git CLI is used where a process is worth it: checking out (parallel checkout), status,
commits, and reachability counts. Refs and trees are read in-process with pygit2 instead.

A worktree's files belong to its agent, its ``.git`` file included: git run there with git's
own discovery would read whatever git directory, config and hooks the agent pointed it at,
and run their commands on the host (``core.fsmonitor``, hooks, filters, ``core.sshCommand``).
So git runs in a worktree only through `run_in()`, with the git directory and the work
tree given explicitly (from the repository's own records, never from the worktree) and every
command-running setting git would consult for status, add, commit and diff switched off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import anyio
import attrs

from .._errors import GitError

__all__ = [
    "HARDENED_CONFIG",
    "Checkout",
    "commit_all",
    "dirty_files",
    "hardening",
    "identity_env",
    "run_git",
    "run_in",
    "unique_commits",
]

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
    try:
        result = await anyio.run_process(["git", *args], cwd=cwd, env=full_env, check=False)
    except OSError as exc:  # the folder is gone (or git is): an error to report, not a crash
        gone = getattr(exc, "filename", None) == str(cwd)
        what = "the folder does not exist" if gone else (exc.strerror or str(exc))
        raise GitError(f"cannot run git in {cwd}: {what}") from exc
    if check and result.returncode != 0:
        message = result.stderr.decode(errors="replace").strip() or "no message"
        shown = " ".join(_command_words(args)[:4])
        raise GitError(f"git {shown} failed in {cwd}: {message}")
    return result.stdout.decode(errors="replace")


HARDENED_CONFIG: tuple[str, ...] = (
    "core.fsmonitor=false",
    "core.hooksPath=/dev/null",
    "core.sshCommand=false",
    "core.askPass=",
    "core.pager=cat",
    "core.editor=false",
    "diff.external=",
    "commit.gpgSign=false",
    "tag.gpgSign=false",
    "credential.helper=",
    "protocol.allow=never",
    "submodule.recurse=false",
    "diff.ignoreSubmodules=all",
    "status.submoduleSummary=false",
)
"""Settings given on the command line of every git run in a worktree: what git could run
for status, add, commit and diff (fsmonitor, hooks, an external diff, gpg, credential
helpers, ssh, submodules) is switched off, whatever any config file says. Command-line
settings reach the git processes git starts itself too (``GIT_CONFIG_PARAMETERS``)."""


@attrs.frozen
class Checkout:
    """A worktree as host-side git must see it: its folder and its trusted git directory.

    Attributes:
        path: The worktree folder (the agent's files).
        git_dir: Its administrative folder in the repository's common dir, taken from the
            repository's records (never from the worktree's ``.git`` file).
    """

    path: Path
    git_dir: Path


async def run_in(
    tree: Checkout, *args: str, env: Mapping[str, str] | None = None, check: bool = True
) -> str:
    """Run ``git`` in a worktree with an explicit git dir and work tree, hardened.

    Args:
        tree: The worktree and its trusted git directory.
        *args: git's arguments (never a shell string).
        env: Extra environment variables.
        check: Raise when git exits non-zero.

    Returns:
        git's standard output, decoded.

    Raises:
        GitError: git exited non-zero (with ``check``), or the folder is gone.
    """
    full_env = {
        "GIT_DIR": str(tree.git_dir),
        "GIT_WORK_TREE": str(tree.path),
        "GIT_CEILING_DIRECTORIES": str(tree.path.parent),
        "GIT_NO_REPLACE_OBJECTS": "1",
    }
    if env:
        full_env.update(env)
    return await run_git(*hardening(), *args, cwd=tree.path, env=full_env, check=check)


def hardening() -> list[str]:
    """Return `HARDENED_CONFIG` as git's ``-c`` arguments, to put before a command."""
    return [part for item in HARDENED_CONFIG for part in ("-c", item)]


def _command_words(args: tuple[str, ...]) -> list[str]:
    """git's arguments without the ``-c NAME=VALUE`` settings, for messages."""
    words: list[str] = []
    skip = False
    for arg in args:
        if skip:
            skip = False
        elif arg == "-c":
            skip = True
        else:
            words.append(arg)
    return words


async def identity_env(path: Path) -> dict[str, str]:
    """Return a committer identity to use when the repository has none configured.

    Args:
        path: The main worktree (its config is the repository's own).
    """
    email = (await run_git("config", "--get", "user.email", cwd=path, check=False)).strip()
    return {} if email else dict(_FALLBACK_IDENTITY)


async def commit_all(tree: Checkout, message: str, *, identity: Mapping[str, str]) -> bool:
    """Commit everything uncommitted in a worktree (hooks never run); tell whether it did.

    Args:
        tree: The worktree and its trusted git directory.
        message: The commit message.
        identity: Committer variables to use (from `identity_env()`; may be empty).

    Raises:
        GitError: git refused, or the worktree folder is gone.
    """
    status = await run_in(tree, "status", "--porcelain", "--ignore-submodules=all")
    if not status.strip():
        return False
    await run_in(tree, "add", "-A")
    await run_in(tree, "commit", "--no-verify", "-q", "-m", message, env=identity)
    return True


async def dirty_files(tree: Checkout) -> int | None:
    """Count uncommitted changes (modified, staged, untracked; not ignored), or ``None``.

    ``--no-optional-locks`` keeps ``git status`` from rewriting the index, whose change time
    is one of the worktree's activity signs.
    """
    try:
        out = await run_in(
            tree,
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=normal",
            "--ignore-submodules=all",
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
