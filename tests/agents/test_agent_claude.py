"""ClaudeCodeAgent: argv for every option, and the stream-json parser over recorded transcripts."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from agent_support import parse_lines
from hypothesis import given, settings
from hypothesis import strategies as st

from scopecraft._errors import AgentError
from scopecraft._models import SessionMode
from scopecraft.agents import AgentRequest, ClaudeCodeAgent, ClaudeStreamParser
from scopecraft.agents._common import MAX_ARGV_PROMPT_BYTES
from scopecraft.events import AgentMessage, CostReported

SID = "5b2f6f3e-2d0c-4c1e-9a57-0c8e1f2a7d41"
BASE = ("claude", "--print", "--output-format", "stream-json", "--verbose")
EDIT = ("--permission-mode", "acceptEdits", "--allowedTools=mcp__scopecraft")
"""What the default permission level, ``edit``, adds."""
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


def assistant(message_id: str | None, *blocks: dict[str, Any]) -> str:
    message: dict[str, Any] = {"role": "assistant", "content": list(blocks)}
    if message_id is not None:
        message["id"] = message_id
    return line(type="assistant", message=message, session_id=SID)


def text(value: str) -> dict[str, Any]:
    return {"type": "text", "text": value}


def tool(tool_id: str, name: str, **tool_input: Any) -> dict[str, Any]:
    return {"type": "tool_use", "id": tool_id, "name": name, "input": tool_input}


def result(**data: Any) -> str:
    values: dict[str, Any] = {"type": "result", "subtype": "success", "is_error": False}
    values.update(data)
    return line(**values)


# -- argv --------------------------------------------------------------------------------


def test_plain_run_reads_the_prompt_from_stdin() -> None:
    """Unattended, Claude runs in print mode with stream-json and gets the prompt on stdin."""
    command = ClaudeCodeAgent().command(request(prompt="fake: say hi\n"))
    assert command.argv == (*BASE, *EDIT)
    assert command.stdin == b"fake: say hi\n"
    assert dict(command.env) == {}


@pytest.mark.parametrize("model", [None, "claude-sonnet-4-5"])
@pytest.mark.parametrize("resume_id", [None, SID])
@pytest.mark.parametrize("dangerous", [False, True])
def test_argv_for_each_option_combination(
    model: str | None, resume_id: str | None, dangerous: bool
) -> None:
    """``--model``, ``--resume`` and ``--dangerously-skip-permissions`` appear exactly when
    asked, after the fixed print-mode options."""
    command = ClaudeCodeAgent().command(
        request(model=model, resume_id=resume_id, dangerous=dangerous)
    )
    expected = list(BASE)
    if model:
        expected += ["--model", model]
    if resume_id:
        expected += ["--resume", resume_id]
    expected += ["--dangerously-skip-permissions"] if dangerous else EDIT
    assert command.argv == tuple(expected)
    assert ("--dangerously-skip-permissions" in command.argv) is dangerous


@pytest.mark.parametrize("resume_id", [None, SID])
@pytest.mark.parametrize("dangerous", [False, True])
def test_terminal_runs_interactive_claude_with_the_prompt_as_argument(
    resume_id: str | None, dangerous: bool
) -> None:
    """In a terminal, plain interactive ``claude`` gets the prompt text as its last argument
    and no stdin; resume and dangerous work the same."""
    command = ClaudeCodeAgent().command(
        request(
            prompt="work on it",
            terminal=True,
            prompt_file="/tmp/p.md",
            resume_id=resume_id,
            dangerous=dangerous,
            model="opus",
        )
    )
    expected = ["claude", "--model", "opus"]
    if resume_id:
        expected += ["--resume", resume_id]
    expected += ["--dangerously-skip-permissions"] if dangerous else EDIT
    assert command.argv == (*expected, "work on it")
    assert command.stdin is None
    assert "--print" not in command.argv


def test_terminal_prompt_starting_with_a_dash_is_not_an_option() -> None:
    """A terminal prompt that starts with ``-`` is passed after ``--``."""
    command = ClaudeCodeAgent().command(request(prompt="-v please", terminal=True))
    assert command.argv[-2:] == ("--", "-v please")


def test_terminal_prompt_too_long_for_argv_is_refused() -> None:
    """A prompt longer than one argv element can carry is refused with ``AgentError``."""
    with pytest.raises(AgentError, match="longer than"):
        ClaudeCodeAgent().command(request(prompt="x" * (MAX_ARGV_PROMPT_BYTES + 1), terminal=True))


def test_state_dir_sets_claude_config_dir() -> None:
    """With a state folder, ``CLAUDE_CONFIG_DIR`` points there, so resume finds the transcript."""
    command = ClaudeCodeAgent().command(request(state_dir="/state/ses-1"))
    assert dict(command.env) == {"CLAUDE_CONFIG_DIR": "/state/ses-1"}


@pytest.mark.parametrize(
    ("field", "value"), [("model", "--evil"), ("model", "a b"), ("resume_id", "-r")]
)
def test_malformed_model_or_resume_id_is_refused(field: str, value: str) -> None:
    """A model or resume id that could be read as an option is refused with ``AgentError``."""
    with pytest.raises(AgentError):
        ClaudeCodeAgent().command(request(**{field: value}))


def test_adapter_properties() -> None:
    """Claude Code needs its API key or OAuth token and can resume."""
    agent = ClaudeCodeAgent()
    assert agent.name == "claude-code"
    assert agent.secret_env == ("ANTHROPIC_API_KEY", "CLAUDE_CODE_OAUTH_TOKEN")
    assert agent.can_resume is True


# -- transcripts ---------------------------------------------------------------------------


def test_success_transcript(transcript: Transcript) -> None:
    """A successful run: the session id once, text grouped per message id, every tool, the cost
    and a success outcome whose result repeats the last message without a second event."""
    parsed = parse_lines(ClaudeStreamParser("ses-1"), transcript("claude-success.jsonl"))
    ids = parsed.of_type("agent_session_identified")
    assert [e.agent_session_id for e in ids] == [SID]
    messages = parsed.of_type("agent_message")
    assert [(m.text, m.message_id) for m in messages] == [
        ("I'll read the task and the existing handlers first.", "msg_01A1"),
        ("The callback now exchanges the code; the three OAuth tests pass.", "msg_01A4"),
    ]
    tools = parsed.of_type("tool_used")
    assert [(t.name, t.tool_use_id, t.summary) for t in tools] == [
        ("Read", "toolu_01X", "/workspace/app/oauth.py"),
        ("Edit", "toolu_01Y", "/workspace/app/oauth.py"),
        ("Bash", "toolu_01Z", "python -m pytest -q tests/test_oauth.py"),
    ]
    costs = parsed.of_type("cost_reported")
    assert len(costs) == 1
    assert costs[0].usd == pytest.approx(0.0831)
    assert costs[0].total_usd == pytest.approx(0.0831)
    assert costs[0].input_tokens == 6200 + 4400
    assert costs[0].output_tokens == 234
    assert parsed.outcome.success
    assert parsed.outcome.reported
    assert parsed.outcome.result == messages[-1].text
    assert all(e.session_id == "ses-1" for e in parsed.events)


def test_max_turns_transcript_fails_and_keeps_non_json_out(transcript: Transcript) -> None:
    """``error_max_turns`` is a failure named by its subtype; the ``npm WARN`` line is no event."""
    lines = transcript("claude-max-turns.jsonl")
    parser = ClaudeStreamParser("ses-2")
    stray = [entry for entry in lines if not entry.startswith("{")]
    assert stray == ["npm WARN config production Use `--omit=dev` instead."]
    assert parser.feed(stray[0]) == []
    parsed = parse_lines(ClaudeStreamParser("ses-2"), lines, exit_code=1)
    assert [m.text for m in parsed.of_type("agent_message")] == ["Looking for the flaky test."]
    assert [(t.name, t.summary) for t in parsed.of_type("tool_used")] == [
        ("Bash", "grep -rn flaky tests/")
    ]
    assert parsed.of_type("cost_reported")[0].usd == pytest.approx(0.0107)
    assert not parsed.outcome.success
    assert parsed.outcome.error == "error_max_turns"
    assert not parsed.outcome.retryable
    assert parsed.outcome.reported


def test_resumed_transcript_is_error_wins_over_subtype(transcript: Transcript) -> None:
    """The resumed run keeps the first run's session id; ``subtype: success`` with
    ``is_error: true`` is a failure, and an overloaded API (529) is retryable."""
    first = parse_lines(ClaudeStreamParser("ses-3"), transcript("claude-success.jsonl"))
    resumed = parse_lines(ClaudeStreamParser("ses-3"), transcript("claude-resumed.jsonl"))
    first_id = first.of_type("agent_session_identified")[0].agent_session_id
    assert [e.agent_session_id for e in resumed.of_type("agent_session_identified")] == [first_id]
    assert [m.text for m in resumed.of_type("agent_message")] == [
        "Adding the refresh-token case you asked for."
    ]
    assert not resumed.outcome.success
    assert resumed.outcome.error == "API Error: 529 overloaded"
    assert resumed.outcome.retryable
    assert resumed.of_type("cost_reported")[0].usd == pytest.approx(0.0049)


def test_legacy_cost_fields(transcript: Transcript) -> None:
    """Older CLIs report ``cost_usd`` (and ``total_cost``) instead of ``total_cost_usd``."""
    parsed = parse_lines(ClaudeStreamParser("ses-4"), transcript("claude-legacy-cost.jsonl"))
    costs = parsed.of_type("cost_reported")
    assert [(c.usd, c.total_usd) for c in costs] == [(pytest.approx(0.0042),) * 2]
    assert [m.text for m in parsed.of_type("agent_message")] == ["Done."]
    assert parsed.outcome.success


def test_total_cost_alone_is_read() -> None:
    """A result carrying only the oldest field, ``total_cost``, still reports cost."""
    parsed = parse_lines(ClaudeStreamParser("s"), [result(total_cost=0.5)])
    assert [c.usd for c in parsed.of_type("cost_reported")] == [0.5]


# -- grouping and outcome rules -----------------------------------------------------------


def test_text_blocks_of_one_message_become_one_message() -> None:
    """Text blocks with the same message id are joined into one message, emitted when another
    message id starts or a tool use follows (events keep the order the CLI wrote them in);
    tool uses are emitted at once."""
    parser = ClaudeStreamParser("s")
    assert parser.feed(assistant("m1", text("first part"))) == []
    assert parser.feed(assistant("m1", text("more of it"))) == []
    events = parser.feed(assistant("m1", tool("t1", "Bash", command="ls")))
    assert [(e.type, getattr(e, "text", None)) for e in events] == [
        ("agent_message", "first part\n\nmore of it"),
        ("tool_used", None),
    ]
    assert parser.feed(assistant("m1", text("second part"))) == []
    events = parser.feed(assistant("m2", text("next")))
    assert [(e.type, getattr(e, "text", None), getattr(e, "message_id", None)) for e in events] == [
        ("agent_message", "second part", "m1")
    ]
    tail, _ = parser.finish(0)
    assert [e.text for e in tail if isinstance(e, AgentMessage)] == ["next"]


def test_pending_message_is_emitted_at_the_result() -> None:
    """The result line completes the message before it."""
    parser = ClaudeStreamParser("s")
    parser.feed(assistant("m1", text("all done")))
    events = parser.feed(result(result="all done", total_cost_usd=0.1))
    assert [e.type for e in events] == ["agent_message", "cost_reported"]


def test_result_text_repeating_the_last_message_is_not_a_second_message() -> None:
    """A result text equal to the last message (up to whitespace) adds no message; a new one
    does."""
    same = parse_lines(
        ClaudeStreamParser("s"), [assistant("m1", text("Done.\n")), result(result=" Done.")]
    )
    assert [m.text for m in same.of_type("agent_message")] == ["Done.\n"]
    new = parse_lines(ClaudeStreamParser("s"), [result(result="Summary only here")])
    assert [m.text for m in new.of_type("agent_message")] == ["Summary only here"]


def test_session_identified_once() -> None:
    """A second init line does not identify the session again."""
    init = line(type="system", subtype="init", session_id=SID)
    other = line(type="system", subtype="init", session_id="other")
    parsed = parse_lines(ClaudeStreamParser("s"), [init, other])
    assert [e.agent_session_id for e in parsed.of_type("agent_session_identified")] == [SID]


def test_cost_reports_only_what_is_new_in_the_attempt() -> None:
    """Each report's ``usd`` is what it adds to the attempt's running total."""
    parsed = parse_lines(
        ClaudeStreamParser("s"), [result(total_cost_usd=0.5), result(total_cost_usd=0.8)]
    )
    costs: list[CostReported] = parsed.of_type("cost_reported")
    assert [c.usd for c in costs] == [pytest.approx(0.5), pytest.approx(0.3)]
    assert costs[-1].total_usd == pytest.approx(0.8)


def test_tool_summaries_are_short() -> None:
    """A tool's summary is its command or path, on one line, cut to about 200 characters."""
    long_command = "echo " + "word " * 100 + "\nsecond line"
    parsed = parse_lines(
        ClaudeStreamParser("s"),
        [
            assistant("m1", tool("t1", "Bash", command=long_command)),
            assistant("m1", tool("t2", "Custom", alpha=1, beta=[1, 2])),
            assistant("m1", tool("t1", "Bash", command="duplicate id")),
        ],
    )
    tools = parsed.of_type("tool_used")
    assert len(tools) == 2
    assert len(tools[0].summary) <= 200
    assert tools[0].summary.endswith("\u2026")
    assert "\n" not in tools[0].summary
    assert tools[1].summary == '{"alpha": 1, "beta": [1, 2]}'


def test_missing_result_line_uses_the_exit_code() -> None:
    """Without a result line, the exit code decides and ``reported`` is false."""
    lines = [assistant("m1", text("partial"))]
    ok = parse_lines(ClaudeStreamParser("s"), lines, exit_code=0)
    assert ok.outcome.success
    assert not ok.outcome.reported
    assert [m.text for m in ok.of_type("agent_message")] == ["partial"]
    bad = parse_lines(ClaudeStreamParser("s"), lines, exit_code=137)
    assert not bad.outcome.success
    assert "137" in (bad.outcome.error or "")


def test_is_error_false_wins_over_an_error_subtype() -> None:
    """``is_error`` decides when present; the subtype decides only without it."""
    explicit = parse_lines(ClaudeStreamParser("s"), [result(subtype="error_x", is_error=False)])
    assert explicit.outcome.success
    no_flag = parse_lines(
        ClaudeStreamParser("s"), [line(type="result", subtype="error_during_execution")]
    )
    assert not no_flag.outcome.success
    assert no_flag.outcome.error == "error_during_execution"


@pytest.mark.parametrize(
    ("message", "retryable"),
    [
        ("API Error: 529 overloaded", True),
        ("API Error: 500 Internal server error", True),
        ("Request rejected: rate limit exceeded", True),
        ("API Error: 429 Too Many Requests", True),
        ("Overloaded", True),
        ("The tests failed", False),
        ("error_max_turns", False),
    ],
)
def test_retryable_failures(message: str, retryable: bool) -> None:
    """Overload, rate limits and 5xx errors are retryable; the agent's own failures are not."""
    parsed = parse_lines(ClaudeStreamParser("s"), [result(is_error=True, result=message)])
    assert parsed.outcome.retryable is retryable


def test_system_stream_lines_are_not_parsed() -> None:
    """Lines the engine itself adds (stream ``system``) never become events."""
    parser = ClaudeStreamParser("s")
    assert parser.feed(line(type="system", subtype="init", session_id=SID), "system") == []


def test_finish_twice_returns_the_same_outcome() -> None:
    """A second ``finish`` returns no new events and the same outcome."""
    parser = ClaudeStreamParser("s")
    parser.feed(assistant("m", text("hi")))
    first_events, first = parser.finish(0)
    second_events, second = parser.finish(1)
    assert len(first_events) == 1
    assert second_events == []
    assert second == first


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
_SHAPED = st.fixed_dictionaries(
    {"type": st.sampled_from(["system", "assistant", "user", "result", "other"])},
    optional={
        "subtype": st.sampled_from(["init", "success", "error_max_turns"]) | _JSON,
        "session_id": _JSON,
        "message": st.fixed_dictionaries(
            {}, optional={"id": _JSON, "content": st.lists(_JSON, max_size=3) | _JSON}
        ),
        "result": _JSON,
        "is_error": _JSON,
        "total_cost_usd": _JSON,
        "usage": _JSON,
    },
)


@settings(max_examples=300, deadline=None, database=None)
@given(st.lists(st.one_of(st.text(), _SHAPED.map(json.dumps)), max_size=8), st.integers(0, 255))
def test_parser_never_raises(lines: list[str], exit_code: int) -> None:
    """Whatever lines arrive, the parser returns events and an outcome without raising."""
    parsed = parse_lines(ClaudeStreamParser("s"), lines, exit_code=exit_code)
    assert parsed.outcome is not None
    assert all(e.session_id == "s" for e in parsed.events)


def test_terminal_command_wires_hooks_when_watched(tmp_path: Path) -> None:
    """In a terminal with a hooks file, Claude gets ``--settings`` whose Stop, Notification
    and SessionEnd hooks append to that file; without one, no settings are passed."""
    hooks = tmp_path / "hooks.jsonl"
    request = AgentRequest(
        mode=SessionMode.INTERACTIVE,
        prompt="hello",
        workdir=str(tmp_path),
        terminal=True,
        hooks_file=str(hooks),
    )
    argv = ClaudeCodeAgent().command(request).argv
    settings = json.loads(argv[argv.index("--settings") + 1])
    assert {"Stop", "Notification", "SessionEnd"} <= set(settings["hooks"])
    assert str(hooks) in json.dumps(settings)
    plain = ClaudeCodeAgent().command(
        AgentRequest(mode=SessionMode.INTERACTIVE, prompt="hello", workdir=".", terminal=True)
    )
    assert "--settings" not in plain.argv
