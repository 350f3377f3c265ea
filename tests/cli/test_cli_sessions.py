"""The session commands end to end: fake-agent sessions on the local executor, through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_support import LOCAL, Cli, cli_for

from scopecraft import LogEntry, Session, Task


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


def test_start_returns_once_the_session_has_started(cli: Cli) -> None:
    """`session start` queues the session, waits until its runtime started, says so and
    exits 0; the session's logs then follow to completion with the agent's own output."""
    result = cli("session", "start", "ok-01A", *LOCAL)
    assert result.exit_code == 0, result.stderr
    assert "queued ses-" in result.stdout
    session_id = result.stdout.split("queued ", 1)[1].split()[0]
    assert f"started {session_id}" in result.stdout or "completed" in result.stdout
    logs = cli("session", "logs", session_id, "--follow")
    assert logs.exit_code == 0, logs.stderr
    assert "hello from the fake agent" in logs.stdout
    shown = cli.json("session", "show", session_id)
    assert shown["status"] == "completed"
    assert shown["cost_usd"] == pytest.approx(0.25)


def test_start_follow_streams_logs_and_exits_0_on_completion(cli: Cli) -> None:
    """`session start --follow` prints what the agent says as it comes (never its raw
    stream-JSON) and the final status line, and exits 0 when the session completed."""
    result = cli("session", "start", "slow-01D", *LOCAL, "--follow")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines.index("one") < lines.index("two"), lines
    assert not [line for line in lines if line.startswith("{")], lines
    assert "completed ses-" in result.stdout


def test_start_follow_exits_1_when_the_session_fails(cli: Cli) -> None:
    """A session whose agent fails makes `start --follow` exit 1 and show the error."""
    result = cli("session", "start", "fail-01B", *LOCAL, "--follow")
    assert result.exit_code == 1
    assert "failed ses-" in result.stdout
    assert "exit code 3" in result.stdout


def test_json_shapes_follow_the_models(cli: Cli) -> None:
    """With --json, one item is an object and a list is an array, each with exactly the
    fields of the pydantic model (Session, LogEntry, Task), dumped in JSON mode."""
    started = cli.start("ok-01A")
    assert set(started) == set(Session.model_fields)
    Session.model_validate(started)
    done = cli.json("session", "wait", started["id"], "--timeout", "60")
    assert done["status"] == "completed"
    listed = cli.json("session", "list", "--all")
    assert isinstance(listed, list)
    assert [s["id"] for s in listed] == [started["id"]]
    assert all(set(item) == set(Session.model_fields) for item in listed)
    trailing = cli("session", "list", "--all", "--json")
    assert json.loads(trailing.stdout) == listed, "--json also works after the command"
    logs = cli.json("session", "logs", started["id"])
    assert isinstance(logs, list)
    assert logs
    assert all(set(item) == set(LogEntry.model_fields) for item in logs)
    assert [entry["seq"] for entry in logs] == list(range(1, len(logs) + 1))
    tasks = cli.json("tasks", "list")
    assert {t["id"] for t in tasks} >= {"ok-01A", "hang-01C"}
    assert all(set(t) == set(Task.model_fields) for t in tasks)
    events = cli.json("session", "events", started["id"])
    assert events[0]["type"] == "session_queued"
    assert events[-1]["type"] == "session_completed"


def test_list_filters_by_state(cli: Cli) -> None:
    """`session list` shows sessions that have not ended; --all adds ended ones; --active
    and --queued narrow it; --task filters by task."""
    hanging = cli.start("hang-01C")
    finished = cli.start("ok-01A")
    cli.json("session", "wait", finished["id"], "--timeout", "60")
    default_ids = {s["id"] for s in cli.json("session", "list")}
    assert hanging["id"] in default_ids
    assert finished["id"] not in default_ids
    all_ids = {s["id"] for s in cli.json("session", "list", "--all")}
    assert {hanging["id"], finished["id"]} <= all_ids
    assert [s["id"] for s in cli.json("session", "list", "--active")] == [hanging["id"]]
    assert cli.json("session", "list", "--queued") == []
    only_ok = cli.json("session", "list", "--all", "--task", "ok-01A")
    assert [s["id"] for s in only_ok] == [finished["id"]]
    table = cli("session", "list", "--all")
    assert table.exit_code == 0
    assert "STATUS" in table.stdout
    assert hanging["id"] in table.stdout
    assert cli("session", "cancel", hanging["id"]).exit_code == 0


def test_show_prints_every_field_for_people(cli: Cli) -> None:
    """`session show` prints the session's fields one per line, its error included."""
    started = cli.start("fail-01B")
    cli("session", "wait", started["id"], "--timeout", "60")
    result = cli("session", "show", started["id"])
    assert result.exit_code == 0
    for label in ("task", "status", "branch", "worktree", "exit code", "error"):
        assert label in result.stdout
    assert "feature/fail-01B" in result.stdout


def test_logs_limit_keeps_only_the_last_lines(cli: Cli) -> None:
    """`session logs --limit N` prints only the last N lines."""
    started = cli.start("ok-01A")
    cli.json("session", "wait", started["id"], "--timeout", "60")
    every = cli.json("session", "logs", started["id"])
    last = cli.json("session", "logs", started["id"], "--limit", "2")
    assert last == every[-2:]


def test_logs_follow_json_prints_one_object_per_line(cli: Cli) -> None:
    """`--json session logs --follow` streams JSON Lines, one LogEntry per line."""
    started = cli.start("slow-01D")
    result = cli("session", "logs", started["id"], "--follow", as_json=True)
    assert result.exit_code == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines
    assert all(set(line) == set(LogEntry.model_fields) for line in lines)


def test_continue_runs_a_next_attempt_with_the_feedback(cli: Cli) -> None:
    """`session continue` on a completed session starts attempt 2 with the feedback as its
    prompt (the agent resumes its own session); its logs show the new directive's output."""
    started = cli.start("ok-01A")
    first = cli.json("session", "wait", started["id"], "--timeout", "60")
    result = cli("session", "continue", started["id"], "fake: say also the refresh token")
    assert result.exit_code == 0, result.stderr
    assert "attempt 2" in result.stdout or "completed" in result.stdout
    done = cli.json("session", "wait", started["id"], "--timeout", "60")
    assert done["attempt"] == 2
    assert done["status"] == "completed"
    assert done["agent_session_id"] == first["agent_session_id"]
    logs = cli("session", "logs", started["id"])
    assert "also the refresh token" in logs.stdout


def test_continue_follow_streams_the_next_attempt(cli: Cli) -> None:
    """`session continue --follow` waits for the next attempt and streams it to the end."""
    started = cli.start("ok-01A")
    cli.json("session", "wait", started["id"], "--timeout", "60")
    result = cli("session", "continue", started["id"], "fake: say round two", "--follow")
    assert result.exit_code == 0, result.stderr
    assert "round two" in result.stdout
    assert "completed ses-" in result.stdout


def test_cancel_stops_a_hanging_session(cli: Cli) -> None:
    """`session cancel` stops a running agent and records `cancelled`; cancelling again
    says it had already ended, and `--json` reports `cancelled: false` then."""
    started = cli.start("hang-01C")
    assert started["status"] == "running"
    result = cli("session", "cancel", started["id"])
    assert result.exit_code == 0, result.stderr
    assert f"cancelled {started['id']}" in result.stdout
    again = cli.json("session", "cancel", started["id"])
    assert again["cancelled"] is False
    assert again["session"]["status"] == "cancelled"
    assert "already ended" in cli("session", "cancel", started["id"]).stdout
    waited = cli("session", "wait", started["id"])
    assert waited.exit_code == 1, "a cancelled session is not a success"


def test_no_wait_returns_while_queued(cli: Cli) -> None:
    """`session start --no-wait` returns the queued session at once; a later engine starts
    and finishes it."""
    started = cli.start("ok-01A", "--no-wait")
    assert started["status"] == "queued"
    done = cli.json("session", "wait", started["id"], "--timeout", "60")
    assert done["status"] == "completed"


def test_wait_times_out_with_exit_5(cli: Cli) -> None:
    """`session wait --timeout` exits 5 when the session is still running; it goes on."""
    started = cli.start("hang-01C")
    result = cli("session", "wait", started["id"], "--timeout", "0.5")
    assert result.exit_code == 5
    assert "still running" in result.stderr
    assert cli.json("session", "show", started["id"])["status"] == "running"
    assert cli("session", "cancel", started["id"]).exit_code == 0


def test_events_are_readable_for_people(cli: Cli) -> None:
    """`session events` prints one line per event: time, type and a short detail."""
    started = cli.start("ok-01A")
    cli.json("session", "wait", started["id"], "--timeout", "60")
    result = cli("session", "events", started["id"])
    assert result.exit_code == 0
    assert "agent_message hello from the fake agent" in result.stdout
    assert "cost_reported $0.2500" in result.stdout
    assert "session_completed" in result.stdout


def test_prompt_and_priority_are_passed_to_the_engine(cli: Cli) -> None:
    """--priority sets the session's priority (`normal` reads as `medium`) and --prompt adds
    instructions the fake agent runs."""
    started = cli.start("hang-01C", "--priority", "high")
    assert started["priority"] == "high"
    cli("session", "cancel", started["id"])
    other = cli.start("ok-01A", "--priority", "normal", "--prompt", "fake: say from the prompt")
    assert other["priority"] == "medium"
    cli.json("session", "wait", other["id"], "--timeout", "60")
    assert "from the prompt" in cli("session", "logs", other["id"]).stdout


def test_queue_controls_budget_resume_approve_deny(cli: Cli) -> None:
    """`session budget` sets a session's own budget (shown in --json); `resume`, `approve`
    and `deny` of a session in the wrong state are refused with exit 4 and say why."""
    started = cli.start("ok-01A")
    done = cli.json("session", "wait", started["id"], "--timeout", "60")
    assert done["status"] == "completed"
    budgeted = cli.json("session", "budget", started["id"], "2.5")
    assert budgeted["budget_usd"] == pytest.approx(2.5)
    cleared = cli.json("session", "budget", started["id"])
    assert cleared["budget_usd"] is None
    for verb in ("resume", "approve", "deny"):
        refused = cli("session", verb, started["id"])
        assert refused.exit_code == 4, (verb, refused.stdout, refused.stderr)
        assert "completed" in refused.stderr


def test_continue_reads_feedback_from_stdin_and_from_a_file(cli: Cli, tmp_path: Path) -> None:
    """`session continue <id> -` takes the feedback from standard input (not a literal
    "-"), and `--file PATH` from a file; both start the next attempt with that text."""
    started = cli.start("ok-01A")
    cli.json("session", "wait", started["id"], "--timeout", "60")
    result = cli("session", "continue", started["id"], "-", stdin="fake: say from stdin\n")
    assert result.exit_code == 0, result.stderr
    cli.json("session", "wait", started["id"], "--timeout", "60")
    notes = tmp_path / "feedback.txt"
    notes.write_text("fake: say from a file\n")
    result = cli("session", "continue", started["id"], "--file", str(notes))
    assert result.exit_code == 0, result.stderr
    done = cli.json("session", "wait", started["id"], "--timeout", "60")
    assert done["attempt"] == 3
    events = cli.json("session", "events", started["id"])
    given = [e["text"] for e in events if e["type"] == "feedback_given"]
    assert given == ["fake: say from stdin", "fake: say from a file"]


def test_feedback_over_the_limit_is_refused(cli: Cli) -> None:
    """Feedback longer than the limit is refused (exit 4) and nothing is stored; naming
    both an argument and --file is a usage error."""
    started = cli.start("ok-01A")
    cli.json("session", "wait", started["id"], "--timeout", "60")
    result = cli("session", "continue", started["id"], "-", stdin="x" * 5_000_000)
    assert result.exit_code == 4, result.stderr
    assert "limit" in result.stderr
    result = cli("session", "continue", started["id"], "text", "--file", "x.txt")
    assert result.exit_code == 2
    events = cli.json("session", "events", started["id"])
    assert not any(e["type"] == "feedback_given" for e in events)
