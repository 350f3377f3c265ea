"""Session path: how many calls one session makes between scopecraft's modules on its way from
``create_session()`` to ``session_completed``, and how many of them go back into the engine's
facade (the module of the `Engine` class and of its mixins).

It is not a speed figure but a measure of coupling: one local session of the fake agent is run
with a profiler (``sys.setprofile`` and ``threading.setprofile``) that counts every call from a
function defined in one scopecraft module to a function defined in another (pydantic and the
standard library are not scopecraft and are not counted; a coroutine resumed after an
``await`` is not a new call). Scheduler passes are driven only by
wake-ups (a long interval and lease), so the count is the session's own work. The raw figure it
is compared with is the same session's number of distinct modules on the path.

Run: ``python benchmarks/session_path.py [--runs 3]`` (a few seconds). Prints the median of the
runs (the count moves a little with timing: how many polls see the runtime still running).
"""

from __future__ import annotations

import os
import sys

# benchmarks/queue.py is named like the standard library's `queue`, which asyncio imports: drop
# the script's own folder from the path before anything imports it.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path.pop(0)

import argparse
import inspect
import statistics
import subprocess
import tempfile
import threading
import types
from collections import Counter
from pathlib import Path
from typing import Any

import anyio

import scopecraft
from scopecraft import Engine, SessionStatus

ROOT = Path(scopecraft.__file__).resolve().parent
_SUSPENDS = inspect.CO_COROUTINE | inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR
TASK = """# One session

---
type: feature
status: todo
area: core
priority: medium
---

## Instruction
fake: say hello
fake: cost 0.01
fake: write notes/out.txt done

## Log
"""


def _repo(base: Path) -> Path:
    repo = base / "repo"
    (repo / ".tasks" / "current").mkdir(parents=True)
    (repo / ".tasks" / "current" / "path-01A.task.md").write_text(TASK)
    for argv in (
        ["git", "init", "-q", "-b", "main"],
        ["git", "config", "user.email", "bench@example.com"],
        ["git", "config", "user.name", "bench"],
        ["git", "add", "-A"],
        ["git", "commit", "-q", "-m", "tasks"],
    ):
        subprocess.run(argv, cwd=repo, check=True)
    return repo


def _module_of(code: types.CodeType) -> str | None:
    """The scopecraft module a function's code is defined in, else ``None``."""
    try:
        path = Path(code.co_filename).resolve()
        relative = path.relative_to(ROOT)
    except (ValueError, OSError):
        return None
    return ".".join(("scopecraft", *relative.with_suffix("").parts)).removesuffix(".__init__")


class Counting:
    """A profiler that counts calls crossing scopecraft's modules."""

    def __init__(self, facade: set[str]) -> None:
        self.facade = facade
        self.calls = 0
        self.into_facade = 0
        self.edges: Counter[tuple[str, str]] = Counter()
        self.modules: set[str] = set()
        self._where: dict[types.CodeType, str | None] = {}
        self._start: dict[types.CodeType, int] = {}

    def _module(self, code: types.CodeType) -> str | None:
        found = self._where.get(code, "?")
        if found == "?":
            found = self._where[code] = _module_of(code)
        return found

    def _resumed(self, frame: types.FrameType) -> bool:
        """Whether this "call" resumes a coroutine or generator rather than starting one: a
        start is at the code's first instruction, a resume after a yield, further on."""
        code = frame.f_code
        if not code.co_flags & _SUSPENDS:
            return False
        start = self._start.get(code)
        if start is None or frame.f_lasti < start:
            self._start[code] = frame.f_lasti
            return False
        return frame.f_lasti > start

    def __call__(self, frame: types.FrameType, event: str, arg: Any) -> None:
        if event != "call" or frame.f_back is None:
            return
        callee = self._module(frame.f_code)
        if callee is None or self._resumed(frame):
            return
        self.modules.add(callee)
        caller = self._module(frame.f_back.f_code)
        if caller is None or caller == callee:
            return
        self.calls += 1
        self.edges[(caller, callee)] += 1
        if callee in self.facade:
            self.into_facade += 1


async def _one(base: Path) -> Counting:
    repo = _repo(base)
    config = {"scheduler_interval": 60.0, "lease_ttl": 120.0, "archive_history": False}
    async with Engine.open(repo, home=base / "home", config=config) as engine:
        facade = {
            cls.__module__
            for cls in type(engine).__mro__
            if cls.__module__.startswith("scopecraft.")
        }
        await anyio.sleep(0.5)  # the lease is taken and the first pass made before counting
        counting = Counting(facade)
        sys.setprofile(counting)
        threading.setprofile(counting)
        try:
            session = await engine.create_session(
                "path-01A", mode="autonomous", executor="local", agent="fake"
            )
            with anyio.fail_after(60):
                while True:
                    await anyio.sleep(0.05)
                    sys.setprofile(None)
                    done = await engine.storage.get_session(session.id)
                    sys.setprofile(counting)
                    if done.is_terminal:
                        break
        finally:
            sys.setprofile(None)
            threading.setprofile(None)  # type: ignore[arg-type]
        assert done.status is SessionStatus.COMPLETED, done.error
    return counting


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    runs: list[Counting] = []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as base:
            runs.append(anyio.run(_one, Path(base)))
    calls = statistics.median(r.calls for r in runs)
    into = statistics.median(r.into_facade for r in runs)
    modules = statistics.median(len(r.modules) for r in runs)
    facade = sorted(runs[0].facade)
    print(f"facade modules: {', '.join(facade)} ({inspect.getsourcefile(Engine)})")
    print(f"calls across modules, create_session -> session_completed: {calls:.0f} (median)")
    print(f"of them back into the facade: {into:.0f}")
    print(f"modules on the path: {modules:.0f}; calls per module: {calls / modules:.1f}")
    print("busiest edges (caller -> callee: calls):")
    for (caller, callee), count in runs[-1].edges.most_common(12):
        print(f"  {caller} -> {callee}: {count}")


if __name__ == "__main__":
    main()
