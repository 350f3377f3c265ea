"""`session logs` and `--follow` tell people what the agent did, told from its events."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cli.cli_support import LOCAL, Cli, cli_for
from support import make_repo, shared_fixture

from scopecraft import LogEntry, Session
from scopecraft.cli._common import CliState
from scopecraft.cli._render import StoryRenderer, is_stream_json, tool_call
from scopecraft.cli._session import _report_start
from scopecraft.events import (
    AgentMessage,
    CostReported,
    ErrorOccurred,
    FeedbackGiven,
    SessionCompleted,
    SessionFailed,
    SessionQueued,
    ToolDenied,
    ToolUsed,
)

STORY = (
    "fake: say I will write hello.txt.\n"
    "fake: write hello.txt hello world\n"
    "fake: cost 0.0123\n"
    "fake: nonsense\n"
    "fake: say Wrote hello.txt."
)


@pytest.fixture
def story_repo(tmp_path: Path) -> Path:
    """A repository whose tasks script a short story for the fake agent."""
    return make_repo(
        tmp_path / "story",
        {
            "story-01A": STORY,
            "slow-01D": "fake: say one\nfake: sleep 1\nfake: say two",
            "fail-01B": "fake: say trying\nfake: fail 3",
        },
    )


@pytest.fixture
def cli(story_repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the story repository."""
    yield from cli_for(story_repo, home)


def _ended(cli: Cli, task_id: str) -> str:
    started = cli.start(task_id)
    cli.json("session", "wait", started["id"], "--timeout", "60")
    return str(started["id"])


def test_logs_tell_the_story_and_never_print_raw_json(cli: Cli) -> None:
    """`session logs` prints the agent's messages, its tool uses with their arguments
    relative to the worktree, the cost, the standard error line and the outcome, in
    order, and none of the agent's stream-JSON lines."""
    session_id = _ended(cli, "story-01A")
    result = cli("session", "logs", session_id)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert not [line for line in lines if line.lstrip().startswith("{")], lines
    said = lines.index("I will write hello.txt.")
    tool = lines.index("▸ Write hello.txt")
    cost = lines.index("$0.0123 (total $0.0123)")
    last = lines.index("Wrote hello.txt.")
    assert said < tool < cost < last, lines
    assert "fake-agent: ignoring unknown directive: fake: nonsense" in lines
    assert lines[-1] == "✓ completed"
    assert any(line.startswith("changes: ") and "session diff" in line for line in lines)


def test_logs_limit_keeps_the_last_lines_of_the_story(cli: Cli) -> None:
    """`session logs -n 2` prints the last two lines of the story; `-t` starts each line
    with its time."""
    session_id = _ended(cli, "story-01A")
    every = cli("session", "logs", session_id).stdout.splitlines()
    last = cli("session", "logs", session_id, "-n", "2").stdout.splitlines()
    assert last == every[-2:]
    stamped = cli("session", "logs", session_id, "-t").stdout.splitlines()
    assert len(stamped) == len(every)
    assert all(line[2] == ":" and line[5] == ":" for line in stamped), stamped
    assert cli("session", "logs", session_id, "-n", "0").stdout == ""


def test_raw_prints_the_agent_output_lines_as_they_are(cli: Cli) -> None:
    """`session logs --raw` prints every stored log line unchanged, stream-JSON included:
    the same texts as the JSON log entries."""
    session_id = _ended(cli, "story-01A")
    raw = cli("session", "logs", session_id, "--raw")
    assert raw.exit_code == 0, raw.stderr
    entries = cli.json("session", "logs", session_id)
    assert raw.stdout.splitlines() == [entry["text"] for entry in entries]
    assert any(line.startswith('{"type":') for line in raw.stdout.splitlines())


def test_follow_of_a_running_session_prints_until_it_ends(cli: Cli) -> None:
    """`session logs --follow` on a running session prints its messages as they come and
    its outcome, then exits 0 because it completed."""
    started = cli.start("slow-01D")
    assert started["status"] == "running"
    result = cli("session", "logs", started["id"], "--follow")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines.index("one") < lines.index("two") < lines.index("✓ completed"), lines
    assert not [line for line in lines if line.startswith("{")], lines
    assert cli.json("session", "show", started["id"])["status"] == "completed"


def test_follow_of_a_failing_session_shows_why_and_exits_1(cli: Cli) -> None:
    """`session logs --follow` of a session that fails prints the failure with its exit
    code and exits 1; `start --follow --raw` prints the raw stream instead of the story."""
    started = cli.start("fail-01B")
    result = cli("session", "logs", started["id"], "--follow")
    assert result.exit_code == 1
    failed = [line for line in result.stdout.splitlines() if line.startswith("✗ failed")]
    assert failed, result.stdout
    assert "(exit code 3)" in failed[0]
    raw = cli("session", "start", "slow-01D", *LOCAL, "--follow", "--raw")
    assert raw.exit_code == 0, raw.stderr
    assert any(line.startswith('{"type":') for line in raw.stdout.splitlines())


def test_start_suggests_following_only_when_not_following(cli: Cli) -> None:
    """`session start` hints at `session logs --follow`; with `--follow` it gives no such
    hint, since it follows already."""
    plain = cli("session", "start", "slow-01D", *LOCAL)
    assert plain.exit_code == 0, plain.stderr
    if "started ses-" in plain.stdout:
        assert "scopecraft session logs ses-" in plain.stdout
    following = cli("session", "start", "slow-01D", *LOCAL, "--follow")
    assert following.exit_code == 0, following.stderr
    assert "session logs" not in following.stdout
    assert "two" in following.stdout.splitlines()


def test_an_attachable_session_is_hinted_at_attach(
    cli: Cli, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """For a running session a person can attach to (interactive or dispatch on tmux), the
    start hint is `session attach`, not `session logs --follow`."""
    started = cli.start("slow-01D")
    cli.json("session", "wait", started["id"], "--timeout", "60")
    session = Session.model_validate(dict(started, status="running", mode="interactive"))
    monkeypatch.setenv("COLUMNS", "200")
    _report_start(CliState(), session, None, None, attachable=True)
    out = capsys.readouterr().out
    assert f"scopecraft session attach {session.id}" in out
    assert "logs" not in out
    _report_start(CliState(), session, None, None, attachable=True, following=True)
    assert "session attach" not in capsys.readouterr().out


# -- the renderer on its own ------------------------------------------------------------------

_TS = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def _plain(renderer: StoryRenderer, item: object) -> str | None:
    text = renderer.render(item)  # type: ignore[arg-type]
    return None if text is None else text.plain


def test_every_kind_of_event_people_read_has_its_line() -> None:
    """Messages keep their lines; tool uses, denials, errors, feedback, costs and both
    outcomes get one line each; bookkeeping events and JSON log lines get none."""
    sid = "ses-aaaaaaaaaaaa"
    r = StoryRenderer(workdirs=["/work/wt"], width=80)
    assert _plain(r, AgentMessage(session_id=sid, text="Line one\nline two")) == (
        "Line one\nline two"
    )
    tool = ToolUsed(session_id=sid, name="Bash", summary="npm test -- --watch=false")
    assert _plain(r, tool) == "▸ Bash npm test -- --watch=false"
    wrote = ToolUsed(session_id=sid, name="Write", summary="/work/wt/src/app.py")
    assert _plain(r, wrote) == "▸ Write src/app.py"
    denied = ToolDenied(session_id=sid, name="Write", summary="/etc/passwd", reason="no")
    assert _plain(r, denied) == "✗ denied Write /etc/passwd: no"
    error = ErrorOccurred(session_id=sid, where="agent api", message="overloaded\nretrying")
    assert _plain(r, error) == "! agent api: overloaded retrying"
    cost = CostReported(session_id=sid, usd=0.0123, total_usd=0.05)
    assert _plain(r, cost) == "$0.0123 (total $0.0500)"
    assert _plain(r, CostReported(session_id=sid, usd=0.0, total_usd=0.05)) is None
    assert _plain(r, FeedbackGiven(session_id=sid, text="also tests")) == "» also tests"
    failed = SessionFailed(session_id=sid, attempt=1, exit_code=2, reason="the agent gave up")
    assert _plain(r, failed) == "✗ failed: the agent gave up (exit code 2)"
    done = SessionCompleted(session_id=sid, attempt=1, result="All green.", denials=1)
    assert _plain(r, done) == "✓ completed: All green. (1 tool use(s) denied)"
    queued = SessionQueued(
        session_id=sid, task_id="t-01A", mode="autonomous", priority="medium",
        executor="local", agent="fake",
    )  # fmt: skip
    assert _plain(r, queued) is None
    json_line = LogEntry(seq=1, ts=_TS, stream="stdout", text='{"type":"assistant"}')
    assert _plain(r, json_line) is None
    cut_short = LogEntry(seq=2, ts=_TS, stream="stdout", text='{"type":"assis')
    assert is_stream_json(cut_short)
    stderr = LogEntry(seq=3, ts=_TS, stream="stderr", text="npm WARN old lockfile")
    assert _plain(r, stderr) == "npm WARN old lockfile"
    hook = LogEntry(seq=4, ts=_TS, stream="system", text='{"not": "the agent"}')
    assert _plain(r, hook) == '{"not": "the agent"}'


def test_a_result_that_repeats_the_last_message_is_not_printed_twice() -> None:
    """The outcome line leaves out a result that only repeats the last message."""
    sid = "ses-aaaaaaaaaaaa"
    r = StoryRenderer()
    r.render(AgentMessage(session_id=sid, text="All  done."))
    assert _plain(r, SessionCompleted(session_id=sid, attempt=1, result="All done.")) == (
        "✓ completed"
    )


def test_long_tool_arguments_are_cut_to_the_width() -> None:
    """A tool's arguments are put on one line and cut with an ellipsis to fit the width."""
    line = tool_call("Bash", "for f in *; do\n  echo $f; done " + "x" * 200, width=40)
    assert len(line) == 40
    assert line.startswith("Bash for f in *; do echo $f; done")
    assert line.endswith("…")


def test_real_claude_transcripts_read_as_a_story() -> None:
    """A real Claude Code transcript whose write was denied reads as the message, the
    tool use, its denial and the cost, with no JSON."""
    from scopecraft.agents._claude import ClaudeStreamParser

    path = shared_fixture("agent-output", "real", "claude-resume-write-denied.jsonl")
    parser = ClaudeStreamParser("ses-aaaaaaaaaaaa")
    events = []
    for line in path.read_text().splitlines():
        events.extend(parser.feed(line, "stdout"))
    events.extend(parser.finish(0)[0])
    renderer = StoryRenderer(width=80)
    lines = [text.plain for event in events if (text := renderer.render(event)) is not None]
    assert any(line.startswith("▸ Write ") for line in lines), lines
    assert any(line.startswith("✗ denied Write ") for line in lines), lines
    assert any(line.startswith("$") and "(total $" in line for line in lines), lines
    assert not [line for line in lines if line.startswith("{")]
