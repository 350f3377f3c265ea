"""Fixtures for the task-file tests: copies of the sample layouts, and the real-file corpus."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from support import shared_fixture


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
