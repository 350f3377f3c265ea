"""Run one prepare in its own process (the concurrency and crash tests start this file).

Usage: ``python prepare_worker.py REPO ENV_ID GO_FILE [SETUP_ARGV...]``: waits until GO_FILE
exists, prepares the env's worktree, prints ``created=<bool> path=<path>``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import anyio

from scopecraft.worktrees import GitWorktreeOrchestrator


async def main(repo: str, env_id: str, go: str, setup: list[str]) -> None:
    """Wait for the start signal, then prepare."""
    orch = GitWorktreeOrchestrator(repo, setup={"command": setup} if setup else None)
    binding = await orch.bind_env(env_id)
    deadline = time.monotonic() + 30
    while not Path(go).exists() and time.monotonic() < deadline:
        await anyio.sleep(0.005)
    prepared = await orch.prepare(binding)
    sys.stdout.write(f"created={prepared.created} path={prepared.binding.path}\n")


if __name__ == "__main__":
    anyio.run(main, sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:])
