"""The detached supervisor of a ``local`` runtime: ``python -m scopecraft.executors._local_runner``.

It detaches itself (a fork whose parent exits at once, then a new session and process group,
so the engine has no child to reap), records its own id in ``runtime.json``, starts the agent
with the given argv and working directory, writes its output to ``stdout.log`` and
``stderr.log`` in the run folder, and, when the agent ends, writes ``exit.json`` atomically. So
the engine that started it may exit at once: the next engine to open collects the output and
the outcome from the files.

Usage: ``_local_runner.py RUN_DIR WORKDIR TOKEN -- ARGV...``. Standard input for the agent is
read from ``RUN_DIR/stdin`` when that file exists.

The start is claimed under a lock (``start.lock``): the runner records itself only when no
runner of the attempt did and the engine has not given up on this start (its ``TOKEN`` is
not listed in ``abandoned``); otherwise it ends without running the agent. So an engine that
stopped waiting for a slow start never leaves an agent running that nobody supervises, and a
second start of one attempt never runs the agent twice. It imports nothing of scopecraft (the
engine runs it by path), so it starts in the time of a bare interpreter.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def _write_exit(run_dir: Path, code: int | None) -> None:
    tmp = run_dir / "exit.json.tmp"
    tmp.write_text(json.dumps({"exit_code": code}))
    os.replace(tmp, run_dir / "exit.json")


def _write_runtime_id(run_dir: Path) -> None:
    import psutil

    pid = os.getpid()
    runtime_id = f"{pid}:{psutil.Process(pid).create_time():.2f}"
    tmp = run_dir / "runtime.json.tmp"
    tmp.write_text(json.dumps({"runtime_id": runtime_id}))
    os.replace(tmp, run_dir / "runtime.json")


START_LOCK = "start.lock"
ABANDONED = "abandoned"


def claim(run_dir: Path, token: str) -> bool:
    """Record this runner as the attempt's runtime, unless another runner did or the engine
    gave up on the start named ``token``; under the start lock, as the engine's give-up."""
    import fcntl

    with open(run_dir / START_LOCK, "ab") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (run_dir / "runtime.json").exists() or token in _abandoned(run_dir):
            return False
        _write_runtime_id(run_dir)
    return True


def _abandoned(run_dir: Path) -> set[str]:
    try:
        return set((run_dir / ABANDONED).read_text().split())
    except FileNotFoundError:
        return set()


def main(argv: list[str]) -> int:
    """Run the agent and record its exit; returns the runner's own exit status."""
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: _local_runner.py RUN_DIR WORKDIR TOKEN -- ARGV...\n")
        return 2
    run_dir, workdir, token, command = Path(argv[0]), argv[1], argv[2], argv[4:]
    if os.fork() > 0:
        os._exit(0)  # the engine waits for this parent only; the child runs on detached
    os.setsid()
    if not claim(run_dir, token):
        return 0  # the engine gave up on this start, or another runner has the attempt
    # The whole group gets SIGTERM on cancel: let the agent end first, then record its code.
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin_path = run_dir / "stdin"
    with (
        open(run_dir / "stdout.log", "ab") as out,
        open(run_dir / "stderr.log", "ab") as err,
        open(stdin_path if stdin_path.exists() else os.devnull, "rb") as inp,
    ):
        try:
            proc = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=inp,
                stdout=out,
                stderr=err,
                preexec_fn=_restore_signals,
            )
        except OSError as exc:
            err.write(f"scopecraft: cannot start {command[0]!r}: {exc}\n".encode())
            err.flush()
            _write_exit(run_dir, 127)
            return 0
        code = proc.wait()
    _write_exit(run_dir, code if code >= 0 else 128 - code)
    return 0


def _restore_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
