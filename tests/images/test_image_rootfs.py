"""How an agent image's root file system is put together, without Docker: ``ldd``'s report,
mirrored library links, the digest, the build context, and finding the native program behind
npm's launchers."""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path, PurePosixPath

import pytest
from real_agents.conftest import find_agent

import scopecraft.images
from scopecraft.images._build import agent_rootfs
from scopecraft.images._recipes import AGENTS, native_binary
from scopecraft.images._rootfs import RootFs, RootFsConflict, parse_ldd
from scopecraft.testing._images import _is_static_elf, busybox_path

LDD = """\
\tlinux-vdso.so.1 (0x00007ffd5a1f2000)
\tlibrt.so.1 => /lib/x86_64-linux-gnu/librt.so.1 (0x00007f93db043000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f93dae61000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007f93db05b000)
\tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f93dad77000)
\tlibgone.so.3 => not found
"""


def static_elf() -> Path:
    """A static ELF program of this host (busybox), or skip."""
    try:
        return busybox_path()
    except FileNotFoundError as exc:
        pytest.skip(str(exc))


def test_public_names() -> None:
    """``scopecraft.images.__all__`` lists exactly its public names."""
    public = {n for n in dir(scopecraft.images) if not n.startswith("_")} - {"annotations"}
    assert public == set(scopecraft.images.__all__)
    assert set(scopecraft.images.AGENTS) == {"claude-code", "codex"}


def test_ldd_report_gives_paths_interpreter_and_missing_names() -> None:
    """Resolved libraries and the interpreter come back in order; the vDSO has no file and is
    skipped; a library that was not found is named."""
    paths, missing = parse_ldd(LDD)
    assert paths == [
        "/lib/x86_64-linux-gnu/librt.so.1",
        "/lib/x86_64-linux-gnu/libc.so.6",
        "/lib64/ld-linux-x86-64.so.2",
        "/lib/x86_64-linux-gnu/libm.so.6",
    ]
    assert missing == ["libgone.so.3"]


def test_mirror_keeps_every_link_on_the_way(tmp_path: Path) -> None:
    """A folder link, a relative soname link and an absolute link are recreated as links, and
    only the file they lead to is copied."""
    root = tmp_path / "host"
    (root / "usr" / "lib").mkdir(parents=True)
    (root / "usr" / "lib" / "libx.so.1.2").write_bytes(b"\x7fELF library")
    (root / "usr" / "lib" / "libx.so.1").symlink_to("libx.so.1.2")
    (root / "lib").symlink_to("usr/lib")
    (root / "ld.so").symlink_to(root / "lib" / "libx.so.1")

    rootfs = RootFs()
    rootfs.mirror(str(root / "ld.so"))
    entries = rootfs.entries
    at = {str(path): entry for path, entry in entries.items()}
    assert at[f"{root}/ld.so"].target == f"{root}/lib/libx.so.1"
    assert at[f"{root}/lib"].target == "usr/lib"
    assert at[f"{root}/usr/lib/libx.so.1"].target == "libx.so.1.2"
    copied = at[f"{root}/usr/lib/libx.so.1.2"]
    assert copied.kind == "file"
    assert copied.source == root / "usr" / "lib" / "libx.so.1.2"
    assert [e.kind for e in entries.values()].count("file") == 1


def test_clashing_entries_are_refused() -> None:
    """A path cannot be a file and a folder, nor hold entries under a link."""
    rootfs = RootFs()
    rootfs.file("/etc/passwd", b"root:x:0:0::/:/bin/sh\n")
    with pytest.raises(RootFsConflict):
        rootfs.dir("/etc/passwd")
    rootfs.symlink("/lib", "usr/lib")
    with pytest.raises(RootFsConflict):
        rootfs.file("/lib/libc.so.6", b"")


def test_digest_follows_content_modes_and_extras() -> None:
    """Same entries, same digest; a changed byte, mode or extra part gives another."""

    def digest(data: bytes, mode: int, extra: bytes = b"") -> str:
        rootfs = RootFs()
        rootfs.file("/usr/local/bin/agent", data, mode)
        return rootfs.digest(extra)

    base = digest(b"one", 0o755)
    assert digest(b"one", 0o755) == base
    assert digest(b"two", 0o755) != base
    assert digest(b"one", 0o700) != base
    assert digest(b"one", 0o755, b"label") != base


def test_context_holds_the_layout(tmp_path: Path) -> None:
    """The build context has the Dockerfile, busybox and its applet links, the CLI, the users
    (``agent`` is uid 1000), ``/tmp`` and ``HOME`` world-writable with the sticky bit."""
    native = tmp_path / "codex"
    shutil.copy(static_elf(), native)
    rootfs = agent_rootfs(AGENTS["codex"], native)
    buffer = io.BytesIO()
    rootfs.write_context(buffer, "FROM scratch\n")
    buffer.seek(0)
    with tarfile.open(fileobj=buffer) as tar:
        members = {m.name: m for m in tar.getmembers()}
        passwd = tar.extractfile(members["rootfs/etc/passwd"])
        assert passwd is not None
        users = passwd.read().decode()
    assert "Dockerfile" in members
    assert members["rootfs/bin/sh"].issym()
    assert members["rootfs/bin/sh"].linkname == "busybox"
    assert members["rootfs/bin/busybox"].isfile()
    assert members["rootfs/usr/local/bin/codex"].mode == 0o755
    assert members["rootfs/tmp"].mode == 0o1777
    assert members["rootfs/home/agent"].mode == 0o1777
    assert "agent:x:1000:1000:agent:/home/agent:/bin/sh" in users.splitlines()
    assert {"root", "nobody", "agent"} <= {line.split(":")[0] for line in users.splitlines()}
    # A static program brings no libraries.
    assert not any(name.startswith(("rootfs/lib", "rootfs/usr/lib")) for name in members)


def test_npm_launchers_lead_to_the_native_programs(tmp_path: Path) -> None:
    """Codex's ``codex.js`` and a Claude Code launcher script resolve to the ELF programs of
    their per-platform packages (laid out as npm installs them)."""
    elf = static_elf()
    modules = tmp_path / "node_modules"
    launcher = modules / "@openai" / "codex" / "bin" / "codex.js"
    launcher.parent.mkdir(parents=True)
    launcher.write_text("#!/usr/bin/env node\n")
    machine = os.uname().machine
    arch = {"x86_64": "x64", "aarch64": "arm64"}.get(machine, machine)
    target = {"x64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}
    if arch not in target:
        pytest.skip(f"no npm packages for {machine}")
    vendor = modules / "@openai" / f"codex-linux-{arch}" / "vendor" / target[arch] / "bin"
    vendor.mkdir(parents=True)
    shutil.copy(elf, vendor / "codex")
    bin_folder = modules / ".bin"
    bin_folder.mkdir()
    (bin_folder / "codex").symlink_to("../@openai/codex/bin/codex.js")
    assert native_binary(AGENTS["codex"], bin_folder / "codex") == (vendor / "codex").resolve()

    claude = modules / "@anthropic-ai" / "claude-code" / "bin" / "claude.exe"
    claude.parent.mkdir(parents=True)
    claude.write_text("#!/usr/bin/env node\n")  # the launcher before postinstall replaced it
    platform_program = modules / "@anthropic-ai" / f"claude-code-linux-{arch}" / "claude"
    platform_program.parent.mkdir(parents=True)
    shutil.copy(elf, platform_program)
    assert native_binary(AGENTS["claude-code"], claude) == platform_program.resolve()


def test_installed_clis_resolve_to_their_native_programs() -> None:
    """The CLIs ``.ci/install-agents`` installed: Codex's launcher leads to a static program,
    Claude Code's is a dynamically linked one itself."""
    codex, claude = find_agent("codex"), find_agent("claude")
    if codex is None or claude is None:
        pytest.skip("the real CLIs are not installed (.ci/install-agents)")
    native_codex = native_binary(AGENTS["codex"], Path(codex))
    assert PurePosixPath(native_codex).name == "codex"
    assert _is_static_elf(native_codex)
    native_claude = native_binary(AGENTS["claude-code"], Path(claude))
    assert not _is_static_elf(native_claude)
