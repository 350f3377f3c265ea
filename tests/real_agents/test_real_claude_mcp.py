"""The real Claude Code driving scopecraft's own MCP server: the model calls ``session_list``
and gets the engine's answer.

Claude Code runs unattended with ``--mcp-config`` naming ``scopecraft mcp`` (stdio) for a
repository that holds one finished session; the scripted model asks for the tool; the tool
result the CLI sends back to the model holds that session. Everything runs in a network
namespace that holds only loopback.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

import scopecraft
from scopecraft.agents._claude import ClaudeCodeAgent
from scopecraft.events import ToolDenied, ToolUsed
from scopecraft.testing import (
    AnthropicModelServer,
    ModelTurn,
    ToolCall,
    claude_code_offline_env,
    run_offline,
)

pytestmark = pytest.mark.real_agent

PORT = 38_095
MODEL = "claude-sonnet-4-5-20250929"

TASK = """# Say hello

---
type: feature
status: todo
area: core
priority: high
---

## Instruction
fake: say hello

## Log
"""


def _repo_with_a_session(base: Path) -> tuple[Path, Path, str]:
    repo = base / "app"
    (repo / ".tasks" / "current").mkdir(parents=True)
    (repo / ".tasks" / "current" / "hello-11A.task.md").write_text(TASK)
    identity = ["-c", "user.name=Test", "-c", "user.email=test@scopecraft.invalid"]
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", *identity, *args], cwd=repo, check=True)
    home = base / "engine-home"
    with scopecraft.connect(repo, home=home) as engine:
        session = engine.create_session(
            "hello-11A", mode="autonomous", executor="local", agent="fake"
        )
        engine.wait(session.id, timeout=60)
    return repo, home, session.id


@pytest.mark.parametrize("allowed", [True, False])
def test_the_model_calls_session_list_and_gets_the_engines_answer(
    claude_bin: str, tmp_path: Path, allowed: bool
) -> None:
    """With the adapter's default ``edit`` allowance (``mcp__scopecraft``) the call runs and
    its result, sent back to the model, lists the engine's session; without it the call is
    denied, and the parser says so."""
    repo, home, session_id = _repo_with_a_session(tmp_path)
    config = {
        "mcpServers": {
            "scopecraft": {
                "type": "stdio",
                "command": sys.executable,
                "args": ["-m", "scopecraft", "--repo", str(repo), "--home", str(home), "mcp"],
            }
        }
    }
    server = AnthropicModelServer(
        [
            ModelTurn.of(ToolCall("mcp__scopecraft__session_list", {"all": True})),
            ModelTurn.of("Listed."),
        ],
        port=PORT,
    )
    (tmp_path / "user").mkdir()
    env = claude_code_offline_env(server.base_url, home=tmp_path / "user")
    env["CLAUDE_CONFIG_DIR"] = str(tmp_path / "state")
    options = ["--permission-mode", "acceptEdits"]
    if allowed:
        options.append("--allowedTools=mcp__scopecraft")
    run = run_offline(
        [
            claude_bin,
            "--print",
            "--output-format",
            "stream-json",
            "--verbose",
            "--model",
            MODEL,
            "--mcp-config",
            json.dumps(config),
            "--strict-mcp-config",
            *options,
        ],
        server=server,
        env=env,
        cwd=repo,
        stdin="List the sessions.",
        timeout=90,
    )
    assert run.returncode == 0, run.describe()
    init = next(line for line in run.json_lines() if line.get("subtype") == "init")
    assert {"name": "scopecraft", "status": "connected"}.items() <= init["mcp_servers"][0].items()
    (result,) = [
        block
        for block in run.model_requests[1].json()["messages"][-1]["content"]
        if block.get("type") == "tool_result"
    ]
    parser = ClaudeCodeAgent().parser("s")
    events = [e for line in run.stdout.splitlines() for e in parser.feed(line)]
    if allowed:
        assert not result.get("is_error"), result
        answer = json.dumps(result["content"])
        assert session_id in answer
        assert "completed" in answer
        assert [e.name for e in events if isinstance(e, ToolUsed)] == [
            "mcp__scopecraft__session_list"
        ]
        assert not [e for e in events if isinstance(e, ToolDenied)]
    else:
        assert result.get("is_error") is True
        assert session_id not in json.dumps(result["content"])
        assert [e.name for e in events if isinstance(e, ToolDenied)] == [
            "mcp__scopecraft__session_list"
        ]
