"""`scopecraft top`: the grouping and the frames on their own, `--once` and `--json` through
the CLI, and the live screen driven in a private tmux server with real fake-agent sessions."""

from __future__ import annotations

import shlex
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import anyio
import pytest
from cli.cli_support import Cli, cli_for
from rich.text import Text
from support import git, write_task
from tmux_support import private_server, tmux

from scopecraft import Engine, PriorityQueuePolicy, Session, SessionStatus
from scopecraft.cli._top import (
    DONE_LIMIT,
    GROUPS,
    Action,
    KeyParser,
    TopRow,
    TopView,
    follow_frame,
    group_of,
    group_rows,
    row_for,
    shown_ids,
    table_frame,
)
from scopecraft.policies import ApprovalRules

_NOW = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def _session(n: int, status: str, *, ended: int | None = None, **fields: object) -> Session:
    """A session ``ses-...n`` created ``n`` minutes after `_NOW`, ended ``ended`` minutes after."""
    created = _NOW + timedelta(minutes=n)
    return Session.model_validate(
        {
            "id": f"ses-{n:012d}",
            "task_id": f"task-{n:02d}A",
            "mode": "autonomous",
            "executor": "local",
            "agent": "fake",
            "status": status,
            "created_at": created,
            "updated_at": created,
            "ended_at": None if ended is None else _NOW + timedelta(minutes=ended),
            **fields,
        }
    )


# -- grouping and frames ------------------------------------------------------------------------


def test_every_status_has_its_group() -> None:
    """Awaiting approval and paused need input, starting and running work, queued waits, and
    the three ends are done; every `SessionStatus` is in exactly one group."""
    expected = {
        "awaiting_approval": "needs input",
        "paused": "needs input",
        "starting": "working",
        "running": "working",
        "queued": "queued",
        "completed": "done",
        "failed": "done",
        "cancelled": "done",
    }
    assert {s.value: group_of(s.value) for s in SessionStatus} == expected
    listed = [status for _, statuses in GROUPS for status in statuses]
    assert sorted(listed) == sorted(s.value for s in SessionStatus)


def test_groups_keep_open_sessions_oldest_first_and_done_latest_first_bounded() -> None:
    """Open sessions stay oldest first; ended ones come latest end first, at most the limit,
    with the group's total kept."""
    rows = [TopRow(_session(n, "completed", ended=100 - n)) for n in range(15)]
    rows += [TopRow(_session(20, "running")), TopRow(_session(16, "running"))]
    rows += [TopRow(_session(30, "paused")), TopRow(_session(31, "queued"))]
    groups = group_rows(rows)
    assert [g.name for g in groups] == ["needs input", "working", "queued", "done"]
    by_name = {g.name: g for g in groups}
    assert [r.session.id for r in by_name["working"].rows] == [
        "ses-000000000016",
        "ses-000000000020",
    ]
    done = by_name["done"]
    assert done.total == 15
    assert len(done.rows) == DONE_LIMIT
    assert [r.session.id for r in done.rows][:2] == ["ses-000000000000", "ses-000000000001"]
    assert shown_ids(groups)[:4] == [
        "ses-000000000030",
        "ses-000000000016",
        "ses-000000000020",
        "ses-000000000031",
    ]


def test_the_message_of_a_row_is_its_error_its_hold_or_its_last_message() -> None:
    """A failed session shows its error (red); a held one what it waits for when that came
    after its last message (dimmed); any other its last agent message."""
    failed = _session(1, "failed", ended=2, error="exit code 3")
    assert row_for(failed, "trying").message == "exit code 3"
    assert row_for(failed, "trying").style == "red"
    queued = _session(2, "queued")
    held = row_for(queued, "old words", "waiting: task_busy", hold_last=True)
    assert (held.message, held.style) == ("waiting: task_busy", "bright_black")
    assert row_for(queued, "new words", "waiting: task_busy").message == "new words"
    assert row_for(_session(3, "running"), "working on it", "stale").message == "working on it"


def _sample_groups() -> list[TopRow]:
    long = "I have read the whole module and I am now rewriting the parser so that it " * 3
    return [
        TopRow(_session(1, "awaiting_approval"), "approval requested: supervised"),
        TopRow(_session(2, "running"), long),
        TopRow(_session(3, "queued"), "waiting: limit"),
        TopRow(_session(4, "completed", ended=9), "All green."),
        TopRow(_session(5, "failed", ended=8), "exit code 3", "red"),
    ]


def test_a_frame_fits_the_width_with_ids_whole_and_messages_shortened() -> None:
    """Every group has its heading; at 72 columns each line fits, every id is whole, and the
    long message ends with an ellipsis; without a width nothing is cut."""
    groups = group_rows(_sample_groups())
    frame = table_frame(groups, width=72, selected="ses-000000000002").plain
    lines = frame.splitlines()
    assert all(len(line) <= 72 for line in lines), lines
    for heading in ("NEEDS INPUT (1)", "WORKING (1)", "QUEUED (1)", "DONE (2)"):
        assert heading in lines
    for n in range(1, 6):
        assert f"ses-{n:012d}" in frame
    running = next(line for line in lines if "ses-000000000002" in line)
    assert running.startswith("▶ ses-000000000002")
    assert running.endswith("…")
    assert "LAST MESSAGE" in lines[1]
    whole = table_frame(groups, width=None).plain
    assert whole.count("rewriting the parser so that it") == 3
    assert "▶" not in whole


def test_a_short_screen_leaves_out_done_rows_first() -> None:
    """When the height is short, ended sessions go first (their heading says how many are
    shown), then the lines around the selected row are kept."""
    rows = _sample_groups() + [TopRow(_session(n, "completed", ended=n)) for n in range(6, 12)]
    groups = group_rows(rows)
    frame = table_frame(groups, width=120, height=13, footer=("keys", "notice")).plain
    lines = frame.splitlines()
    assert len(lines) <= 13
    assert any(line.startswith("DONE (8, latest ") for line in lines), lines
    assert "ses-000000000002" in frame
    tiny = table_frame(groups, width=120, height=6, selected="ses-000000000003", footer=())
    assert len(tiny.plain.splitlines()) == 6
    assert "▶ ses-000000000003" in tiny.plain


def test_the_follow_frame_shows_the_last_lines_under_a_title() -> None:
    """The follow view is a title (id, task, status, how to go back) and the story's last
    lines that fit, each cut to the width."""
    session = _session(2, "running")
    story = [Text(f"line {n} " + "x" * 100) for n in range(30)]
    frame = follow_frame(session, session.id, story, width=50, height=10).plain.splitlines()
    assert frame[0].startswith(f"{session.id}  task-02A  running")
    assert len(frame) == 10
    assert frame[-1].startswith("line 29")
    assert all(len(line) <= 50 for line in frame)
    empty = follow_frame(None, session.id, [], width=None, height=None).plain
    assert "(nothing yet)" in empty


def test_keys_are_parsed_from_what_a_terminal_sends() -> None:
    """Arrows (both encodings), Esc alone, Enter, Backspace and printable characters come as
    names; UTF-8 split across reads is joined; other sequences are dropped."""
    parser = KeyParser()
    assert parser.feed(b"\x1b[A\x1b[B\x1bOA\x1bOBjk") == ["up", "down", "up", "down", "j", "k"]
    assert parser.feed(b"\x1b") == ["esc"]
    assert parser.feed(b"ab\r\x7f\n") == ["a", "b", "enter", "backspace", "enter"]
    assert parser.feed(b"\x1b[5~\x1b[1;5Cq") == ["right", "q"]
    assert parser.feed("é".encode()[:1]) == []
    assert parser.feed("é".encode()[1:] + b"\x01") == ["é"]


def test_the_view_turns_keys_into_actions() -> None:
    """Up/down and j/k move within the rows; f follows until Esc or q; c collects feedback
    until Enter (Esc drops it, empty is refused); x asks and only y cancels; a attaches;
    q quits; the selection stays on its session when rows move."""
    order = ["ses-a", "ses-b", "ses-c"]
    view = TopView()
    assert view.handle("k", order) is None
    assert view.selected == "ses-a"
    for key in ("down", "j", "j"):
        view.handle(key, order)
    assert view.selected == "ses-c"
    view.handle("up", order)
    assert view.handle("a", order) == Action("attach", "ses-b")
    assert view.handle("f", order) == Action("follow", "ses-b")
    assert (view.mode, view.handle("j", order)) == ("follow", None)
    assert view.handle("esc", order) == Action("unfollow", "ses-b")
    view.handle("f", order)
    assert view.handle("q", order) == Action("unfollow", "ses-b")
    assert view.mode == "table"
    for key in ("c", "h", "i", "x", "backspace", "!"):
        assert view.handle(key, order) is None
    assert view.footer()[1].plain.startswith("feedback for ses-b: hi!")
    assert view.handle("enter", order) == Action("continue", "ses-b", "hi!")
    view.handle("c", order)
    view.handle("enter", order)
    assert "empty feedback" in view.notice
    view.handle("c", order)
    view.handle("z", order)
    assert view.handle("esc", order) is None
    assert "no feedback sent" in view.notice
    view.handle("x", order)
    assert view.footer()[1].plain == "cancel ses-b? y/n"
    assert view.handle("n", order) is None
    assert "not cancelled" in view.notice
    view.handle("x", order)
    assert view.handle("y", order) == Action("cancel", "ses-b")
    view.sync(["ses-c", "ses-b"])
    assert view.selected == "ses-b"
    view.sync(["ses-c"])
    assert view.selected == "ses-c"
    empty = TopView()
    assert empty.handle("x", []) is None
    assert empty.notice == "no session to act on"
    assert empty.handle("q", []) == Action("quit")


# -- through the CLI ------------------------------------------------------------------------------


@pytest.fixture
def cli(repo: Path, home: Path) -> Iterator[Cli]:
    """The CLI on the test repository and home."""
    yield from cli_for(repo, home)


async def _awaiting_approval(repo: Path, home: Path, task_id: str) -> str:
    """A session left awaiting approval (a policy that supervises autonomous sessions)."""
    policy = PriorityQueuePolicy(approvals=ApprovalRules(supervised=frozenset({"autonomous"})))
    async with Engine.open(repo, home=home, policy=policy) as engine:
        session = await engine.create_session(
            task_id, mode="autonomous", executor="local", agent="fake"
        )
        return session.id


def _sessions_in_every_group(cli: Cli, repo: Path, home: Path) -> dict[str, str]:
    """One session per state: completed, failed, running, queued (its task is busy) and
    awaiting approval; their ids by name."""
    ids = {
        "completed": cli.start("ok-01A")["id"],
        "failed": cli.start("fail-01B")["id"],
    }
    for name in ("completed", "failed"):
        cli("session", "wait", ids[name], "--timeout", "30")
    ids["running"] = cli.start("hang-01C")["id"]
    ids["queued"] = cli.start("hang-01C", "--no-wait")["id"]
    ids["approval"] = anyio.run(_awaiting_approval, repo, home, "slow-01D")
    return ids


def test_once_prints_one_frame_with_every_group_and_json_groups_sessions(
    cli: Cli, repo: Path, home: Path
) -> None:
    """When standard output is not a terminal, `top` prints one frame (every heading, every
    id, no keys line) and exits 0; `--json` gives the groups as arrays of sessions with their
    last message."""
    ids = _sessions_in_every_group(cli, repo, home)
    result = cli("top")
    assert result.exit_code == 0, result.stderr
    for heading in ("NEEDS INPUT (1)", "WORKING (1)", "QUEUED (1)", "DONE (2)"):
        assert heading in result.stdout.splitlines()
    for session_id in ids.values():
        assert session_id in result.stdout
    assert "q quit" not in result.stdout
    assert "hello from the fake agent" in result.stdout
    data = cli.json("top", "--once")
    assert list(data) == ["needs_input", "working", "queued", "done"]
    assert [item["session"]["id"] for item in data["needs_input"]] == [ids["approval"]]
    assert [item["session"]["id"] for item in data["done"]] == [ids["failed"], ids["completed"]]
    assert data["working"][0]["last_message"] == "waiting"


# -- the live screen in tmux ----------------------------------------------------------------------


class Pane:
    """The one pane of a private tmux server, running a shell command."""

    def __init__(self, socket: str, command: str) -> None:
        self.socket = socket
        tmux(socket, "new-session", "-d", "-x", "150", "-y", "40", command, check=True)

    def text(self) -> str:
        """What the pane shows now."""
        return tmux(self.socket, "capture-pane", "-p").stdout

    def keys(self, *keys: str) -> None:
        """Type keys (tmux key names, such as ``Down`` or ``Escape``)."""
        tmux(self.socket, "send-keys", *keys, check=True)

    def wait_for(self, check: str | Callable[[str], bool], timeout: float = 10) -> str:
        """Wait until the pane shows ``check`` (or ``check(text)`` is true); return the text."""
        test = (lambda text: check in text) if isinstance(check, str) else check
        deadline = time.monotonic() + timeout
        while True:
            text = self.text()
            if test(text):
                return text
            if time.monotonic() > deadline:
                pytest.fail(f"the pane never showed {check!r}; it shows:\n{text}")
            time.sleep(0.05)


def _top_command(repo: Path, home: Path) -> str:
    """``scopecraft top`` with its exit status and whether the terminal was put back."""
    argv = [sys.executable, "-m", "scopecraft.cli", "--repo", str(repo), "--home", str(home)]
    top = shlex.join([*argv, "top", "--interval", "0.3"])
    return (
        f'before=$(stty -g); {top}; echo "top exited $?"; '
        '[ "$(stty -g)" = "$before" ] && echo "terminal put back"; sleep 60'
    )


def _selected(text: str) -> str:
    return next((line.split()[1] for line in text.splitlines() if line.startswith("▶ ")), "")


@pytest.mark.tmux
def test_live_screen_groups_sessions_and_its_keys_act(cli: Cli, repo: Path, home: Path) -> None:
    """In a terminal, `top` shows every group with its sessions; down moves the selection; f
    shows the selected session's story until q; a on a local session says why it cannot
    attach; x then y cancels it (it moves to done and the queued one starts); q exits 0
    with the terminal as it was."""
    ids = _sessions_in_every_group(cli, repo, home)
    with private_server() as socket:
        pane = Pane(socket, _top_command(repo, home))
        text = pane.wait_for(lambda t: all(i in t for i in ids.values()) and "DONE (2)" in t)
        for heading in ("NEEDS INPUT (1)", "WORKING (1)", "QUEUED (1)"):
            assert heading in text
        assert _selected(text) == ids["approval"]
        pane.keys("Down")
        pane.wait_for(lambda t: _selected(t) == ids["running"])
        pane.keys("f")
        story = pane.wait_for(f"{ids['running']}  hang-01C  running   Esc/q: back to the list")
        story = pane.wait_for(lambda t: "waiting" in t.split("\n"))  # the agent's message
        assert "WORKING" not in story
        pane.keys("q")
        pane.wait_for("WORKING (1)")
        pane.keys("a")
        pane.wait_for(f"cannot attach to {ids['running']} (autonomous on local)")
        pane.keys("x")
        pane.wait_for(f"cancel {ids['running']}? y/n")
        pane.keys("y")
        text = pane.wait_for(f"cancelled {ids['running']}")
        done = pane.wait_for(lambda t: "DONE (3)" in t and "QUEUED (0)" in t)
        row = next(line for line in done.splitlines() if ids["running"] in line)
        assert "cancelled" in row
        assert cli.json("session", "show", ids["running"])["status"] == "cancelled"
        pane.keys("q")
        ended = pane.wait_for("top exited")
        assert "top exited 0" in ended
        assert "terminal put back" in pane.wait_for("terminal put back")


@pytest.mark.tmux
def test_live_screen_attaches_to_a_tmux_session_gives_feedback_and_stops_on_ctrl_c(
    cli: Cli, repo: Path, home: Path
) -> None:
    """a attaches the terminal to an interactive tmux session (the agent's screen shows) and
    detaching comes back to the list; c sends one line of feedback, which the running agent
    hears; Ctrl-C ends `top` with exit code 130 and the terminal put back."""
    write_task(repo, "listen-01E", "fake: say ready\nfake: listen")
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", "a listening task", cwd=repo)
    with private_server() as agents, private_server() as socket:
        home.mkdir(mode=0o700, exist_ok=True)
        (home / "config.toml").write_text(f'[executors.tmux]\nsocket_name = "{agents}"\n')
        interactive = ("--mode", "interactive", "--executor", "tmux", "--agent", "fake")
        sid = cli.json("session", "start", "listen-01E", *interactive)["id"]
        pane = Pane(socket, _top_command(repo, home))
        pane.wait_for(lambda t: _selected(t) == sid and "ready" in t)
        pane.keys("a")
        pane.wait_for('"text":"ready"')  # the agent's own screen, through the attached client
        pane.keys("C-b", "d")
        pane.wait_for(f"back from {sid}")
        pane.keys("c")
        pane.wait_for(f"feedback for {sid}: ")
        pane.keys("-l", "add tests")
        pane.keys("Enter")
        pane.wait_for(f"feedback delivered to the running agent of {sid}")
        pane.wait_for("heard: add tests")
        pane.keys("C-c")
        assert "top exited 130" in pane.wait_for("top exited")
        assert "terminal put back" in pane.wait_for("terminal put back")
