"""The checks of the optional backends: the Docker engine and its images, tmux, and each
agent's CLI (through `check_agents()`)."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from typing import Any

from .._config import EngineConfig
from .._errors import ScopecraftError
from .._plugins import PluginRegistry
from ._model import DoctorCheck, DoctorStatus, first_line, run_program

__all__ = ["check_agents_ready", "check_docker", "check_tmux"]

_DOCKER_FIX = (
    "start the Docker engine (systemctl start docker) or set DOCKER_HOST to one that runs; "
    "without it, run sessions with --executor local (or tmux)"
)


def check_docker(
    config: EngineConfig, env: Mapping[str, str], *, required: bool
) -> list[DoctorCheck]:
    """The ``docker`` line (the engine answers? its version) and, when it answers, the
    ``docker images`` line (the default image present? the ``scopecraft-*`` images)."""
    from ..executors._docker_config import probe_engine, unix_socket_path

    missing: DoctorStatus = "fail" if required else "warn"
    base_url = config.executors.get("docker", {}).get("base_url") or env.get("DOCKER_HOST")
    where = base_url or "unix:///var/run/docker.sock"
    try:
        probe_engine(base_url, 5.0)
    except ScopecraftError as exc:
        reason = exc.__cause__ or exc
        detail = f"the Docker engine does not answer on {unix_socket_path(base_url)} ({reason})"
        return [DoctorCheck("docker", missing, detail, _DOCKER_FIX)]
    try:
        import docker
        import docker.errors
        import requests.exceptions
    except ImportError as exc:  # docker-py is a dependency; a broken install says so
        return [
            DoctorCheck(
                "docker", missing, f"docker-py cannot be imported: {exc}", "pip install docker"
            )
        ]
    client: Any = None
    try:
        if base_url:
            client = docker.DockerClient(base_url=base_url, timeout=10)
        else:
            client = docker.DockerClient.from_env(timeout=10, environment=dict(env))
        version = client.api.version()
        images = client.api.images()
        default = _default_image(client.api, config.default_image, docker.errors.ImageNotFound)
    except (docker.errors.DockerException, requests.exceptions.RequestException, OSError) as exc:
        return [
            DoctorCheck(
                "docker",
                missing,
                f"the Docker engine at {where} does not answer: {exc}",
                _DOCKER_FIX,
            )
        ]
    finally:
        if client is not None:
            client.close()
    shown = (
        f"Docker {version.get('Version', '?')} (API {version.get('ApiVersion', '?')}) at {where}"
    )
    return [
        DoctorCheck("docker", "ok", shown),
        _images_check(config.default_image, default, images),
    ]


def _default_image(api: Any, name: str | None, not_found: type[Exception]) -> bool | None:
    if not name:
        return None
    try:
        api.inspect_image(name)
    except not_found:
        return False
    return True


def _images_check(
    default: str | None, present: bool | None, images: list[dict[str, Any]]
) -> DoctorCheck:
    tags: dict[str, int] = {}
    for image in images:
        for tag in image.get("RepoTags") or ():
            repository = tag.rsplit(":", 1)[0] if ":" in tag.split("/")[-1] else tag
            if repository.split("/")[-1].startswith("scopecraft-"):
                tags[repository] = tags.get(repository, 0) + 1
    listed = ", ".join(
        f"{name} ({count} tag{'s' if count > 1 else ''})" for name, count in sorted(tags.items())
    )
    agents = f"scopecraft-* images: {listed}" if tags else "no scopecraft-* image"
    build = "scopecraft image build --agent claude-code"
    if default and present is False:
        return DoctorCheck(
            "docker images",
            "warn",
            f"the default image {default} is not on the engine; {agents}",
            f"build it ({build} --tag {default}) or pull it",
        )
    if default:
        return DoctorCheck("docker images", "ok", f"default image {default}; {agents}")
    if tags:
        return DoctorCheck(
            "docker images", "ok", f"no default image configured (pass --image); {agents}"
        )
    return DoctorCheck(
        "docker images",
        "warn",
        "no default image configured and no scopecraft-* image",
        f"build one ({build}), then pass --image TAG or set EngineConfig.default_image",
    )


def check_tmux(config: EngineConfig, env: Mapping[str, str], *, required: bool) -> DoctorCheck:
    """The ``tmux`` line: the tmux executor's binary found, and its version."""
    missing: DoctorStatus = "fail" if required else "warn"
    binary = str(config.executors.get("tmux", {}).get("tmux") or "tmux")
    fix = (
        "install tmux (apt-get install tmux, brew install tmux): interactive and dispatch "
        "sessions run in it"
    )
    path = shutil.which(binary, path=env.get("PATH"))
    if path is None:
        return DoctorCheck("tmux", missing, f"{binary!r} is not found on PATH", fix)
    ran = run_program([path, "-V"], cwd=None, env=env)
    line = first_line(ran.out)
    if ran.code != 0 or not line:
        reason = first_line(ran.err) or f"exit code {ran.code}"
        return DoctorCheck("tmux", missing, f"`{path} -V` failed: {reason}", fix)
    return DoctorCheck("tmux", "ok", f"{line} ({path})")


def check_agents_ready(
    registry: PluginRegistry,
    config: EngineConfig,
    env: Mapping[str, str],
    required: set[str],
    timeout: float,
) -> list[DoctorCheck]:
    """One ``agent NAME`` line per installed agent, from `check_agents()`: found, its
    version, its options, its credential (named, never shown); an agent with nothing to run
    (a ``command`` agent without ``argv``) only when it is required."""
    from ..agents._check import check_agents

    rows = check_agents(None, plugins=registry, config=config.agents, timeout=timeout, environ=env)
    checks = []
    for row in rows:
        name = f"agent {row.name}"
        needed = row.name in required
        missing: DoctorStatus = "fail" if needed else "warn"
        notes = "; ".join(row.notes)
        if not row.configured:
            if needed:
                checks.append(
                    DoctorCheck(
                        name,
                        "fail",
                        notes or "not configured",
                        "configure it in EngineConfig.agents",
                    )
                )
            continue  # an agent with nothing to run is not a problem until it is asked for
        if not row.found:
            # The first note says what is missing; the credential's note can wait for then.
            reason = row.notes[0] if row.notes else "not found"
            checks.append(
                DoctorCheck(name, missing, reason, _install_hint(row.name, row.executable))
            )
            continue
        found = " ".join([row.path or "", *row.program[1:]]).strip()
        version = row.version or "version unknown"
        if row.flags_ok is False:
            checks.append(
                DoctorCheck(
                    name,
                    missing,
                    f"{version} ({found}) does not take {', '.join(row.flags_missing)}",
                    "upgrade the CLI to a version that takes every option scopecraft passes",
                )
            )
            continue
        problems = []
        if row.flags_ok is None:
            problems.append("its help could not be read, so its options are unconfirmed")
        if row.authenticated is False:
            problems.append("no credential found")
        parts = [f"{version} ({found})"]
        if row.flags_ok:
            parts.append(f"{len(row.flags_checked)} options ok")
        if row.authenticated:
            parts.append(f"credential: {row.auth_source}")
        if problems:
            # The check's own notes say what to do (log in, set a variable, the failed run).
            fix = "; ".join(n.removeprefix("no credential found: ") for n in row.notes)
            fix = fix or f"`scopecraft agents check {row.name}` says more"
            checks.append(DoctorCheck(name, "warn", "; ".join(parts + problems), fix))
        else:
            checks.append(DoctorCheck(name, "ok", "; ".join(parts)))
    return checks


def _install_hint(name: str, executable: str | None) -> str:
    if name == "claude-code":
        return (
            "install Claude Code (npm install -g @anthropic-ai/claude-code) and put `claude` "
            "on PATH"
        )
    if name == "codex":
        return "install Codex (npm install -g @openai/codex) and put `codex` on PATH"
    return f"install {executable or 'its CLI'} and put it on PATH, or configure its path"
