"""What the engine's components share: a small context, never the engine itself.

Every component (the journal, the requests, the runtimes, the tasks, the costs, the
scheduler, the attempt runner) is given a `Context`: the engine's configuration and folders,
its store, its worktree orchestrator, its queue policy and its plugins. A component reaches
another only through the attributes the engine gave it when it made it.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import anyio.abc

from .._config import EngineConfig
from .._plugins import PluginRegistry
from ..agents._protocol import AgentAdapter
from ..executors._protocol import Executor
from ..policies._protocol import QueuePolicy
from ..storage._protocol import StorageAdapter
from ..worktrees._protocol import WorktreeOrchestrator

__all__ = ["ADAPTER_SECRETS", "Context", "Plugins"]

ADAPTER_SECRETS = ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN", "OPENAI_API_KEY")
"""The agent adapters' own secrets: redacted wherever the engine's environment has them."""


class Plugins:
    """The engine's executors and agents, each made on first use from its configuration.

    Args:
        registry: Where the plugins are found (entry points and registered ones).
        config: The engine's configuration (the ``executors`` and ``agents`` tables).
    """

    def __init__(self, registry: PluginRegistry, config: EngineConfig) -> None:
        self.registry = registry
        self._config = config
        self.executors: dict[str, Executor] = {}
        """The executors made so far, by name."""
        self.agents: dict[str, AgentAdapter] = {}
        """The agent adapters made so far, by name."""

    def executor(self, name: str) -> Executor:
        """The executor plugin ``name``, made on first use.

        Raises:
            PluginError: no such executor is installed (or it is disabled or broken).
        """
        if name not in self.executors:
            self.executors[name] = self.registry.create(
                "executors", name, Executor, **self._config.executors.get(name, {})
            )
        return self.executors[name]

    def agent(self, name: str) -> AgentAdapter:
        """The agent adapter ``name``, made on first use.

        Raises:
            PluginError: no such agent is installed (or it is disabled or broken).
        """
        if name not in self.agents:
            self.agents[name] = self.registry.create(
                "agents", name, AgentAdapter, **self._config.agents.get(name, {})
            )
        return self.agents[name]

    async def aclose(self) -> None:
        """Close every executor made (their clients and connections)."""
        for executor in self.executors.values():
            await executor.aclose()


class Context:
    """The engine's shared state that its components read.

    Args:
        repo: The repository folder.
        home: The state folder.
        config: The engine's configuration.
        policy: The queue policy.
        forward_env: Names of the environment variables forwarded to agents.
        plugins: The executors and agents.
        storage: A store given by the caller (else one is set when the engine opens).
        worktrees: A worktree orchestrator given by the caller (else the git one).
    """

    def __init__(
        self,
        *,
        repo: Path,
        home: Path,
        config: EngineConfig,
        policy: QueuePolicy,
        forward_env: tuple[str, ...],
        plugins: Plugins,
        storage: StorageAdapter | None = None,
        worktrees: WorktreeOrchestrator | None = None,
    ) -> None:
        self.repo = repo
        self.home = home
        self.config = config
        self.policy = policy
        self.forward_env = forward_env
        self.plugins = plugins
        self._storage = storage
        self._worktrees = worktrees
        self.created_by: str | None = None
        """The git user's email, read when the engine opens (the default ``created_by``)."""
        self.task_group: anyio.abc.TaskGroup | None = None
        """Where the engine's background work runs while it is open."""
        self.stopping: set[str] = set()
        """Sessions whose runtime this engine stopped: closing waits for their ends."""
        self.wake_scheduler: Callable[[], None] = _nothing
        """Ask the scheduler for a pass now (set by the engine once its scheduler exists)."""

    @property
    def storage(self) -> StorageAdapter:
        """The store (set once the engine is open)."""
        if self._storage is None:
            raise RuntimeError("the engine is not open; use `async with Engine.open(...)`")
        return self._storage

    @storage.setter
    def storage(self, storage: StorageAdapter) -> None:
        self._storage = storage

    @property
    def storage_or_none(self) -> StorageAdapter | None:
        """The store, or ``None`` before the engine opened."""
        return self._storage

    @property
    def worktrees(self) -> WorktreeOrchestrator:
        """The worktree orchestrator (git by default, made on first use)."""
        if self._worktrees is None:
            from ..worktrees._git import GitWorktreeOrchestrator

            config = self.config
            self._worktrees = GitWorktreeOrchestrator(
                self.repo,
                branch_template=config.branch_template,
                worktree_root=config.worktree_root,
                worktree_template=config.worktree_template,
                base=config.base,
                setup=config.worktree_setup,
                checkout_workers=config.checkout_workers,
            )
        return self._worktrees

    def allowed_on_host(self) -> bool:
        """Whether ``permissions='full'`` may run outside a container here."""
        return os.environ.get("SCOPECRAFT_ALLOW_DANGEROUS_ON_HOST") == "1"


def _nothing() -> None:
    """No scheduler yet: nothing to wake."""
