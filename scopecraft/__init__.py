"""scopecraft: run AI coding agents as durable sessions bound to tasks and git worktrees.

Open an engine with ``async with scopecraft.Engine.open(repo=".") as engine`` (or the sync twin
``with scopecraft.connect(repo=".") as engine``) and create sessions for task ids. Heavy
modules (the engine, backends) load on first use, so ``import scopecraft`` stays fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._errors import (
    AgentError,
    AgentNotFound,
    AgentProgramNotFound,
    CapabilityMissing,
    ConfigError,
    CursorMoved,
    DangerousRefused,
    DuplicateSession,
    ExecutorError,
    ExecutorUnavailable,
    ExecutorUnreachable,
    GitError,
    ImageNotFound,
    InvalidName,
    InvalidTransition,
    MainWorktreeRefused,
    MalformedTask,
    MountRefused,
    PluginError,
    PolicyError,
    QueueFull,
    RequestRefused,
    RuntimeNotFound,
    SchemaError,
    ScopecraftError,
    SessionError,
    SessionNotFound,
    SessionTimeout,
    StorageBusy,
    StorageError,
    TaskError,
    TaskNotFound,
    UnknownAgent,
    WorktreeError,
)

if TYPE_CHECKING:
    from ._config import EngineConfig, ResourceLimits
    from ._models import (
        LogEntry,
        Permissions,
        Priority,
        Session,
        SessionMode,
        SessionStatus,
        Task,
    )
    from ._sync import SyncEngine, connect
    from .engine import Engine, SessionRequest
    from .executors._protocol import Resources
    from .policies._priority import PriorityQueuePolicy

__version__ = "0.1.0"

_LAZY = {
    "Engine": ".engine._facade",
    "EngineConfig": "._config",
    "LogEntry": "._models",
    "Permissions": "._models",
    "Priority": "._models",
    "PriorityQueuePolicy": ".policies._priority",
    "ResourceLimits": "._config",
    "Resources": ".executors._protocol",
    "Session": "._models",
    "SessionMode": "._models",
    "SessionRequest": ".engine._requests",
    "SessionStatus": "._models",
    "SyncEngine": "._sync",
    "Task": "._models",
    "connect": "._sync",
}

__all__ = [
    "AgentError",
    "AgentNotFound",
    "AgentProgramNotFound",
    "CapabilityMissing",
    "ConfigError",
    "CursorMoved",
    "DangerousRefused",
    "DuplicateSession",
    "Engine",
    "EngineConfig",
    "ExecutorError",
    "ExecutorUnavailable",
    "ExecutorUnreachable",
    "GitError",
    "ImageNotFound",
    "InvalidName",
    "InvalidTransition",
    "LogEntry",
    "MainWorktreeRefused",
    "MalformedTask",
    "MountRefused",
    "Permissions",
    "PluginError",
    "PolicyError",
    "Priority",
    "PriorityQueuePolicy",
    "QueueFull",
    "RequestRefused",
    "ResourceLimits",
    "Resources",
    "RuntimeNotFound",
    "SchemaError",
    "ScopecraftError",
    "Session",
    "SessionError",
    "SessionMode",
    "SessionNotFound",
    "SessionRequest",
    "SessionStatus",
    "SessionTimeout",
    "StorageBusy",
    "StorageError",
    "SyncEngine",
    "Task",
    "TaskError",
    "TaskNotFound",
    "UnknownAgent",
    "WorktreeError",
    "__version__",
    "connect",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'scopecraft' has no attribute {name!r}")
    value = getattr(importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
