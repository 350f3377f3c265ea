"""Configuration of the Docker executor, and the checks that keep its containers hardened.

Nothing here imports docker-py: the configuration is validated when the plugin loads (a bad
key or a Docker socket mount fails the engine's start, not a session mid-run).
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path, PurePosixPath
from typing import Literal
from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .._errors import ExecutorUnavailable, ImageNotFound, MountRefused

__all__ = [
    "AGENT_STATE_DIR",
    "AGENT_WORKDIR",
    "IO_DIR",
    "OWNERSHIP_LABELS",
    "DockerExecutorConfig",
    "ImageNotFound",
    "MountRefused",
    "VolumeSpec",
    "check_mount_source",
    "docker_sockets",
    "parse_volume",
    "probe_engine",
    "unix_socket_path",
]

AGENT_WORKDIR = "/workspace"
"""Where the worktree is mounted in the container."""

AGENT_STATE_DIR = "/agent-state"
"""Where the session's agent-state folder is mounted (kept across attempts)."""

IO_DIR = "/run/scopecraft"
"""Where the attempt's spool folder is mounted: the prompt in, the output out."""

_DEFAULT_SOCKETS = ("/var/run/docker.sock", "/run/docker.sock")
_RESERVED_TARGETS = (AGENT_WORKDIR, AGENT_STATE_DIR, IO_DIR)

OWNERSHIP_LABELS = frozenset(
    {
        "scopecraft.session",
        "scopecraft.attempt",
        "scopecraft.task",
        "scopecraft.mode",
        "scopecraft.host",
        "scopecraft.store",
    }
)
"""Labels the engine sets on every runtime; configuration cannot override them."""


class DockerExecutorConfig(BaseModel):
    """Keyword configuration of `DockerExecutor`.

    Given as ``EngineConfig.executors["docker"]`` or as keywords to the constructor. Every
    field has a default; the defaults are the hardened ones.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["docker"] = Field(default="docker", description="The entry-point name.")
    base_url: str | None = Field(
        default=None,
        description="The Docker engine, e.g. `unix:///var/run/docker.sock`; default "
        "`$DOCKER_HOST` (and `$DOCKER_TLS_VERIFY`, `$DOCKER_CERT_PATH`), else the local socket.",
    )
    network: str = Field(
        default="default",
        description="Network mode of agent containers: `default` (Docker's bridge: agents "
        "reach their model API), `none` (no network, as the tests use), or a network's name.",
    )
    read_only_root: bool = Field(
        default=False,
        description="Mount the image's root file system read-only; `/tmp` and `HOME` are tmpfs.",
    )
    user: str | None = Field(
        default=None,
        description="`uid:gid` the agent runs as; default the owner of the worktree, so the "
        "agent can write it and the user owns what it writes. Never root (uid 0).",
    )
    agent_user: str = Field(
        default="1000:1000",
        description="`uid:gid` the agent runs as when the worktree belongs to root (the engine "
        "runs as root) and `user` is not set: the worktree is handed to it for the attempt "
        "and back to root once the container has ended. Never root (uid 0).",
    )
    home: str | None = Field(
        default="/home/scopecraft",
        description="`HOME` of the agent, a private tmpfs owned by its user (the uid usually "
        "has no home in the image); `None` keeps the image's.",
    )
    shell: str = Field(
        default="/bin/sh",
        description="POSIX shell in the image that redirects the agent's input and output "
        "(a constant script; the agent's argv stays separate arguments).",
    )
    memory_mb: int = Field(
        default=4096, ge=16, description="Memory limit when the mode sets none; no swap."
    )
    cpus: float = Field(
        default=2.0,
        gt=0,
        description="CPU limit when the mode sets none; never above the engine's core count.",
    )
    pids: int = Field(default=1024, ge=8, description="Process limit when the mode sets none.")
    tmpfs_mb: int = Field(default=512, ge=1, description="Size of each tmpfs (`/tmp`, `HOME`).")
    volumes: tuple[str, ...] = Field(
        default=(),
        description="Extra bind mounts, `SOURCE:TARGET[:ro|rw]` (read-only unless `:rw`); "
        "the Docker socket is refused.",
    )
    extra_labels: dict[str, str] = Field(
        default_factory=dict,
        description="Labels added to every container (e.g. a test run's id); they cannot "
        "override the `scopecraft.*` ownership labels. Never put secrets here.",
    )
    pull: Literal["never", "missing"] = Field(
        default="never",
        description="`missing` pulls an image the engine does not have; `never` fails with "
        "ImageNotFound (no registry is contacted).",
    )
    runtime: str | None = Field(
        default=None, description="OCI runtime, e.g. `runsc` for gVisor; default Docker's."
    )
    timeout: float = Field(default=60.0, gt=0, description="Seconds per Docker API call.")
    max_threads: int = Field(
        default=8, ge=1, le=64, description="Docker API calls in flight at once (threads)."
    )

    @field_validator("user", "agent_user")
    @classmethod
    def _check_user(cls, value: str | None) -> str | None:
        if value is None:
            return value
        parts = value.split(":")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError("must be numeric `uid:gid`, e.g. `1000:1000`")
        if int(parts[0]) == 0:
            raise ValueError(
                "an agent never runs as root (uid 0) in its container; name an unprivileged "
                "`uid:gid`, e.g. `1000:1000`"
            )
        return value

    @field_validator("home")
    @classmethod
    def _check_home(cls, value: str | None) -> str | None:
        if value is None:
            return value
        _check_target(value)
        return value

    @field_validator("volumes")
    @classmethod
    def _check_volumes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for item in value:
            parse_volume(item)
        return value

    @field_validator("extra_labels")
    @classmethod
    def _check_labels(cls, value: dict[str, str]) -> dict[str, str]:
        for key in value:
            if not key:
                raise ValueError("a label needs a name")
            if key in OWNERSHIP_LABELS:
                raise ValueError(f"extra label {key!r} would override an ownership label")
        return value


class VolumeSpec(BaseModel):
    """One extra bind mount."""

    model_config = ConfigDict(frozen=True)

    source: Path
    target: str
    read_only: bool = True


def _check_target(target: str) -> None:
    path = PurePosixPath(target)
    if not path.is_absolute() or ".." in path.parts:
        raise ValueError(f"{target!r} must be an absolute path inside the container")
    if str(path) == "/":
        raise ValueError("nothing may be mounted over the container's root")


def parse_volume(text: str) -> VolumeSpec:
    """Parse ``SOURCE:TARGET[:ro|rw]`` (read-only unless ``rw``).

    Raises:
        ValueError: malformed, a relative path, or a target scopecraft uses.
    """
    parts = text.split(":")
    if len(parts) == 2:
        source, target, flag = parts[0], parts[1], "ro"
    elif len(parts) == 3:
        source, target, flag = parts
    else:
        raise ValueError(f"volume {text!r}: use SOURCE:TARGET[:ro|rw]")
    if flag not in ("ro", "rw"):
        raise ValueError(f"volume {text!r}: the mode is `ro` or `rw`, not {flag!r}")
    if not os.path.isabs(source):
        raise ValueError(f"volume {text!r}: the source must be an absolute host path")
    _check_target(target)
    normalized = str(PurePosixPath(target))
    for reserved in _RESERVED_TARGETS:
        if normalized == reserved or normalized.startswith(reserved + "/"):
            raise ValueError(f"volume {text!r}: {reserved} is scopecraft's own mount")
    return VolumeSpec(source=Path(source), target=normalized, read_only=flag == "ro")


def docker_sockets(base_url: str | None) -> tuple[Path, ...]:
    """The Docker sockets a container must never see: the usual ones and the engine's own.

    Args:
        base_url: The configured engine; ``$DOCKER_HOST`` is read when it is ``None``.
    """
    found = [Path(p) for p in _DEFAULT_SOCKETS]
    url = base_url or os.environ.get("DOCKER_HOST")
    if url:
        parsed = urlparse(url)
        if parsed.scheme in ("unix", "http+unix") and parsed.path:
            found.append(Path(parsed.path))
    resolved: list[Path] = []
    for path in found:
        resolved.append(path)
        try:
            real = path.resolve()
        except OSError:
            continue
        if real != path:
            resolved.append(real)
    return tuple(dict.fromkeys(resolved))


def unix_socket_path(base_url: str | None) -> str | None:
    """The Unix socket of the engine (``base_url``, else ``$DOCKER_HOST``, else the default
    one), or ``None`` when the engine is reached over TCP or SSH."""
    url = base_url or os.environ.get("DOCKER_HOST") or f"unix://{_DEFAULT_SOCKETS[0]}"
    parsed = urlparse(url)
    if parsed.scheme in ("unix", "http+unix") and parsed.path:
        return parsed.path
    return None


def probe_engine(base_url: str | None, timeout: float = 10.0) -> None:
    """Connect to the engine's Unix socket (if it has one) and close the connection at once.

    docker-py leaks the socket of a Unix connection that fails (a ResourceWarning for every
    call while the daemon is down or restarting); probing first with a socket that is always
    closed avoids it.

    Raises:
        ExecutorUnavailable: nothing accepts connections on the socket.
    """
    path = unix_socket_path(base_url)
    if path is None:
        return
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(timeout)
        try:
            probe.connect(path)
        except OSError as exc:
            raise ExecutorUnavailable(
                f"the Docker engine does not answer on {path} ({exc}); start it, or set "
                "DOCKER_HOST or the docker executor's base_url"
            ) from exc


def check_mount_source(source: Path, sockets: tuple[Path, ...], *, what: str) -> None:
    """Refuse a bind mount that is a Docker socket or a folder holding one.

    Mounting ``/var/run`` hands over the socket as surely as mounting the socket itself.

    Raises:
        MountRefused: the mount would give the container control of the Docker engine.
    """
    try:
        real = source.resolve()
    except OSError as exc:
        raise MountRefused(f"cannot resolve the {what} {source}: {exc}") from exc
    for socket_path in sockets:
        candidates = {socket_path}
        with contextlib.suppress(OSError):
            candidates.add(socket_path.resolve())
        for candidate in candidates:
            if real == candidate or real in candidate.parents:
                raise MountRefused(
                    f"refusing to mount {source} ({what}) into an agent container: it "
                    f"exposes the Docker socket {candidate}, which would give the agent "
                    "root on the host; mount a folder that does not hold it"
                )
    if real.is_socket() and real.name == "docker.sock":
        raise MountRefused(
            f"refusing to mount the Docker socket {source} ({what}) into an agent container"
        )
