"""Whole scopecraft sessions with the real Claude Code and Codex in Docker containers.

The images are built here from the CLIs installed on this machine
(`scopecraft.images.build_agent_image()`, no registry). A holder container with
``network_mode="none"`` owns a network namespace that holds only loopback; the scripted model
server runs inside it (`scopecraft.testing.serve_in_namespace()`), and the agents'
containers join it (``network_mode="container:<holder>"``): the agent reaches the server on
127.0.0.1 and nothing else. The engine itself talks only to the Docker socket.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from docker_support import RUN_LABELS, docker_client, remove_leftovers, require_docker
from real_agents.conftest import require_agent
from real_agents.test_real_engine_sessions import (
    CLAUDE_IN,
    CLAUDE_MODEL,
    CLAUDE_OUT,
    TASK_ID,
    make_repo,
)

from scopecraft.agents._codex import DEFAULT_CODEX_PRICES
from scopecraft.testing import (
    QUIET_CLAUDE_CODE_ENV,
    AnthropicModelServer,
    ApiError,
    ModelTurn,
    OpenAIResponsesServer,
    ScriptedModelServer,
    TokenUsage,
    ToolCall,
    codex_offline_config,
    serve_in_namespace,
)

pytestmark = [pytest.mark.real_agent, pytest.mark.docker]

PORT = 38_097
SCRIPT = Path(__file__).with_name("engine_session.py")
CODEX_MODEL = "gpt-5.5"


@pytest.fixture(scope="module")
def docker() -> Iterator[Any]:
    require_docker()
    with docker_client() as client:
        yield client
        remove_leftovers(client)


@pytest.fixture(scope="module")
def images(claude_bin_module: str, codex_bin_module: str) -> dict[str, str]:
    from scopecraft.images import build_agent_image

    return {
        "claude-code": build_agent_image("claude-code", executable=claude_bin_module),
        "codex": build_agent_image("codex", executable=codex_bin_module),
    }


@pytest.fixture(scope="module")
def claude_bin_module() -> str:
    return require_agent("claude")


@pytest.fixture(scope="module")
def codex_bin_module() -> str:
    return require_agent("codex")


@pytest.fixture
def holder(docker: Any, images: dict[str, str]) -> Iterator[Any]:
    """A container that only holds a loopback-only network namespace."""
    container = docker.containers.run(
        images["claude-code"],
        ["/bin/sh", "-c", "exec sleep 600"],
        detach=True,
        network_mode="none",
        labels=RUN_LABELS,
        cap_drop=["ALL"],
        security_opt=["no-new-privileges"],
        user="1000:1000",
    )
    try:
        container.reload()
        yield container
    finally:
        container.remove(force=True)


def run_engine(
    tmp_path: Path,
    holder: Any,
    server: ScriptedModelServer,
    steps: list[dict[str, Any]],
    *,
    env: dict[str, str],
    config: dict[str, Any],
) -> tuple[list[dict[str, Any]], Any]:
    repo = make_repo(tmp_path)
    executor = {"network": f"container:{holder.id}", "extra_labels": RUN_LABELS}
    spec = {
        "repo": str(repo),
        "home": str(tmp_path / "engine-home"),
        "config": {
            "worktree_root": str(tmp_path / "wt"),
            "executors": {"docker": executor},
            **config,
        },
        "forward_env": ["CLAUDE_CODE_MAX_RETRIES", *QUIET_CLAUDE_CODE_ENV],
        "steps": steps,
        "timeout": 120,
    }
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    result_path = tmp_path / "result.json"
    home = tmp_path / "user-home"
    home.mkdir(exist_ok=True)
    keep = {k: os.environ[k] for k in ("PATH", "DOCKER_HOST", "LANG") if k in os.environ}
    with serve_in_namespace(server, int(holder.attrs["State"]["Pid"])) as served:
        done = subprocess.run(
            [sys.executable, str(SCRIPT), str(tmp_path / "spec.json"), str(result_path)],
            env={**keep, "HOME": str(home), **env},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    results = json.loads(result_path.read_text()) if result_path.exists() else []
    describe = f"exit {done.returncode}\n{done.stderr[-3000:]}\n" + "\n".join(
        results[-1]["logs"][-30:] if results else []
    )
    assert done.returncode == 0, describe
    assert served.interfaces == ("lo",)
    return results, served


def test_claude_in_docker_edits_and_runs_commands_with_exact_cost(
    tmp_path: Path, holder: Any, images: dict[str, str]
) -> None:
    """In its container, a default (``edit``) Claude Code session writes a file in the
    worktree; a ``full`` one (``dangerous``, with ``IS_SANDBOX=1``, never as root) runs a
    command; both complete with the cost the usage implies, and the file is on the host."""
    server = AnthropicModelServer(
        [
            ModelTurn.of(
                ToolCall("Write", {"file_path": "/workspace/hello.txt", "content": "hello\n"}),
                usage=TokenUsage(1200, 150),
            ),
            ModelTurn.of("Wrote it.", usage=TokenUsage(1500, 40)),
            ModelTurn.of("Still done.", usage=TokenUsage(2000, 10)),
        ],
        port=PORT,
    )
    env = {
        **QUIET_CLAUDE_CODE_ENV,
        "ANTHROPIC_BASE_URL": server.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-scopecraft-test-0123456789abcdef",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }
    create = _claude_docker(images)
    results, served = run_engine(
        tmp_path,
        holder,
        server,
        [{"create": create}, {"continue": "Check it once more."}],
        env=env,
        config={},
    )
    session = results[0]["session"]
    assert session["status"] == "completed", results[0]["logs"][-30:]
    assert (tmp_path / "wt" / TASK_ID / "hello.txt").read_text() == "hello\n"
    first_usd = 2700 * CLAUDE_IN + 190 * CLAUDE_OUT
    assert session["cost_usd"] == pytest.approx(first_usd, rel=1e-9)
    # continue_session resumes the same Claude session in a new container: the server gets
    # the whole history, and the resumed run's total is billed only for what it adds.
    resumed = results[1]["session"]
    assert resumed["status"] == "completed", results[1]["logs"][-30:]
    assert resumed["agent_session_id"] == session["agent_session_id"]
    said = json.dumps(served.model_requests[-1].json()["messages"])
    assert "Wrote it." in said
    assert "Check it once more." in said
    assert resumed["cost_usd"] == pytest.approx(first_usd + 2000 * CLAUDE_IN + 10 * CLAUDE_OUT)
    assert served.remaining == 0

    server = AnthropicModelServer(
        [
            ModelTurn.of(
                ToolCall("Bash", {"command": "id -u > /workspace/ran.txt"}),
                usage=TokenUsage(1000, 10),
            ),
            ModelTurn.of("Ran it.", usage=TokenUsage(1100, 10)),
        ],
        port=PORT,
    )
    results, served = run_engine(
        tmp_path / "full",
        holder,
        server,
        [{"create": {**create, "dangerous": True}}],
        env=env,
        config={},
    )
    session = results[0]["session"]
    assert session["status"] == "completed", results[0]["logs"][-30:]
    assert session["permissions"] == "full"
    said = json.dumps(served.model_requests[-1].json()["messages"][-1])
    assert (tmp_path / "full" / "wt" / TASK_ID / "ran.txt").exists(), said
    ran = tmp_path / "full" / "wt" / TASK_ID / "ran.txt"
    if os.geteuid() == 0:
        # The worktree is root's: the agent ran as the unprivileged agent user, and what it
        # wrote is root's again once the container ended.
        assert ran.read_text().strip() == "1000"
        assert ran.stat().st_uid == 0
    else:
        assert ran.read_text().strip() == str(os.geteuid())
    assert session["cost_usd"] == pytest.approx(2100 * CLAUDE_IN + 20 * CLAUDE_OUT, rel=1e-9)


def _in_docker(images: dict[str, str], agent: str, model: str, **extra: Any) -> dict[str, Any]:
    """``create_session`` arguments for an autonomous session of ``agent`` in its image."""
    return {
        "task_id": TASK_ID,
        "mode": "autonomous",
        "executor": "docker",
        "agent": agent,
        "model": model,
        "image": images[agent],
        **extra,
    }


def _claude_docker(images: dict[str, str], **extra: Any) -> dict[str, Any]:
    return _in_docker(images, "claude-code", CLAUDE_MODEL, **extra)


def _claude_docker_env(server: ScriptedModelServer) -> dict[str, str]:
    return {
        **QUIET_CLAUDE_CODE_ENV,
        "ANTHROPIC_BASE_URL": server.base_url,
        "ANTHROPIC_API_KEY": "sk-ant-scopecraft-test-0123456789abcdef",
        "CLAUDE_CODE_MAX_RETRIES": "0",
    }


def test_claude_in_docker_reports_a_denied_write(
    tmp_path: Path, holder: Any, images: dict[str, str]
) -> None:
    """A ``read-only`` Claude Code session in its container asks to write: the write is
    denied, nothing is written, and the session says so (``tool_denied``, ``denials=1``)."""
    server = AnthropicModelServer(
        [
            ModelTurn.of(
                ToolCall("Write", {"file_path": "/workspace/hello.txt", "content": "hello\n"}),
                usage=TokenUsage(1000, 20),
            ),
            ModelTurn.of("I could not write it.", usage=TokenUsage(1100, 10)),
        ],
        port=PORT,
    )
    results, _ = run_engine(
        tmp_path,
        holder,
        server,
        [{"create": _claude_docker(images, permissions="read-only")}],
        env=_claude_docker_env(server),
        config={},
    )
    session = results[0]["session"]
    assert session["status"] == "completed", results[0]["logs"][-30:]
    assert session["denials"] == 1
    denied = [e for e in results[0]["events"] if e["type"] == "tool_denied"]
    assert [e["name"] for e in denied] == ["Write"]
    assert not (tmp_path / "wt" / TASK_ID / "hello.txt").exists()


def test_claude_in_docker_529_is_retried_and_401_is_not(
    tmp_path: Path, holder: Any, images: dict[str, str]
) -> None:
    """In a container too, an overloaded API (529) fails the attempt as retryable and the
    next attempt completes; a 401 fails the session at once."""
    for folder, code, status, attempt in (("a", 529, "completed", 2), ("b", 401, "failed", 1)):
        server = AnthropicModelServer([ApiError(code), ModelTurn.of("Done.")], port=PORT)
        results, _ = run_engine(
            tmp_path / folder,
            holder,
            server,
            [{"create": _claude_docker(images)}],
            env=_claude_docker_env(server),
            config={},
        )
        session = results[0]["session"]
        assert session["status"] == status, results[0]["logs"][-30:]
        assert session["attempt"] == attempt
        (failed, *_) = [e for e in results[0]["events"] if e["type"] == "session_failed"]
        assert failed["retryable"] is (code == 529)
        assert str(code) in failed["reason"]


def _codex_docker(images: dict[str, str], **extra: Any) -> dict[str, Any]:
    return _in_docker(images, "codex", CODEX_MODEL, **extra)


def _codex_docker_env(folder: Path, server: ScriptedModelServer) -> dict[str, str]:
    """The user's ``CODEX_HOME`` names the server as its provider."""
    user_codex = folder / "user-codex"
    user_codex.mkdir(parents=True)
    (user_codex / "config.toml").write_text(
        codex_offline_config(server.base_url, model=CODEX_MODEL)
    )
    return {"CODEX_HOME": str(user_codex), "OPENAI_API_KEY": "sk-scripted-0123456789"}


def test_codex_in_docker_edits_with_its_users_provider(
    tmp_path: Path, holder: Any, images: dict[str, str]
) -> None:
    """A default Codex session in its container reaches the model through the provider of
    the user's ``config.toml`` (copied into the session's home), runs a command that writes in
    the worktree, and completes with the cost its usage implies; ``continue_session`` resumes
    the same thread in a new container (the server gets the whole history) and its running
    totals are billed once."""
    server = OpenAIResponsesServer(
        [
            ModelTurn.of(
                ToolCall(
                    "exec_command", {"cmd": "printf hello > hello.txt", "workdir": "/workspace"}
                ),
                usage=TokenUsage(1000, 50),
            ),
            ModelTurn.of("Wrote hello.txt.", usage=TokenUsage(1200, 30)),
            ModelTurn.of("Still done.", usage=TokenUsage(1500, 20)),
        ],
        port=PORT + 1,
    )
    results, served = run_engine(
        tmp_path,
        holder,
        server,
        [{"create": _codex_docker(images)}, {"continue": "Check it once more."}],
        env=_codex_docker_env(tmp_path, server),
        config={},
    )
    session = results[0]["session"]
    assert session["status"] == "completed", results[0]["logs"][-30:]
    assert (tmp_path / "wt" / TASK_ID / "hello.txt").read_text() == "hello"
    price = DEFAULT_CODEX_PRICES[CODEX_MODEL]
    assert session["cost_usd"] == pytest.approx(price.cost(2200, 0, 80), rel=1e-9)
    resumed = results[1]["session"]
    assert resumed["status"] == "completed", results[1]["logs"][-30:]
    assert resumed["attempt"] == 2
    assert resumed["agent_session_id"] == session["agent_session_id"]
    said = json.dumps(served.model_requests[-1].json()["input"])
    assert "Wrote hello.txt." in said
    assert "Check it once more." in said
    assert resumed["cost_usd"] == pytest.approx(price.cost(3700, 0, 100), rel=1e-9)
    assert served.remaining == 0


def test_codex_in_docker_reports_a_refused_write(
    tmp_path: Path, holder: Any, images: dict[str, str]
) -> None:
    """A ``read-only`` Codex session in its container runs a command that writes: the write
    is refused, nothing is written, and the session says so (``tool_denied``,
    ``denials=1``), read from the thread's rollout file in the session's Codex home."""
    server = OpenAIResponsesServer(
        [
            ModelTurn.of(
                ToolCall(
                    "exec_command", {"cmd": "printf hello > hello.txt", "workdir": "/workspace"}
                )
            ),
            ModelTurn.of("I could not write it."),
        ],
        port=PORT + 1,
    )
    results, served = run_engine(
        tmp_path,
        holder,
        server,
        [{"create": _codex_docker(images, permissions="read-only")}],
        env=_codex_docker_env(tmp_path, server),
        config={},
    )
    session = results[0]["session"]
    said = json.dumps(served.model_requests[-1].json()["input"][-1])
    assert session["status"] == "completed", (said, results[0]["logs"][-30:])
    denied = [e for e in results[0]["events"] if e["type"] == "tool_denied"]
    assert [e["name"] for e in denied] == ["shell"], said
    assert "Read-only file system" in denied[0]["reason"]
    assert session["denials"] == 1
    assert not (tmp_path / "wt" / TASK_ID / "hello.txt").exists()


def test_codex_in_docker_529_is_retried_and_401_is_not(
    tmp_path: Path, holder: Any, images: dict[str, str]
) -> None:
    """In a container, Codex's overloaded API (529) fails the attempt as retryable and the
    next attempt completes; a 401 fails the session at once."""
    for folder, code, status, attempt in (("a", 529, "completed", 2), ("b", 401, "failed", 1)):
        server = OpenAIResponsesServer([ApiError(code), ModelTurn.of("Done.")], port=PORT + 1)
        results, _ = run_engine(
            tmp_path / folder,
            holder,
            server,
            [{"create": _codex_docker(images)}],
            env=_codex_docker_env(tmp_path / folder, server),
            config={},
        )
        session = results[0]["session"]
        assert session["status"] == status, results[0]["logs"][-30:]
        assert session["attempt"] == attempt
        failed = [e for e in results[0]["events"] if e["type"] == "session_failed"]
        assert failed[0]["retryable"] is (status == "completed")
