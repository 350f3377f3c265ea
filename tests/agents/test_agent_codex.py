"""CodexAgent: argv for every option, the ``exec --json`` parser and pricing."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_support import parse_lines

from scopecraft._errors import AgentError, ConfigError
from scopecraft._models import SessionMode
from scopecraft._terminal_hooks import rollout_files
from scopecraft.agents import (
    DEFAULT_CODEX_PRICES,
    AgentRequest,
    CodexAgent,
    CodexExecParser,
    CodexPrice,
)
from scopecraft.events import AgentSessionIdentified, ToolDenied

THREAD = "0199a213-81c0-7800-8aa1-bbab2a035a53"
Transcript = Callable[[str], list[str]]


def request(**kwargs: Any) -> AgentRequest:
    values: dict[str, Any] = {
        "mode": SessionMode.AUTONOMOUS,
        "prompt": "do the task",
        "workdir": "/workspace",
    }
    values.update(kwargs)
    return AgentRequest(**values)


def line(**data: Any) -> str:
    return json.dumps(data)


def usage_line(input_tokens: int, cached: int, output: int) -> str:
    return line(
        type="turn.completed",
        usage={
            "input_tokens": input_tokens,
            "cached_input_tokens": cached,
            "output_tokens": output,
        },
    )


# -- argv --------------------------------------------------------------------------------


def test_exec_reads_the_prompt_from_stdin() -> None:
    """Unattended, ``codex exec --json -`` reads the prompt from stdin."""
    command = CodexAgent().command(request(prompt="fix it"))
    assert command.argv == ("codex", "exec", "--json", "--sandbox", "workspace-write", "-")
    assert command.stdin == b"fix it"


@pytest.mark.parametrize("model", [None, "gpt-5-codex"])
@pytest.mark.parametrize("resume_id", [None, THREAD])
@pytest.mark.parametrize("dangerous", [False, True])
def test_argv_for_each_option_combination(
    model: str | None, resume_id: str | None, dangerous: bool
) -> None:
    """Options go before ``resume <id>``, which comes before the stdin marker ``-``; the
    sandbox bypass appears only when asked."""
    command = CodexAgent().command(request(model=model, resume_id=resume_id, dangerous=dangerous))
    expected = ["codex", "exec", "--json"]
    if model:
        expected += ["--model", model]
    if dangerous:
        expected.append("--dangerously-bypass-approvals-and-sandbox")
    else:
        expected += ["--sandbox", "workspace-write"]
    if resume_id:
        expected += ["resume", resume_id]
    expected.append("-")
    assert command.argv == tuple(expected)
    assert ("--dangerously-bypass-approvals-and-sandbox" in command.argv) is dangerous


def test_git_repo_check_is_skipped_in_containers_by_default() -> None:
    """In a container (where the worktree's ``.git`` points at the host) the git check is
    skipped; the option overrides either way."""
    assert "--skip-git-repo-check" in CodexAgent().command(request(in_container=True)).argv
    assert "--skip-git-repo-check" not in CodexAgent().command(request()).argv
    never = CodexAgent(skip_git_repo_check=False).command(request(in_container=True))
    assert "--skip-git-repo-check" not in never.argv
    always = CodexAgent(skip_git_repo_check=True).command(request())
    assert "--skip-git-repo-check" in always.argv


def test_terminal_runs_interactive_codex() -> None:
    """In a terminal, interactive ``codex`` (or ``codex resume <id>``) gets the prompt as its
    last argument and no stdin."""
    fresh = CodexAgent().command(request(terminal=True, model="gpt-5", dangerous=True))
    assert fresh.argv == (
        "codex",
        "--model",
        "gpt-5",
        "--dangerously-bypass-approvals-and-sandbox",
        "do the task",
    )
    assert fresh.stdin is None
    resumed = CodexAgent().command(request(terminal=True, resume_id=THREAD, prompt="-more"))
    assert resumed.argv == (
        "codex",
        "resume",
        THREAD,
        "--sandbox",
        "workspace-write",
        "--ask-for-approval",
        "on-request",
        "--",
        "-more",
    )


def test_default_model_is_passed_and_state_dir_sets_codex_home() -> None:
    """``default_model`` is passed when the request names none; ``state_dir`` is CODEX_HOME."""
    agent = CodexAgent(default_model="gpt-5-mini")
    command = agent.command(request(state_dir="/state/ses-1"))
    assert command.argv[3:5] == ("--model", "gpt-5-mini")
    assert dict(command.env) == {"CODEX_HOME": "/state/ses-1"}
    assert agent.command(request(model="gpt-5")).argv[3:5] == ("--model", "gpt-5")


def test_malformed_resume_id_is_refused() -> None:
    """A resume id that looks like an option is refused with ``AgentError``."""
    with pytest.raises(AgentError):
        CodexAgent().command(request(resume_id="--last"))


def test_adapter_properties() -> None:
    """Codex needs the OpenAI key and can resume."""
    agent = CodexAgent()
    assert agent.name == "codex"
    assert agent.secret_env == ("OPENAI_API_KEY",)
    assert agent.can_resume is True


# -- transcript ----------------------------------------------------------------------------


def test_exec_transcript(transcript: Transcript) -> None:
    """The thread id is the agent session id; the message, the shell command (once, though it
    starts and completes), the file change and the priced usage are events; success."""
    agent = CodexAgent()
    parsed = parse_lines(agent.parser("ses-1"), transcript("codex-exec.jsonl"))
    assert [e.agent_session_id for e in parsed.of_type("agent_session_identified")] == [THREAD]
    assert [(m.text, m.message_id) for m in parsed.of_type("agent_message")] == [
        ("Implemented the callback.", "item_3")
    ]
    assert [(t.name, t.summary) for t in parsed.of_type("tool_used")] == [
        ("shell", "bash -lc 'grep -rn callback app/'"),
        ("edit", "app/oauth.py"),
    ]
    (cost,) = parsed.of_type("cost_reported")
    price = DEFAULT_CODEX_PRICES["default"]
    expected = (24763 - 24448) * price.input + 24448 * price.cached_input + 122 * price.output
    assert cost.usd == pytest.approx(expected / 1_000_000)
    assert cost.total_usd == pytest.approx(cost.usd)
    assert (cost.input_tokens, cost.output_tokens) == (24763, 122)
    assert parsed.outcome.success
    assert parsed.outcome.reported
    assert parsed.outcome.result == "Implemented the callback."


def test_transcript_priced_by_the_model(transcript: Transcript) -> None:
    """The parser prices with the model it is given, else the default model."""
    lines = transcript("codex-exec.jsonl")
    gpt5 = parse_lines(CodexAgent().parser("s", model="gpt-5-codex"), lines)
    expected = ((24763 - 24448) * 1.25 + 24448 * 0.125 + 122 * 10.0) / 1_000_000
    assert gpt5.of_type("cost_reported")[0].usd == pytest.approx(expected)
    by_default = parse_lines(CodexAgent(default_model="gpt-5-codex").parser("s"), lines)
    assert by_default.of_type("cost_reported")[0].usd == pytest.approx(expected)


# -- pricing -------------------------------------------------------------------------------


def test_price_override_and_extension() -> None:
    """User prices replace or extend the table; tuples and ``CodexPrice`` are accepted."""
    agent = CodexAgent(
        prices={"gpt-5-codex": (2.0, 0.2, 20.0), "my-model": CodexPrice(1.0, 0.1, 2.0)}
    )
    assert agent.price_for("gpt-5-codex") == CodexPrice(2.0, 0.2, 20.0)
    assert agent.price_for("my-model") == CodexPrice(1.0, 0.1, 2.0)
    assert agent.price_for("gpt-5-mini") == DEFAULT_CODEX_PRICES["gpt-5-mini"]
    parsed = parse_lines(agent.parser("s", model="gpt-5-codex"), [usage_line(1000, 0, 1000)])
    assert parsed.of_type("cost_reported")[0].usd == pytest.approx((1000 * 2 + 1000 * 20) / 1e6)


def test_default_entry_prices_unknown_models_and_can_be_overridden() -> None:
    """An unknown model is priced at ``default``; dated snapshots use their base model."""
    agent = CodexAgent(prices={"default": (1.0, 1.0, 1.0)})
    assert agent.price_for("totally-new-model") == CodexPrice(1.0, 1.0, 1.0)
    assert agent.price_for(None) == CodexPrice(1.0, 1.0, 1.0)
    assert agent.price_for("gpt-5-2025-08-07") == DEFAULT_CODEX_PRICES["gpt-5"]


@pytest.mark.parametrize("bad", [(1.0, 2.0), (-1.0, 0.0, 0.0), ("a", 1, 2), 3])
def test_malformed_price_is_refused(bad: Any) -> None:
    """A price that is not three non-negative numbers is a ``ConfigError``."""
    with pytest.raises(ConfigError):
        CodexAgent(prices={"x": bad})


def test_cached_tokens_are_part_of_input_tokens() -> None:
    """Cached tokens are priced at the cached rate and not again at the input rate."""
    price = CodexPrice(input=10.0, cached_input=1.0, output=100.0)
    assert price.cost(1_000_000, 400_000, 0) == pytest.approx(6.0 + 0.4)
    assert price.cost(100, 500, 0) == pytest.approx(100 / 1e6)


def test_costs_of_several_turns_add_up() -> None:
    """Each turn's usage is its own report; ``total_usd`` is the attempt's running total."""
    parser = CodexExecParser("s", price=CodexPrice(1.0, 0.0, 1.0))
    parsed = parse_lines(parser, [usage_line(1_000_000, 0, 0), usage_line(0, 0, 2_000_000)])
    costs = parsed.of_type("cost_reported")
    assert [c.usd for c in costs] == [pytest.approx(1.0), pytest.approx(2.0)]
    assert costs[-1].total_usd == pytest.approx(3.0)


# -- failures ------------------------------------------------------------------------------


def test_turn_failed_is_a_failure() -> None:
    """``turn.failed`` ends the run as a failure with its message."""
    parsed = parse_lines(
        CodexExecParser("s", price=CodexPrice(0, 0, 0)),
        [line(type="turn.failed", error={"message": "the model refused"})],
        exit_code=1,
    )
    assert not parsed.outcome.success
    assert parsed.outcome.error == "the model refused"
    assert not parsed.outcome.retryable
    assert parsed.outcome.reported


def test_error_event_is_a_failure_unless_a_turn_completes_after_it() -> None:
    """An ``error`` event fails the run, unless a later turn completed (a recovered retry);
    rate limits are retryable."""
    price = CodexPrice(0, 0, 0)
    failed = parse_lines(
        CodexExecParser("s", price=price),
        [line(type="error", message="429 Too Many Requests: rate limit reached")],
        exit_code=1,
    )
    assert not failed.outcome.success
    assert failed.outcome.retryable
    recovered = parse_lines(
        CodexExecParser("s", price=price),
        [line(type="error", message="Reconnecting... 1/5"), usage_line(1, 0, 1)],
    )
    assert recovered.outcome.success


def test_no_events_use_the_exit_code() -> None:
    """Without any turn event, the exit code decides and ``reported`` is false."""
    parsed = parse_lines(CodexExecParser("s", price=CodexPrice(0, 0, 0)), ["oops"], exit_code=2)
    assert not parsed.outcome.success
    assert not parsed.outcome.reported


def test_other_tools_are_named() -> None:
    """MCP calls are named like Claude's (``mcp__server__tool``); web searches too."""
    parsed = parse_lines(
        CodexExecParser("s", price=CodexPrice(0, 0, 0)),
        [
            line(
                type="item.completed",
                item={"id": "i1", "type": "mcp_tool_call", "server": "gh", "tool": "search"},
            ),
            line(type="item.completed", item={"id": "i2", "type": "web_search", "query": "x"}),
            line(type="item.completed", item={"id": "i3", "type": "reasoning", "text": "hm"}),
        ],
    )
    assert [(t.name, t.summary) for t in parsed.of_type("tool_used")] == [
        ("mcp__gh__search", ""),
        ("web_search", "x"),
    ]


def _rollout_line(kind: str, **payload: Any) -> str:
    return json.dumps({"type": kind, "payload": payload})


def _write_rollout(home: Path, thread: str, lines: list[str]) -> Path:
    folder = home / "sessions" / "2026" / "12" / "04"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"rollout-2026-12-04T10-00-00-{thread}.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


REFUSED = _rollout_line(
    "response_item",
    type="function_call_output",
    call_id="call_1",
    output="Process exited with code 1\nOutput:\n/bin/bash: line 1: a.txt: Read-only file system\n",
)
CALLED = _rollout_line(
    "response_item",
    type="function_call",
    name="exec_command",
    arguments='{"cmd": "printf x > a.txt"}',
    call_id="call_1",
)


def test_a_command_the_sandbox_refused_is_read_from_the_rollout(tmp_path: Path) -> None:
    """Codex's JSON output has no item for a command its sandbox refused; the thread's
    rollout file in the session's Codex home has the call and the file system's answer:
    `state_events()` reports it as one ``tool_denied`` (``shell``), and a command that only
    failed is no refusal. Resumed from the session's events, it is not reported twice."""
    failed = _rollout_line(
        "response_item",
        type="function_call_output",
        call_id="call_2",
        output="Process exited with code 2\nOutput:\nls: cannot access 'x': No such file\n",
    )
    _write_rollout(tmp_path, THREAD, [CALLED, REFUSED, failed, "not json", "[]"])
    parser = CodexExecParser("ses-1", price=DEFAULT_CODEX_PRICES["default"])
    parser.feed(line(type="thread.started", thread_id=THREAD))
    events = parser.state_events(tmp_path)
    denied = [e for e in events if isinstance(e, ToolDenied)]
    assert [(e.name, e.tool_use_id) for e in denied] == [("shell", "call_1")]
    assert len(events) == 1
    assert "Read-only file system" in denied[0].reason
    assert parser.state_events(tmp_path) == [], "once per call"

    later = CodexExecParser("ses-1", price=DEFAULT_CODEX_PRICES["default"])
    later.resume_from(
        [AgentSessionIdentified(session_id="ses-1", agent_session_id=THREAD), *events]
    )
    assert later.state_events(tmp_path) == []


def test_rollout_files_are_found_bounded(tmp_path: Path) -> None:
    """Only the thread's own regular files, under ``sessions/Y/M/D``, are found: a link (to a
    file or a folder) is never followed or returned, and a thread id that is not one finds
    nothing."""
    mine = _write_rollout(tmp_path, THREAD, [REFUSED])
    _write_rollout(tmp_path, "0199a213-0000-7800-8aa1-000000000000", [REFUSED])
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / f"rollout-x-{THREAD}.jsonl"
    secret.write_text(REFUSED + "\n")
    day = mine.parent
    (day / f"rollout-link-{THREAD}.jsonl").symlink_to(secret)
    (tmp_path / "sessions" / "2026" / "11").symlink_to(outside, target_is_directory=True)
    assert rollout_files(tmp_path, THREAD) == [mine]
    assert rollout_files(tmp_path, "../../etc") == []
    assert rollout_files(tmp_path / "missing", THREAD) == []
    parser = CodexExecParser("ses-1", price=DEFAULT_CODEX_PRICES["default"])
    assert parser.state_events(tmp_path) == [], "no thread identified: nothing to read"


def test_hook_reports_of_refused_commands_become_denials_once() -> None:
    """In a terminal the hooks read the same rollout: the refusals of their report line are
    ``tool_denied`` events, each call once."""
    from scopecraft._terminal_hooks import HookSignal

    denials = json.dumps([["call_9", "shell", "a.txt: Read-only file system"]])
    signal = HookSignal(event="Stop", agent_session_id=THREAD, fields={"denials": denials})
    report = signal.report_line()
    assert report is not None
    parser = CodexExecParser("ses-1", price=DEFAULT_CODEX_PRICES["default"])
    first = parser.feed(report, "system")
    again = parser.feed(report, "system")
    assert [e.tool_use_id for e in first if isinstance(e, ToolDenied)] == ["call_9"]
    assert [e for e in again if isinstance(e, ToolDenied)] == []
