"""``fake_agent_image()``: a tiny local Docker image with the fake agent, built with no registry.

The image is ``FROM scratch`` with Debian's static busybox (package ``busybox-static``) as
``/bin/busybox``, a link per applet in ``/bin`` (so ``/bin/sh`` exists), the fake agent at
``/usr/local/bin/fake-agent``, ``/tmp`` with mode 1777 and a world-writable ``/home/agent`` as
``HOME`` for users without a home of their own. It is tagged by a digest of everything that goes
into it, so it is built once, rebuilt only when the script (or busybox) changes, and kept between
runs: leak checks skip images labelled ``scopecraft.testing=1``.
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import struct
import subprocess
import tarfile
import threading
from pathlib import Path
from typing import Any

from .._errors import ExecutorError, ExecutorUnavailable
from ._fake_agent import CONTAINER_PATH, fake_agent_script

__all__ = ["FAKE_AGENT_REPOSITORY", "TESTING_LABEL", "busybox_path", "fake_agent_image"]

log = logging.getLogger("scopecraft.testing.images")

FAKE_AGENT_REPOSITORY = "scopecraft-fake-agent"
"""Repository name of the fake agent's image; the tag is a digest of its content."""

TESTING_LABEL = "scopecraft.testing"
"""Label carried by images built for tests (value ``1``); leak checks ignore them."""

# Bump when the layout below changes, so that a stale image is not reused.
_LAYOUT_VERSION = "1"
_HOME = "/home/agent"
_DOCKERFILE = f"""\
FROM scratch
COPY rootfs/ /
ENV PATH=/usr/local/bin:/usr/bin:/bin HOME={_HOME}
LABEL {TESTING_LABEL}=1
WORKDIR /
CMD ["{CONTAINER_PATH}"]
"""
_BUILD_LOCK = threading.Lock()
_BUILT: dict[tuple[str | None, str], str] = {}


def busybox_path() -> Path:
    """Return the host's statically linked busybox (Debian's ``busybox-static``).

    ``$SCOPECRAFT_BUSYBOX`` names another one.

    Raises:
        FileNotFoundError: no busybox is installed, or the one found is dynamically linked
            (it could not run in an empty image).
    """
    named = os.environ.get("SCOPECRAFT_BUSYBOX")
    candidates = [named] if named else ["/bin/busybox", "/usr/bin/busybox", shutil.which("busybox")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            path = Path(candidate).resolve()
            if not _is_static_elf(path):
                raise FileNotFoundError(
                    f"{path} is dynamically linked and cannot run in an empty image; install "
                    "Debian's static build: `apt-get install busybox-static`"
                )
            return path
    raise FileNotFoundError(
        "busybox was not found; the fake agent's image needs Debian's static build: "
        "`apt-get install busybox-static` (or set SCOPECRAFT_BUSYBOX to a static busybox)"
    )


def _is_static_elf(path: Path) -> bool:
    """True for an ELF executable without a program interpreter (``PT_INTERP``)."""
    with open(path, "rb") as fh:
        ident = fh.read(16)
        if len(ident) < 16 or ident[:4] != b"\x7fELF":
            return False
        is64 = ident[4] == 2
        order = "<" if ident[5] == 1 else ">"
        if is64:
            header = fh.read(48)
            phoff, phentsize, phnum = (
                struct.unpack_from(order + "Q", header, 16)[0],
                struct.unpack_from(order + "H", header, 38)[0],
                struct.unpack_from(order + "H", header, 40)[0],
            )
        else:
            header = fh.read(36)
            phoff, phentsize, phnum = (
                struct.unpack_from(order + "I", header, 12)[0],
                struct.unpack_from(order + "H", header, 26)[0],
                struct.unpack_from(order + "H", header, 28)[0],
            )
        for index in range(phnum):
            fh.seek(phoff + index * phentsize)
            (p_type,) = struct.unpack(order + "I", fh.read(4))
            if p_type == 3:  # PT_INTERP: needs a dynamic loader the image does not have
                return False
    return True


def _applets(busybox: Path) -> list[str]:
    result = subprocess.run(
        [str(busybox), "--list"], capture_output=True, text=True, check=True, timeout=30
    )
    names = [line.strip() for line in result.stdout.splitlines()]
    # Only plain names become links; "[" and "[[" are fine, anything with a slash is not.
    return sorted(name for name in names if name and "/" not in name and name != "busybox")


def _context(busybox: bytes, applets: list[str], script: bytes) -> bytes:
    """The build context: a Dockerfile and the image's root file system, as a tar."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:

        def add_dir(name: str, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            info.mode = mode
            tar.addfile(info)

        def add_file(name: str, data: bytes, mode: int) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = mode
            tar.addfile(info, io.BytesIO(data))

        add_file("Dockerfile", _DOCKERFILE.encode(), 0o644)
        for folder, mode in (
            ("rootfs", 0o755),
            ("rootfs/bin", 0o755),
            ("rootfs/usr", 0o755),
            ("rootfs/usr/bin", 0o755),
            ("rootfs/usr/local", 0o755),
            ("rootfs/usr/local/bin", 0o755),
            ("rootfs/etc", 0o755),
            ("rootfs/tmp", 0o1777),
            ("rootfs/home", 0o755),
            (f"rootfs{_HOME}", 0o1777),
        ):
            add_dir(folder, mode)
        add_file("rootfs/bin/busybox", busybox, 0o755)
        for applet in applets:
            link = tarfile.TarInfo(f"rootfs/bin/{applet}")
            link.type = tarfile.SYMTYPE
            link.linkname = "busybox"
            link.mode = 0o777
            tar.addfile(link)
        add_file(f"rootfs{CONTAINER_PATH}", script, 0o755)
        add_file(
            "rootfs/etc/passwd",
            b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
            0o644,
        )
        add_file("rootfs/etc/group", b"root:x:0:\nnogroup:x:65534:\n", 0o644)
    return buffer.getvalue()


def _digest(busybox: bytes, script: bytes) -> str:
    digest = hashlib.sha256()
    for part in (_LAYOUT_VERSION.encode(), _DOCKERFILE.encode(), busybox, script):
        digest.update(hashlib.sha256(part).digest())
    return digest.hexdigest()[:16]


def fake_agent_image(*, base_url: str | None = None) -> str:
    """Return the tag of a local image that runs the fake agent, building it when missing.

    The image is built once per content (its tag is a digest of the script and busybox), with
    docker-py's ``images.build`` from an in-memory context: no registry is contacted. Older
    tags of the same repository that no container uses are removed after a rebuild.

    Args:
        base_url: The Docker engine (default: ``$DOCKER_HOST`` or the local socket).

    Returns:
        The image's tag, ``scopecraft-fake-agent:<digest>``.

    Raises:
        FileNotFoundError: Debian's ``busybox-static`` is not installed.
        ExecutorUnavailable: the Docker engine does not answer.
        ExecutorError: the build failed.
    """
    busybox = busybox_path()
    busybox_bytes = busybox.read_bytes()
    script = fake_agent_script().read_bytes()
    tag = f"{FAKE_AGENT_REPOSITORY}:{_digest(busybox_bytes, script)}"
    key = (base_url, tag)
    with _BUILD_LOCK:
        if key in _BUILT:
            return _BUILT[key]
        import docker
        import docker.errors

        from ..executors._docker_config import probe_engine

        probe_engine(base_url)
        try:
            client = (
                docker.DockerClient(base_url=base_url)
                if base_url
                else docker.DockerClient.from_env()
            )
        except docker.errors.DockerException as exc:
            raise ExecutorUnavailable(
                f"cannot reach the Docker engine to build {tag}: {exc}"
            ) from exc
        try:
            _ensure(client, tag, busybox_bytes, _applets(busybox), script)
        finally:
            client.close()
        _BUILT[key] = tag
        return tag


def _ensure(client: Any, tag: str, busybox: bytes, applets: list[str], script: bytes) -> None:
    import docker.errors
    import requests.exceptions

    try:
        client.images.get(tag)
        return
    except docker.errors.ImageNotFound:
        pass
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ExecutorUnavailable(
            f"cannot reach the Docker engine to look up {tag}: {exc}"
        ) from exc
    log.info("building %s", tag)
    context = io.BytesIO(_context(busybox, applets, script))
    try:
        client.images.build(
            fileobj=context,
            custom_context=True,
            tag=tag,
            rm=True,
            forcerm=True,
            pull=False,
            labels={TESTING_LABEL: "1"},
        )
    except docker.errors.BuildError as exc:
        output = "".join(str(item.get("stream", item)) for item in exc.build_log)[-2000:]
        raise ExecutorError(f"building {tag} failed: {exc}\n{output}") from exc
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ExecutorError(f"building {tag} failed: {exc}") from exc
    _prune_old(client, tag)


def _prune_old(client: Any, keep: str) -> None:
    """Remove earlier builds of the fake agent's image (best effort: in use ones stay)."""
    import docker.errors
    import requests.exceptions

    try:
        images = client.images.list(
            name=FAKE_AGENT_REPOSITORY, filters={"label": f"{TESTING_LABEL}=1"}
        )
    except (docker.errors.DockerException, requests.exceptions.RequestException):
        return
    for image in images:
        for old in image.tags:
            if old != keep and old.startswith(f"{FAKE_AGENT_REPOSITORY}:"):
                try:
                    client.images.remove(old, noprune=False)
                except (docker.errors.DockerException, requests.exceptions.RequestException):
                    log.debug("keeping %s (in use)", old)
