"""The engine's seams by name: a store by URL, name or mapping (or ``SCOPECRAFT_STORAGE_URL``),
a policy and a worktree orchestrator by entry-point name, each refused clearly when wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import scopecraft
from scopecraft import Engine, PriorityQueuePolicy, SessionStatus
from scopecraft._errors import CapabilityMissing, ConfigError, PluginError
from scopecraft.storage import SqliteStorage
from scopecraft.worktrees import GitWorktreeOrchestrator, WorktreeOrchestrator

pytestmark = pytest.mark.anyio

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}


async def test_a_store_by_url_is_made_and_closed_by_the_engine(
    repo: Path, home: Path, tmp_path: Path
) -> None:
    """``storage="sqlite:///file"`` opens that file; a session run there is in it after the
    engine closed its store."""
    db = tmp_path / "elsewhere" / "sessions.db"
    db.parent.mkdir()
    async with Engine.open(repo, home=home, storage=f"sqlite://{db}") as engine:
        assert isinstance(engine.storage, SqliteStorage)
        assert engine.storage.path == db
        session = await engine.create_session("ok-01A", **LOCAL)
        assert (await engine.wait(session.id, timeout=60)).status is SessionStatus.COMPLETED
    assert db.exists()
    assert not (home / "scopecraft.db").exists(), "nothing went to the default store"
    store = SqliteStorage(db)
    await store.open()
    try:
        assert (await store.get_session(session.id)).status is SessionStatus.COMPLETED
    finally:
        await store.close()


async def test_the_storage_url_may_come_from_the_environment(
    repo: Path, home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SCOPECRAFT_STORAGE_URL`` names the store when none is given."""
    db = tmp_path / "from-env.db"
    monkeypatch.setenv("SCOPECRAFT_STORAGE_URL", f"sqlite://{db}")
    async with Engine.open(repo, home=home) as engine:
        assert isinstance(engine.storage, SqliteStorage)
        assert engine.storage.path == db


async def test_a_store_by_name_or_mapping_lives_in_the_home(repo: Path, home: Path) -> None:
    """``"sqlite"`` and ``{"kind": "sqlite", ...}`` are the plugin with the engine's home."""
    for spec in ("sqlite", {"kind": "sqlite", "synchronous": "FULL"}):
        async with Engine.open(repo, home=home, storage=spec) as engine:
            assert isinstance(engine.storage, SqliteStorage)
            assert engine.storage.path == home / "scopecraft.db"


@pytest.mark.parametrize(
    ("spec", "error", "words"),
    [
        ("nosuch:///x", PluginError, "nosuch"),
        ("sqlite:///x.db?mode=ro", ConfigError, "no query"),
        ({"synchronous": "FULL"}, ConfigError, "kind"),
        ({"kind": "sqlite", "colour": "blue"}, PluginError, "colour"),
        ("  ", ConfigError, "empty"),
        (42, PluginError, "does not implement StorageAdapter"),
    ],
)
def test_a_bad_store_is_refused_saying_why(
    repo: Path, home: Path, spec: Any, error: type[Exception], words: str
) -> None:
    """An unknown scheme, a URL the store cannot use, a mapping without its ``kind``, an
    option the store does not take, or a value of no known form."""
    with pytest.raises(error, match=words):
        Engine(repo, home=home, storage=spec)


def test_a_policy_by_name_or_mapping(repo: Path, home: Path) -> None:
    """``"priority"`` and ``{"kind": "priority", ...}`` make the built-in policy, configured."""
    assert isinstance(Engine(repo, home=home, policy="priority").policy, PriorityQueuePolicy)
    engine = Engine(
        repo, home=home, policy={"kind": "priority", "max_concurrent": {"autonomous": 3}}
    )
    assert isinstance(engine.policy, PriorityQueuePolicy)
    assert engine.policy.max_concurrent[scopecraft.SessionMode.AUTONOMOUS] == 3
    with pytest.raises(PluginError, match="fastest"):
        Engine(repo, home=home, policy="fastest")


def test_worktrees_by_name_instance_or_default(repo: Path, home: Path) -> None:
    """``None`` and ``"git"`` are the configured git orchestrator; a mapping makes the plugin
    with the repository; an instance is used as it is."""
    configured = Engine(repo, home=home, config={"branch_template": "work/{env_id}"})
    assert isinstance(configured.worktrees, GitWorktreeOrchestrator)
    assert configured.worktrees.branch_template.template == "work/{env_id}"
    by_name = Engine(repo, home=home, worktrees="git", config={"branch_template": "w/{env_id}"})
    assert by_name.worktrees.branch_template.template == "w/{env_id}"  # type: ignore[attr-defined]
    mapped = Engine(repo, home=home, worktrees={"kind": "git", "branch_template": "m/{env_id}"})
    assert mapped.worktrees.branch_template.template == "m/{env_id}"  # type: ignore[attr-defined]
    mine = GitWorktreeOrchestrator(repo)
    assert Engine(repo, home=home, worktrees=mine).worktrees is mine
    with pytest.raises(PluginError, match="does not implement WorktreeOrchestrator"):
        Engine(repo, home=home, worktrees=object())  # type: ignore[arg-type]


class _DelegatingOrchestrator(WorktreeOrchestrator):
    """A plugin's orchestrator that is not the git one (it hands every call to one)."""

    def __init__(self, inner: GitWorktreeOrchestrator) -> None:
        self._inner = inner

    async def repo_info(self) -> Any:
        return await self._inner.repo_info()

    async def bind(self, task: Any, *, branch: str | None = None) -> Any:
        return await self._inner.bind(task, branch=branch)

    async def prepare(self, binding: Any) -> Any:
        return await self._inner.prepare(binding)

    async def record_changes(self, path: Path, *, message: str) -> Any:
        return await self._inner.record_changes(path, message=message)

    async def list_worktrees(self) -> Any:
        return await self._inner.list_worktrees()

    async def cleanup(self, policy: Any, sessions: Any = (), **options: Any) -> Any:
        return await self._inner.cleanup(policy, sessions, **options)

    async def pause(self, binding: Any, *, message: str | None = None) -> Any:
        return await self._inner.pause(binding, message=message)

    async def resume(self, binding: Any) -> Any:
        return await self._inner.resume(binding)


async def test_worktree_verbs_work_with_any_orchestrator(repo: Path, home: Path) -> None:
    """Status, cleanup, pause and resume are the protocol's: a plugin orchestrator answers
    them. Only the task view, which reads every branch's tree with git, needs the git one and
    says so."""
    plugin = _DelegatingOrchestrator(GitWorktreeOrchestrator(repo, worktree_root=home / "wt"))
    async with Engine.open(repo, home=home, worktrees=plugin) as engine:
        session = await engine.create_session("ok-01A", **LOCAL)
        assert (await engine.wait(session.id, timeout=60)).status is SessionStatus.COMPLETED
        (status,) = await engine.worktrees_status()
        assert status.path.name == "ok-01A"
        assert await engine.cleanup_worktrees(dry_run=True)
        paused = await engine.pause_worktree("ok-01A")
        assert not status.path.exists()
        assert paused.removed
        assert (await engine.resume_worktree("ok-01A")).binding.path.exists()
        with pytest.raises(CapabilityMissing, match="not the git one"):
            await engine.task_view()
