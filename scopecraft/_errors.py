"""The exception tree of scopecraft.

Every error the library raises on purpose is a `ScopecraftError`. There is one subtree
per extension point; leaves also inherit the builtin they resemble, so ``except LookupError``
keeps working for callers that do not know scopecraft::

    ScopecraftError
    ├── ConfigError (ValueError)
    │   └── PluginError
    ├── InvalidName (ValueError)
    ├── RequestRefused (ValueError)        a request the engine will not carry out
    │   ├── DangerousRefused (PermissionError)
    │   ├── MainWorktreeRefused (PermissionError)
    │   ├── QueueFull
    │   ├── UnknownAgent (also AgentNotFound)
    │   ├── AgentProgramNotFound (also AgentError)
    │   └── ExecutorUnreachable (also ExecutorUnavailable)
    ├── SessionError
    │   ├── SessionNotFound (LookupError)
    │   ├── SessionTimeout (TimeoutError)
    │   └── InvalidTransition
    ├── TaskError
    │   ├── TaskNotFound (LookupError)
    │   └── MalformedTask (ValueError)
    ├── StorageError
    │   ├── StorageBusy
    │   ├── DuplicateSession
    │   ├── CursorMoved
    │   └── SchemaError
    ├── AgentError
    │   └── AgentNotFound (LookupError)
    ├── ExecutorError
    │   ├── ExecutorUnavailable
    │   ├── ImageNotFound (LookupError)
    │   ├── MountRefused (PermissionError)
    │   ├── RuntimeNotFound (LookupError)
    │   └── CapabilityMissing
    ├── WorktreeError
    │   └── GitError
    └── PolicyError

Messages say what happened and what to do about it.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "AgentError",
    "AgentNotFound",
    "CapabilityMissing",
    "ConfigError",
    "CursorMoved",
    "DangerousRefused",
    "DuplicateSession",
    "ExecutorError",
    "ExecutorUnavailable",
    "GitError",
    "ImageNotFound",
    "InvalidName",
    "InvalidTransition",
    "MainWorktreeRefused",
    "MalformedTask",
    "MountRefused",
    "PluginError",
    "PolicyError",
    "QueueFull",
    "RequestRefused",
    "RuntimeNotFound",
    "SchemaError",
    "ScopecraftError",
    "SessionError",
    "SessionNotFound",
    "SessionTimeout",
    "StorageBusy",
    "StorageError",
    "TaskError",
    "TaskNotFound",
    "WorktreeError",
]


class ScopecraftError(Exception):
    """Root of every error scopecraft raises on purpose."""


class ConfigError(ScopecraftError, ValueError):
    """A configuration value is missing or wrong."""


class PluginError(ConfigError):
    """A plugin could not be found, loaded or validated."""


class InvalidName(ScopecraftError, ValueError):
    """A task id, branch name, session id or path failed validation.

    Attributes:
        kind: What was being validated (``"task id"``, ``"branch"``, ...).
        value: The rejected value.
        reason: Why it was rejected.
    """

    def __init__(self, kind: str, value: str, reason: str) -> None:
        self.kind = kind
        self.value = value
        self.reason = reason
        shown = value if len(value) <= 80 else value[:77] + "..."
        super().__init__(f"invalid {kind} {shown!r}: {reason}")


class RequestRefused(ScopecraftError, ValueError):
    """The engine will not carry out a request as given; nothing was created."""


class DangerousRefused(RequestRefused, PermissionError):
    """``dangerous=True`` was asked for outside a container executor."""


class MainWorktreeRefused(RequestRefused, PermissionError):
    """An agent was asked to run in the main worktree or on the default branch."""


class QueueFull(RequestRefused):
    """The queue holds as many sessions as the policy allows."""


class SessionError(ScopecraftError):
    """Base of errors about one session."""


class SessionNotFound(SessionError, LookupError):
    """No session has that id in this store."""

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        super().__init__(
            f"no session {session_id!r} in this store; `scopecraft session list --all` lists them"
        )


class SessionTimeout(SessionError, TimeoutError):
    """``Engine.wait`` ran out of time; the session goes on."""

    def __init__(self, session_id: str, timeout: float, status: str) -> None:
        self.session_id = session_id
        self.timeout = timeout
        self.status = status
        super().__init__(
            f"session {session_id} is still {status} after {timeout:g} s; it goes on running"
        )


class InvalidTransition(SessionError):
    """The session's status does not allow that operation now."""


class TaskError(ScopecraftError):
    """Base of errors about task files."""


class TaskNotFound(TaskError, LookupError):
    """No valid task has that id."""

    def __init__(self, task_id: str, hint: str = "") -> None:
        self.task_id = task_id
        msg = f"no task {task_id!r}"
        super().__init__(msg + (f"; {hint}" if hint else "; `scopecraft tasks list` lists them"))


class MalformedTask(TaskError, ValueError):
    """A task file could not be read; says which file and what is wrong.

    Attributes:
        path: The file.
        reason: What is wrong with it.
    """

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class StorageError(ScopecraftError):
    """Base of storage errors."""


class StorageBusy(StorageError):
    """The store stayed locked by other writers past every retry."""


class DuplicateSession(StorageError):
    """A session with that id already exists."""


class SchemaError(StorageError):
    """The store's schema is newer than this version of scopecraft understands."""


class AgentError(ScopecraftError):
    """Base of agent adapter errors."""


class AgentNotFound(AgentError, LookupError):
    """No agent adapter is registered under that name."""


class ExecutorError(ScopecraftError):
    """Base of executor errors."""


class ExecutorUnavailable(ExecutorError):
    """The executor's backend (Docker engine, tmux, ...) cannot be reached or is missing."""


class ImageNotFound(ExecutorError, LookupError):
    """The session's image is not on the Docker engine (and was not pulled)."""


class MountRefused(ExecutorError, PermissionError):
    """A mount would hand the container the Docker engine (its socket) or clash with ours."""


class RuntimeNotFound(ExecutorError, LookupError):
    """The runtime (process, container, tmux session) of a session is gone."""


class CapabilityMissing(ExecutorError):
    """The executor lacks a capability the request needs."""


class UnknownAgent(RequestRefused, AgentNotFound):
    """``create_session`` was given an agent no adapter is registered for; nothing was created.

    Both a `RequestRefused` and an `AgentNotFound`, so either ``except`` catches it (the CLI
    exits 3, not found)."""


class AgentProgramNotFound(RequestRefused, AgentError):
    """``create_session`` found that the program the agent runs on the host (``claude``,
    ``codex``, a command's ``argv[0]``) is not installed; nothing was created (the CLI exits
    3, not found)."""


class ExecutorUnreachable(RequestRefused, ExecutorUnavailable):
    """``create_session`` found the executor's backend (the Docker engine) not answering;
    nothing was created.

    Both a `RequestRefused` and an `ExecutorUnavailable` (the CLI exits 6, a backend that
    cannot be reached)."""


class WorktreeError(ScopecraftError):
    """Base of worktree and branch errors."""


class GitError(WorktreeError):
    """A git command failed; the message carries git's own words."""


class PolicyError(ScopecraftError):
    """A queue policy is misconfigured or refused a request."""


class CursorMoved(StorageError):
    """Another collector moved a session's output cursor first; nothing was written."""
