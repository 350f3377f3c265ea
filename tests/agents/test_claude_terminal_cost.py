"""The cost of an interactive (tmux) Claude Code session: its Stop hook sums the transcript's
usage, the tmux executor hands it on as a ``system`` line, the parser prices it by model and
reports only what is new, once per dollar, across attempts."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from scopecraft import _terminal_hooks as hooks
from scopecraft._errors import ConfigError
from scopecraft.agents import ClaudeCodeAgent
from scopecraft.agents._claude import DEFAULT_CLAUDE_PRICES, claude_usage_cost
from scopecraft.events import AgentSessionIdentified, CostReported

MODEL = "claude-sonnet-4-5-20250929"


def _assistant(message_id: str, usage: dict[str, int], *, model: str = MODEL) -> str:
    return json.dumps(
        {
            "type": "assistant",
            "message": {
                "id": message_id,
                "model": model,
                "content": [{"type": "text", "text": "hi"}],
                "usage": usage,
            },
        }
    )


def _transcript(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_the_transcript_is_summed_once_per_message_by_model(tmp_path: Path) -> None:
    """Blocks of one message (one line each, one id) count once, with the largest counts;
    the CLI's own ``<synthetic>`` lines and lines that are not assistant messages cost
    nothing; models are summed apart."""
    first = {"input_tokens": 100, "cache_read_input_tokens": 50, "output_tokens": 1}
    path = _transcript(
        tmp_path / "t.jsonl",
        [
            json.dumps({"type": "user", "message": {"content": "do it"}}),
            _assistant("msg_1", first),
            _assistant("msg_1", {**first, "output_tokens": 20}),  # the same message, later
            _assistant("msg_2", {"input_tokens": 10, "output_tokens": 5}),
            _assistant("msg_3", {"input_tokens": 7, "output_tokens": 3}, model="claude-haiku-4-5"),
            _assistant("msg_4", {"input_tokens": 999, "output_tokens": 999}, model="<synthetic>"),
            "not json",
            json.dumps({"type": "assistant", "message": {"id": "x", "usage": "nope"}}),
        ],
    )
    assert hooks.transcript_usage(path) == {
        MODEL: [110, 50, 0, 25],
        "claude-haiku-4-5": [7, 0, 0, 3],
    }


def test_a_transcript_that_is_not_a_plain_file_is_not_read(tmp_path: Path) -> None:
    """A link (followed nowhere), a pipe (never blocked on), a folder or a missing file give
    nothing; a huge line is skipped."""
    real = _transcript(tmp_path / "real.jsonl", [_assistant("m", {"input_tokens": 1})])
    link = tmp_path / "link.jsonl"
    link.symlink_to(real)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    assert hooks.transcript_usage(link) is None
    assert hooks.transcript_usage(fifo) is None
    assert hooks.transcript_usage(tmp_path) is None
    assert hooks.transcript_usage(tmp_path / "gone.jsonl") is None
    huge = _assistant("big", {"input_tokens": 5}).replace('"hi"', '"' + "x" * 2_000_000 + '"')
    assert hooks.transcript_usage(_transcript(tmp_path / "huge.jsonl", [huge])) is None


def test_the_stop_hook_records_the_usage(tmp_path: Path) -> None:
    """The hook command keeps the summed usage with the Stop; other hooks and hooks without
    a transcript keep none, and the hook's own ``usage`` field is never taken as it is."""
    path = _transcript(tmp_path / "t.jsonl", [_assistant("m", {"input_tokens": 3})])
    stop = {"hook_event_name": "Stop", "session_id": "abc", "transcript_path": str(path)}
    record = json.loads(hooks._record(json.dumps(stop)))
    assert json.loads(record["usage"]) == {MODEL: [3, 0, 0, 0]}
    note = {"hook_event_name": "Notification", "transcript_path": str(path), "usage": "{}"}
    assert "usage" not in json.loads(hooks._record(json.dumps(note)))
    (tmp_path / "hooks.jsonl").write_bytes(hooks._record(json.dumps(stop)))
    (signal,), _ = hooks.read_hook_signals(tmp_path / "hooks.jsonl")
    assert signal.usage == {MODEL: [3, 0, 0, 0]}
    line = signal.report_line()
    assert line is not None
    report = hooks.parse_report_line(line)
    assert report is not None
    assert (report.agent_session_id, report.usage) == ("abc", {MODEL: [3, 0, 0, 0]})


def _line(agent_session: str, usage: dict[str, list[int]]) -> str:
    return json.dumps(
        {"type": hooks.USAGE_LINE_TYPE, "agent_session_id": agent_session, "usage": usage}
    )


def test_the_parser_prices_new_usage_only() -> None:
    """Each Stop reports what its turns added, priced by model (a dated snapshot priced as
    its model, cache writes at 1.25 times the input price)."""
    parser = ClaudeCodeAgent().parser("ses-1")
    first = parser.feed(_line("abc", {MODEL: [1000, 0, 0, 100]}), "system")
    assert isinstance(first[0], AgentSessionIdentified)
    cost = first[-1]
    assert isinstance(cost, CostReported)
    assert cost.usd == pytest.approx((1000 * 3 + 100 * 15) / 1e6)
    assert cost.input_tokens == 1000
    second = parser.feed(_line("abc", {MODEL: [1500, 200, 400, 150]}), "system")
    (more,) = second
    assert isinstance(more, CostReported)
    assert more.usd == pytest.approx((500 * 3 + 400 * 3 * 1.25 + 200 * 0.3 + 50 * 15) / 1e6)
    assert parser.feed(_line("abc", {MODEL: [1500, 200, 400, 150]}), "system") == []


def test_a_usage_line_the_agent_prints_is_not_believed() -> None:
    """Only the executor's ``system`` lines carry usage: the same text on the pane is no
    cost."""
    parser = ClaudeCodeAgent().parser("ses-1")
    assert parser.feed(_line("abc", {MODEL: [10**9, 0, 0, 0]}), "stdout") == []


def test_a_resumed_session_counts_only_its_new_usage() -> None:
    """The next attempt resumes the Claude session, whose transcript holds the earlier turns
    too: the parser learns the last running total from the stored events."""
    earlier = ClaudeCodeAgent().parser("ses-1")
    events = earlier.feed(_line("abc", {MODEL: [1000, 0, 0, 100]}), "system")
    later = ClaudeCodeAgent().parser("ses-1")
    later.resume_from(events)
    found = later.feed(_line("abc", {MODEL: [1200, 0, 0, 120]}), "system")
    (cost,) = [e for e in found if isinstance(e, CostReported)]
    assert cost.usd == pytest.approx((200 * 3 + 20 * 15) / 1e6)
    assert cost.input_tokens == 200
    assert cost.output_tokens == 20


def test_prices_can_be_given_and_unknown_models_cost_the_most() -> None:
    """``prices=`` corrects or adds a model; a model in no table is priced at ``default``."""
    agent = ClaudeCodeAgent(prices={"claude-next": (1.0, 0.1, 2.0)})
    (cost,) = [
        e
        for e in agent.parser("s").feed(_line("", {"claude-next": [10**6, 0, 0, 0]}), "system")
        if isinstance(e, CostReported)
    ]
    assert cost.usd == pytest.approx(1.0)
    unknown = claude_usage_cost(DEFAULT_CLAUDE_PRICES["default"], [10**6, 0, 0, 0])
    assert unknown == pytest.approx(15.0)
    with pytest.raises(ConfigError, match="price"):
        ClaudeCodeAgent(prices={"claude-next": (1.0, -1, 2.0)})


def _codex(kind: str, payload: dict[str, object]) -> str:
    return json.dumps({"type": kind, "payload": payload})


def test_a_codex_rollout_is_summed_by_response_and_model(tmp_path: Path) -> None:
    """Codex's rollout file: a usage record per model response (counted once, cached tokens
    inside ``input_tokens``), of the model the last ``turn_context`` named; the running
    ``token_count`` totals are not counted again."""
    usage = {"input_tokens": 100, "cached_input_tokens": 40, "output_tokens": 20}
    path = _transcript(
        tmp_path / "rollout.jsonl",
        [
            _codex("turn_context", {"model": "gpt-5.5"}),
            _codex("token_usage_record", {"response_id": "r1", "usage": usage}),
            _codex("token_usage_record", {"response_id": "r1", "usage": usage}),
            _codex("event_msg", {"type": "token_count", "info": {"total_token_usage": usage}}),
            _codex("turn_context", {"model": "gpt-5.4-mini"}),
            _codex("token_usage_record", {"response_id": "r2", "usage": usage}),
        ],
    )
    assert hooks.transcript_usage(path) == {
        "gpt-5.5": [60, 40, 0, 20],
        "gpt-5.4-mini": [60, 40, 0, 20],
    }


def test_the_codex_parser_prices_hook_usage_once() -> None:
    """A terminal Codex session's hook usage is a cost at the session's model's price;
    the same totals again add nothing; the pane's copy of such a line is not believed."""
    from scopecraft.agents import CodexAgent

    parser = CodexAgent().parser("ses-1")
    line = _line("thread-1", {"gpt-5.5": [160, 40, 0, 40]})
    assert parser.feed(line, "stdout") == []
    events = parser.feed(line, "system")
    assert isinstance(events[0], AgentSessionIdentified)
    (cost,) = [e for e in events if isinstance(e, CostReported)]
    assert cost.usd > 0
    assert cost.input_tokens == 200
    assert parser.feed(line, "system") == []


def test_the_hook_waits_for_the_transcript_to_settle(tmp_path: Path) -> None:
    """A transcript that stopped growing (or is not there) is read after a short quiet
    spell, never after the 2 s bound (a Codex SessionEnd hook has 3 s)."""
    import time

    path = _transcript(tmp_path / "t.jsonl", [_assistant("m", {"input_tokens": 1})])
    began = time.monotonic()
    hooks._settle(path)
    hooks._settle(tmp_path / "gone.jsonl")
    assert time.monotonic() - began < 2.5
