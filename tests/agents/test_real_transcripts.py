"""Every transcript captured from the real Claude Code and Codex CLIs, parsed by the adapters:
messages, tools, denials, cost, the agent's session id and the outcome.

The transcripts are in the shared fixtures (``agent-output/real``; see its README for how each
was made). Absent fixtures skip these tests, and fail them in CI.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from agent_support import AGENT_OUTPUT, Parsed, parse_lines

from scopecraft._terminal_hooks import read_hook_signals
from scopecraft.agents import ClaudeCodeAgent, CodexAgent
from scopecraft.events import AgentSessionIdentified, CostReported, Event

Transcript = Callable[[str], list[str]]

CODEX_MODEL = "gpt-5.4"
"""The model the Codex transcripts ran."""


def real(transcript: Transcript, name: str) -> list[str]:
    return transcript(f"real/{name}")


def claude(transcript: Transcript, name: str, exit_code: int | None = 0) -> Parsed:
    return parse_lines(ClaudeCodeAgent().parser("s"), real(transcript, name), exit_code)


def kinds(parsed: Parsed) -> list[str]:
    return [e.type for e in parsed.events]


def test_every_real_transcript_has_a_test() -> None:
    """A transcript added to the fixtures without a test here fails this test."""
    folder = AGENT_OUTPUT / "real"
    if not folder.is_dir():
        pytest.skip(f"no real transcripts at {folder}")
    covered = {
        "README.md",
        "claude-error-401.jsonl",
        "claude-error-529.jsonl",
        "claude-interactive-argv.txt",
        "claude-interactive-hooks.jsonl",
        "claude-mcp-session-list.jsonl",
        "claude-mcp-tool-denied.jsonl",
        "claude-print-text.jsonl",
        "claude-print-write-bypass.jsonl",
        "claude-resume-write-denied.jsonl",
        "claude-root-dangerous.stderr.txt",
        "codex-exec-fresh-codex-home-retries.jsonl",
        "codex-exec-outside-git.stderr.txt",
        "codex-exec-readonly-sandbox.jsonl",
        "codex-exec-resume-shell.jsonl",
        "codex-exec-resume2-text.jsonl",
        "codex-exec-text.jsonl",
        "scopecraft-tmux-pane-log-fresh-config.txt",
    }
    assert {p.name for p in folder.iterdir()} <= covered


# -- Claude Code ---------------------------------------------------------------------------


def test_claude_text_answer(transcript: Transcript) -> None:
    """A text answer: the session id, one message, the cost and token counts, success."""
    parsed = claude(transcript, "claude-print-text.jsonl")
    assert kinds(parsed) == ["agent_session_identified", "agent_message", "cost_reported"]
    (ident,) = parsed.of_type("agent_session_identified")
    assert ident.agent_session_id == "7f946dea-727e-49a8-bf54-4dca24c56650"
    assert parsed.of_type("agent_message")[0].text == "Hello from the stub (request 1)."
    (cost,) = parsed.of_type("cost_reported")
    assert (cost.usd, cost.input_tokens, cost.output_tokens) == (0.00135, 120, 30)
    assert parsed.outcome.success
    assert parsed.outcome.reported


def test_claude_write_with_bypass_keeps_the_order_the_cli_wrote(transcript: Transcript) -> None:
    """One message id over two lines (a text block, then a tool use): the text is stored
    before the tool use, as the CLI wrote them; no denial."""
    parsed = claude(transcript, "claude-print-write-bypass.jsonl")
    assert kinds(parsed) == [
        "agent_session_identified",
        "agent_message",
        "tool_used",
        "agent_message",
        "cost_reported",
    ]
    first, last = parsed.of_type("agent_message")
    assert first.text == "I will write the file."
    assert first.message_id == "msg_stub0001"
    (tool,) = parsed.of_type("tool_used")
    assert (tool.name, tool.summary) == ("Write", "$SCRATCH/t1/hello.txt")
    assert last.text.startswith("Done: File created")
    assert parsed.of_type("cost_reported")[0].usd == 0.0027
    assert parsed.outcome.success


def test_claude_denied_write_is_a_tool_denied_event(transcript: Transcript) -> None:
    """Default permissions refuse the Write while the result says ``success``: one
    ``tool_denied`` (from the tool result, not again from ``permission_denials``) with the
    tool's name and path; the run itself still succeeds (the engine reports the denial)."""
    parsed = claude(transcript, "claude-resume-write-denied.jsonl")
    (denied,) = parsed.of_type("tool_denied")
    assert (denied.name, denied.tool_use_id) == ("Write", "toolu_stub0001")
    assert denied.summary == "$SCRATCH/t1/hello.txt"
    assert "requested permissions to write" in denied.reason
    assert kinds(parsed).index("tool_used") < kinds(parsed).index("tool_denied")
    assert parsed.outcome.success


def test_claude_denied_mcp_tool_and_allowed_mcp_tool(transcript: Transcript) -> None:
    """The scopecraft MCP tool ``session_list``: denied without ``--allowedTools`` (a
    ``tool_denied``), answered with it (a ``tool_used`` and the answer in the message)."""
    denied = claude(transcript, "claude-mcp-tool-denied.jsonl")
    assert [d.name for d in denied.of_type("tool_denied")] == ["mcp__scopecraft__session_list"]
    allowed = claude(transcript, "claude-mcp-session-list.jsonl")
    assert allowed.of_type("tool_denied") == []
    assert [t.name for t in allowed.of_type("tool_used")] == ["mcp__scopecraft__session_list"]
    assert '{"sessions":[]}' in allowed.of_type("agent_message")[-1].text


@pytest.mark.parametrize(("name", "status", "retryable"), [("401", 401, False), ("529", 529, True)])
def test_claude_api_errors(transcript: Transcript, name: str, status: int, retryable: bool) -> None:
    """The CLI's retry line and its ``<synthetic>`` message are error events, never agent
    messages; the outcome fails, retryable for 529 (overloaded) and not for 401 (the same key
    fails again)."""
    parsed = claude(transcript, f"claude-error-{name}.jsonl", exit_code=1)
    assert parsed.of_type("agent_message") == []
    errors = parsed.of_type("error_occurred")
    assert [e.where for e in errors] == ["agent api", "agent"]
    assert errors[0].message.startswith(f"API error {status}")
    assert f"{status}" in errors[1].message
    assert not parsed.outcome.success
    assert parsed.outcome.reported
    assert parsed.outcome.retryable is retryable
    assert f"{status}" in (parsed.outcome.error or "")


def test_claude_refusing_root_says_why(transcript: Transcript) -> None:
    """Run as root with ``--dangerously-skip-permissions`` and no ``IS_SANDBOX=1``, the CLI
    prints why on stderr and exits 1: that text is the failure's reason."""
    parser = ClaudeCodeAgent().parser("s")
    for line in real(transcript, "claude-root-dangerous.stderr.txt"):
        assert parser.feed(line, "stderr") == []
    _, outcome = parser.finish(1)
    assert not outcome.success
    assert not outcome.reported
    assert outcome.error is not None
    assert "exited with code 1" in outcome.error
    assert "cannot be used with root/sudo privileges" in outcome.error


def test_claude_interactive_hooks_are_read(transcript: Transcript, tmp_path: Path) -> None:
    """The interactive argv passed hooks with ``--settings``; the hook lines the real CLI
    wrote are read by the tmux executor: start, stop, end and why, with the session id."""
    argv = real(transcript, "claude-interactive-argv.txt")
    assert any("--settings" in line and "_tmux_hooks.py" in line for line in argv)
    hooks = tmp_path / "hooks.jsonl"
    hooks.write_text("\n".join(real(transcript, "claude-interactive-hooks.jsonl")) + "\n")
    signals, _ = read_hook_signals(hooks)
    assert [s.event for s in signals] == ["SessionStart", "Stop", "SessionEnd"]
    assert {s.agent_session_id for s in signals} == {"734ead3d-2e70-4132-97a5-aab16c4da626"}
    assert signals[-1].message == "prompt_input_exit"


# -- Codex -----------------------------------------------------------------------------------


def codex(lines: list[str], history: list[Event] | None = None, exit_code: int = 0) -> Parsed:
    parser = CodexAgent().parser("s", model=CODEX_MODEL)
    if history is not None:
        parser.resume_from(history)
    return parse_lines(parser, lines, exit_code)


def test_codex_text_answer(transcript: Transcript) -> None:
    """A text answer: the thread id, the message, the usage priced at the model's price."""
    parsed = codex(real(transcript, "codex-exec-text.jsonl"))
    (ident,) = parsed.of_type("agent_session_identified")
    assert ident.agent_session_id == "01a2353f-0f24-78f3-b4af-c0a54e25c8fc"
    assert len(parsed.of_type("agent_message")) == 1
    (cost,) = parsed.of_type("cost_reported")
    price = CodexAgent().price_for(CODEX_MODEL)
    assert cost.usd == pytest.approx(price.cost(1000, 200, 50))
    assert cost.running_usage == {
        "input_tokens": 1000,
        "cached_input_tokens": 200,
        "output_tokens": 50,
    }
    assert parsed.outcome.success


def test_codex_resumed_thread_is_billed_once(transcript: Transcript) -> None:
    """Three attempts of one thread report running totals (1000, 3000, 4000 input tokens):
    each attempt, told what the session stored before, is billed only what it added, so the
    session's cost is the price of the last total, exactly."""
    price = CodexAgent().price_for(CODEX_MODEL)
    history: list[Event] = []
    usd = 0.0
    for name in (
        "codex-exec-text.jsonl",
        "codex-exec-resume-shell.jsonl",
        "codex-exec-resume2-text.jsonl",
    ):
        parsed = codex(real(transcript, name), history=list(history))
        history += [
            e for e in parsed.events if isinstance(e, AgentSessionIdentified | CostReported)
        ]
        usd += sum(c.usd for c in parsed.of_type("cost_reported"))
        assert parsed.outcome.success
    assert usd == pytest.approx(price.cost(4000, 800, 200))
    added = [c.input_tokens for c in history if isinstance(c, CostReported)]
    assert added == [1000, 2000, 1000]
    assert [
        t.name
        for t in codex(real(transcript, "codex-exec-resume-shell.jsonl")).of_type("tool_used")
    ] == ["shell"]


def test_codex_after_an_engine_restart_mid_attempt_bills_nothing_twice(
    transcript: Transcript,
) -> None:
    """A parser made after a restart (the attempt's earlier lines already read and stored)
    learns the thread and its total from the stored events."""
    lines = real(transcript, "codex-exec-resume-shell.jsonl")
    first = codex(lines)
    stored: list[Event] = [
        e for e in first.events if isinstance(e, AgentSessionIdentified | CostReported)
    ]
    again = codex([line for line in lines if '"turn.completed"' in line], history=stored)
    assert sum(c.usd for c in again.of_type("cost_reported")) == 0.0


def test_codex_read_only_sandbox_run(transcript: Transcript) -> None:
    """In the read-only sandbox the command fails inside the turn, which still completes: the
    model-metadata warning item is no message, the answer is, the cost is priced."""
    parsed = codex(real(transcript, "codex-exec-readonly-sandbox.jsonl"))
    assert [m.text[:5] for m in parsed.of_type("agent_message")] == ["Done:"]
    assert parsed.of_type("cost_reported")[0].input_tokens == 2000
    assert parsed.outcome.success


def test_codex_without_its_provider_reconnects_and_fails_retryably(
    transcript: Transcript,
) -> None:
    """A fresh ``CODEX_HOME`` without the user's provider: reconnects until it gives up; the
    outcome is a retryable failure whose reason is Codex's own."""
    parsed = codex(real(transcript, "codex-exec-fresh-codex-home-retries.jsonl"), exit_code=1)
    assert not parsed.outcome.success
    assert "stream disconnected" in (parsed.outcome.error or "")
    assert parsed.outcome.retryable


def test_codex_outside_a_trusted_folder_says_why(transcript: Transcript) -> None:
    """Codex's refusal outside a trusted git folder (on stderr) is the failure's reason."""
    parser = CodexAgent().parser("s")
    for line in real(transcript, "codex-exec-outside-git.stderr.txt"):
        parser.feed(line, "stderr")
    _, outcome = parser.finish(1)
    assert "--skip-git-repo-check was not specified" in (outcome.error or "")
    assert not outcome.retryable
