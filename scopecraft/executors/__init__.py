"""Executors: where an agent runs (a local process; Docker and tmux as their plugins land)."""

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
