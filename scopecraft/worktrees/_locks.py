"""Locks around one task environment's worktree.

Two layers, because they fail differently:

- **Mutual exclusion** between processes (and tasks of one process) preparing, pausing or
  removing the same environment: an OS file lock (``filelock``, ``flock`` on POSIX) on
  ``<git common dir>/scopecraft-locks/<env id>.lock``. The operating system drops it when its
  holder dies, so this lock is never stale.
- **A marker of unfinished work**: while a prepare runs, git's own worktree lock
  (``git worktree add --lock --reason``) names the preparing process (pid, its start time,
  host). It keeps ``git worktree prune`` away from a half-made worktree, and when its process
  died mid-way (killed during checkout or setup), it is *stale*: the next prepare, holding the
  file lock, sees a dead holder (checked with psutil) and repairs the worktree instead of
  trusting it. A lock naming a live process, another host, or a person's own reason is never
  taken over.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import attrs

from ._errors import WorktreeLocked

if TYPE_CHECKING:
    from filelock import BaseFileLock

__all__ = ["LockOwner", "env_lock", "parse_owner", "prepare_reason"]

log = logging.getLogger("scopecraft.worktrees")

_REASON = re.compile(
    r"scopecraft prepare: pid=(?P<pid>[0-9]+) started=(?P<started>[0-9.]+) host=(?P<host>\S+)"
)


@attrs.frozen
class LockOwner:
    """The process named by a scopecraft worktree lock.

    Attributes:
        pid: Its process id.
        started: Its start time (seconds since the epoch, as psutil reports it).
        host: The host it ran on.
    """

    pid: int
    started: float
    host: str

    def is_alive(self) -> bool:
        """Tell whether the process still runs (always True for another host's process).

        Returns:
            False only when this host has no process with that pid and start time.
        """
        import psutil

        if self.host != socket.gethostname():
            return True
        try:
            created = psutil.Process(self.pid).create_time()
        except psutil.NoSuchProcess:
            return False
        except psutil.Error:
            return True
        # A reused pid belongs to a process started later.
        return abs(created - self.started) < 1.0


def prepare_reason() -> str:
    """Return the lock reason naming this process, for ``git worktree add --lock --reason``."""
    import psutil

    pid = os.getpid()
    started = psutil.Process(pid).create_time()
    return f"scopecraft prepare: pid={pid} started={started:.2f} host={socket.gethostname()}"


def parse_owner(reason: str) -> LockOwner | None:
    """Read the process a lock reason names.

    Args:
        reason: The content of a worktree's ``locked`` file.

    Returns:
        The owner, or ``None`` when the reason is not one scopecraft writes.
    """
    match = _REASON.search(reason)
    if match is None:
        return None
    return LockOwner(
        pid=int(match.group("pid")), started=float(match.group("started")), host=match.group("host")
    )


@asynccontextmanager
async def env_lock(
    lock_dir: Path,
    env_id: str,
    *,
    local: anyio.Lock,
    wait: float,
    poll: float = 0.02,
) -> AsyncIterator[None]:
    """Hold the lock of one environment, across tasks, threads and processes.

    The OS lock is tried without blocking and polled, so waiting never occupies a thread
    and stays cancellable.

    Args:
        lock_dir: The folder of lock files (in the git common dir).
        env_id: The environment id (a validated task id, so a safe file name).
        local: The caller's in-process lock for this environment, taken first so that tasks
            of one process queue without polling.
        wait: Seconds to wait before giving up.
        poll: Seconds between tries.

    Yields:
        Nothing; the lock is held inside the block.

    Raises:
        WorktreeLocked: the lock stayed taken for ``wait`` seconds.
    """
    from filelock import FileLock, Timeout

    path = lock_dir / f"{env_id}.lock"
    with anyio.move_on_after(wait) as scope:
        await local.acquire()
    if scope.cancelled_caught:
        raise WorktreeLocked(
            f"another task of this process kept the lock of {env_id} for {wait:g} s"
        )
    try:
        held: list[BaseFileLock] = []

        def attempt() -> bool:
            if not held:
                lock_dir.mkdir(parents=True, exist_ok=True)
                held.append(FileLock(str(path), thread_local=False))
            try:
                held[0].acquire(timeout=0)
            except Timeout:
                return False
            return True

        deadline = anyio.current_time() + wait
        while not await anyio.to_thread.run_sync(attempt):
            if anyio.current_time() > deadline:
                raise WorktreeLocked(
                    f"another process kept the lock {path} for {wait:g} s; it is still "
                    "preparing or removing the worktree of " + env_id
                )
            await anyio.sleep(poll)
        try:
            yield
        finally:
            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(held[0].release)
    finally:
        local.release()
