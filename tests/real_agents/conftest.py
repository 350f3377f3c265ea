"""Fixtures for the tests that run the real agent CLIs against scripted model servers.

The CLIs come from ``.ci/install-agents`` (pinned versions, in a cache folder) and are found in
``$SCOPECRAFT_AGENT_BIN``, else in ``${SCOPECRAFT_AGENT_CACHE:-~/.cache/scopecraft-agents}/
node_modules/.bin``, else on ``PATH``. Every run happens in a network namespace that holds only
loopback (`scopecraft.testing.run_offline()`). A missing CLI or namespace skips a test
locally and fails it when ``CI=true`` or ``SCOPECRAFT_REQUIRE_REAL_AGENTS=1``, as Docker and
tmux do.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from tmux_support import kill_server, socket_dir

from scopecraft.testing import offline_problem


def real_agents_required() -> bool:
    """True when a missing CLI or namespace must fail the tests instead of skipping them."""
    return (
        os.environ.get("CI", "").lower() == "true"
        or os.environ.get("SCOPECRAFT_REQUIRE_REAL_AGENTS") == "1"
    )


def _skip_or_fail(reason: str) -> None:
    if real_agents_required():
        pytest.fail(
            f"{reason} (required: CI=true or SCOPECRAFT_REQUIRE_REAL_AGENTS=1; "
            "run .ci/install-agents)"
        )
    pytest.skip(reason)


def agent_cache() -> Path:
    """The folder ``.ci/install-agents`` installs into."""
    default = Path.home() / ".cache" / "scopecraft-agents"
    return Path(os.environ.get("SCOPECRAFT_AGENT_CACHE") or default)


def find_agent(name: str) -> str | None:
    """The CLI ``name`` (``claude``, ``codex``): the bin folder, the cache, then ``PATH``."""
    folders = [os.environ.get("SCOPECRAFT_AGENT_BIN"), str(agent_cache() / "node_modules/.bin")]
    for folder in folders:
        if folder and os.access(Path(folder, name), os.X_OK):
            return str(Path(folder, name))
    return shutil.which(name)


def installed_version(package: str) -> str | None:
    """The version of an npm package in the cache, read from its manifest (no CLI run)."""
    manifest = agent_cache() / "node_modules" / package / "package.json"
    try:
        return str(json.loads(manifest.read_text())["version"])
    except (OSError, ValueError, KeyError):
        return None


def require_agent(name: str) -> str:
    """The CLI's path, once the namespace is known to work; skip (fail in CI) otherwise."""
    problem = offline_problem()
    if problem is not None:
        _skip_or_fail(f"no loopback-only network namespace: {problem}")
    found = find_agent(name)
    if found is None:
        _skip_or_fail(f"the {name} CLI is not installed")
    assert found is not None
    return found


@pytest.fixture
def claude_bin() -> str:
    """Claude Code's binary."""
    return require_agent("claude")


@pytest.fixture
def codex_bin() -> str:
    """Codex's binary."""
    return require_agent("codex")


@pytest.fixture
def offline() -> None:
    """Skip (fail in CI) when a loopback-only network namespace cannot be made here."""
    problem = offline_problem()
    if problem is not None:
        _skip_or_fail(f"no loopback-only network namespace: {problem}")


@pytest.fixture
def outside_dir() -> Iterator[Path]:
    """A folder outside every folder Codex's workspace-write sandbox lets it write (the
    workspace, ``/tmp`` and ``$TMPDIR``): under ``/var/tmp``."""
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="sc-outside-", dir="/var/tmp"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def pinned_versions() -> dict[str, str]:
    """The versions ``.ci/install-agents`` pins, by npm package."""
    script = (Path(__file__).parents[2] / ".ci" / "install-agents").read_text()
    pins = {}
    for line in script.splitlines():
        for variable, package in (
            ("CLAUDE_CODE_VERSION=", "@anthropic-ai/claude-code"),
            ("CODEX_VERSION=", "@openai/codex"),
            ("GEMINI_CLI_VERSION=", "@google/gemini-cli"),
            ("OPENCODE_VERSION=", "opencode-ai"),
        ):
            if line.startswith(variable):
                pins[package] = line.removeprefix(variable).strip().strip('"')
    return pins


@pytest.fixture
def installed_versions() -> dict[str, str | None]:
    """The versions in the cache folder, by npm package (``None``: not there)."""
    packages = ("@anthropic-ai/claude-code", "@openai/codex", "@google/gemini-cli", "opencode-ai")
    return {p: installed_version(p) for p in packages}


def real_tmux_socket(tmp_path: Path) -> str:
    """The tmux socket name of the real-agent test that owns ``tmp_path`` (killed after it)."""
    return f"sc-real-{tmp_path.name[-12:]}"


@pytest.fixture(autouse=True)
def _no_tmux_server_left(request: pytest.FixtureRequest) -> Iterator[None]:
    """After a test, kill the private tmux server its engine used, if any, and delete the
    socket file tmux leaves behind (a cancelled session's server may outlive the engine)."""
    if "tmp_path" not in request.fixturenames:
        yield
        return
    socket = real_tmux_socket(request.getfixturevalue("tmp_path"))
    yield
    if (socket_dir() / socket).exists():
        kill_server(socket)
