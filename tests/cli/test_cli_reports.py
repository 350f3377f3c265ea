"""`queue`, `costs`, `worktree list|prune` and `tasks list|show|check` through the CLI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cli.cli_support import Cli, cli_for
from support import git, write_task

from scopecraft import Session


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


def test_queue_shows_slots_then_waiting_sessions_with_their_reason(cli: Cli, repo: Path) -> None:
    """With the autonomous limit (4) reached, a fifth session stays queued: `start` says why
    it waits, and `queue` lists the four holding a slot then the queued one at position 1
    with the scheduler's reason."""
    tasks = [f"hang-0{n}C" for n in range(1, 6)]  # one task each: none waits for its task
    for task_id in tasks[1:]:
        write_task(repo, task_id, "fake: say waiting\nfake: hang")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "more hanging tasks", cwd=repo)
    running = [cli.start(task_id) for task_id in tasks[:4]]
    assert all(s["status"] == "running" for s in running)
    fifth = cli("session", "start", tasks[4], "--executor", "local", "--agent", "fake")
    assert fifth.exit_code == 0, fifth.stderr
    assert "is queued:" in fifth.stdout
    entries = cli.json("queue")
    assert [e["position"] for e in entries] == [None, None, None, None, 1]
    assert {e["session"]["id"] for e in entries[:4]} == {s["id"] for s in running}
    waiting = entries[4]
    assert waiting["waiting_reason"]
    assert waiting["session"]["status"] == "queued"
    Session.model_validate(waiting["session"])
    table = cli("queue")
    assert "4 holding a slot, 1 queued" in table.stdout
    assert waiting["waiting_reason"] in table.stdout
    for entry in entries:
        assert cli("session", "cancel", entry["session"]["id"]).exit_code == 0
    assert cli.json("queue") == []
    assert "the queue is empty" in cli("queue").stdout


def test_costs_are_summed_and_grouped(cli: Cli) -> None:
    """`costs` sums the cost every session reported, grouped by task (default), mode, agent
    or day, with a total."""
    first = cli.start("ok-01A")
    second = cli.start("ok-01A")
    failing = cli.start("fail-01B")
    for started in (first, second, failing):
        cli("session", "wait", started["id"], "--timeout", "60")
    report = cli.json("costs")
    assert report["group_by"] == "task"
    assert report["total_usd"] == pytest.approx(0.5)
    assert report["sessions"] == 3
    rows = {row["key"]: row for row in report["rows"]}
    assert rows["ok-01A"]["sessions"] == 2
    assert rows["ok-01A"]["cost_usd"] == pytest.approx(0.5)
    assert rows["fail-01B"]["cost_usd"] == 0
    assert report["rows"][0]["key"] == "ok-01A", "most expensive first"
    by_agent = cli.json("costs", "--by", "agent")
    assert [(r["key"], r["sessions"]) for r in by_agent["rows"]] == [("fake", 3)]
    by_day = cli.json("costs", "--by", "day")
    assert len(by_day["rows"]) == 1
    assert by_day["rows"][0]["key"].count("-") == 2
    table = cli("costs", "--by", "mode")
    assert "autonomous" in table.stdout
    assert "$0.5000" in table.stdout


def test_worktree_list_shows_task_worktrees_with_their_sessions(cli: Cli, repo: Path) -> None:
    """`worktree list` shows each task worktree with its branch, head, state and sessions
    (the main worktree is not managed and not listed)."""
    started = cli.start("ok-01A")
    cli("session", "wait", started["id"], "--timeout", "60")
    entries = cli.json("worktree", "list")
    assert all(Path(e["path"]) != repo for e in entries)
    bound = next(e for e in entries if started["id"] in e["sessions"])
    assert bound["branch"] == "feature/ok-01A"
    assert bound["env_id"] == "ok-01A"
    assert bound["exists"] is True
    assert bound["tasks"] == ["ok-01A"]
    assert bound["active_sessions"] == []
    assert bound["head"] == git("rev-parse", "feature/ok-01A", cwd=repo).strip()
    table = cli("worktree", "list")
    assert "feature/ok-01A" in table.stdout
    assert started["id"] in table.stdout


def test_prune_removes_only_what_is_safe(cli: Cli, repo: Path) -> None:
    """`worktree prune` (policy on_success) keeps a worktree with a running session and one
    whose last session failed; it removes a completed session's worktree but keeps its branch
    while the agent's commits are only there; once merged into main, the branch goes too. A
    dry run removes nothing; `--policy never` keeps everything."""
    done = cli.start("ok-01A")
    failed = cli.start("fail-01B")
    for started in (done, failed):
        cli("session", "wait", started["id"], "--timeout", "60")
    hanging = cli.start("hang-01C")

    plan = {Path(p["path"]).name: p for p in cli.json("worktree", "prune", "--dry-run")}
    assert plan["hang-01C"]["action"] == "keep"
    assert "has not ended" in plan["hang-01C"]["reason"]
    assert plan["fail-01B"]["action"] == "keep"
    assert plan["ok-01A"]["action"] == "remove_worktree"
    assert "branch feature/ok-01A kept" in plan["ok-01A"]["reason"]
    assert not any(p["done"] for p in plan.values())
    assert Path(plan["ok-01A"]["path"]).is_dir(), "a dry run removes nothing"
    text = cli("worktree", "prune", "--dry-run").stdout
    assert "would remove" in text
    assert "keep" in text

    never = cli.json("worktree", "prune", "--policy", "never")
    assert {p["action"] for p in never} == {"keep"}

    git("merge", "-q", "--ff-only", "feature/ok-01A", cwd=repo)
    removed = {Path(p["path"]).name: p for p in cli.json("worktree", "prune")}
    assert removed["ok-01A"]["action"] == "remove_worktree_and_branch"
    assert removed["ok-01A"]["done"] is True
    assert not Path(removed["ok-01A"]["path"]).exists()
    assert git("branch", "--list", "feature/ok-01A", cwd=repo).strip() == ""
    assert removed["hang-01C"]["action"] == "keep"
    assert Path(removed["hang-01C"]["path"]).is_dir()
    cli("session", "cancel", hanging["id"])


def test_tasks_list_show_and_check(cli: Cli, repo: Path) -> None:
    """`tasks list` lists valid tasks (and warns about unreadable files), `tasks show`
    prints one task's fields and instruction, and `tasks check` lists the malformed file
    with its reason and exits 1."""
    bad = repo / ".tasks" / "current" / "broken-01E.task.md"
    bad.write_text("# Broken\n\n---\ntype: [unclosed\n---\n")
    listed = cli("tasks", "list")
    assert listed.exit_code == 0
    assert "ok-01A" in listed.stdout
    assert "broken-01E" not in listed.stdout
    assert "tasks check" in listed.stderr
    shown = cli("tasks", "show", "ok-01A")
    assert shown.exit_code == 0
    assert "fake: say hello from the fake agent" in shown.stdout
    check = cli("tasks", "check")
    assert check.exit_code == 1
    assert "broken-01E" in check.stdout
    problems = cli("tasks", "check", as_json=True)
    assert problems.exit_code == 1
    bad.unlink()
    assert cli("tasks", "check").exit_code == 0


def test_tasks_list_filters(cli: Cli, repo: Path) -> None:
    """`tasks list --status/--area` keep only the matching tasks."""
    write_task(repo, "ui-01F", "fake: say ui", area="ui")
    assert [t["id"] for t in cli.json("tasks", "list", "--area", "ui")] == ["ui-01F"]
    assert cli.json("tasks", "list", "--status", "done") == []
