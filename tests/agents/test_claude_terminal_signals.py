"""What an interactive (tmux) Claude Code session's hooks tell besides its cost: the tool uses
a person refused at a permission prompt (read from the transcript) and the API error that
ended a turn (``StopFailure``), handed to the parser as one ``system`` line each."""

from __future__ import annotations

import json
from pathlib import Path

from scopecraft import _terminal_hooks as hooks
from scopecraft.agents import ClaudeCodeAgent
from scopecraft.events import ToolDenied

REFUSAL = (
    "The user doesn't want to proceed with this tool use. The tool use was rejected (eg. if "
    "it was a file edit, the new_string was NOT written to the file)."
)


def _tool_use(use_id: str, name: str) -> str:
    content = [{"type": "tool_use", "id": use_id, "name": name, "input": {}}]
    message = {"id": f"msg_{use_id}", "model": "claude-sonnet-4-5", "content": content}
    return json.dumps({"type": "assistant", "message": message})


def _tool_result(use_id: str, text: str, *, error: bool = True, kind: str | None = None) -> str:
    block = {"type": "tool_result", "tool_use_id": use_id, "content": text, "is_error": error}
    line: dict[str, object] = {"type": "user", "message": {"role": "user", "content": [block]}}
    if kind is not None:
        line["toolDenialKind"] = kind
    return json.dumps(line)


def test_refused_tool_uses_are_read_from_the_transcript(tmp_path: Path) -> None:
    """A refused tool result (marked ``toolDenialKind``, or with the CLI's refusal text) is a
    denial named after its ``tool_use``; a tool that merely failed is not."""
    path = tmp_path / "t.jsonl"
    path.write_text(
        "\n".join(
            [
                _tool_use("toolu_1", "Write"),
                _tool_result("toolu_1", REFUSAL, kind="user-rejected"),
                _tool_use("toolu_2", "Bash"),
                _tool_result("toolu_2", "exit code 1: no such file"),
                _tool_use("toolu_3", "Edit"),
                _tool_result("toolu_3", REFUSAL),
                _tool_result("toolu_4", REFUSAL, error=False),
            ]
        )
        + "\n"
    )
    summary = hooks.read_transcript(path)
    assert summary is not None
    assert [(d[0], d[1]) for d in summary.denials] == [("toolu_1", "Write"), ("toolu_3", "Edit")]
    assert summary.denials[0][2].startswith("The user doesn't want to proceed")


def test_only_the_last_refusals_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    lines = [_tool_result(f"toolu_{i}", REFUSAL, kind="user-rejected") for i in range(80)]
    path.write_text("\n".join(lines) + "\n")
    summary = hooks.read_transcript(path)
    assert summary is not None
    assert len(summary.denials) == 50
    assert summary.denials[-1][0] == "toolu_79"


def _signal(tmp_path: Path, data: dict[str, object]) -> hooks.HookSignal:
    (tmp_path / "hooks.jsonl").write_bytes(hooks._record(json.dumps(data)))
    (signal,), _ = hooks.read_hook_signals(tmp_path / "hooks.jsonl")
    return signal


def test_the_next_prompt_reports_a_refusal_once(tmp_path: Path) -> None:
    """The ``UserPromptSubmit`` hook reads the transcript: its report line makes a
    ``tool_denied`` event; the same refusal read again by a later hook, or in the next
    attempt (the resumed transcript holds it too), is not reported again."""
    path = tmp_path / "t.jsonl"
    path.write_text(_tool_use("toolu_1", "Write") + "\n" + _tool_result("toolu_1", REFUSAL) + "\n")
    signal = _signal(
        tmp_path,
        {"hook_event_name": "UserPromptSubmit", "session_id": "abc", "transcript_path": str(path)},
    )
    assert "the agent was given a prompt" in signal.describe()
    line = signal.report_line()
    assert line is not None
    parser = ClaudeCodeAgent().parser("ses-1")
    events = parser.feed(line, "system")
    denied = [e for e in events if isinstance(e, ToolDenied)]
    assert [(d.name, d.tool_use_id) for d in denied] == [("Write", "toolu_1")]
    assert parser.feed(line, "system") == []
    assert not parser.ended

    later = ClaudeCodeAgent().parser("ses-1")
    later.resume_from(denied)
    assert not [e for e in later.feed(line, "system") if isinstance(e, ToolDenied)]


def test_a_stop_failure_decides_the_outcome(tmp_path: Path) -> None:
    """A ``StopFailure`` ends the attempt: the parser says it has ``ended`` and the outcome
    is a failure, retryable for the infrastructure's errors only."""
    for kind, retryable in (("server_error", True), ("rate_limit", True), ("billing_error", False)):
        signal = _signal(
            tmp_path,
            {
                "hook_event_name": "StopFailure",
                "session_id": "abc",
                "error": kind,
                "last_assistant_message": "API Error: 529 Overloaded.",
            },
        )
        assert signal.waiting_for_input
        assert f"an API error ended the turn ({kind})" in signal.describe()
        parser = ClaudeCodeAgent().parser("ses-1")
        line = signal.report_line()
        assert line is not None
        parser.feed(line, "system")
        assert parser.ended
        _, outcome = parser.finish(0)
        assert not outcome.success
        assert outcome.retryable is retryable
        assert outcome.error is not None
        assert kind in outcome.error
        assert "529" in outcome.error


def test_report_lines_are_bounded_and_checked() -> None:
    """A report line from anywhere but the executor's ``system`` stream is ignored, and a
    malformed one is no report."""
    parser = ClaudeCodeAgent().parser("ses-1")
    failure = json.dumps({"type": hooks.USAGE_LINE_TYPE, "failure": ["server_error", "x"]})
    assert parser.feed(failure, "stdout") == []
    assert not parser.ended
    assert hooks.parse_report_line(json.dumps({"type": hooks.USAGE_LINE_TYPE})) is None
    bad = {"type": hooks.USAGE_LINE_TYPE, "denials": [["", "Write", "x"], [1, 2, 3]]}
    assert hooks.parse_report_line(json.dumps(bad)) is None
    huge = {"type": hooks.USAGE_LINE_TYPE, "failure": ["server_error", "x" * 300_000]}
    assert hooks.parse_report_line(json.dumps(huge)) is None


def _task_complete(status: int | None, message: str = "unexpected status") -> str:
    error: dict[str, object] = {"message": message}
    if status is not None:
        error["codex_error_info"] = {"http_connection_failed": {"http_status_code": status}}
    payload = {"type": "task_complete", "last_agent_message": None, "error": error}
    return json.dumps({"type": "event_msg", "payload": payload})


def test_a_codex_transcript_tells_the_failed_turns_past_the_offset(tmp_path: Path) -> None:
    """A failed ``task_complete`` is a failure of the kind its HTTP status names; a turn
    that completed is none; only complete lines past the offset are read."""
    path = tmp_path / "rollout.jsonl"
    done = json.dumps({"type": "event_msg", "payload": {"type": "task_complete", "error": None}})
    path.write_text(
        "\n".join(
            [
                _task_complete(503),
                done,
                _task_complete(529),
                _task_complete(401),
                _task_complete(429),
            ]
        )
        + "\n"
        + _task_complete(None)  # not finished yet
    )
    first = len(_task_complete(503)) + 1
    failures, offset = hooks.follow_transcript(path, first)
    assert [kind for kind, _ in failures] == ["server_error", "authentication_failed", "rate_limit"]
    assert failures[0][1] == "unexpected status"
    with path.open("a") as fh:
        fh.write("\n")
    assert hooks.follow_transcript(path, offset)[0] == [("unknown", "unexpected status")]
    link = tmp_path / "link.jsonl"
    link.symlink_to(path)
    assert hooks.follow_transcript(link, 0) == ([], 0)


def test_the_tmux_reader_follows_only_a_transcript_in_the_sessions_folder(tmp_path: Path) -> None:
    """The SessionStart hook names the transcript and its size then: the reader follows it
    from there when it lies in the session's own folder, and hands a failure on as a report
    line the Codex parser ends the attempt by; a transcript elsewhere is never read."""
    from scopecraft.agents import CodexAgent
    from scopecraft.executors._tmux_output import read_pane_output

    home = tmp_path / "engine-home"
    run_dir = home / "runs" / "ses-1" / "1"
    run_dir.mkdir(parents=True)
    state = home / "sessions" / "ses-1" / "agent-state"
    state.mkdir(parents=True)
    outside = tmp_path / "elsewhere.jsonl"
    for transcript in (outside, state / "rollout.jsonl"):
        transcript.write_text(_task_complete(500, "an earlier attempt's failure") + "\n")
        start = {
            "hook_event_name": "SessionStart",
            "session_id": "thread-1",
            "transcript_path": str(transcript),
        }
        (run_dir / hooks.HOOKS_FILE).write_bytes(hooks._record(json.dumps(start)))
        lines, cursor = read_pane_output(run_dir, None, False)
        with transcript.open("a") as fh:
            fh.write(_task_complete(529, "overloaded") + "\n")
        more, cursor = read_pane_output(run_dir, cursor, False)
        reports = [text for stream, text in lines + more if hooks.USAGE_LINE_TYPE in text]
        if transcript == outside:
            assert "transcript" not in cursor
            assert reports == []
            continue
        (report,) = reports
        parser = CodexAgent().parser("ses-1")
        parser.feed(report, "system")
        assert parser.ended
        _, outcome = parser.finish(None)
        assert outcome.retryable
        assert outcome.error is not None
        assert "overloaded" in outcome.error
        assert "earlier" not in outcome.error
