"""Archive N records from its own process (the concurrent-writer test starts this file).

Usage: ``python history_worker.py REPO PREFIX COUNT``.
"""

from __future__ import annotations

import sys

import anyio

from scopecraft.worktrees import GitHistory


async def main(repo: str, prefix: str, count: int) -> None:
    """Archive ``count`` sessions of task ``race-05A``."""
    history = GitHistory(repo)
    for n in range(count):
        await history.archive_session({"n": n, "by": prefix}, "race-05A", f"ses-{prefix}{n:03d}")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], int(sys.argv[3]))
