"""Binding rules: forward (task to branch and folder) and reverse (branch to owned tasks)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from scopecraft import Session, Task
from scopecraft._errors import ConfigError, InvalidName, MainWorktreeRefused, TaskNotFound
from scopecraft.worktrees import (
    AmbiguousBinding,
    BranchTemplate,
    GitWorktreeOrchestrator,
    is_bare_code,
    owned_tasks,
    resolve_env_id,
)
from scopecraft.worktrees._binding import check_path_template, render_worktree_path


def task(task_id: str, parent: str | None = None) -> Task:
    """A minimal task value."""
    return Task(
        id=task_id,
        title=task_id,
        type="feature",
        status="todo",
        area="core",
        parent_id=parent,
        path=Path(f"/x/{task_id}.task.md"),
    )


TASKS = [
    task("auth-05A"),
    task("fix-auth-05A"),
    task("billing-05A"),
    task("api-05B"),
    task("01_design-05B", "api-05B"),
    task("02_impl-05B", "api-05B"),
    task("other-05C"),
]


@pytest.mark.anyio
async def test_subtasks_share_their_parents_worktree(orch: GitWorktreeOrchestrator) -> None:
    """Every subtask binds to its parent's env id, branch and folder."""
    first = await orch.bind(task("01_design-05B", "api-05B"))
    second = await orch.bind(task("02_impl-05B", "api-05B"))
    parent = await orch.bind(task("api-05B"))
    assert first == second == parent
    assert first.env_id == "api-05B"
    assert first.branch == "feature/api-05B"
    assert first.path.name == "api-05B"
    assert first.path.parent.name == "app.worktrees"


@pytest.mark.anyio
async def test_branch_and_path_templates_are_configurable(wt_repo: Path, tmp_path: Path) -> None:
    """``task/{env_id}`` and a custom path template under a custom root are honoured."""
    orch = GitWorktreeOrchestrator(
        wt_repo,
        branch_template="task/{env_id}",
        worktree_root=tmp_path / "trees",
        worktree_template="{repo_name}-{env_id}",
    )
    binding = await orch.bind(task("auth-05A"))
    assert binding.branch == "task/auth-05A"
    assert binding.path == (tmp_path / "trees" / "app-auth-05A").resolve()


@pytest.mark.anyio
async def test_branch_override_is_validated(orch: GitWorktreeOrchestrator) -> None:
    """``branch=`` overrides the bound branch, but never with an unsafe name."""
    binding = await orch.bind(task("auth-05A"), branch="spike/auth")
    assert binding.branch == "spike/auth"
    with pytest.raises(InvalidName, match="must not contain"):
        await orch.bind(task("auth-05A"), branch="a..b")


@pytest.mark.anyio
async def test_default_branch_and_main_worktree_are_refused(
    wt_repo: Path, orch: GitWorktreeOrchestrator
) -> None:
    """Binding to the default branch, or a folder inside the main worktree, is refused."""
    with pytest.raises(MainWorktreeRefused, match="default branch"):
        await orch.bind(task("auth-05A"), branch="main")
    inside = GitWorktreeOrchestrator(wt_repo, worktree_root=wt_repo / "trees")
    with pytest.raises(MainWorktreeRefused, match="main worktree"):
        await inside.bind(task("auth-05A"))


def test_bad_templates_are_refused() -> None:
    """A branch template without exactly one ``{env_id}``, or an escaping path template, fails."""
    for bad in ("feature/x", "{env_id}/{env_id}", "{other}", "feature/{env_id!r}", "-{env_id}"):
        with pytest.raises(ConfigError):
            BranchTemplate(bad)
    for bad in ("../{env_id}", "/abs/{env_id}", "{env_id}/{branch}", "static", "~/{env_id}"):
        with pytest.raises(ConfigError):
            check_path_template(bad)


def test_path_that_escapes_its_root_is_refused(tmp_path: Path) -> None:
    """A rendered folder is resolved and must lie inside the worktree root."""
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "link-05A").symlink_to(tmp_path)
    with pytest.raises(InvalidName, match="inside"):
        render_worktree_path(tmp_path / "root", "{env_id}/..", "link-05A", "app")
    with pytest.raises(InvalidName, match="inside"):
        render_worktree_path(tmp_path / "root", "{env_id}", "link-05A", "app")


def test_template_reads_back_the_env_id() -> None:
    """A branch that follows the template gives its env id back; others give none."""
    template = BranchTemplate("task/{env_id}")
    assert template.env_id_of("task/auth-05A") == "auth-05A"
    assert template.env_id_of("feature/auth-05A") is None
    assert template.env_id_of("task/a/b") is None
    assert template.glob() == "task/*"


def test_owned_tasks_follow_the_design_rule() -> None:
    """An env owns its own task, its subtasks and ``-<env id>`` suffixed tasks, nothing else."""
    assert [t.id for t in owned_tasks("auth-05A", TASKS)] == ["auth-05A", "fix-auth-05A"]
    assert [t.id for t in owned_tasks("api-05B", TASKS)] == [
        "01_design-05B",
        "02_impl-05B",
        "api-05B",
    ]


def test_a_bare_month_letter_code_is_never_enough() -> None:
    """``05A`` alone is refused, and the error lists the tasks it could mean."""
    assert is_bare_code("05A")
    assert not is_bare_code("auth-05A")
    with pytest.raises(AmbiguousBinding) as caught:
        owned_tasks("05A", TASKS)
    assert caught.value.candidates == ("auth-05A", "billing-05A", "fix-auth-05A")
    with pytest.raises(AmbiguousBinding, match="never enough"):
        resolve_env_id("task/05A", tasks=TASKS, template=BranchTemplate("task/{env_id}"))


def test_resolve_env_id_accepts_branches_env_ids_and_task_ids() -> None:
    """Branches, task ids, subtask ids and unique suffixes resolve; ambiguity lists candidates."""
    template = BranchTemplate("feature/{env_id}")
    assert resolve_env_id("feature/auth-05A", tasks=TASKS, template=template) == "auth-05A"
    assert resolve_env_id("02_impl-05B", tasks=TASKS, template=template) == "api-05B"
    assert resolve_env_id("task/other-05C", tasks=TASKS, template=template) == "other-05C"
    assert resolve_env_id("billing-05A", tasks=TASKS, template=template) == "billing-05A"
    with pytest.raises(AmbiguousBinding) as caught:
        resolve_env_id("auth", tasks=[task("a-auth"), task("b-auth")], template=template)
    assert caught.value.candidates == ("a-auth", "b-auth")
    assert "a-auth" in str(caught.value)
    with pytest.raises(TaskNotFound):
        resolve_env_id("nothing-here", tasks=TASKS, template=template)


def test_custom_branches_resolve_through_sessions(make_session: Callable[..., Session]) -> None:
    """A branch given with ``--worktree`` maps back to the env of the sessions that ran on it."""
    template = BranchTemplate("feature/{env_id}")
    runs = [make_session("ses-aaa", "02_impl-05B", branch="spike/x")]
    assert resolve_env_id("spike/x", tasks=TASKS, template=template, sessions=runs) == "api-05B"
    runs.append(make_session("ses-bbb", "other-05C", branch="spike/x"))
    with pytest.raises(AmbiguousBinding, match="several environments"):
        resolve_env_id("spike/x", tasks=TASKS, template=template, sessions=runs)
