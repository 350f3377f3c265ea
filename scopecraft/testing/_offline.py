"""Run a real agent CLI against a scripted model server, in a network namespace that holds only
loopback, so that nothing it does can reach any other address.

`run_offline()` starts ``unshare --net <python> -m scopecraft.testing._offline SPEC RESULT``.
That child brings ``lo`` up, checks that it is the namespace's only interface, starts the server
(on the fixed port the caller chose: every port of a new namespace is free), runs the CLI in a
process group of its own with the environment it is given and nothing else, kills what the CLI
left running, and writes the outcome (exit code, output, every request the server received) for
the parent to read.

`claude_code_offline_env()` and `codex_offline_config()` hold the recipes that keep each
CLI quiet (no telemetry, no update check, no error reporting) and pointed at the server.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import functools
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ._model_turns import RecordedRequest
from ._server_kinds import ScriptedModelServer

_BASE_ENV_NAMES = ("PATH", "LANG", "LC_ALL", "TZ")
"""The only variables of the caller's environment a CLI inherits (besides those given)."""

QUIET_CLAUDE_CODE_ENV: Mapping[str, str] = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
    "DISABLE_COST_WARNINGS": "1",
}
"""Claude Code's switches for telemetry, auto-updates, error reporting and other traffic."""


def claude_code_offline_env(
    base_url: str, *, home: str | os.PathLike[str], api_key: str = "sk-ant-scopecraft-test"
) -> dict[str, str]:
    """The environment that points Claude Code at a scripted server and keeps it quiet.

    Args:
        base_url: The server's ``base_url`` (no ``/v1``).
        home: A private ``HOME`` (Claude Code keeps its settings and transcripts under
            ``~/.claude``; ``--resume`` reads them there).
        api_key: Any value: the server does not check it.

    Returns:
        ``ANTHROPIC_BASE_URL``, ``ANTHROPIC_API_KEY``, ``HOME``, ``IS_SANDBOX=1`` (lets
        ``--dangerously-skip-permissions`` run as root) and `QUIET_CLAUDE_CODE_ENV`.
    """
    return {
        **QUIET_CLAUDE_CODE_ENV,
        "ANTHROPIC_BASE_URL": base_url,
        "ANTHROPIC_API_KEY": api_key,
        "HOME": os.fspath(home),
        "IS_SANDBOX": "1",
    }


def codex_offline_config(
    base_url: str, *, model: str = "gpt-5.5", env_key: str = "OPENAI_API_KEY"
) -> str:
    """A Codex ``config.toml`` (for a private ``CODEX_HOME``) whose model provider is a scripted
    server, with analytics, feedback, OpenTelemetry export and the update check off.

    Args:
        base_url: The server's ``base_url`` (``/v1`` is appended here).
        model: The model Codex asks for.
        env_key: The variable holding the API key (any value: the server does not check it).
    """
    return "\n".join(
        [
            f"model = {json.dumps(model)}",
            'model_provider = "scripted"',
            "check_for_update_on_startup = false",
            'approval_policy = "never"',
            "",
            "[model_providers.scripted]",
            'name = "scopecraft scripted model server"',
            f"base_url = {json.dumps(base_url.rstrip('/') + '/v1')}",
            'wire_api = "responses"',
            f"env_key = {json.dumps(env_key)}",
            # Fail fast: a retried request would take the next turn of the script.
            "request_max_retries = 0",
            "stream_max_retries = 0",
            "",
            "[analytics]",
            "enabled = false",
            "",
            "[feedback]",
            "enabled = false",
            "",
            "[otel]",
            'exporter = "none"',
            "",
        ]
    )


@dataclasses.dataclass(frozen=True, slots=True)
class OfflineRun:
    """The outcome of `run_offline()`."""

    argv: tuple[str, ...]
    returncode: int | None
    """The CLI's exit code; ``None`` when it was killed at the timeout."""
    timed_out: bool
    stdout: str
    stderr: str
    duration_s: float
    """Seconds the CLI ran."""
    requests: tuple[RecordedRequest, ...]
    """Every request the server received, in order."""
    model_requests: tuple[RecordedRequest, ...]
    """The requests that took (or asked for) a turn of the script."""
    unscripted: int
    """Model requests that came after the script ran out."""
    remaining: int
    """Turns of the script that were never taken."""
    interfaces: tuple[str, ...]
    """The network interfaces the CLI could see (only ``lo``)."""

    def json_lines(self) -> list[Any]:
        """The JSON values of stdout's lines (lines that are not JSON are skipped)."""
        values = []
        for line in self.stdout.splitlines():
            with contextlib.suppress(ValueError):
                values.append(json.loads(line))
        return values

    def describe(self) -> str:
        """A report for an assertion message: exit, requests, the ends of stdout and stderr."""
        paths = [f"{r.method} {r.path}" for r in self.requests]
        return (
            f"argv={list(self.argv)} returncode={self.returncode} timed_out={self.timed_out} "
            f"unscripted={self.unscripted} remaining={self.remaining}\nrequests={paths}\n"
            f"--- stdout (end)\n{self.stdout[-4000:]}\n--- stderr (end)\n{self.stderr[-4000:]}"
        )


@functools.cache
def offline_problem() -> str | None:
    """Why `run_offline()` cannot work here, or ``None``."""
    if not sys.platform.startswith("linux"):
        return "a loopback-only network namespace needs Linux"
    unshare = shutil.which("unshare")
    if unshare is None:
        return "unshare (util-linux) is not installed"
    try:
        probe = subprocess.run(
            [unshare, "--net", "--", sys.executable, "-c", "pass"],
            capture_output=True,
            timeout=30,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare --net does not run: {exc}"
    if probe.returncode != 0:
        reason = probe.stderr.decode(errors="replace").strip()
        return f"cannot make a network namespace (root or CAP_SYS_ADMIN needed): {reason}"
    return None


def run_offline(
    argv: Sequence[str],
    *,
    server: ScriptedModelServer,
    env: Mapping[str, str],
    cwd: str | os.PathLike[str],
    stdin: str | None = None,
    timeout: float = 60.0,
) -> OfflineRun:
    """Run ``argv`` against ``server`` in a new network namespace that holds only loopback.

    The server is rebuilt inside the namespace from its `spec()` (so
    its script holds no functions), on its fixed port. The CLI's environment is ``env`` plus
    ``PATH``, ``LANG``, ``LC_ALL`` and ``TZ`` from this process, and nothing else.

    Args:
        argv: The CLI and its arguments.
        server: An unstarted server with a fixed ``port``.
        env: The CLI's environment (see `claude_code_offline_env()`).
        cwd: The CLI's working directory.
        stdin: Text for the CLI's standard input (else it reads an empty one).
        timeout: Seconds before the CLI's process group is killed.

    Returns:
        What the CLI printed and what the server received.

    Raises:
        ValueError: the server's port is 0.
        RuntimeError: the namespace could not be set up (the child's error in the message).
    """
    spec_server = server.spec()
    if not spec_server["port"]:
        raise ValueError(
            "give the server a fixed port (any: a new network namespace has all of them free)"
        )
    cli_env = {name: os.environ[name] for name in _BASE_ENV_NAMES if name in os.environ}
    cli_env.update(env)
    unshare = shutil.which("unshare") or "unshare"
    with tempfile.TemporaryDirectory(prefix="sc-offline-") as scratch:
        spec_path = Path(scratch, "spec.json")
        result_path = Path(scratch, "result.json")
        spec_path.write_text(
            json.dumps(
                {
                    "argv": list(argv),
                    "env": cli_env,
                    "cwd": os.fspath(cwd),
                    "stdin": stdin,
                    "timeout": timeout,
                    "server": spec_server,
                    "stdout": str(Path(scratch, "stdout")),
                    "stderr": str(Path(scratch, "stderr")),
                }
            )
        )
        launcher = [
            unshare,
            "--net",
            "--",
            sys.executable,
            "-m",
            "scopecraft.testing._offline",
            str(spec_path),
            str(result_path),
        ]
        try:
            done = subprocess.run(launcher, capture_output=True, timeout=timeout + 30, check=False)
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"the offline launcher did not end: {exc}") from exc
        if done.returncode != 0 or not result_path.exists():
            raise RuntimeError(
                f"the offline launcher failed (exit {done.returncode}): "
                + done.stderr.decode(errors="replace")[-3000:]
            )
        result = json.loads(result_path.read_text())
        stdout = Path(scratch, "stdout").read_text(errors="replace")
        stderr = Path(scratch, "stderr").read_text(errors="replace")
    requests = tuple(RecordedRequest.from_json(r) for r in result["requests"])
    endpoint = type(server).model_endpoint
    return OfflineRun(
        argv=tuple(argv),
        returncode=result["returncode"],
        timed_out=bool(result["timed_out"]),
        stdout=stdout,
        stderr=stderr,
        duration_s=float(result["duration_s"]),
        requests=requests,
        model_requests=tuple(
            r for r in requests if r.method == "POST" and r.path.split("?", 1)[0] == endpoint
        ),
        unscripted=int(result["unscripted"]),
        remaining=int(result["remaining"]),
        interfaces=tuple(result["interfaces"]),
    )


class NamespaceServer:
    """A scripted model server running inside another process's network namespace (a Docker
    container started with ``network_mode="none"``, whose loopback is then the only address
    the server and the container's agent share): see `serve_in_namespace()`.

    Attributes:
        requests: Every request the server received, once it has stopped.
        model_requests: The requests that took (or asked for) a turn.
        unscripted: Model requests that came after the script ran out.
        remaining: Turns never taken.
        interfaces: The network interfaces of the namespace (only ``lo``).
    """

    def __init__(self, server: ScriptedModelServer, pid: int) -> None:
        self._server = server
        self._pid = pid
        self._proc: subprocess.Popen[bytes] | None = None
        self._scratch: tempfile.TemporaryDirectory[str] | None = None
        self.requests: tuple[RecordedRequest, ...] = ()
        self.model_requests: tuple[RecordedRequest, ...] = ()
        self.unscripted = 0
        self.remaining = 0
        self.interfaces: tuple[str, ...] = ()

    def __enter__(self) -> NamespaceServer:
        spec_server = self._server.spec()
        if not spec_server["port"]:
            raise ValueError("give the server a fixed port")
        self._scratch = tempfile.TemporaryDirectory(prefix="sc-netns-")
        scratch = Path(self._scratch.name)
        spec = scratch / "spec.json"
        spec.write_text(json.dumps({"server": spec_server, "ready": str(scratch / "ready")}))
        nsenter = shutil.which("nsenter") or "nsenter"
        self._proc = subprocess.Popen(
            [
                nsenter,
                f"--net=/proc/{self._pid}/ns/net",
                "--",
                sys.executable,
                "-m",
                "scopecraft.testing._offline",
                "--serve",
                str(spec),
                str(scratch / "result.json"),
            ],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 30
        while not (scratch / "ready").exists():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                error = self._proc.stderr.read() if self._proc.stderr else b""
                self._proc.kill()
                raise RuntimeError(
                    "the model server did not start in the namespace: "
                    + error.decode(errors="replace")[-3000:]
                )
            time.sleep(0.05)
        return self

    def __exit__(self, *exc_info: object) -> None:
        proc, scratch = self._proc, self._scratch
        if proc is None or scratch is None:
            return
        try:
            with contextlib.suppress(subprocess.TimeoutExpired, BrokenPipeError):
                proc.communicate(timeout=30)
            result_path = Path(scratch.name, "result.json")
            if result_path.exists():
                result = json.loads(result_path.read_text())
                self.requests = tuple(RecordedRequest.from_json(r) for r in result["requests"])
                endpoint = type(self._server).model_endpoint
                self.model_requests = tuple(
                    r
                    for r in self.requests
                    if r.method == "POST" and r.path.split("?", 1)[0] == endpoint
                )
                self.unscripted = int(result["unscripted"])
                self.remaining = int(result["remaining"])
                self.interfaces = tuple(result["interfaces"])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            scratch.cleanup()
            self._proc = self._scratch = None


def serve_in_namespace(server: ScriptedModelServer, pid: int) -> NamespaceServer:
    """Run ``server`` inside the network namespace of process ``pid`` (``nsenter --net``), as
    a context manager: entered, the server answers on that namespace's loopback; left, it stops
    and what it received is on the returned object.

    For a Docker agent: start a holder container with ``network_mode="none"`` (only loopback),
    serve in its namespace (its ``State.Pid``), and run the agent's container with
    ``network_mode="container:<holder>"``: the agent reaches the server and nothing else.

    Raises:
        ValueError: the server's port is 0.
        RuntimeError: the server could not start there, or the namespace holds an interface
            other than loopback (the child refuses to serve where anything else is reachable).
    """
    return NamespaceServer(server, pid)


def _serve(spec_path: str, result_path: str) -> None:
    """The child of `NamespaceServer`: serve until standard input closes."""
    spec = json.loads(Path(spec_path).read_text())
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        sys.exit(f"refusing to serve: the namespace has interfaces {interfaces}, not only lo")
    _bring_loopback_up()
    server = ScriptedModelServer.from_spec(spec["server"])
    with server:
        Path(spec["ready"]).write_text("ready")
        sys.stdin.buffer.read()
    Path(result_path).write_text(
        json.dumps(
            {
                "requests": [r.to_json() for r in server.requests],
                "unscripted": len(server.unscripted),
                "remaining": server.remaining,
                "interfaces": interfaces,
            }
        )
    )


# -- the child, inside the namespace ----------------------------------------------------------

_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH22s"


def _bring_loopback_up() -> None:
    """``ip link set lo up`` without iproute2: the interface flags through ioctl."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack(_IFREQ, b"lo", 0, b"")
        flags = struct.unpack(_IFREQ, fcntl.ioctl(sock, _SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(sock, _SIOCSIFFLAGS, struct.pack(_IFREQ, b"lo", flags | _IFF_UP, b""))


def _child(spec_path: str, result_path: str) -> None:
    spec = json.loads(Path(spec_path).read_text())
    interfaces = sorted(name for _, name in socket.if_nameindex())
    if interfaces != ["lo"]:
        # Never run a CLI where it could reach anything but loopback.
        sys.exit(f"refusing to run: the namespace has interfaces {interfaces}, not only lo")
    _bring_loopback_up()
    server = ScriptedModelServer.from_spec(spec["server"])
    returncode: int | None = None
    timed_out = False
    with server, open(spec["stdout"], "wb") as out, open(spec["stderr"], "wb") as err:
        started = time.monotonic()
        proc = subprocess.Popen(
            spec["argv"],
            cwd=spec["cwd"],
            env=spec["env"],
            stdin=subprocess.PIPE,
            stdout=out,
            stderr=err,
            start_new_session=True,
        )
        try:
            proc.communicate((spec["stdin"] or "").encode(), timeout=float(spec["timeout"]))
            returncode = proc.returncode
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # The CLI's own children (shells, MCP servers) go with it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        duration = time.monotonic() - started
    Path(result_path).write_text(
        json.dumps(
            {
                "returncode": returncode,
                "timed_out": timed_out,
                "duration_s": duration,
                "requests": [r.to_json() for r in server.requests],
                "unscripted": len(server.unscripted),
                "remaining": server.remaining,
                "interfaces": interfaces,
            }
        )
    )


if __name__ == "__main__":  # pragma: no cover - run inside a namespace by the functions above
    if len(sys.argv) == 4 and sys.argv[1] == "--serve":
        _serve(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3:
        _child(sys.argv[1], sys.argv[2])
    else:
        sys.exit("usage: python -m scopecraft.testing._offline [--serve] SPEC_JSON RESULT_JSON")
