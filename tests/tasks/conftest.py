"""Fixtures for the task-file tests: copies of the sample layouts, and the real-file corpus."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SHARED_FIXTURES = REPO_ROOT / ".." / "shared" / "fixtures"


def shared_fixture(*parts: str) -> Path:
    """Return a folder of the shared fixtures, skipping the test when it is absent.

    In CI (``CI=true``) an absent folder fails the test instead: the corpus must be there.
    """
    path = SHARED_FIXTURES.joinpath(*parts).resolve()
    if not path.exists():
        message = f"shared fixtures not found at {path}"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture
def repo_tasks(tmp_path: Path) -> Path:
    """A repository in ``tmp_path`` whose ``.tasks`` folder is a copy of the repo-layout sample."""
    repo = tmp_path / "repo"
    shutil.copytree(shared_fixture("tasks", "repo-layout", ".tasks"), repo / ".tasks")
    return repo / ".tasks"


@pytest.fixture
def central_home(tmp_path: Path) -> Path:
    """A scopecraft home in ``tmp_path`` holding a copy of the central-layout sample."""
    home = tmp_path / "home"
    shutil.copytree(shared_fixture("tasks", "central-layout", "projects"), home / "projects")
    return home


@pytest.fixture
def real_tasks() -> Path:
    """The real Scopecraft task files, read in place (never copied into the project)."""
    return shared_fixture("scopecraft-real", ".tasks")
