"""Setup per worktree: copy listed ignored files from the main worktree, then run a setup argv.

A fresh worktree holds only what git tracks, so files people keep out of git on purpose
(``.env``, local settings) are missing, and dependencies are not installed. The setup copies the
listed paths (each resolved and checked to lie inside both worktrees, never overwriting a file
already there, and only when git ignores it in the new worktree, so that the copy never shows
as an uncommitted change) and runs one argv in the worktree. Its output is returned for the
engine to record; a failure raises `WorktreeSetupFailed` carrying that output.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import time
from pathlib import Path, PurePosixPath

import anyio
from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._errors import InvalidName
from .._names import contained
from ._errors import WorktreeSetupFailed
from ._gitcli import Checkout, hardening
from ._protocol import SetupResult, WorktreeBinding

__all__ = ["WorktreeSetup", "run_setup"]

log = logging.getLogger("scopecraft.worktrees")

_OUTPUT_LIMIT = 64 * 1024


class WorktreeSetup(BaseModel):
    """What to do in a worktree after git creates it (and again if a setup failed).

    Example: ``WorktreeSetup(copy=(".env",), command=("uv", "sync"))``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    copy_files: tuple[str, ...] = Field(
        default=(),
        alias="copy",
        description=(
            "Paths relative to the repository root (files or folders) to copy from the main "
            "worktree when git ignores them; missing ones are skipped and reported."
        ),
    )
    command: tuple[str, ...] = Field(
        default=(),
        description="An argv run in the new worktree (never through a shell); empty for none.",
    )
    timeout: float | None = Field(
        default=900.0, gt=0, description="Seconds the command may take; `None` for no limit."
    )
    env: dict[str, str] = Field(
        default_factory=dict, description="Extra environment variables for the command."
    )

    @field_validator("copy_files")
    @classmethod
    def _relative_paths(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            path = PurePosixPath(item)
            if (
                not item
                or "\0" in item
                or "\n" in item
                or path.is_absolute()
                or ".." in path.parts
                or item.startswith(("-", "~"))
                or path.parts[:1] == (".git",)
            ):
                raise InvalidName(
                    "setup path",
                    item,
                    "use a path relative to the repository root, without '..', '~', a leading "
                    "'-' or .git",
                )
        return value

    @field_validator("command")
    @classmethod
    def _argv(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if value and (not value[0] or any("\0" in part for part in value)):
            raise InvalidName(
                "setup command", " ".join(value), "give an argv list without NUL characters"
            )
        return value

    def fingerprint(self) -> str:
        """Return a short hash of this setup; a worktree set up with another one is redone."""
        text = self.model_dump_json(by_alias=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _copy_one(source: Path, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True)
    else:
        shutil.copy2(source, target, follow_symlinks=False)


def _plan_copies(
    main_root: Path, worktree: Path, items: tuple[str, ...]
) -> tuple[list[tuple[str, Path, Path, bool]], list[str]]:
    plan: list[tuple[str, Path, Path, bool]] = []
    skipped: list[str] = []
    for item in items:
        try:
            source = contained(main_root, item)
            target = contained(worktree, item)
        except InvalidName as exc:
            skipped.append(f"{item}: {exc.reason}")
            continue
        if not source.exists() and not source.is_symlink():
            skipped.append(f"{item}: missing in the main worktree")
        elif target.exists() or target.is_symlink():
            skipped.append(f"{item}: already in the worktree")
        else:
            plan.append((item, source, target, source.is_dir()))
    return plan, skipped


async def _ignored(tree: Checkout, items: list[str]) -> set[str]:
    if not items:
        return set()
    env = dict(os.environ)
    env.update(GIT_DIR=str(tree.git_dir), GIT_WORK_TREE=str(tree.path))
    result = await anyio.run_process(
        ["git", *hardening(), "check-ignore", "--stdin", "-z"],
        input="\0".join(items).encode() + b"\0",
        cwd=tree.path,
        env=env,
        check=False,
    )
    return {part for part in result.stdout.decode(errors="replace").split("\0") if part}


async def run_setup(
    setup: WorktreeSetup,
    binding: WorktreeBinding,
    main_root: Path,
    limiter: anyio.CapacityLimiter,
    git_dir: Path,
) -> SetupResult:
    """Copy the listed ignored files into the worktree and run the setup command there.

    Args:
        setup: What to do.
        binding: The worktree.
        git_dir: The worktree's trusted git directory (from the repository's records).
        main_root: The main worktree, where files are copied from.
        limiter: Limits the threads doing file work.

    Returns:
        What was done, with the command's output.

    Raises:
        WorktreeSetupFailed: a copy or the command failed, or the command timed out.
    """
    started = time.monotonic()
    worktree = binding.path
    plan, skipped = await anyio.to_thread.run_sync(
        _plan_copies, main_root, worktree, setup.copy_files, limiter=limiter
    )
    # A folder pattern (`node_modules/`) matches only a path git knows is a folder.
    queries = {item + ("/" if is_dir else ""): item for item, _, _, is_dir in plan}
    tree = Checkout(path=worktree, git_dir=git_dir)
    ignored = {queries[q] for q in await _ignored(tree, list(queries)) if q in queries}
    copied: list[str] = []
    for item, source, target, _ in plan:
        if item not in ignored:
            skipped.append(f"{item}: not ignored by git here, so a copy would be a change")
            continue
        try:
            await anyio.to_thread.run_sync(_copy_one, source, target, limiter=limiter)
        except OSError as exc:
            result = SetupResult(
                copied=tuple(copied),
                skipped=tuple(skipped),
                duration=time.monotonic() - started,
            )
            raise WorktreeSetupFailed(
                f"could not copy {item} into {worktree}: {exc.strerror or exc}", result
            ) from exc
        copied.append(item)
    if not setup.command:
        return SetupResult(
            copied=tuple(copied), skipped=tuple(skipped), duration=time.monotonic() - started
        )
    env = dict(os.environ)
    env.update(setup.env)
    env.update(
        SCOPECRAFT_WORKTREE=str(worktree),
        SCOPECRAFT_ENV_ID=binding.env_id,
        SCOPECRAFT_BRANCH=binding.branch,
        SCOPECRAFT_MAIN_WORKTREE=str(main_root),
    )
    exit_code: int | None = None
    output = b""
    failure: str | None = None
    try:
        with anyio.fail_after(setup.timeout):
            process = await anyio.run_process(
                list(setup.command),
                cwd=worktree,
                env=env,
                check=False,
                stdin=subprocess.DEVNULL,
                stderr=subprocess.STDOUT,
            )
        exit_code = process.returncode
        output = process.stdout
        if exit_code != 0:
            failure = f"the setup command {setup.command[0]} exited with {exit_code}"
    except TimeoutError:
        failure = f"the setup command {setup.command[0]} ran past {setup.timeout:g} s"
    except OSError as exc:
        failure = f"the setup command {setup.command[0]} could not start: {exc.strerror or exc}"
    result = SetupResult(
        copied=tuple(copied),
        skipped=tuple(skipped),
        command=setup.command,
        exit_code=exit_code,
        output=output[-_OUTPUT_LIMIT:].decode(errors="replace"),
        duration=time.monotonic() - started,
    )
    if failure is not None:
        log.warning("setup failed in %s: %s", worktree, failure)
        raise WorktreeSetupFailed(
            f"{failure} in {worktree}; fix it and prepare again (the worktree is kept)", result
        )
    log.info("setup done in %s (%.1f s)", worktree, result.duration)
    return result
