"""The real Claude Code CLI against a scripted Anthropic Messages API, offline.

Each test runs ``claude --print --output-format stream-json --verbose`` (the adapter's unattended
form, the prompt on standard input) inside a network namespace that holds only loopback, with a
private ``HOME`` and ``CLAUDE_CONFIG_DIR`` and telemetry, updates and error reporting off.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from scopecraft.agents._claude import ClaudeCodeAgent
from scopecraft.events import AgentMessage, CostReported, ToolUsed
from scopecraft.testing import (
    AnthropicModelServer,
    ApiError,
    ModelTurn,
    OfflineRun,
    TokenUsage,
    ToolCall,
    claude_code_offline_env,
    run_offline,
)

pytestmark = pytest.mark.real_agent

PORT = 38_080
MODEL = "claude-sonnet-4-5-20250929"
INPUT_USD, OUTPUT_USD = 3.00 / 1_000_000, 15.00 / 1_000_000
"""Claude Code's list price of ``MODEL`` per token."""

PROBE_MCP_SERVER = """
import json, sys
from pathlib import Path

TOOL = {
    "name": "record",
    "description": "Record a text.",
    "inputSchema": {
        "type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]
    },
}


def send(message):
    sys.stdout.write(json.dumps(dict(message, jsonrpc="2.0")) + "\\n")
    sys.stdout.flush()


for line in sys.stdin:
    message = json.loads(line)
    method, ident = message.get("method"), message.get("id")
    if ident is None:
        continue
    if method == "initialize":
        version = message["params"].get("protocolVersion", "2025-06-18")
        send({"id": ident, "result": {
            "protocolVersion": version, "capabilities": {"tools": {}},
            "serverInfo": {"name": "probe", "version": "1"}}})
    elif method == "tools/list":
        send({"id": ident, "result": {"tools": [TOOL]}})
    elif method == "tools/call":
        text = message["params"]["arguments"]["text"]
        Path(sys.argv[1]).write_text(text)
        send({"id": ident, "result": {
            "content": [{"type": "text", "text": f"recorded {len(text)} characters"}],
            "isError": False}})
    else:
        send({"id": ident, "error": {"code": -32601, "message": f"no method {method}"}})
"""
"""A minimal MCP server on stdio (newline-delimited JSON-RPC) with one tool, ``record``."""

UNATTENDED = ["--print", "--output-format", "stream-json", "--verbose", "--model", MODEL]


def _run(
    claude_bin: str,
    tmp_path: Path,
    server: AnthropicModelServer,
    prompt: str,
    *options: str,
    extra_env: dict[str, str] | None = None,
) -> OfflineRun:
    (tmp_path / "home").mkdir(exist_ok=True)
    (tmp_path / "work").mkdir(exist_ok=True)
    env = claude_code_offline_env(server.base_url, home=tmp_path / "home")
    env["CLAUDE_CONFIG_DIR"] = str(tmp_path / "state")  # what the adapter sets (state_dir)
    env.update(extra_env or {})
    return run_offline(
        [claude_bin, *UNATTENDED, *options],
        server=server,
        env=env,
        cwd=tmp_path / "work",
        stdin=prompt,
        timeout=60,
    )


def _result(run: OfflineRun) -> dict[str, Any]:
    results = [line for line in run.json_lines() if line.get("type") == "result"]
    assert len(results) == 1, run.describe()
    result: dict[str, Any] = results[0]
    return result


def _texts(message: Any) -> list[str]:
    """Every text in an Anthropic message's content (a string or a list of blocks)."""
    content = message.get("content")
    if isinstance(content, str):
        return [content]
    return [b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"]


def test_pinned_version_is_installed(
    claude_bin: str, pinned_versions: dict[str, str], installed_versions: dict[str, str | None]
) -> None:
    """The cache holds the Claude Code version .ci/install-agents pins (when the CLI came from
    the cache)."""
    if installed_versions["@anthropic-ai/claude-code"] is None:
        pytest.skip(f"claude does not come from the cache: {claude_bin}")
    assert (
        installed_versions["@anthropic-ai/claude-code"]
        == pinned_versions["@anthropic-ai/claude-code"]
    )


def test_write_tool_then_text_writes_the_file_and_reports_the_cost(
    claude_bin: str, tmp_path: Path
) -> None:
    """A ``Write`` tool_use then a text: the file is written in the work folder (acceptEdits
    lets the edit through unattended), the tool result goes back to the model with the whole
    history, and the stream-json result carries the cost the usage implies at list price."""
    target = tmp_path / "work" / "notes" / "hello.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(
                "I will write the file.",
                ToolCall("Write", {"file_path": str(target), "content": "hello from the model\n"}),
                usage=TokenUsage(input_tokens=1200, output_tokens=150),
            ),
            ModelTurn.of("Wrote notes/hello.txt.", usage=TokenUsage(1500, 40)),
        ],
        port=PORT,
    )
    run = _run(
        claude_bin, tmp_path, server, "write notes/hello.txt", "--permission-mode", "acceptEdits"
    )

    assert run.returncode == 0, run.describe()
    assert run.interfaces == ("lo",)
    assert target.read_text() == "hello from the model\n"
    assert run.unscripted == 0, run.describe()
    assert run.remaining == 0, run.describe()
    first, second = (r.json() for r in run.model_requests)
    assert first["stream"] is True
    assert first["model"] == MODEL
    assert "Write" in {tool["name"] for tool in first["tools"]}
    assert any("write notes/hello.txt" in t for t in _texts(first["messages"][-1]))
    # The second request holds the history: the prompt, the tool call, then its result.
    roles = [m["role"] for m in second["messages"]]
    assert roles[-2:] == ["assistant", "user"]
    call = next(b for b in second["messages"][-2]["content"] if b["type"] == "tool_use")
    assert call["name"] == "Write"
    assert call["input"]["file_path"] == str(target)
    results = [b for b in second["messages"][-1]["content"] if b.get("type") == "tool_result"]
    assert results
    assert results[0]["tool_use_id"] == call["id"]
    assert not results[0].get("is_error"), results

    result = _result(run)
    assert result["is_error"] is False
    assert result["result"] == "Wrote notes/hello.txt."
    assert result["num_turns"] == 2
    assert result["usage"]["input_tokens"] == 2700
    assert result["usage"]["output_tokens"] == 190
    expected = 2700 * INPUT_USD + 190 * OUTPUT_USD
    assert result["total_cost_usd"] == pytest.approx(expected, rel=1e-9)

    # The adapter's parser reads the same stream into the engine's events.
    parser = ClaudeCodeAgent(executable=claude_bin).parser("s-1")
    events = [e for line in run.stdout.splitlines() for e in parser.feed(line)]
    tail, outcome = parser.finish(run.returncode)
    events += tail
    assert outcome.success, outcome
    assert [e.name for e in events if isinstance(e, ToolUsed)] == ["Write"]
    texts = [e.text for e in events if isinstance(e, AgentMessage)]
    assert "I will write the file." in texts
    assert "Wrote notes/hello.txt." in texts
    costs = [e for e in events if isinstance(e, CostReported)]
    assert costs
    assert costs[-1].total_usd == pytest.approx(expected, rel=1e-9)


def test_without_a_permission_mode_the_write_is_denied(claude_bin: str, tmp_path: Path) -> None:
    """Unattended, with no permission flag, Claude Code refuses the edit and lists it in the
    result's ``permission_denials`` (so the engine's ``edit`` level needs acceptEdits)."""
    target = tmp_path / "work" / "denied.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(ToolCall("Write", {"file_path": str(target), "content": "x"})),
            ModelTurn.of("I could not write it."),
        ],
        port=PORT,
    )
    run = _run(claude_bin, tmp_path, server, "write denied.txt")

    assert run.returncode == 0, run.describe()
    assert not target.exists()
    denials = _result(run)["permission_denials"]
    assert [d["tool_name"] for d in denials] == ["Write"], denials


def test_skip_permissions_as_root_needs_is_sandbox(claude_bin: str, tmp_path: Path) -> None:
    """``--dangerously-skip-permissions`` runs a ``Bash`` tool_use when ``IS_SANDBOX=1`` (as
    root, the only way it starts at all)."""
    target = tmp_path / "work" / "from-bash.txt"
    server = AnthropicModelServer(
        [
            ModelTurn.of(
                ToolCall("Bash", {"command": f"printf bash > {target}", "description": "write"})
            ),
            ModelTurn.of("Done."),
        ],
        port=PORT,
    )
    run = _run(claude_bin, tmp_path, server, "run it", "--dangerously-skip-permissions")

    assert run.returncode == 0, run.describe()
    assert target.read_text() == "bash"
    output = next(
        b
        for b in run.model_requests[1].json()["messages"][-1]["content"]
        if b.get("type") == "tool_result"
    )
    assert not output.get("is_error"), output


def test_resume_sends_the_whole_history(claude_bin: str, tmp_path: Path) -> None:
    """``--resume <session id>`` in a second run (a new server, the same CLAUDE_CONFIG_DIR)
    sends the first run's prompt and answer before the new prompt, and keeps the session id."""
    first = _run(
        claude_bin,
        tmp_path,
        AnthropicModelServer([ModelTurn.of("first answer")], port=PORT),
        "first prompt",
    )
    session_id = _result(first)["session_id"]
    server = AnthropicModelServer([ModelTurn.of("second answer")], port=PORT)
    second = _run(claude_bin, tmp_path, server, "second prompt", "--resume", session_id)

    assert second.returncode == 0, second.describe()
    assert _result(second)["session_id"] == session_id
    assert _result(second)["result"] == "second answer"
    messages = second.model_requests[0].json()["messages"]
    said = [(m["role"], text) for m in messages for text in _texts(m)]
    order = [
        next(i for i, (role, text) in enumerate(said) if role == want and needle in text)
        for want, needle in (
            ("user", "first prompt"),
            ("assistant", "first answer"),
            ("user", "second prompt"),
        )
    ]
    assert order == sorted(order), json.dumps(said)[:2000]


@pytest.mark.parametrize(
    ("status", "retryable"), [(401, False), (429, True), (500, True), (529, True)]
)
def test_api_errors_end_the_run_and_the_adapter_classifies_them(
    claude_bin: str, tmp_path: Path, status: int, retryable: bool
) -> None:
    """A forced API error (retries off) ends the run with ``is_error`` and the status in
    ``api_error_status``; the adapter's outcome fails, retryable unless it is the caller's
    fault (401)."""
    server = AnthropicModelServer([ApiError(status)], port=PORT)
    run = _run(claude_bin, tmp_path, server, "hi", extra_env={"CLAUDE_CODE_MAX_RETRIES": "0"})

    assert run.returncode != 0, run.describe()
    assert len(run.model_requests) == 1
    result = _result(run)
    assert result["is_error"] is True
    assert result["api_error_status"] == status
    parser = ClaudeCodeAgent(executable=claude_bin).parser("s-1")
    for line in run.stdout.splitlines():
        parser.feed(line)
    _, outcome = parser.finish(run.returncode)
    assert not outcome.success, outcome
    assert outcome.retryable is retryable, outcome


def test_an_mcp_tool_call_reaches_the_mcp_server(claude_bin: str, tmp_path: Path) -> None:
    """A ``mcp__<server>__<tool>`` tool_use is run by the MCP server given with ``--mcp-config``
    (stdio), and its result goes back to the model."""
    probe = tmp_path / "probe_mcp.py"
    probe.write_text(PROBE_MCP_SERVER)
    recorded = tmp_path / "recorded.txt"
    config = {
        "mcpServers": {
            "probe": {
                "type": "stdio",
                "command": sys.executable,
                "args": [str(probe), str(recorded)],
            }
        }
    }
    server = AnthropicModelServer(
        [ModelTurn.of(ToolCall("mcp__probe__record", {"text": "via mcp"})), ModelTurn.of("Done.")],
        port=PORT,
    )
    run = _run(
        claude_bin,
        tmp_path,
        server,
        "record it",
        "--mcp-config",
        json.dumps(config),
        "--strict-mcp-config",
        "--allowedTools",
        "mcp__probe__record",
    )

    assert run.returncode == 0, run.describe()
    assert recorded.read_text() == "via mcp"
    init = next(line for line in run.json_lines() if line.get("subtype") == "init")
    assert {"name": "probe", "status": "connected"}.items() <= init["mcp_servers"][0].items()
    (result,) = [
        b
        for b in run.model_requests[1].json()["messages"][-1]["content"]
        if b.get("type") == "tool_result"
    ]
    assert not result.get("is_error"), result
    assert "recorded 7 characters" in json.dumps(result["content"])
