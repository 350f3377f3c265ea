"""``build_agent_image`` and ``scopecraft image build`` on the real Docker engine, with the real
Claude Code and Codex installed by ``.ci/install-agents``.

Each image is built (or found: it is tagged by its content) once per module, then run with no
network at all, as uid 1000, with every capability dropped and no new privileges. The images
carry ``scopecraft.testing=1`` and stay between runs; the containers are removed.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_support import RUN_LABELS, docker_client, leftovers, remove_leftovers, require_docker
from real_agents.conftest import require_agent
from typer.testing import CliRunner

from scopecraft._errors import ConfigError, ExecutorUnavailable
from scopecraft.cli._app import app
from scopecraft.images import AGENT_LABEL, VERSION_LABEL, build_agent_image
from scopecraft.images._build import AgentImage, ensure_agent_image
from scopecraft.testing._images import TESTING_LABEL

TEST_LABELS = {TESTING_LABEL: "1"}
COMMANDS = {"claude-code": "claude", "codex": "codex"}
PACKAGES = {"claude-code": "@anthropic-ai/claude-code", "codex": "@openai/codex"}
PINS = {"claude-code": "CLAUDE_CODE_VERSION=", "codex": "CODEX_VERSION="}

pytestmark = pytest.mark.timeout(900)


def pinned_version(agent: str) -> str:
    """The version ``.ci/install-agents`` pins for ``agent``."""
    script = (Path(__file__).parents[2] / ".ci" / "install-agents").read_text()
    for line in script.splitlines():
        if line.startswith(PINS[agent]):
            return line.removeprefix(PINS[agent]).strip().strip('"')
    raise AssertionError(f"no pin for {agent} in .ci/install-agents")


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    """A docker-py client; after the module no container of this run is left."""
    require_docker()
    with docker_client() as docker:
        yield docker
        left = leftovers(docker)
        remove_leftovers(docker)
        assert not left, f"Docker resources left behind: {left}"


@pytest.fixture(scope="module", params=["claude-code", "codex"])
def built(request: pytest.FixtureRequest, client: Any) -> tuple[AgentImage, AgentImage, str]:
    """Each agent's image built twice in a row, and the CLI it was built from."""
    agent = str(request.param)
    executable = require_agent(COMMANDS[agent])
    first = ensure_agent_image(agent, executable=executable, labels=TEST_LABELS)
    second = ensure_agent_image(agent, executable=executable, labels=TEST_LABELS)
    return first, second, executable


def run(client: Any, image: str, *command: str) -> tuple[int, str]:
    """Run ``command`` in a hardened container without network; its exit code and output."""
    container = client.containers.create(
        image,
        list(command),
        network_mode="none",
        user="1000:1000",
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        labels=RUN_LABELS,
        environment={"DISABLE_TELEMETRY": "1", "DISABLE_AUTOUPDATER": "1"},
    )
    try:
        container.start()
        status = container.wait(timeout=120)
        output = container.logs(stdout=True, stderr=True).decode(errors="replace")
        return int(status["StatusCode"]), output
    finally:
        container.remove(force=True)


@pytest.mark.docker
@pytest.mark.real_agent
def test_second_build_is_a_no_op(built: tuple[AgentImage, AgentImage, str]) -> None:
    """Building the same CLI again builds nothing and returns the same content-digest tag."""
    first, second, _ = built
    assert second.tag == first.tag
    assert second.built is False
    assert first.tag.startswith(f"scopecraft-{first.agent}:")
    assert first.size_bytes > 10_000_000  # the CLI itself is in there


@pytest.mark.docker
@pytest.mark.real_agent
def test_the_pinned_cli_runs_offline_as_an_unprivileged_user(
    built: tuple[AgentImage, AgentImage, str], client: Any
) -> None:
    """``claude --version`` / ``codex --version`` work in a container with no network, as uid
    1000 without capabilities, and print the version ``.ci/install-agents`` pins."""
    image, _, _ = built
    code, output = run(client, image.tag, COMMANDS[image.agent], "--version")
    assert code == 0, output
    assert pinned_version(image.agent) in output
    assert image.version == pinned_version(image.agent)


@pytest.mark.docker
@pytest.mark.real_agent
def test_the_image_has_a_shell_a_user_and_writable_folders(
    built: tuple[AgentImage, AgentImage, str], client: Any
) -> None:
    """``/bin/sh -c 'echo ok'`` works; uid 1000 is ``agent`` and can write ``HOME`` and
    ``/tmp``; the CLI is at ``/usr/local/bin``."""
    image, _, _ = built
    assert run(client, image.tag, "/bin/sh", "-c", "echo ok") == (0, "ok\n")
    script = (
        'id -un; echo "$HOME"; touch "$HOME/x" /tmp/y && echo wrote; '
        f"command -v {COMMANDS[image.agent]}"
    )
    code, output = run(client, image.tag, "/bin/sh", "-c", script)
    assert code == 0, output
    assert output.split() == [
        "agent",
        "/home/agent",
        "wrote",
        f"/usr/local/bin/{COMMANDS[image.agent]}",
    ]


@pytest.mark.docker
@pytest.mark.real_agent
def test_labels_name_the_agent_and_its_version(
    built: tuple[AgentImage, AgentImage, str], client: Any
) -> None:
    """The image says which agent and version it runs, and carries the labels asked for."""
    image, _, _ = built
    labels = client.images.get(image.tag).labels
    assert labels[AGENT_LABEL] == image.agent
    assert labels[VERSION_LABEL] == pinned_version(image.agent)
    assert labels[TESTING_LABEL] == "1"


@pytest.mark.docker
@pytest.mark.real_agent
def test_a_tag_of_ones_own_names_the_same_image(
    built: tuple[AgentImage, AgentImage, str], client: Any
) -> None:
    """``tag=`` is returned and names the digest-tagged image (nothing is built again)."""
    image, _, executable = built
    mine = f"scopecraft-test/{image.agent}:mine"
    try:
        again = ensure_agent_image(image.agent, executable=executable, tag=mine, labels=TEST_LABELS)
        assert again.tag == mine
        assert again.built is False
        assert client.images.get(mine).id == client.images.get(image.digest_tag).id
    finally:
        client.images.remove(mine)  # only the extra name: the digest tag stays


@pytest.mark.docker
@pytest.mark.real_agent
def test_the_public_function_returns_the_tag(
    built: tuple[AgentImage, AgentImage, str],
) -> None:
    """``build_agent_image`` returns the same tag as the build that made the image."""
    image, _, executable = built
    tag = build_agent_image(image.agent, executable=executable, labels=TEST_LABELS)
    assert tag == image.tag


@pytest.mark.docker
@pytest.mark.real_agent
def test_the_command_prints_the_tag(built: tuple[AgentImage, AgentImage, str]) -> None:
    """``scopecraft image build --agent A`` prints the tag alone; ``--json`` describes it."""
    image, _, executable = built
    argv = ["image", "build", "--agent", image.agent, "--executable", executable]
    argv += ["--label", f"{TESTING_LABEL}=1"]
    plain = CliRunner().invoke(app, argv, prog_name="scopecraft")
    assert plain.exit_code == 0, (plain.stdout, plain.stderr)
    assert plain.stdout == f"{image.tag}\n"
    as_json = CliRunner().invoke(app, ["--json", *argv], prog_name="scopecraft")
    assert as_json.exit_code == 0, (as_json.stdout, as_json.stderr)
    data = json.loads(as_json.stdout)
    assert data["tag"] == image.tag
    assert data["agent"] == image.agent
    assert data["version"] == pinned_version(image.agent)
    assert data["built"] is False


@pytest.mark.real_agent
def test_an_engine_that_does_not_answer_is_unavailable(tmp_path: Path) -> None:
    """A Docker engine that is not there is ``ExecutorUnavailable``, before any build."""
    codex = require_agent("codex")
    with pytest.raises(ExecutorUnavailable, match="does not answer"):
        build_agent_image("codex", executable=codex, base_url=f"unix://{tmp_path}/no-docker.sock")


def test_an_unknown_agent_is_a_config_error() -> None:
    """Only claude-code and codex have images; another name says which do."""
    with pytest.raises(ConfigError, match="claude-code, codex"):
        build_agent_image("aider")


def test_a_missing_executable_is_a_config_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A path that does not exist, a name not on PATH, and no CLI anywhere are ConfigErrors
    that say how to install the CLI."""
    with pytest.raises(ConfigError, match="npm install -g @openai/codex"):
        build_agent_image("codex", executable=str(tmp_path / "codex"))
    with pytest.raises(ConfigError, match="not on PATH"):
        build_agent_image("codex", executable="no-such-codex-cli")
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("SCOPECRAFT_AGENT_BIN", str(tmp_path))
    monkeypatch.setenv("SCOPECRAFT_AGENT_CACHE", str(tmp_path))
    with pytest.raises(ConfigError, match=r"\.ci/install-agents"):
        build_agent_image("claude-code")


def test_an_unsuitable_executable_is_a_config_error(tmp_path: Path) -> None:
    """A script with no native program beside it, or a native program that is not the agent,
    is refused before Docker is asked anything."""
    script = tmp_path / "claude"
    script.write_text("#!/bin/sh\necho 9.9.9 Claude Code\n")
    script.chmod(0o755)
    with pytest.raises(ConfigError, match="not a native program"):
        build_agent_image("claude-code", executable=str(script))
    true = Path("/bin/true").resolve()
    with pytest.raises(ConfigError, match=r"does not look like|failed"):
        build_agent_image("codex", executable=str(true))


def test_a_bad_tag_or_label_is_a_config_error() -> None:
    """Tags are checked before anything runs; scopecraft's own labels cannot be overridden."""
    with pytest.raises(ConfigError, match="not a valid image tag"):
        build_agent_image("codex", tag="Bad Tag!")
    with pytest.raises(ConfigError, match="set by scopecraft"):
        ensure_agent_image("codex", labels={AGENT_LABEL: "other"})
