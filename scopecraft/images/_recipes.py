"""What goes into each agent's image: where its CLI is installed, which file is the native
program, and what its ``--version`` says.

npm installs both CLIs as a small launcher in ``node_modules/.bin`` and the real program in a
per-platform package: Claude Code's ``bin/claude.exe`` (a glibc executable, copied there from
``@anthropic-ai/claude-code-linux-<arch>``), Codex's
``@openai/codex-linux-<arch>/vendor/<target>/bin/codex`` (a static musl executable, started by
the Node.js script ``bin/codex.js``). The image holds the native program only, not Node.js.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import platform
import re
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

from .._errors import ConfigError

__all__ = [
    "AGENTS",
    "QUIET_ENV",
    "AgentRecipe",
    "agent_version",
    "is_elf",
    "locate_executable",
    "native_binary",
    "recipe_for",
]

QUIET_ENV = {
    "DISABLE_TELEMETRY": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
}
"""Switches that keep a CLI from phoning home (telemetry, update checks, error reports)."""

_ARCH = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}
_MUSL_TARGET = {"x64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}
_VERSION = re.compile(r"\b(\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?)\b")


@dataclasses.dataclass(frozen=True, slots=True)
class AgentRecipe:
    """How to find and package one agent CLI."""

    name: str
    """The agent's name, as ``create_session(agent=...)`` takes it."""
    command: str
    """The CLI's command name, and its name in the image's ``/usr/local/bin``."""
    package: str
    """The npm package that installs it."""
    banner: str
    """Words ``--version`` prints, so that another program is not packaged by mistake."""
    find_native: Callable[[Path], list[Path]]
    """Where the native program may be, given the launcher's resolved path."""
    helpers: Callable[[Path], dict[str, Path]]
    """Extra static programs shipped with the CLI: name in ``/usr/local/bin`` to host path."""
    command_shell: str | None = None
    """A shell of this host the CLI's command tool needs at the same path (Claude Code runs
    commands only in bash or zsh, not in busybox's ``sh``), with its libraries."""

    @property
    def repository(self) -> str:
        """The repository name of the image's tag."""
        return f"scopecraft-{self.name}"

    @property
    def install_hint(self) -> str:
        """What to run to install the CLI."""
        return (
            f"install it with `npm install -g {self.package}` (in a scopecraft checkout, "
            "`.ci/install-agents` installs the pinned version), or name it: `executable=` "
            "(`--executable`)"
        )


def _arch() -> str:
    return _ARCH.get(platform.machine().lower(), platform.machine().lower())


def _package_root(path: Path, scope: str, name: str) -> Path | None:
    """The folder of npm package ``scope/name`` that holds ``path``, if any."""
    for parent in path.parents:
        if parent.name == name and parent.parent.name == scope:
            return parent
    return None


def _claude_native(launcher: Path) -> list[Path]:
    root = _package_root(launcher, "@anthropic-ai", "claude-code")
    if root is None:
        return []
    arch = _arch()
    platform_packages = [f"claude-code-linux-{arch}", f"claude-code-linux-{arch}-musl"]
    return [
        root / "bin" / "claude.exe",
        *(root.parent / package / "claude" for package in platform_packages),
        *(root / "node_modules" / "@anthropic-ai" / p / "claude" for p in platform_packages),
    ]


def _codex_native(launcher: Path) -> list[Path]:
    root = _package_root(launcher, "@openai", "codex")
    arch = _arch()
    target = _MUSL_TARGET.get(arch)
    if root is None or target is None:
        return []
    vendor = Path("vendor", target, "bin", "codex")
    package = f"codex-linux-{arch}"
    return [
        root.parent / package / vendor,
        root / "node_modules" / "@openai" / package / vendor,
        root / vendor,
    ]


def _no_helpers(native: Path) -> dict[str, Path]:
    return {}


def _codex_helpers(native: Path) -> dict[str, Path]:
    # Codex looks for its code-mode host beside itself (and reports an error item on every
    # run without it); its npm package also ships ripgrep for the agent's searches.
    found = {
        "codex-code-mode-host": native.parent / "codex-code-mode-host",
        "rg": native.parent.parent / "codex-path" / "rg",
    }
    return {name: path for name, path in found.items() if path.is_file() and is_elf(path)}


AGENTS: dict[str, AgentRecipe] = {
    recipe.name: recipe
    for recipe in (
        AgentRecipe(
            name="claude-code",
            command="claude",
            package="@anthropic-ai/claude-code",
            banner="claude code",
            find_native=_claude_native,
            helpers=_no_helpers,
            command_shell="/bin/bash",
        ),
        AgentRecipe(
            name="codex",
            command="codex",
            package="@openai/codex",
            banner="codex",
            find_native=_codex_native,
            helpers=_codex_helpers,
        ),
    )
}
"""The agents an image can be built for, by name."""


def recipe_for(agent: str) -> AgentRecipe:
    """The recipe of ``agent``.

    Raises:
        ConfigError: no image can be built for that agent.
    """
    try:
        return AGENTS[agent]
    except KeyError:
        known = ", ".join(AGENTS)
        raise ConfigError(f"no agent image for {agent!r}; images exist for: {known}") from None


def _agent_cache() -> Path:
    default = Path.home() / ".cache" / "scopecraft-agents"
    return Path(os.environ.get("SCOPECRAFT_AGENT_CACHE") or default)


def locate_executable(recipe: AgentRecipe, executable: str | os.PathLike[str] | None) -> Path:
    """The CLI to package: ``executable`` (a path, or a name on ``PATH``), else the CLI in
    ``$SCOPECRAFT_AGENT_BIN``, on ``PATH``, or in ``.ci/install-agents``' cache folder.

    Raises:
        ConfigError: it is not there (with a hint to install it).
    """
    if executable is not None:
        text = os.fspath(executable)
        if not text:
            raise ConfigError(f"{recipe.name}: the executable is empty")
        if os.sep not in text:
            found = shutil.which(text)
            if found is None:
                raise ConfigError(f"{recipe.name}: {text!r} is not on PATH; {recipe.install_hint}")
            return Path(found)
        path = Path(text).expanduser()
        if not path.exists():
            raise ConfigError(f"{recipe.name}: {path} does not exist; {recipe.install_hint}")
        return path
    folder = os.environ.get("SCOPECRAFT_AGENT_BIN")
    candidates = [Path(folder, recipe.command)] if folder else []
    on_path = shutil.which(recipe.command)
    if on_path:
        candidates.append(Path(on_path))
    candidates.append(_agent_cache() / "node_modules" / ".bin" / recipe.command)
    for candidate in candidates:
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise ConfigError(
        f"{recipe.name}: the {recipe.command} CLI was not found in $SCOPECRAFT_AGENT_BIN, on "
        f"PATH or in {_agent_cache()}; {recipe.install_hint}"
    )


def is_elf(path: Path) -> bool:
    """True for a file that starts like an ELF executable."""
    try:
        with open(path, "rb") as fh:
            return fh.read(4) == b"\x7fELF"
    except OSError:
        return False


def native_binary(recipe: AgentRecipe, executable: Path) -> Path:
    """The native program behind ``executable`` (itself, or the one its npm launcher runs).

    Raises:
        ConfigError: neither it nor a native program beside it is an executable ELF file.
    """
    real = executable.resolve()
    if not real.is_file():
        raise ConfigError(f"{recipe.name}: {executable} is not a file; {recipe.install_hint}")
    candidates = [real] if is_elf(real) else recipe.find_native(real)
    for candidate in candidates:
        if candidate.is_file() and is_elf(candidate):
            if not os.access(candidate, os.X_OK):
                raise ConfigError(f"{recipe.name}: {candidate} is not executable")
            return candidate.resolve()
    raise ConfigError(
        f"{recipe.name}: {executable} is not a native program and no native {recipe.command} "
        f"was found beside it (an image holds no Node.js); {recipe.install_hint}"
    )


@functools.cache
def _unshare() -> str | None:
    """``unshare`` when it can make a network namespace here (root or CAP_SYS_ADMIN)."""
    found = shutil.which("unshare")
    if found is None:
        return None
    try:
        probe = subprocess.run(
            [found, "-n", "--", "true"], capture_output=True, timeout=30, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return found if probe.returncode == 0 else None


def agent_version(recipe: AgentRecipe, native: Path, *, timeout: float = 60.0) -> str:
    """Run ``native --version`` and return the version it prints (``2.1.332``).

    The CLI runs with its telemetry and update switches off, a throwaway ``HOME`` and, where
    ``unshare -n`` works, in a network namespace holding only a loopback that is down: the
    version check never reaches the network.

    Raises:
        ConfigError: the program does not run, or does not say it is this agent.
    """
    with tempfile.TemporaryDirectory(prefix="scopecraft-version-") as home:
        env = {"PATH": "/usr/bin:/bin", "HOME": home, "LANG": "C.UTF-8", **QUIET_ENV}
        argv = [str(native), "--version"]
        unshare = _unshare()
        if unshare is not None:
            argv = [unshare, "-n", "--", *argv]
        try:
            done = subprocess.run(
                argv,
                capture_output=True,
                text=True,
                errors="replace",
                timeout=timeout,
                env=env,
                cwd=home,
                stdin=subprocess.DEVNULL,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise ConfigError(
                f"{recipe.name}: `{native} --version` did not run: {exc}; {recipe.install_hint}"
            ) from exc
    first = (done.stdout.strip().splitlines() or [""])[0]
    if done.returncode != 0:
        said = (done.stderr or done.stdout).strip()[-500:]
        raise ConfigError(
            f"{recipe.name}: `{native} --version` failed (exit {done.returncode}): {said}; "
            f"{recipe.install_hint}"
        )
    found = _VERSION.search(first)
    if found is None or recipe.banner not in first.lower():
        raise ConfigError(
            f"{recipe.name}: {native} does not look like the {recipe.command} CLI "
            f"(`--version` printed {first[:200]!r}); {recipe.install_hint}"
        )
    return found.group(1)
