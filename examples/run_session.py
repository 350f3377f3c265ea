"""Run one session with scopecraft's async API, follow its output, and read what happened.

    python examples/run_session.py                       # a throwaway repo and the fake agent
    python examples/run_session.py --repo . --task auth-05A --agent claude-code --executor docker

Without ``--repo`` it creates a throwaway git repository with one task whose instruction
scripts the fake agent, so it runs anywhere (no model, no Docker): the session runs on the
``local`` executor.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
from pathlib import Path

import anyio

import scopecraft

TASK = """# Say hello

---
type: feature
status: todo
area: core
priority: high
---

## Instruction
Write a hello file and report.

fake: say Looking at the repository.
fake: write hello.txt hello from scopecraft
fake: cost 0.01
fake: say Wrote hello.txt.

## Tasks
- [ ] Write hello.txt

## Deliverable
`hello.txt` on the task branch.

## Log
"""


def make_throwaway_repo(base: Path) -> Path:
    """Create ``base/app``: a git repository with one task, ``hello-11A``."""
    repo = base / "app"
    (repo / ".tasks" / "current").mkdir(parents=True)
    (repo / "README.md").write_text("# app\n")
    (repo / ".tasks" / "current" / "hello-11A.task.md").write_text(TASK)
    identity = ["-c", "user.name=Example", "-c", "user.email=example@scopecraft.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *identity, *args], cwd=repo, check=True)
    return repo


async def run(repo: Path, home: Path | None, task: str, agent: str, executor: str) -> int:
    """Create a session, print its log lines as they come, then its events; return 0 if it
    completed."""
    async with scopecraft.Engine.open(repo, home=home) as engine:
        session = await engine.create_session(
            task, mode="autonomous", agent=agent, executor=executor
        )
        print(f"queued {session.id} on {session.branch}")

        # Follow the agent's own output until the session ends (the engine collects it).
        async for entry in engine.session_logs(session.id, follow=True):
            print(f"  [{entry.stream}] {entry.text[:100]}")

        session = await engine.wait(session.id, timeout=120)
        cost = f"${session.cost_usd:.4f}"
        print(f"{session.status.value}: cost {cost}, exit code {session.exit_code}")

        # Events tell the story in structured form: messages, tools, costs, changes.
        async for event in engine.events(session_id=session.id):
            if event.type in ("agent_message", "tool_used", "changes_recorded"):
                print(f"  {event.type}: {event.model_dump(exclude={'ts', 'session_id'})}")
        return 0 if session.status is scopecraft.SessionStatus.COMPLETED else 1


def main() -> int:
    """Parse the options and run the example."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, help="A repository with tasks (default: throwaway).")
    parser.add_argument("--home", type=Path, help="State folder (default: next to the repo).")
    parser.add_argument("--task", default="hello-11A", help="The task id.")
    parser.add_argument("--agent", default="fake", help="claude-code, codex, command or fake.")
    parser.add_argument("--executor", default="local", help="local, docker or tmux.")
    args = parser.parse_args()
    if args.repo is None:
        base = Path(tempfile.mkdtemp(prefix="scopecraft-example-"))
        args.repo = make_throwaway_repo(base)
        args.home = args.home or base / "home"
        print(f"throwaway repository: {args.repo}")
    return anyio.run(run, args.repo, args.home, args.task, args.agent, args.executor)


if __name__ == "__main__":
    raise SystemExit(main())
