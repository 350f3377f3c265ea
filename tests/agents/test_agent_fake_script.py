"""fake_agent.sh run for real (under /bin/sh and busybox sh): its directives and stream-json."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from agent_support import BUSYBOX, RunFake, in_ci

from scopecraft.testing._fake_agent import fake_agent_script

NASTY = 'quote " backslash \\ tab\there \\n not-a-newline $(id) `id` \x01\x1b ctl \u00e9\u2603 end'


def test_say_speaks_claude_stream_json(run_fake: RunFake) -> None:
    """``say`` lines become assistant messages with distinct ids, between an init line with a
    session id and a success result whose text is empty; other prompt lines are ignored."""
    run = run_fake(stdin="Some task text.\nfake: say hello\nnot a directive\nfake: say again\n")
    assert run.returncode == 0
    assert run.texts == ["hello", "again"]
    ids = [line["message"]["id"] for line in run.of_type("assistant")]
    assert len(set(ids)) == 2
    session_id = run.init["session_id"]
    assert session_id
    assert all(line["session_id"] == session_id for line in run.lines)
    assert run.result["is_error"] is False
    assert run.result["subtype"] == "success"
    assert run.result["result"] == ""
    assert run.result["num_turns"] == 2
    assert run.result["total_cost_usd"] == 0
    assert run.lines[0] is run.init
    assert run.lines[-1] is run.result


def test_directive_forms(run_fake: RunFake) -> None:
    """Directives may be indented, carry a ``- `` list marker and end with CRLF."""
    run = run_fake(
        stdin="  fake: say one\n- fake: say two\n\t-   fake: say three\r\nfake:say four\n"
    )
    assert run.texts == ["one", "two", "three", "four"]


def test_escaping_of_nasty_text(run_fake: RunFake) -> None:
    """Quotes, backslashes, tabs, control characters, non-ASCII and shell syntax come out as
    valid JSON, byte for byte, and nothing in them is run."""
    run = run_fake(stdin=f"fake: say {NASTY}\n")
    assert run.texts == [NASTY]
    for raw in run.raw:
        json.loads(raw)


def test_write_creates_the_file_and_reports_the_tool(run_fake: RunFake, workdir: Path) -> None:
    """``write`` writes TEXT and a newline, creating folders, and emits a ``Write`` tool use."""
    run = run_fake(stdin=f"fake: write notes/deep/out.txt {NASTY}\nfake: write empty.txt\n")
    assert (workdir / "notes" / "deep" / "out.txt").read_text(encoding="utf-8") == NASTY + "\n"
    assert (workdir / "empty.txt").read_text(encoding="utf-8") == "\n"
    uses = [
        block
        for line in run.of_type("assistant")
        for block in line["message"]["content"]
        if block["type"] == "tool_use"
    ]
    assert [u["name"] for u in uses] == ["Write", "Write"]
    assert uses[0]["input"]["file_path"].endswith("/notes/deep/out.txt")
    assert uses[0]["input"]["content"] == NASTY
    assert run.returncode == 0


@pytest.mark.parametrize("path", ["ABSOLUTE", "../escape.txt", "a/../../escape.txt", ".."])
def test_write_refuses_paths_outside_the_working_folder(
    run_fake: RunFake, workdir: Path, path: str
) -> None:
    """Absolute paths and ``..`` are refused with an error tool result; nothing is written."""
    if path == "ABSOLUTE":
        path = str(workdir.parent / "escape.txt")
    before = set(workdir.parent.rglob("*"))
    run = run_fake(stdin=f"fake: write {path} nope\nfake: say still here\n")
    assert set(workdir.parent.rglob("*")) == before
    results = [
        block
        for line in run.of_type("user")
        for block in line["message"]["content"]
        if block.get("is_error")
    ]
    assert len(results) == 1
    assert "refused" in results[0]["content"]
    assert run.texts == ["still here"]


def test_cost_is_reported_at_once_and_summed(run_fake: RunFake) -> None:
    """Each ``cost`` is an immediate ``fake_cost`` line; the result's total is their sum;
    malformed amounts are skipped with a warning."""
    run = run_fake(stdin="fake: cost 0.25\nfake: cost .5\nfake: cost lots\nfake: cost 1\n")
    costs = run.of_type("system", "fake_cost")
    assert [c["usd"] for c in costs] == [0.25, 0.5, 1]
    assert run.result["total_cost_usd"] == pytest.approx(1.75)
    assert "lots" in run.stderr


@pytest.mark.parametrize(("directive", "code"), [("fake: fail", 1), ("fake: fail 3", 3)])
def test_fail_ends_at_once(run_fake: RunFake, directive: str, code: int) -> None:
    """``fail`` ends with an ``is_error`` result and the exit code asked (default 1); later
    directives do not run."""
    run = run_fake(stdin=f"fake: say before\n{directive}\nfake: say after\n")
    assert run.returncode == code
    assert run.texts == ["before"]
    assert run.result["is_error"] is True


def test_sleep_waits(run_fake: RunFake) -> None:
    """``sleep`` waits at least the time asked before the next directive."""
    started = time.monotonic()
    run = run_fake(stdin="fake: sleep 0.3\nfake: say awake\n")
    assert time.monotonic() - started >= 0.3
    assert run.texts == ["awake"]


def test_echo_env_reports_a_variable(run_fake: RunFake, workdir: Path) -> None:
    """``echo-env`` says a variable's value verbatim (nothing in it is run); an unset variable
    is named as such; a name that is not an identifier is refused before any expansion."""
    run = run_fake(
        stdin=(
            "fake: echo-env FAKE_SECRET\nfake: echo-env NOT_SET_ANYWHERE\n"
            "fake: echo-env X;touch${IFS}pwned\nfake: echo-env 9LIVES\n"
        ),
        env={"FAKE_SECRET": 'sk-ant-123 "quoted" $(touch pwned)'},
    )
    assert run.texts == ['sk-ant-123 "quoted" $(touch pwned)', "(NOT_SET_ANYWHERE is not set)"]
    assert "variable name" in run.stderr
    assert list(workdir.iterdir()) == []


def test_listen_reads_standard_input(run_fake: RunFake) -> None:
    """``listen`` turns each stdin line into ``heard: LINE``, runs lines that are directives,
    stops at ``fake: exit``, then the prompt goes on."""
    run = run_fake(
        "--",
        "fake: listen\nfake: say after",
        stdin="hello there\nfake: say inner\nfake: exit\nnever read\n",
    )
    assert run.texts == ["heard: hello there", "heard: fake: say inner", "inner", "after"]
    assert run.returncode == 0


def test_listen_ends_at_end_of_input(run_fake: RunFake, tmp_path: Path) -> None:
    """``listen`` also ends at end of input (a last line without newline included)."""
    prompt = tmp_path / "prompt.md"
    prompt.write_text("fake: listen\n", encoding="utf-8")
    run = run_fake("--prompt-file", str(prompt), stdin="one\ntwo")
    assert run.texts == ["heard: one", "heard: two"]


def test_prompt_sources(run_fake: RunFake, tmp_path: Path) -> None:
    """The prompt comes from ``--prompt-file``, else the argument, else standard input."""
    prompt = tmp_path / "prompt.md"
    prompt.write_text("fake: say from file\n", encoding="utf-8")
    assert run_fake("--prompt-file", str(prompt), stdin="fake: say no").texts == ["from file"]
    assert run_fake("fake: say from arg", stdin="fake: say no").texts == ["from arg"]
    assert run_fake(stdin="fake: say from stdin").texts == ["from stdin"]
    missing = run_fake("--prompt-file", str(tmp_path / "missing.md"))
    assert missing.returncode == 1
    assert missing.result["is_error"] is True


def test_claude_options_are_accepted(run_fake: RunFake) -> None:
    """Claude Code's options are accepted; the model and permission mode show in the init."""
    run = run_fake(
        "--print",
        "--output-format",
        "stream-json",
        "--verbose",
        "--model",
        "claude-x",
        "--dangerously-skip-permissions",
        stdin="fake: say ok",
    )
    assert run.init["model"] == "claude-x"
    assert run.init["permissionMode"] == "bypassPermissions"
    assert run.texts == ["ok"]


def test_unknown_option_is_an_error(run_fake: RunFake) -> None:
    """An unknown option ends with exit code 2 and a message on stderr."""
    run = run_fake("--bogus", stdin="fake: say no")
    assert run.returncode == 2
    assert "--bogus" in run.stderr
    assert run.lines == []


def test_resume_keeps_the_session_id(run_fake: RunFake, tmp_path: Path) -> None:
    """With a state folder, a resumed run keeps the recorded session id and runs the new
    prompt; resuming an unknown id fails like Claude Code (error result, exit 1)."""
    state = {"FAKE_AGENT_STATE": str(tmp_path / "state")}
    first = run_fake(stdin="fake: say first", env=state)
    session_id = first.init["session_id"]
    second = run_fake("--resume", session_id, stdin="fake: say feedback", env=state)
    assert second.returncode == 0
    assert second.init["session_id"] == session_id
    assert second.result["session_id"] == session_id
    assert second.texts == ["feedback"]
    first_ids = {line["message"]["id"] for line in first.of_type("assistant")}
    second_ids = {line["message"]["id"] for line in second.of_type("assistant")}
    assert not first_ids & second_ids
    unknown = run_fake("--resume", "0000-unknown", stdin="fake: say no", env=state)
    assert unknown.returncode == 1
    assert unknown.of_type("system", "init") == []
    assert unknown.result["is_error"] is True
    assert "No conversation found" in unknown.result["result"]
    assert unknown.texts == []


def test_resume_without_state_folder_accepts_any_id(run_fake: RunFake) -> None:
    """Without a state folder, any well-formed id is resumed as given."""
    run = run_fake("--resume", "abc-123", stdin="fake: say ok")
    assert run.init["session_id"] == "abc-123"
    assert run_fake("--resume", "../etc", stdin="").returncode == 1


def test_hang_runs_until_killed(shell: list[str], tmp_path: Path) -> None:
    """``hang`` never ends on its own; SIGTERM ends it."""
    proc = subprocess.Popen(
        [*shell, str(fake_agent_script())],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=tmp_path,
        start_new_session=True,
    )
    try:
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write(b"fake: say waiting\nfake: hang\nfake: say never\n")
        proc.stdin.close()
        assert json.loads(proc.stdout.readline())["type"] == "system"
        assert json.loads(proc.stdout.readline())["type"] == "assistant"
        with pytest.raises(subprocess.TimeoutExpired):
            proc.wait(timeout=1.5)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == -signal.SIGTERM
        assert proc.stdout.read() == b""
    finally:
        # The group holds the last `sleep 1` too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_runs_with_only_busybox_on_path(tmp_path: Path) -> None:
    """As in a FROM scratch image holding only the busybox binary (no applet links), the
    script still writes, reports cost and records its session."""
    if not BUSYBOX.exists():
        if in_ci():
            pytest.fail("/bin/busybox is required in CI")
        pytest.skip("/bin/busybox is not installed")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "busybox").symlink_to(BUSYBOX)
    work = tmp_path / "work"
    work.mkdir()
    proc = subprocess.run(
        [str(BUSYBOX), "sh", str(fake_agent_script())],
        input=b"fake: say hi\nfake: cost 0.5\nfake: write d/f.txt ok\nfake: sleep 0.1\n",
        capture_output=True,
        cwd=work,
        env={"PATH": str(bin_dir), "FAKE_AGENT_STATE": str(tmp_path / "state")},
        timeout=30,
        check=False,
    )
    lines = [json.loads(raw) for raw in proc.stdout.decode().splitlines()]
    assert proc.returncode == 0, proc.stderr
    assert lines[-1]["total_cost_usd"] == 0.5
    assert (work / "d" / "f.txt").read_text(encoding="utf-8") == "ok\n"
    assert (tmp_path / "state" / "sessions" / lines[0]["session_id"]).is_file()
