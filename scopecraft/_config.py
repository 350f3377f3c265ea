"""Engine configuration: one pydantic model, every field documented, unknown keys refused."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._models import SessionMode
from .worktrees._protocol import CleanupPolicy
from .worktrees._setup import WorktreeSetup

__all__ = ["EngineConfig", "ResourceLimits", "default_home"]


def default_home() -> Path:
    """``$SCOPECRAFT_HOME`` when set, else ``~/.scopecraft``."""
    env = os.environ.get("SCOPECRAFT_HOME")
    return Path(env).expanduser() if env else Path.home() / ".scopecraft"


class ResourceLimits(BaseModel):
    """Limits for one mode's runtimes; ``None`` is the executor's default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    cpus: float | None = Field(default=None, gt=0, description="CPU cores.")
    memory_mb: int | None = Field(default=None, gt=0, description="Memory limit in MiB.")
    pids: int | None = Field(default=None, gt=0, description="Maximum number of processes.")


class EngineConfig(BaseModel):
    """Everything about an engine that is not a plugin instance."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    branch_template: str = Field(
        default="feature/{env_id}",
        description="Branch of a task environment; Scopecraft's own is `task/{env_id}`.",
    )
    worktree_root: Path | None = Field(
        default=None, description="Folder of worktrees; default `<repo parent>/<repo>.worktrees`."
    )
    base: str | None = Field(
        default=None, description="What new branches start from; default the default branch."
    )
    worktree_template: str = Field(
        default="{env_id}", description="Worktree folder name under the root, with `{env_id}`."
    )
    worktree_setup: WorktreeSetup | None = Field(
        default=None,
        description="Ignored files to copy into a new worktree and a setup argv to run there.",
    )
    checkout_workers: int | None = Field(
        default=None, ge=1, description="git's parallel checkout workers; default by disk."
    )
    cleanup: CleanupPolicy = Field(
        default_factory=CleanupPolicy,
        description="When worktrees are removed: never (default), on_success or expiry.",
    )
    archive_history: bool = Field(
        default=True,
        description="Archive each ended session's record on refs/scopecraft/history.",
    )
    task_layout: Literal["auto", "repo", "central"] = Field(
        default="auto", description="Where task files live; auto picks `.tasks/` when present."
    )
    commit_message: str = Field(
        default="scopecraft: work of session {session_id} on {task_id} (attempt {attempt})",
        description="Message of the commit that keeps work an agent left uncommitted.",
    )
    poll_interval: float = Field(
        default=0.2, gt=0, description="Seconds between output reads of a running session."
    )
    scheduler_interval: float = Field(
        default=1.0, gt=0, description="Seconds between scheduler passes (creates wake it)."
    )
    lease_ttl: float = Field(default=15.0, gt=1, description="Scheduler lease, in seconds.")
    stop_grace: float = Field(
        default=10.0, ge=0, description="Seconds a cancelled agent has to end before a kill."
    )
    executors: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Keyword configuration per executor plugin name."
    )
    agents: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Keyword configuration per agent plugin name."
    )
    resources: dict[SessionMode, ResourceLimits] = Field(
        default_factory=dict, description="Resource limits per mode."
    )
    plan_retries: int = Field(
        default=2, ge=0, description="How often a planning agent is asked again for a valid plan."
    )
    on_tool_denied: Literal["report", "fail"] = Field(
        default="report",
        description="What a run whose agent was refused tool uses by its permissions comes "
        "to: `report` completes it with the count of denials in `session_completed` and "
        "`Session.denials`; `fail` fails it (not retryable: the same permissions would "
        "refuse the same tools again).",
    )
    default_image: str | None = Field(
        default=None, description="Container image for container executors when none is given."
    )
