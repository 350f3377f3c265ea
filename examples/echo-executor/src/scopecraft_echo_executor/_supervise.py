"""Runs one agent for ``EchoExecutor``: a banner line, the agent's output, its exit code.

Started as a script (``python _supervise.py --detach RUN_DIR WORKDIR BANNER -- ARGV...``): it
forks, the first process exits at once, and the second runs in a session (and process group)
of its own, recording its pid in ``echo.pid``. It ignores SIGTERM so that, when the group is
stopped, the agent ends first and its exit code is still recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path


def _default_signals() -> None:
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _detach(run_dir: Path) -> None:
    """Fork; the parent exits, the child leads a new session and records its pid."""
    if os.fork() > 0:
        os._exit(0)
    os.setsid()
    partial = run_dir / "echo.pid.partial"
    partial.write_text(str(os.getpid()))
    partial.replace(run_dir / "echo.pid")


def main(argv: list[str]) -> int:
    """Run the agent and write ``exit.json``; returns the supervisor's own status."""
    detach = bool(argv) and argv[0] == "--detach"
    argv = argv[1:] if detach else argv
    if len(argv) < 5 or argv[3] != "--":
        sys.stderr.write("usage: _supervise.py [--detach] RUN_DIR WORKDIR BANNER -- ARGV...\n")
        return 2
    run_dir, workdir, banner, command = Path(argv[0]), argv[1], argv[2], argv[4:]
    if detach:
        _detach(run_dir)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    stdin_path = run_dir / "stdin"
    with (
        open(run_dir / "stdout.log", "ab") as out,
        open(run_dir / "stderr.log", "ab") as err,
        open(stdin_path if stdin_path.exists() else os.devnull, "rb") as inp,
    ):
        err.write(f"{banner}: running {Path(command[0]).name} in {workdir}\n".encode())
        err.flush()
        try:
            proc = subprocess.Popen(
                command,
                cwd=workdir,
                stdin=inp,
                stdout=out,
                stderr=err,
                # The supervisor has one thread, so preexec_fn is safe here.
                preexec_fn=_default_signals,
            )
        except OSError as exc:
            err.write(f"{banner}: cannot start {command[0]!r}: {exc}\n".encode())
            code = 127
        else:
            code = proc.wait()
            code = code if code >= 0 else 128 - code
    partial = run_dir / "exit.json.partial"
    partial.write_text(json.dumps({"exit_code": code}))
    partial.replace(run_dir / "exit.json")  # atomic: state() never reads half a file
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
