"""The README's main job: a throwaway repository, a fake-agent session, what it did."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

import attrs

from .._models import Session
from ..events import Event

__all__ = ["DemoResult", "run_demo"]

_TASK = """# Add a greeting module

---
type: feature
status: todo
area: core
priority: high
---

## Instruction
Write a greeting module and say what was done.

fake: say Reading the task and the repository.
fake: write greeting.py def greet(name): return f"Hello, {name}!"
fake: cost 0.0123
fake: say Added greeting.py with greet().

## Tasks
- [ ] Write greeting.py

## Deliverable
`greeting.py` on the task branch.

## Log
"""


@attrs.frozen
class DemoResult:
    """What the demo ran and found."""

    folder: Path
    repo: Path
    session: Session
    events: tuple[Event, ...]
    diff: str


def _git(*args: str, cwd: Path) -> str:
    env = dict(os.environ)
    env |= {
        "GIT_AUTHOR_NAME": "scopecraft demo",
        "GIT_AUTHOR_EMAIL": "demo@scopecraft.invalid",
        "GIT_COMMITTER_NAME": "scopecraft demo",
        "GIT_COMMITTER_EMAIL": "demo@scopecraft.invalid",
    }
    return subprocess.run(
        ["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True
    ).stdout


def make_demo_repo(folder: Path) -> Path:
    """Create ``folder/demo-app``: a git repository with one task for the fake agent."""
    repo = folder / "demo-app"
    (repo / ".tasks" / "current").mkdir(parents=True)
    _git("init", "-q", "-b", "main", cwd=repo)
    (repo / "README.md").write_text("# demo-app\n")
    (repo / ".tasks" / "current" / "greeting-11A.task.md").write_text(_TASK)
    _git("add", "-A", cwd=repo)
    _git("commit", "-q", "-m", "Initial commit with a task", cwd=repo)
    return repo


def run_demo(folder: Path | None = None, *, timeout: float = 60.0) -> DemoResult:
    """Run one fake-agent session on the local executor in a throwaway repository.

    Args:
        folder: Where to create the repository and the engine's home (default: a new
            temporary folder, kept so you can look at it).
        timeout: Seconds to wait for the session.
    """
    from .._sync import connect

    base = folder or Path(tempfile.mkdtemp(prefix="scopecraft-demo-"))
    repo = make_demo_repo(base)
    home = base / "home"
    with connect(repo, home=home) as engine:
        session = engine.create_session(
            "greeting-11A", mode="autonomous", executor="local", agent="fake"
        )
        session = engine.wait(session.id, timeout=timeout)
        events = tuple(engine.events(session_id=session.id))
    diff = _git("diff", "--stat", "--patch", f"main...{session.branch}", cwd=repo)
    return DemoResult(folder=base, repo=repo, session=session, events=events, diff=diff)
