"""The engine's seams: a store, a queue policy and a worktree orchestrator given as an
instance, an entry-point name, a URL (stores) or a mapping with a ``kind``.

- ``storage="sqlite:///var/scopecraft.db"``: the URL's scheme names the ``scopecraft.storage``
  plugin, which is given ``url=`` (and ``home=``, the engine's state folder);
  ``storage="sqlite"``: the plugin by name; ``storage={"kind": "sqlite", "synchronous":
  "FULL"}``: by name with its configuration. ``None`` takes ``SCOPECRAFT_STORAGE_URL`` when set,
  else SQLite in the home.
- ``policy="priority"`` or ``policy={"kind": "priority", "max_concurrent": {"autonomous": 2}}``:
  a ``scopecraft.policies`` plugin with its configuration.
- ``worktrees="mine"`` or ``{"kind": "mine", ...}``: a ``scopecraft.worktrees`` plugin, given
  ``repo=`` (the repository folder) besides its configuration. ``None`` and ``"git"`` take the
  git orchestrator configured by `EngineConfig` (its templates, base, setup).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import ConfigError
from .._plugins import PluginRegistry, check_instance
from ..policies._protocol import QueuePolicy
from ..storage._protocol import StorageAdapter
from ..worktrees._protocol import WorktreeOrchestrator

__all__ = ["PluginSpec", "resolve_policy", "resolve_storage", "resolve_worktrees"]

PluginSpec = str | Mapping[str, Any]
"""An entry-point name (a URL, for stores) or a mapping of ``kind`` and configuration."""

STORAGE_URL_ENV = "SCOPECRAFT_STORAGE_URL"


def _named(spec: PluginSpec, what: str) -> tuple[str, dict[str, Any]]:
    """The plugin name and configuration a spec names."""
    if isinstance(spec, str):
        if not spec.strip():
            raise ConfigError(f"{what}: an empty name; give a plugin name, a URL or an instance")
        return spec.strip(), {}
    if isinstance(spec, Mapping):
        config = {str(k): v for k, v in spec.items()}
        kind = config.pop("kind", None)
        if not isinstance(kind, str) or not kind:
            raise ConfigError(
                f"{what}: a mapping needs a 'kind' naming the plugin, as {{'kind': 'sqlite'}}"
            )
        return kind, config
    raise ConfigError(
        f"{what}: give an instance, a plugin name or a mapping with a 'kind', not "
        f"{type(spec).__name__}"
    )


def resolve_storage(
    spec: StorageAdapter | PluginSpec | None, *, registry: PluginRegistry, home: Path
) -> StorageAdapter | None:
    """The store a spec names; ``None`` for the default (SQLite in ``home``).

    Raises:
        ConfigError: a spec of no known form.
        PluginError: no such store plugin, or it refused its configuration.
    """
    if spec is None:
        spec = os.environ.get(STORAGE_URL_ENV) or None
        if spec is None:
            return None
    if not isinstance(spec, str | Mapping):
        check_instance(spec, StorageAdapter, what="storage given")
        return spec
    if isinstance(spec, str) and "://" in spec:
        scheme = spec.split("://", 1)[0].lower()
        name, config = scheme.split("+", 1)[0], {"url": spec}
    else:
        name, config = _named(spec, "storage")
    store: StorageAdapter = registry.create(
        "storage", name, StorageAdapter, home=str(home), **config
    )
    return store


def resolve_policy(
    spec: QueuePolicy | PluginSpec | None, *, registry: PluginRegistry
) -> QueuePolicy | None:
    """The queue policy a spec names; ``None`` for the default (``PriorityQueuePolicy()``).

    Raises:
        ConfigError: a spec of no known form.
        PluginError: no such policy plugin, or it refused its configuration.
    """
    if spec is None:
        return None
    if not isinstance(spec, str | Mapping):
        check_instance(spec, QueuePolicy, what="policy given")
        return spec
    name, config = _named(spec, "policy")
    policy: QueuePolicy = registry.create("policies", name, QueuePolicy, **config)
    return policy


def resolve_worktrees(
    spec: WorktreeOrchestrator | PluginSpec | None, *, registry: PluginRegistry, repo: Path
) -> WorktreeOrchestrator | None:
    """The worktree orchestrator a spec names; ``None`` for the git one configured by
    `EngineConfig` (also what ``"git"`` with no configuration names).

    Raises:
        ConfigError: a spec of no known form.
        PluginError: no such orchestrator plugin, or it refused its configuration.
    """
    if spec is None:
        return None
    if not isinstance(spec, str | Mapping):
        check_instance(spec, WorktreeOrchestrator, what="worktrees given")
        return spec
    name, config = _named(spec, "worktrees")
    if name == "git" and not config:
        return None  # the default: configured by EngineConfig
    orchestrator: WorktreeOrchestrator = registry.create(
        "worktrees", name, WorktreeOrchestrator, repo=repo, **config
    )
    return orchestrator
