"""Executors: where an agent runs.

Built-ins: ``docker`` (hardened containers, autonomous and planning sessions), ``tmux``
(interactive and dispatch sessions a person can attach to) and ``local`` (a detached process
group in the worktree). Each is imported only when first used.
"""

from __future__ import annotations

from ._protocol import (
    Executor,
    ExecutorCapabilities,
    LaunchSpec,
    OutputChunk,
    Resources,
    RuntimeHandle,
    RuntimeState,
    RuntimeStatus,
)

__all__ = [
    "Executor",
    "ExecutorCapabilities",
    "LaunchSpec",
    "OutputChunk",
    "Resources",
    "RuntimeHandle",
    "RuntimeState",
    "RuntimeStatus",
]
