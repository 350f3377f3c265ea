"""The worktree orchestrator contract: what every ``WorktreeOrchestrator`` must do.

Subclass `WorktreeOrchestratorContract` in a test module and provide two fixtures:
``orchestrator`` (yours, on a git repository with at least one commit on its default branch
and a clean main worktree) and ``main_worktree`` (that repository's folder)::

    class TestMyOrchestrator(WorktreeOrchestratorContract):
        @pytest.fixture
        def main_worktree(self, tmp_path):
            return make_a_repository(tmp_path)

        @pytest.fixture
        def orchestrator(self, main_worktree):
            return MyOrchestrator(main_worktree)

The engine relies on each of these: a binding is never the main worktree nor the default
branch; binding is a pure function of the task; preparing is idempotent and safe from several
tasks at once; recording commits only what the agent left, in the worktree, never in the main
one.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import anyio
import anyio.to_thread
import pytest

from scopecraft._errors import InvalidName, MainWorktreeRefused
from scopecraft._models import Task
from scopecraft.worktrees._protocol import (
    PreparedWorktree,
    RepoInfo,
    WorktreeBinding,
    WorktreeOrchestrator,
)

__all__ = ["WorktreeOrchestratorContract", "contract_task"]


def contract_task(task_id: str, root: Path) -> Task:
    """A task of the repository at ``root`` (its file need not exist for binding)."""
    return Task(
        id=task_id,
        title=task_id,
        type="feature",
        status="todo",
        area="core",
        path=root / ".tasks" / "current" / f"{task_id}.task.md",
    )


def _git_status(folder: Path) -> str:
    return subprocess.run(
        ["git", "status", "--porcelain"],
        cwd=folder,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout


class WorktreeOrchestratorContract:
    """Behaviour every worktree orchestrator must have. Subclass it and provide
    ``orchestrator`` and ``main_worktree``."""

    pytestmark = pytest.mark.anyio

    async def test_it_is_a_worktree_orchestrator(self, orchestrator: WorktreeOrchestrator) -> None:
        """It meets the protocol, its optional member included."""
        assert isinstance(orchestrator, WorktreeOrchestrator)

    async def test_it_knows_its_repository(
        self, orchestrator: WorktreeOrchestrator, main_worktree: Path
    ) -> None:
        """The main worktree and a default branch."""
        info = await orchestrator.repo_info()
        assert isinstance(info, RepoInfo)
        assert await anyio.Path(info.root).resolve() == await anyio.Path(main_worktree).resolve()
        assert info.default_branch

    async def test_a_binding_is_never_the_main_worktree(
        self, orchestrator: WorktreeOrchestrator, main_worktree: Path
    ) -> None:
        """A task's branch is not the default branch; its folder is not the main worktree;
        binding it again gives the same binding."""
        info = await orchestrator.repo_info()
        task = contract_task("contract-01A", info.root)
        binding = await orchestrator.bind(task)
        assert isinstance(binding, WorktreeBinding)
        assert binding.branch != info.default_branch
        main = await anyio.Path(main_worktree).resolve()
        assert await anyio.Path(binding.path).resolve() != main
        assert await orchestrator.bind(task) == binding

    async def test_a_branch_given_is_used_and_checked(
        self, orchestrator: WorktreeOrchestrator
    ) -> None:
        """An explicit branch wins; a name that is not safe, or the default branch, is
        refused."""
        info = await orchestrator.repo_info()
        task = contract_task("contract-02A", info.root)
        assert (await orchestrator.bind(task, branch="feature/given")).branch == "feature/given"
        with pytest.raises(InvalidName):
            await orchestrator.bind(task, branch="-rf")
        with pytest.raises(MainWorktreeRefused):
            await orchestrator.bind(task, branch=info.default_branch)

    async def test_a_fresh_binding_has_no_conflict(
        self, orchestrator: WorktreeOrchestrator
    ) -> None:
        """Nothing else holds the branch of a task never prepared."""
        info = await orchestrator.repo_info()
        binding = await orchestrator.bind(contract_task("contract-03A", info.root))
        assert await orchestrator.conflict(binding) is None

    async def test_preparing_is_idempotent(self, orchestrator: WorktreeOrchestrator) -> None:
        """The first prepare creates the worktree on its branch; the next finds it."""
        info = await orchestrator.repo_info()
        binding = await orchestrator.bind(contract_task("contract-04A", info.root))
        first = await orchestrator.prepare(binding)
        assert isinstance(first, PreparedWorktree)
        assert first.created
        assert first.binding == binding
        assert await anyio.Path(binding.path).is_dir()
        again = await orchestrator.prepare(binding)
        assert not again.created
        assert again.binding == binding

    async def test_preparing_one_worktree_twice_at_once_creates_it_once(
        self, orchestrator: WorktreeOrchestrator
    ) -> None:
        """Two prepares of one binding at the same time: one creates, the other finds it."""
        info = await orchestrator.repo_info()
        binding = await orchestrator.bind(contract_task("contract-05A", info.root))
        results: list[PreparedWorktree] = []

        async def prepare() -> None:
            results.append(await orchestrator.prepare(binding))

        async with anyio.create_task_group() as tg:
            tg.start_soon(prepare)
            tg.start_soon(prepare)
        assert sorted(r.created for r in results) == [False, True]

    async def test_recording_commits_what_the_agent_left(
        self, orchestrator: WorktreeOrchestrator, main_worktree: Path
    ) -> None:
        """A file left in the worktree is committed on its branch and listed; recording
        again with nothing new commits nothing; the main worktree stays clean."""
        info = await orchestrator.repo_info()
        binding = await orchestrator.bind(contract_task("contract-06A", info.root))
        await orchestrator.prepare(binding)
        await anyio.Path(binding.path / "made-by-agent.txt").write_text("hello\n")
        summary = await orchestrator.record_changes(binding.path, message="contract: work")
        assert summary.committed
        assert "made-by-agent.txt" in summary.files
        assert summary.insertions >= 1
        again = await orchestrator.record_changes(binding.path, message="contract: nothing")
        assert not again.committed
        assert again.head == summary.head
        assert await anyio.to_thread.run_sync(_git_status, main_worktree) == ""
