"""Build an agent's image with docker-py from a context assembled on this host: no registry.

The steps, each failing with a message that says what to do: find the CLI the user installed
and its native program, ask it for its version (offline), list its shared libraries with
``ldd``, assemble the root file system (`._rootfs`), hash it, and build only when no image
of that digest is on the engine yet.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from .._errors import ConfigError, ExecutorError, ExecutorUnavailable
from ._recipes import AgentRecipe, agent_version, locate_executable, native_binary, recipe_for
from ._rootfs import LddError, RootFs, RootFsConflict, add_applets, shared_libraries

__all__ = [
    "AGENT_LABEL",
    "VERSION_LABEL",
    "AgentImage",
    "build_agent_image",
    "ensure_agent_image",
]

log = logging.getLogger("scopecraft.images")

AGENT_LABEL = "scopecraft.agent"
"""Label naming the agent an image runs (``claude-code``, ``codex``)."""

VERSION_LABEL = "scopecraft.agent.version"
"""Label holding the version the agent's ``--version`` printed when the image was built."""

AGENT_UID = 1000
"""The uid (and gid) of the image's ``agent`` user, its default user."""

HOME = "/home/agent"
"""The image's ``HOME``: world-writable, so any uid the executor picks can use it."""

_BIN = "/usr/local/bin"
# Bump when the layout below changes, so that an image of the old layout is not reused.
_LAYOUT_VERSION = "2"
_BUILD_TIMEOUT = 1800.0
_CA_BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine, Arch
    "/etc/pki/tls/certs/ca-bundle.crt",  # Fedora, RHEL
    "/etc/ssl/ca-bundle.pem",  # openSUSE
)
_PASSWD = (
    "root:x:0:0:root:/root:/bin/sh\n"
    f"agent:x:{AGENT_UID}:{AGENT_UID}:agent:{HOME}:/bin/sh\n"
    "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
)
_GROUP = f"root:x:0:\nagent:x:{AGENT_UID}:\nnogroup:x:65534:\n"
_TAG = re.compile(
    r"^(?:[A-Za-z0-9.-]+(?::[0-9]+)?/)?"  # a registry host, for names only: nothing is pushed
    r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)
_LOCK = threading.Lock()


@dataclasses.dataclass(frozen=True, slots=True)
class AgentImage:
    """An agent's image on the Docker engine."""

    tag: str
    """The tag asked for, else ``scopecraft-<agent>:<digest>``."""
    digest_tag: str
    """``scopecraft-<agent>:<digest>``, which every build of this content carries."""
    agent: str
    version: str
    """What the CLI's ``--version`` printed (``2.1.332``)."""
    executable: Path
    """The native program packaged (the host file)."""
    size_bytes: int
    """The image's size on the engine."""
    built: bool
    """False when an image of the same content was already there (nothing was built)."""


def _dockerfile(recipe: AgentRecipe) -> str:
    return (
        "FROM scratch\n"
        "COPY rootfs/ /\n"
        f"ENV PATH={_BIN}:/usr/bin:/bin HOME={HOME}\n"
        f"USER {AGENT_UID}:{AGENT_UID}\n"
        f"WORKDIR {HOME}\n"
        f'CMD ["{_BIN}/{recipe.command}"]\n'
    )


def _ca_bundle() -> Path | None:
    for candidate in _CA_BUNDLES:
        path = Path(candidate)
        if path.is_file():
            return path.resolve()
    return None


def agent_rootfs(recipe: AgentRecipe, native: Path) -> RootFs:
    """The root file system of ``recipe``'s image, with ``native`` as its CLI.

    Raises:
        ConfigError: busybox-static is missing, or the CLI's libraries cannot be packaged.
    """
    # The fake agent's image has the same base; its helpers find and check busybox.
    from ..testing._images import _applets, _is_static_elf, busybox_path

    try:
        busybox = busybox_path()
    except FileNotFoundError as exc:
        raise ConfigError(str(exc)) from exc
    rootfs = RootFs()
    add_applets(rootfs, busybox, _applets(busybox))
    rootfs.dir("/usr/bin")
    rootfs.dir(_BIN)
    rootfs.copy(f"{_BIN}/{recipe.command}", native, 0o755)
    for name, helper in sorted(recipe.helpers(native).items()):
        if _is_static_elf(helper.resolve()):
            rootfs.copy(f"{_BIN}/{name}", helper.resolve(), 0o755)
        else:
            log.debug("leaving out %s: it is not statically linked", helper)
    rootfs.file("/etc/passwd", _PASSWD.encode())
    rootfs.file("/etc/group", _GROUP.encode())
    bundle = _ca_bundle()
    if bundle is not None:
        # For TLS to the model's API: Codex reads the system's roots; Claude Code has its own.
        rootfs.copy("/etc/ssl/certs/ca-certificates.crt", bundle, 0o644)
    rootfs.dir("/tmp", 0o1777)  # noqa: S108 - the image's own /tmp, not the host's
    rootfs.dir("/root", 0o700)
    rootfs.dir("/home")
    rootfs.dir(HOME, 0o1777)
    programs = [native]
    if recipe.command_shell is not None:
        shell = Path(recipe.command_shell)
        if not shell.is_file():
            raise ConfigError(
                f"{recipe.name}: its command tool needs {recipe.command_shell}, which this "
                "host lacks; install it (`apt-get install bash`)"
            )
        rootfs.copy(recipe.command_shell, shell.resolve(), 0o755)
        programs.append(shell.resolve())
    for program in programs:
        if _is_static_elf(program):
            continue
        try:
            for library in shared_libraries(program):
                rootfs.mirror(library)
        except (LddError, RootFsConflict, OSError) as exc:
            raise ConfigError(
                f"{recipe.name}: cannot package the libraries of {program}: {exc}"
            ) from exc
    return rootfs


def _check_labels(labels: Mapping[str, str] | None) -> dict[str, str]:
    checked = {}
    for key, value in (labels or {}).items():
        if not key or key in (AGENT_LABEL, VERSION_LABEL):
            raise ConfigError(f"label {key!r} is empty or set by scopecraft itself")
        checked[key] = str(value)
    return checked


def _split_tag(tag: str) -> tuple[str, str]:
    if not _TAG.match(tag):
        raise ConfigError(f"{tag!r} is not a valid image tag, e.g. `my-agents/claude:1`")
    repository, sep, name = tag.rpartition(":")
    if not sep or "/" in name:
        return tag, "latest"
    return repository, name


def _client(base_url: str | None) -> Any:
    import docker
    import docker.errors

    from ..executors._docker_config import probe_engine

    probe_engine(base_url)
    try:
        if base_url:
            return docker.DockerClient(base_url=base_url, timeout=_BUILD_TIMEOUT)
        return docker.DockerClient.from_env(timeout=_BUILD_TIMEOUT)
    except docker.errors.DockerException as exc:
        raise ExecutorUnavailable(f"cannot reach the Docker engine: {exc}") from exc


def _existing(client: Any, tag: str) -> Any | None:
    import docker.errors
    import requests.exceptions

    try:
        return client.images.get(tag)
    except docker.errors.ImageNotFound:
        return None
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ExecutorUnavailable(f"cannot look up {tag} on the Docker engine: {exc}") from exc


def _build(client: Any, tag: str, rootfs: RootFs, dockerfile: str, labels: dict[str, str]) -> Any:
    import docker.errors
    import requests.exceptions

    # The context holds the whole CLI (hundreds of MB): spooled to a file, not kept in memory.
    with tempfile.TemporaryFile(prefix="scopecraft-image-") as context:
        try:
            rootfs.write_context(context, dockerfile)
        except OSError as exc:
            raise ExecutorError(f"cannot write the build context of {tag}: {exc}") from exc
        context.seek(0)
        try:
            image, _ = client.images.build(
                fileobj=context,
                custom_context=True,
                tag=tag,
                rm=True,
                forcerm=True,
                pull=False,
                labels=labels,
                timeout=_BUILD_TIMEOUT,
            )
        except docker.errors.BuildError as exc:
            output = "".join(str(item.get("stream", item)) for item in exc.build_log)[-2000:]
            raise ExecutorError(f"building {tag} failed: {exc}\n{output}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise ExecutorError(f"building {tag} failed: {exc}") from exc
    return image


def _finish(image: Any, digest_tag: str, tag: str | None, target: tuple[str, str] | None) -> int:
    """Add the tag asked for; return the image's size."""
    import docker.errors
    import requests.exceptions

    try:
        if target is not None and tag not in image.tags:
            image.tag(target[0], tag=target[1])
        image.reload()
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ExecutorError(f"cannot tag or inspect {digest_tag}: {exc}") from exc
    return int(image.attrs.get("Size") or 0)


def ensure_agent_image(
    agent: str,
    *,
    executable: str | os.PathLike[str] | None = None,
    tag: str | None = None,
    base_url: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> AgentImage:
    """Build ``agent``'s image unless one of the same content is there; describe it.

    Arguments and errors as `build_agent_image()`.
    """
    recipe = recipe_for(agent)
    target = _split_tag(tag) if tag is not None else None
    extra = _check_labels(labels)
    native = native_binary(recipe, locate_executable(recipe, executable))
    version = agent_version(recipe, native)
    all_labels = {**extra, AGENT_LABEL: recipe.name, VERSION_LABEL: version}
    rootfs = agent_rootfs(recipe, native)
    client = _client(base_url)
    try:
        dockerfile = _dockerfile(recipe)
        digest = rootfs.digest(
            _LAYOUT_VERSION.encode(),
            dockerfile.encode(),
            json.dumps(all_labels, sort_keys=True).encode(),
        )
        digest_tag = f"{recipe.repository}:{digest[:16]}"
        with _LOCK:
            image = _existing(client, digest_tag)
            built = image is None
            if image is None:
                log.info("building %s: %s %s from %s", digest_tag, agent, version, native)
                image = _build(client, digest_tag, rootfs, dockerfile, all_labels)
            size = _finish(image, digest_tag, tag, target)
    finally:
        client.close()
    return AgentImage(
        tag=tag or digest_tag,
        digest_tag=digest_tag,
        agent=recipe.name,
        version=version,
        executable=native,
        size_bytes=size,
        built=built,
    )


def build_agent_image(
    agent: str,
    *,
    executable: str | None = None,
    tag: str | None = None,
    base_url: str | None = None,
    labels: Mapping[str, str] | None = None,
) -> str:
    """Build a local image that runs a real agent CLI, from the one installed on this host.

    The image is ``FROM scratch``: a static busybox as ``/bin/busybox`` with its applets (so
    ``/bin/sh`` exists), the CLI's native program as ``/usr/local/bin/claude`` or
    ``/usr/local/bin/codex``, for a dynamically linked one its shared libraries and program
    interpreter copied from this host at the same paths, ``/etc/passwd`` and ``/etc/group``
    with ``root``, ``nobody`` and ``agent`` (uid 1000, the default user), the host's CA
    certificates, ``/tmp`` (mode 1777) and a world-writable ``HOME`` (``/home/agent``). It is
    labelled ``scopecraft.agent`` and ``scopecraft.agent.version``.

    Nothing is pulled or pushed: docker-py builds the image from a context made here. The tag
    is a digest of the content, so a second build of the same CLI is a no-op.

    Args:
        agent: ``claude-code`` or ``codex``.
        executable: The CLI to package: a path or a name on ``PATH`` (npm's launcher is
            fine; its native program is found). Default: ``$SCOPECRAFT_AGENT_BIN``, ``PATH``,
            then ``.ci/install-agents``' cache folder.
        tag: Another tag for the image (``my-agents/claude:1``); it keeps its digest tag.
        base_url: The Docker engine (default: ``$DOCKER_HOST`` or the local socket).
        labels: More labels (part of the content: other labels, another image).

    Returns:
        ``tag``, else ``scopecraft-<agent>:<digest>``.

    Raises:
        ConfigError: an unknown agent, a bad tag or label, a CLI that is missing or is not
            a native program that runs, or busybox-static is not installed.
        ExecutorUnavailable: the Docker engine does not answer.
        ExecutorError: the build failed.
    """
    return ensure_agent_image(
        agent, executable=executable, tag=tag, base_url=base_url, labels=labels
    ).tag
