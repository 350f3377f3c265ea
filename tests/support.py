"""Helpers shared by tests: real git repositories with Scopecraft task files."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"
"""The project's shared fixtures, beside the repository (``../shared/fixtures``)."""


def shared_fixture(*parts: str) -> Path:
    """Return a path of the shared fixtures, skipping the calling test when it is absent.

    In CI (``CI=true``) an absent fixture fails the test instead: the fixtures must be there.
    """
    import pytest

    path = FIXTURES.joinpath(*parts).resolve()
    if not path.exists():
        message = f"shared fixtures not found at {path}"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Person",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "Test Person",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(*args: str, cwd: Path) -> str:
    """Run git with a fixed identity and return its output."""
    env = dict(os.environ)
    env.update(GIT_ENV)
    result = subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    )
    return result.stdout


TASK_TEMPLATE = """# {title}

---
type: feature
status: todo
area: {area}
priority: {priority}
---

## Instruction
{instruction}

## Tasks
- [ ] Do it

## Deliverable
Done.

## Log
"""


def make_repo(root: Path, tasks: dict[str, str] | None = None, *, name: str = "app") -> Path:
    """Create a git repository with a first commit on ``main`` and task files.

    Args:
        root: The folder to create the repository in.
        tasks: Task id to instruction text; each becomes ``.tasks/current/<id>.task.md``.
        name: The repository folder's name.
    """
    repo = root / name
    repo.mkdir(parents=True)
    git("init", "-q", "-b", "main", cwd=repo)
    git("config", "user.email", "test@example.com", cwd=repo)
    git("config", "user.name", "Test Person", cwd=repo)
    (repo / "README.md").write_text("# app\n")
    current = repo / ".tasks" / "current"
    current.mkdir(parents=True)
    for task_id, instruction in (tasks or {}).items():
        write_task(repo, task_id, instruction)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "initial", cwd=repo)
    return repo


def write_task(
    repo: Path,
    task_id: str,
    instruction: str,
    *,
    folder: str = "current",
    priority: str = "medium",
    area: str = "core",
) -> Path:
    """Write a task file into the repository's ``.tasks/<folder>/``."""
    path = repo / ".tasks" / folder / f"{task_id}.task.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        TASK_TEMPLATE.format(
            title=f"Task {task_id}", area=area, priority=priority, instruction=instruction
        )
    )
    return path


def copy_fixture_tasks(repo: Path, layout: str = "repo-layout") -> None:
    """Copy the shared fixture task tree into ``repo``."""
    source = shared_fixture("tasks", layout, ".tasks")
    shutil.copytree(source, repo / ".tasks", dirs_exist_ok=True)
