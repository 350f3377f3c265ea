"""The root file system of an image ``FROM scratch``, assembled from host files, hashed, and
written as a Docker build context.

`RootFs` records entries (folders, files, symbolic links) by their path in the image.
`RootFs.mirror()` copies a host file to the same path and recreates every symbolic link met
on the way (``/lib -> usr/lib``, ``libfoo.so.1 -> libfoo.so.1.2``), so the names the program
loader asks for exist in the image exactly as on the host. `shared_libraries()` reads the
libraries and the program interpreter of a dynamically linked executable from ``ldd``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import posixpath
import stat
import subprocess
import tarfile
from collections.abc import Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Literal

__all__ = [
    "Entry",
    "LddError",
    "RootFs",
    "RootFsConflict",
    "add_applets",
    "parse_ldd",
    "shared_libraries",
]

_CHUNK = 1 << 20
_MAX_LINKS = 40
"""Symbolic links followed while mirroring one path (the kernel's own limit)."""

_FILE_HASHES: dict[tuple[str, int, int, int, int], str] = {}
"""sha256 of host files by (path, device, inode, size, mtime): a rebuild hashes each once."""


class RootFsConflict(ValueError):
    """Two entries want the same path in the image with different content or kind."""


class LddError(RuntimeError):
    """``ldd`` failed, or named a library it could not find."""


@dataclasses.dataclass(frozen=True, slots=True)
class Entry:
    """One path of the image's root file system."""

    kind: Literal["dir", "file", "symlink"]
    mode: int
    source: Path | None = None
    """The host file whose content a ``file`` entry copies (or ``data``)."""
    data: bytes | None = None
    """The content of a ``file`` entry written from memory."""
    target: str | None = None
    """Where a ``symlink`` entry points, as written on the host."""


def _image_path(path: str | PurePosixPath) -> PurePosixPath:
    pure = PurePosixPath(posixpath.normpath(str(path)))
    if not pure.is_absolute() or ".." in pure.parts:
        raise ValueError(f"{path!s}: paths in the image are absolute and have no '..'")
    return pure


class RootFs:
    """A root file system being assembled; paths are absolute paths in the image."""

    def __init__(self) -> None:
        self._entries: dict[PurePosixPath, Entry] = {PurePosixPath("/"): Entry("dir", 0o755)}

    @property
    def entries(self) -> Mapping[PurePosixPath, Entry]:
        """Every entry by its path in the image."""
        return dict(self._entries)

    def _put(self, path: PurePosixPath, entry: Entry) -> None:
        self._parents(path)
        old = self._entries.get(path)
        if old is not None and old.kind == entry.kind == "dir":
            return  # the first mode given to a folder stays
        if old is not None and old != entry:
            raise RootFsConflict(f"{path} in the image would be both {old.kind} and {entry.kind}")
        self._entries[path] = entry

    def _parents(self, path: PurePosixPath) -> None:
        for parent in reversed(path.parents):
            entry = self._entries.get(parent)
            if entry is None:
                self._entries[parent] = Entry("dir", 0o755)
            elif entry.kind != "dir":
                raise RootFsConflict(f"{parent} in the image is a {entry.kind}, not a folder")

    def dir(self, path: str, mode: int = 0o755) -> None:
        """Add a folder (and its parents)."""
        self._put(_image_path(path), Entry("dir", mode))

    def file(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """Add a file with the given content."""
        self._put(_image_path(path), Entry("file", mode, data=data))

    def copy(self, path: str, source: Path, mode: int = 0o755) -> None:
        """Add a file whose content is the host file ``source`` (read when written)."""
        self._put(_image_path(path), Entry("file", mode, source=source))

    def symlink(self, path: str, target: str) -> None:
        """Add a symbolic link pointing at ``target``."""
        self._put(_image_path(path), Entry("symlink", 0o777, target=target))

    def mirror(self, host_path: str) -> None:
        """Copy the host file ``host_path`` to the same path, with the links that lead to it.

        Each component of the path that is a symbolic link on the host becomes the same link in
        the image, and the path it names is mirrored in turn; the file at the end is copied
        with its permission bits.

        Raises:
            RootFsConflict: the path clashes with an entry already there.
            OSError: the file cannot be read, is not a regular file, or the links loop.
        """
        path = _image_path(host_path)
        for _ in range(_MAX_LINKS):
            current = PurePosixPath("/")
            followed: PurePosixPath | None = None
            for index, part in enumerate(path.parts[1:], start=1):
                current = current / part
                info = os.lstat(current)
                if stat.S_ISLNK(info.st_mode):
                    target = os.readlink(current)
                    self.symlink(str(current), target)
                    # The folders above `current` are real (not links), so resolving the
                    # target lexically is what the kernel does too.
                    rest = path.parts[index + 1 :]
                    followed = _image_path(posixpath.join(str(current.parent), target, *rest))
                    break
                if index < len(path.parts) - 1:
                    if not stat.S_ISDIR(info.st_mode):
                        raise NotADirectoryError(f"{current} is not a folder")
                    self.dir(str(current), stat.S_IMODE(info.st_mode))
                elif stat.S_ISREG(info.st_mode):
                    self.copy(str(current), Path(current), stat.S_IMODE(info.st_mode))
                else:
                    raise OSError(f"{current} is not a regular file")
            if followed is None:
                return
            path = followed
        raise OSError(f"too many symbolic links on the way to {host_path}")

    def digest(self, *extra: bytes) -> str:
        """A digest of every entry (path, kind, mode, link target, content) and of ``extra``."""
        digest = hashlib.sha256()
        for part in extra:
            digest.update(hashlib.sha256(part).digest())
        for path, entry in sorted(self._entries.items()):
            content = ""
            if entry.kind == "file":
                content = (
                    hashlib.sha256(entry.data).hexdigest()
                    if entry.data is not None
                    else _file_hash(_source(entry))
                )
            line = f"{path}\0{entry.kind}\0{entry.mode:o}\0{entry.target or ''}\0{content}\n"
            digest.update(line.encode("utf-8", "surrogateescape"))
        return digest.hexdigest()

    def write_context(self, fileobj: IO[bytes], dockerfile: str) -> None:
        """Write a build context: ``Dockerfile`` and this file system under ``rootfs/``."""
        with tarfile.open(fileobj=fileobj, mode="w", format=tarfile.PAX_FORMAT) as tar:
            _add(tar, "Dockerfile", Entry("file", 0o644, data=dockerfile.encode()))
            for path, entry in sorted(self._entries.items()):
                _add(tar, "rootfs" + ("" if str(path) == "/" else str(path)), entry)

    def size(self) -> int:
        """Bytes of file content in the file system."""
        total = 0
        for entry in self._entries.values():
            if entry.kind == "file":
                total += (
                    len(entry.data) if entry.data is not None else _source(entry).stat().st_size
                )
        return total


def _source(entry: Entry) -> Path:
    if entry.source is None:  # pragma: no cover - every file entry has data or a source
        raise ValueError("a file entry without content")
    return entry.source


def _file_hash(path: Path) -> str:
    info = path.stat()
    key = (str(path), info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)
    cached = _FILE_HASHES.get(key)
    if cached is not None:
        return cached
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(_CHUNK):
            digest.update(chunk)
    _FILE_HASHES[key] = digest.hexdigest()
    return _FILE_HASHES[key]


def _add(tar: tarfile.TarFile, name: str, entry: Entry) -> None:
    info = tarfile.TarInfo(name)
    info.mode = entry.mode
    if entry.kind == "dir":
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    elif entry.kind == "symlink":
        info.type = tarfile.SYMTYPE
        info.linkname = entry.target or ""
        tar.addfile(info)
    elif entry.data is not None:
        info.size = len(entry.data)
        tar.addfile(info, io.BytesIO(entry.data))
    else:
        source = _source(entry)
        with open(source, "rb") as fh:
            info.size = os.fstat(fh.fileno()).st_size
            tar.addfile(info, fh)


def parse_ldd(output: str) -> tuple[list[str], list[str]]:
    """Read ``ldd``'s report: the absolute paths it resolved, and the names it did not find.

    A line ``libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)`` gives the path after
    ``=>``; a line that starts with an absolute path is the program interpreter; the kernel's
    ``linux-vdso.so.1`` has no file and is skipped.

    Returns:
        The paths (in order, without repeats) and the libraries that were ``not found``.
    """
    paths: list[str] = []
    missing: list[str] = []
    for raw in output.splitlines():
        line = raw.strip()
        if "=>" in line:
            name, _, rest = line.partition("=>")
            rest = rest.strip()
            if rest.startswith("not found"):
                missing.append(name.strip())
                continue
            line = rest
        path = line.split(" (", 1)[0].strip()
        if path.startswith("/") and path not in paths:
            paths.append(path)
    return paths, missing


def shared_libraries(executable: Path, *, timeout: float = 60.0) -> list[str]:
    """The shared libraries and program interpreter of a dynamically linked executable.

    Only ever called on the agent CLI the user installed: ``ldd`` may run the program's own
    loader, so it must not see files an agent could have written.

    Raises:
        LddError: ``ldd`` is missing or failed, or a library was not found on this host.
    """
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["ldd", str(executable)],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise LddError("ldd is not installed (it comes with the C library: libc-bin)") from exc
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LddError(f"ldd {executable} did not run: {exc}") from exc
    if done.returncode != 0:
        raise LddError(f"ldd {executable} failed: {(done.stderr or done.stdout).strip()}")
    paths, missing = parse_ldd(done.stdout)
    if missing:
        raise LddError(f"{executable} needs libraries this host lacks: {', '.join(missing)}")
    return paths


def add_applets(rootfs: RootFs, busybox: Path, applets: Iterable[str]) -> None:
    """Install ``busybox`` as ``/bin/busybox`` with a link in ``/bin`` per applet."""
    rootfs.dir("/bin")
    rootfs.copy("/bin/busybox", busybox, 0o755)
    for applet in applets:
        rootfs.symlink(f"/bin/{applet}", "busybox")
