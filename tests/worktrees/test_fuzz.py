"""Hostile names: thousands of generated task ids and branches; none escapes, none runs."""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import make_repo

from scopecraft import Task
from scopecraft._errors import InvalidName, MainWorktreeRefused
from scopecraft._names import validate_branch, validate_task_id
from scopecraft.worktrees import (
    BranchTemplate,
    GitHistory,
    GitWorktreeOrchestrator,
    WorktreeBinding,
)
from scopecraft.worktrees._binding import render_worktree_path

NASTY = [
    "$(touch CANARY)",
    "`touch CANARY`",
    "x$(touch CANARY)",
    "feature/$(touch CANARY)",
    "../x",
    "../../CANARY",
    "feature/../../x",
    "a;b",
    "a;touch CANARY",
    "a|b",
    "a&&b",
    "a>CANARY",
    "a\nb",
    "a\rb",
    "a b",
    "a\tb",
    "a\x00b",
    "-rf",
    "--upload-pack=touch CANARY",
    "/etc/passwd",
    "~root",
    "x.lock",
    "a/.hidden",
    "a//b",
    "a/",
    "a.",
    "@{-1}",
    "HEAD",
    "a~1",
    "a^b",
    "a:b",
    "a?b",
    "a*b",
    "a[b",
    "a\\b",
    "ünïcödé",
    "auth-05A\u202e",
    "\u0430uth-05A",
    "🙂",
    "",
    ".",
    "..",
    "x" * 300,
]
SAFE_TASK = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")
SHELL = set("$`;|&<>()\\\"' \t\n\r*?[]{}~!#\x00")

names = st.one_of(
    st.sampled_from(NASTY),
    st.text(max_size=40),
    st.text(alphabet="ab-_/.;$`()|&~ \n\x00é", max_size=20),
    st.from_regex(r"[a-z]{1,6}(-[0-9]{2}[A-Z])?", fullmatch=True),
    st.builds(lambda a, b: f"{a}/{b}", st.sampled_from(NASTY), st.sampled_from(NASTY)),
)


def _assert_says_why(exc: InvalidName) -> None:
    assert exc.reason
    assert exc.reason in str(exc)


@settings(max_examples=1000, deadline=None)
@given(names)
def test_task_ids_are_accepted_only_when_safe(value: str) -> None:
    """A task id is safe as a file name and a branch part, or refused with its reason."""
    try:
        validate_task_id(value)
    except InvalidName as exc:
        _assert_says_why(exc)
        return
    assert SAFE_TASK.fullmatch(value)
    assert not SHELL & set(value)
    root = Path("/srv/worktrees")
    path = render_worktree_path(root, "{env_id}", value, "app")
    assert path.parent == root
    assert BranchTemplate("task/{env_id}").render(value) == f"task/{value}"


@settings(max_examples=1000, deadline=None)
@given(names)
def test_branches_are_accepted_only_when_safe(value: str) -> None:
    """A branch has no shell metacharacter, no '..', no leading '-', or is refused with why."""
    try:
        validate_branch(value)
    except InvalidName as exc:
        _assert_says_why(exc)
        return
    assert not SHELL & set(value)
    assert ".." not in value
    assert not value.startswith(("-", "/"))
    assert value.isascii()
    assert BranchTemplate("feature/{env_id}").env_id_of(value) is None or value.startswith(
        "feature/"
    )


@pytest.fixture(scope="module")
def fuzz_repo(
    tmp_path_factory: pytest.TempPathFactory, tracker: Callable[[Path], Path]
) -> Iterator[Path]:
    """One repository for every generated example, and a clean folder to run in."""
    base = tmp_path_factory.mktemp("fuzz")
    repo = tracker(make_repo(base / "src"))
    here = Path.cwd()
    os.chdir(base)
    try:
        yield repo
    finally:
        os.chdir(here)


def _task(task_id: str) -> Task:
    return Task(
        id=task_id, title="t", type="feature", status="todo", area="a", path=Path("/x.task.md")
    )


async def _probe(repo: Path, value: str) -> None:
    orch = GitWorktreeOrchestrator(repo)
    root = await orch.worktree_root()
    info = await orch.repo_info()
    rejected: list[Exception] = []
    bindings = [
        orch.bind(_task(value)),
        orch.bind(_task("auth-05A"), branch=value),
        orch.bind_env(value),
    ]
    for pending in bindings:
        try:
            binding = await pending
        except (InvalidName, MainWorktreeRefused) as exc:
            rejected.append(exc)
            continue
        assert binding.path.parent == root
        assert info.root not in binding.path.parents
    history = GitHistory(repo)
    calls: list[Awaitable[object]] = [
        history.archive_session({"v": value}, value, "ses-fuzz01"),
        history.archive_session({"v": value}, "auth-05A", value),
        history.read_history(value),
    ]
    for call in calls:
        try:
            await call
        except InvalidName as exc:
            rejected.append(exc)
    for error in rejected:
        if isinstance(error, InvalidName):
            _assert_says_why(error)
        else:
            assert str(error)
    bad = WorktreeBinding(env_id=value, branch=value, path=root / "x")
    with contextlib.suppress(InvalidName, MainWorktreeRefused):
        validate_task_id(value)
        validate_branch(value)
        return
    with pytest.raises((InvalidName, MainWorktreeRefused)):
        await orch.prepare(bad)
    with pytest.raises((InvalidName, MainWorktreeRefused)):
        await orch.pause(bad)


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(names)
def test_no_generated_name_escapes_or_runs_through_git(fuzz_repo: Path, value: str) -> None:
    """Binding, preparing, pausing and history refuse bad names before git; nothing runs."""
    anyio.run(_probe, fuzz_repo, value)
    base = fuzz_repo.parent.parent
    assert not any(base.rglob("CANARY")), "a generated name ran a command"
    assert not Path("/tmp/CANARY").exists()
    listed = subprocess.run(
        ["git", "worktree", "list", "--porcelain"],
        cwd=fuzz_repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert listed.count("worktree ") == 1, "no worktree was created for a bad name"
    assert {p.name for p in (fuzz_repo.parent).iterdir()} <= {"app", "app.worktrees"}
