"""The tmux executor on a private tmux server per test: start, output, input, stop, reconcile."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from tmux_support import (
    SOCKET_PREFIX,
    fake_agent_argv,
    kill_server,
    launch_spec,
    live_servers,
    posix_shell,
    private_server,
    session_names,
    tmux,
)

from scopecraft import InvalidName
from scopecraft._errors import ConfigError, ExecutorError, RuntimeNotFound
from scopecraft._plugins import PluginRegistry
from scopecraft._terminal_hooks import (
    HOOK_EVENTS,
    HOOKS_FILE,
    claude_hook_command,
    claude_hook_settings,
    write_claude_hook_settings,
)
from scopecraft.executors._protocol import (
    Executor,
    RuntimeHandle,
    RuntimeStatus,
)
from scopecraft.executors._tmux import TmuxExecutor

pytestmark = [pytest.mark.tmux]


@pytest.fixture(autouse=True, scope="session")
def _no_tmux_server_left() -> Iterator[None]:
    """After the whole run, no tmux server started by a test of this run still answers."""
    yield
    left = live_servers(SOCKET_PREFIX)
    for name in left:
        kill_server(name)
    assert not left, f"tmux servers left running: {left}"


@pytest.fixture
def socket() -> Iterator[str]:
    """A private tmux server's socket name, killed at teardown."""
    with private_server() as name:
        yield name


@pytest.fixture
def executor(socket: str) -> Iterator[TmuxExecutor]:
    """A tmux executor on the test's private server, polling fast; closed at teardown."""
    executor = TmuxExecutor(socket_name=socket, snapshot_ttl=0.0, settle=0.02)
    yield executor
    anyio.run(executor.aclose)


def _prompt(tmp_path: Path, text: str, name: str = "prompt.md") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


async def _until_exit(executor: TmuxExecutor, handle: RuntimeHandle, limit: float = 10) -> Any:
    with anyio.fail_after(limit):
        while True:
            state = await executor.state(handle)
            if state.status is not RuntimeStatus.RUNNING:
                return state
            await anyio.sleep(0.02)


async def _stdout(executor: TmuxExecutor, handle: RuntimeHandle, final: bool = True) -> list[str]:
    chunk = await executor.read_output(handle, None, final=final)
    return [text for stream, text in chunk.lines if stream == "stdout"]


def _messages(lines: list[str]) -> list[str]:
    texts: list[str] = []
    for line in lines:
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if data.get("type") == "assistant":
            texts.extend(c["text"] for c in data["message"]["content"] if c["type"] == "text")
    return texts


async def _wait_message(
    executor: TmuxExecutor, handle: RuntimeHandle, text: str, limit: float = 10
) -> list[str]:
    with anyio.fail_after(limit):
        while True:
            messages = _messages(await _stdout(executor, handle, final=False))
            if text in messages:
                return messages
            await anyio.sleep(0.02)


# -- configuration ---------------------------------------------------------------------------


def test_configuration_is_checked_when_the_plugin_loads() -> None:
    """Unknown options and bad socket names fail at construction, with a ConfigError."""
    with pytest.raises(ConfigError):
        TmuxExecutor(socket_nam="typo")
    with pytest.raises(ConfigError):
        TmuxExecutor(socket_name="bad name;")
    with pytest.raises(ConfigError):
        TmuxExecutor(socket_path="relative/sock")
    executor = TmuxExecutor(socket_name="sc-x", width=120)
    assert executor.config.width == 120
    assert executor.capabilities.terminal
    assert executor.capabilities.can_send_input
    assert executor.capabilities.can_attach
    assert executor.capabilities.detached


def test_the_entry_point_builds_the_executor_from_keywords() -> None:
    """``tmux`` is discovered through its entry point and takes keyword configuration."""
    created = PluginRegistry().create("executors", "tmux", Executor, socket_name="sc-ep")
    assert isinstance(created, TmuxExecutor)
    assert created.attach_command(
        RuntimeHandle("ses-abc", 1, "scopecraft-ses-abc-1", "", Path("/tmp/x"))
    ) == ["tmux", "-L", "sc-ep", "attach-session", "-t", "=scopecraft-ses-abc-1"]


def test_attach_command_uses_the_socket_path_when_configured() -> None:
    """With ``socket_path`` every command, attach included, selects the server by ``-S``."""
    executor = TmuxExecutor(socket_path="/tmp/sc-test.sock")
    handle = RuntimeHandle("ses-abc", 2, "scopecraft-ses-abc-2", "", Path("/tmp/x"))
    assert executor.attach_command(handle) == [
        "tmux",
        "-S",
        "/tmp/sc-test.sock",
        "attach-session",
        "-t",
        "=scopecraft-ses-abc-2",
    ]


# -- start, output, exit ---------------------------------------------------------------------


@pytest.mark.anyio
async def test_argv_reaches_the_agent_intact_and_nothing_is_interpreted(
    executor: TmuxExecutor, socket: str, tmp_path: Path
) -> None:
    """Shell and tmux metacharacters in argv and environment arrive as they are: no shell
    runs them, tmux expands no format, the canary is never created, the secret is in no
    argv, the launch file is deleted and the agent's own executable is left alone."""
    canary = tmp_path / "CANARY"
    tricky = [
        "x;",
        ";",
        "a\\;",
        f"$(touch {canary})",
        f"`touch {canary}`",
        f"; touch {canary}",
        f"#(touch {canary})",
        "#{session_name}",
        "*",
        "two\nlines",
        "'quoted' \"double\"",
        "-x",
        "",
    ]
    program = tmp_path / "agent-sh"
    shutil.copy(posix_shell(), program)
    script = 'for a in "$@"; do printf "<%s>\\n" "$a"; done; printf "<%s>\\n" "$SECRET_TOKEN"'
    secret = "s3cr3t-'$(touch " + str(canary) + ")'"
    spec = launch_spec(
        tmp_path, (str(program), "-c", script, "agent", *tricky), env={"SECRET_TOKEN": secret}
    )
    handle = await executor.start(spec)
    state = await _until_exit(executor, handle)
    assert state.status is RuntimeStatus.EXITED
    assert state.exit_code == 0
    text = "\n".join(await _stdout(executor, handle))
    expected = "".join(f"<{a}>\n" for a in [*tricky, secret]).rstrip("\n")
    assert text == expected
    assert not canary.exists()
    assert program.exists(), "the launcher deletes only its launch file"
    assert not list(spec.run_dir.glob("launch-*")), "the launch file (secrets) is deleted"
    started = tmux(socket, "list-panes", "-a", "-F", "#{pane_start_command}").stdout
    assert "s3cr3t" not in started
    assert "SECRET_TOKEN" not in started
    assert str(program) not in started, "the agent's argv is not in tmux's argv"
    await executor.remove(handle)


@pytest.mark.anyio
async def test_exit_status_is_read_from_the_dead_pane(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """The pane stays after the agent exits; its exit status is the runtime's exit code, and
    the last unterminated line is read with ``final``."""
    spec = launch_spec(tmp_path, (posix_shell(), "-c", "echo first; printf last; exit 7"))
    handle = await executor.start(spec)
    state = await _until_exit(executor, handle)
    assert state.status is RuntimeStatus.EXITED
    assert state.exit_code == 7
    partial = await _stdout(executor, handle, final=False)
    assert partial == ["first"]
    chunk = await executor.read_output(handle, None, final=True)
    assert [text for _, text in chunk.lines] == ["first", "last"]
    again = await executor.read_output(handle, chunk.cursor, final=True)
    assert again.lines == [], "a cursor never reads a line twice"
    await executor.remove(handle)
    assert (await executor.state(handle)).status is RuntimeStatus.MISSING
    assert not spec.run_dir.exists(), "remove deletes the spool files"
    await executor.remove(handle)  # idempotent


@pytest.mark.anyio
async def test_terminal_escapes_are_removed_from_the_log(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """Colours, titles, cursor moves and carriage-return redraws are cleaned when read."""
    script = (
        "printf '\\033[1;31mred\\033[0m plain\\n'; "
        "printf '\\033]0;title\\007after title\\n'; "
        "printf 'spin 1\\rspin 2\\rdone\\n'; "
        "printf '\\033[2K\\033[1Gcleared\\n'"
    )
    handle = await executor.start(launch_spec(tmp_path, (posix_shell(), "-c", script)))
    await _until_exit(executor, handle)
    assert await _stdout(executor, handle) == ["red plain", "after title", "done", "cleared"]
    await executor.remove(handle)


@pytest.mark.anyio
async def test_standard_input_bytes_are_fed_from_a_file(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """``LaunchSpec.stdin`` reaches the agent's standard input, which then ends."""
    spec = launch_spec(tmp_path, (posix_shell(), "-c", "cat; echo end"), stdin=b"in one\nin two\n")
    handle = await executor.start(spec)
    await _until_exit(executor, handle)
    assert await _stdout(executor, handle) == ["in one", "in two", "end"]
    await executor.remove(handle)


@pytest.mark.anyio
async def test_a_second_start_adopts_and_a_strangers_session_is_refused(
    executor: TmuxExecutor, socket: str, tmp_path: Path
) -> None:
    """Starting the same attempt again adopts its session (no duplicate); a session of the
    same name that is not this attempt's is an error, never renamed around."""
    spec = launch_spec(tmp_path, (posix_shell(), "-c", "sleep 30"))
    first = await executor.start(spec)
    second = await executor.start(spec)
    assert second == first
    names = session_names(socket)
    assert names == [spec.runtime_name]
    tmux(socket, "new-session", "-d", "-s", "scopecraft-ses-other-1", "sleep", "30")
    stranger = launch_spec(tmp_path, (posix_shell(), "-c", "true"), session_id="ses-other")
    with pytest.raises(ExecutorError, match="not session ses-other"):
        await executor.start(stranger)
    await executor.stop(first, grace=1)
    await executor.remove(first)


@pytest.mark.anyio
async def test_state_is_missing_without_a_server_and_discover_finds_nothing(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """A missing tmux server is not an error: runtimes are MISSING and discover is empty."""
    handle = RuntimeHandle("ses-gone", 1, "scopecraft-ses-gone-1", "$1:%1", tmp_path)
    state = await executor.state(handle)
    assert state.status is RuntimeStatus.MISSING
    assert "no tmux server" in state.detail
    assert await executor.discover("store-test") == []
    await executor.remove(handle)  # nothing to remove: no error


@pytest.mark.anyio
async def test_state_is_unknown_when_tmux_itself_fails(tmp_path: Path) -> None:
    """A tmux that cannot run makes the state UNKNOWN (checked again later, never dead)."""
    executor = TmuxExecutor(tmux=str(tmp_path / "no-such-tmux"), socket_name="sc-none")
    handle = RuntimeHandle("ses-abc", 1, "scopecraft-ses-abc-1", "", tmp_path)
    state = await executor.state(handle)
    assert state.status is RuntimeStatus.UNKNOWN
    assert "not installed" in state.detail


@pytest.mark.anyio
async def test_discover_lists_only_this_stores_sessions(
    executor: TmuxExecutor, socket: str, tmp_path: Path
) -> None:
    """Sessions labelled with another store, and sessions that are not scopecraft's, are not
    discovered; a discovered handle has the run folder and the attempt of the session."""
    mine = await executor.start(
        launch_spec(tmp_path, (posix_shell(), "-c", "sleep 30"), session_id="ses-mine", attempt=3)
    )
    theirs = await executor.start(
        launch_spec(
            tmp_path, (posix_shell(), "-c", "sleep 30"), session_id="ses-theirs", store="other"
        )
    )
    tmux(socket, "new-session", "-d", "-s", "plain", "sleep", "30")
    found = await executor.discover("store-test")
    assert [(h.session_id, h.attempt, h.runtime_name) for h in found] == [
        ("ses-mine", 3, "scopecraft-ses-mine-3")
    ]
    assert found[0].run_dir == mine.run_dir
    assert found[0].runtime_id == mine.runtime_id
    for handle in (mine, theirs):
        await executor.stop(handle, grace=1)
        await executor.remove(handle)


# -- exact targets and input -----------------------------------------------------------------


@pytest.mark.anyio
async def test_targets_are_exact_sess1_never_hits_sess10(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """With ``…-1`` gone and ``…-10`` running, the handle of ``…-1`` is MISSING, input to it
    fails, and ``…-10`` receives nothing."""
    prompt = _prompt(tmp_path, "fake: say ready\nfake: listen\n")
    one = await executor.start(
        launch_spec(tmp_path, fake_agent_argv(prompt), session_id="ses-sess", attempt=1)
    )
    ten = await executor.start(
        launch_spec(tmp_path, fake_agent_argv(prompt), session_id="ses-sess", attempt=10)
    )
    await _wait_message(executor, ten, "ready")
    await executor.stop(one, grace=1)
    await executor.remove(one)
    assert (await executor.state(one)).status is RuntimeStatus.MISSING
    with pytest.raises(RuntimeNotFound):
        await executor.send_input(one, "meant for one")
    with pytest.raises(RuntimeNotFound):
        await executor.capture(one)
    assert (await executor.state(ten)).status is RuntimeStatus.RUNNING
    await executor.send_input(ten, "fake: say sync")
    messages = await _wait_message(executor, ten, "sync")
    assert not any("meant for one" in m for m in messages)
    await executor.stop(ten, grace=1)
    await executor.remove(ten)


@pytest.mark.anyio
async def test_input_is_typed_literally_line_by_line(
    executor: TmuxExecutor, socket: str, tmp_path: Path
) -> None:
    """Feedback is typed as literal keys: control characters and escapes are removed, each
    line is entered on its own, blank lines are dropped, nothing reaches a shell, and the
    terminal does not echo it into the agent's output."""
    canary = tmp_path / "CANARY"
    prompt = _prompt(tmp_path, "fake: say ready\nfake: listen\n")
    handle = await executor.start(launch_spec(tmp_path, fake_agent_argv(prompt)))
    await _wait_message(executor, handle, "ready")
    text = (
        f"one; $(touch {canary}) `touch {canary}`\n\n"
        "two \x1b[31mred\x1b[0m\x03\x04 #{session_name} #(true)\r\n"
        "-starts with a dash;\n"
        "\tth\u00e9 end \U0001f600"
    )
    await executor.send_input(handle, text)
    await executor.send_input(handle, "fake: say sync")
    messages = await _wait_message(executor, handle, "sync")
    heard = [m.removeprefix("heard: ") for m in messages if m.startswith("heard: ")]
    assert heard == [
        f"one; $(touch {canary}) `touch {canary}`",
        "two [31mred[0m #{session_name} #(true)",
        "-starts with a dash;",
        " th\u00e9 end \U0001f600",
        "fake: say sync",
    ]
    assert not canary.exists()
    lines = await _stdout(executor, handle, final=False)
    assert all(line.startswith("{") for line in lines), "typed input is not echoed"
    screen = await executor.capture(handle)
    assert '"text":"ready"' in screen
    await executor.send_input(handle, "fake: exit")
    state = await _until_exit(executor, handle)
    assert state.exit_code == 0
    with pytest.raises(RuntimeNotFound):
        await executor.send_input(handle, "after the end")
    await executor.remove(handle)


@pytest.mark.anyio
async def test_a_long_line_is_sent_in_pieces(executor: TmuxExecutor, tmp_path: Path) -> None:
    """A line longer than one tmux command can carry arrives whole (raw-mode agents), split
    into several send-keys calls."""
    script = "stty raw -echo; head -c 20001 | wc -c"
    handle = await executor.start(launch_spec(tmp_path, (posix_shell(), "-c", script)))
    await anyio.sleep(0.2)
    await executor.send_input(handle, "x" * 20000)
    state = await _until_exit(executor, handle)
    assert state.exit_code == 0
    assert (await _stdout(executor, handle))[-1].strip() == "20001"
    await executor.remove(handle)


# -- stop ------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_stop_sends_sigterm_and_reports_the_exit(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """``stop`` ends an agent with SIGTERM (exit 143) and keeps the pane for its status."""
    handle = await executor.start(
        launch_spec(tmp_path, (posix_shell(), "-c", "echo up; while :; do sleep 1; done"))
    )
    await _wait_line(executor, handle, "up")
    code = await executor.stop(handle, grace=5)
    assert code == 128 + signal.SIGTERM
    state = await executor.state(handle)
    assert state.status is RuntimeStatus.EXITED
    assert state.exit_code == code
    await executor.remove(handle)


@pytest.mark.anyio
async def test_stop_kills_an_agent_that_ignores_sigterm(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """An agent that ignores SIGTERM is killed after the grace period (exit 137)."""
    script = "trap '' TERM; echo up; while :; do sleep 0.1; done"
    handle = await executor.start(launch_spec(tmp_path, (posix_shell(), "-c", script)))
    await _wait_line(executor, handle, "up")
    code = await executor.stop(handle, grace=0.3)
    assert code == 128 + signal.SIGKILL
    await executor.remove(handle)
    assert (await executor.stop(handle, grace=0.1)) is None, "stopping a removed runtime"


async def _wait_line(executor: TmuxExecutor, handle: RuntimeHandle, text: str) -> None:
    with anyio.fail_after(10):
        while text not in await _stdout(executor, handle, final=False):
            await anyio.sleep(0.02)


# -- names -----------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_names_with_dots_or_colons_are_refused(
    executor: TmuxExecutor, socket: str, tmp_path: Path
) -> None:
    """``a.b`` and ``a:b`` are refused (tmux would turn them into ``a_b``), so they can
    never collide with ``a_b``; nothing is started for them."""
    for bad in ("a.b", "a:b", "=a", "$1", "%1", "-a", "a b", ""):
        spec = launch_spec(tmp_path, (posix_shell(), "-c", "true"), runtime_name=bad)
        with pytest.raises(InvalidName):
            await executor.start(spec)
    assert tmux(socket, "list-sessions").returncode != 0, "no server was even started"
    good = await executor.start(
        launch_spec(tmp_path, (posix_shell(), "-c", "sleep 30"), runtime_name="a_b")
    )
    assert (await executor.state(good)).status is RuntimeStatus.RUNNING
    await executor.stop(good, grace=1)
    await executor.remove(good)


# -- hooks -----------------------------------------------------------------------------------


def test_hook_settings_name_every_event_with_a_quoted_command(tmp_path: Path) -> None:
    """The generated Claude Code settings run one quoted command per hook event."""
    events = tmp_path / "odd dir $(x) 'q'" / HOOKS_FILE
    settings = claude_hook_settings(events)
    assert sorted(settings["hooks"]) == sorted(HOOK_EVENTS)
    command = settings["hooks"]["Stop"][0]["hooks"][0]["command"]
    assert command == claude_hook_command(events)
    import shlex

    assert shlex.split(command)[-1] == str(events)
    path = write_claude_hook_settings(tmp_path)
    assert json.loads(path.read_text()) == claude_hook_settings(tmp_path / HOOKS_FILE)
    assert path.stat().st_mode & 0o777 == 0o600


@pytest.mark.anyio
async def test_hook_signals_are_read_as_status_and_system_lines(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """Hooks the agent runs (here: the generated hook command, fed as Claude Code feeds it)
    show in ``state().detail`` and come out once as ``system`` log lines."""
    spec = launch_spec(tmp_path, (posix_shell(), "-c", "echo up; sleep 30"))
    handle = await executor.start(spec)
    settings = claude_hook_settings(spec.run_dir / HOOKS_FILE)
    command = settings["hooks"]["Notification"][0]["hooks"][0]["command"]
    payloads = [
        {"hook_event_name": "SessionStart", "session_id": "agent-1", "source": "startup"},
        {"hook_event_name": "Stop", "session_id": "agent-1", "stop_hook_active": False},
        {
            "hook_event_name": "Notification",
            "session_id": "agent-1",
            "message": "Claude needs your permission to use Bash",
            "notification_type": "permission_prompt",
            "transcript_path": "/secret/path",
        },
    ]
    for payload in payloads:
        await anyio.run_process(
            ["/bin/sh", "-c", command], input=json.dumps(payload).encode(), check=True
        )
    state = await executor.state(handle)
    assert state.status is RuntimeStatus.RUNNING
    assert "needs your permission" in state.detail
    chunk = await executor.read_output(handle, None)
    system = [text for stream, text in chunk.lines if stream == "system"]
    assert len(system) == 3
    assert "SessionStart" in system[0]
    assert "agent-1" in system[0]
    assert "waits for input" in system[1]
    assert "permission_prompt" in system[2]
    assert "/secret/path" not in (spec.run_dir / HOOKS_FILE).read_text()
    again = await executor.read_output(handle, chunk.cursor)
    assert [t for s, t in again.lines if s == "system"] == []
    await executor.stop(handle, grace=1)
    await executor.remove(handle)


def test_the_hook_command_never_fails_on_bad_input(tmp_path: Path) -> None:
    """Garbage on the hook's input is recorded as an unknown hook; the hook exits 0."""
    target = tmp_path / HOOKS_FILE
    import scopecraft._terminal_hooks as hooks

    script = Path(hooks.__file__)
    result = subprocess.run(
        [sys.executable, "-I", "-S", str(script), str(target)],
        input=b"not json \xff",
        capture_output=True,
        check=False,
    )
    assert result.returncode == 0
    assert json.loads(target.read_text()) == {"hook_event_name": "Unknown"}
    assert os.stat(target).st_mode & 0o777 == 0o600


@pytest.mark.anyio
async def test_a_run_folder_with_shell_and_tmux_syntax_in_its_path_still_works(
    executor: TmuxExecutor, tmp_path: Path
) -> None:
    """The pipe's command is quoted for the shell and for tmux's formats: a run folder named
    with quotes, ``$(...)``, ``#{...}``, ``#(...)`` and ``;`` gets the output, and runs
    nothing."""
    canary = tmp_path / "CANARY"
    odd = tmp_path / f"it's $(touch {canary}) #{{session_name}} #(touch {canary}); x"
    spec = attrs.evolve(
        launch_spec(tmp_path, (posix_shell(), "-c", "echo through")), run_dir=odd / "run"
    )
    handle = await executor.start(spec)
    await _until_exit(executor, handle)
    assert await _stdout(executor, handle) == ["through"]
    assert (odd / "run" / "pane.log").exists()
    assert not canary.exists()
    found = await executor.discover("store-test")
    assert [h.run_dir for h in found] == [odd / "run"]
    await executor.remove(handle)
    assert not (odd / "run").exists()


@pytest.mark.anyio
async def test_a_half_created_session_is_not_left_behind(
    executor: TmuxExecutor, socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When a command after ``new-session`` fails, start raises and kills what it created;
    the launch file (secrets) is deleted too."""
    import scopecraft.executors._tmux as tmux_module

    monkeypatch.setattr(tmux_module, "AGENT_PANE_OPTION", "no-such-option")
    spec = launch_spec(tmp_path, (posix_shell(), "-c", "sleep 30"), env={"TOKEN": "secret"})
    with pytest.raises(ExecutorError, match="cannot start tmux session"):
        await executor.start(spec)
    names = session_names(socket)
    assert spec.runtime_name not in names
    assert not list(spec.run_dir.glob("launch-*"))


@pytest.mark.anyio
async def test_a_closed_output_pipe_is_opened_again(
    executor: TmuxExecutor, socket: str, tmp_path: Path
) -> None:
    """If the pane's pipe is closed while the agent runs (a person ran ``pipe-pane``), the
    next state check opens it again and later output is collected."""
    prompt = _prompt(tmp_path, "fake: say ready\nfake: listen\n")
    handle = await executor.start(launch_spec(tmp_path, fake_agent_argv(prompt)))
    await _wait_message(executor, handle, "ready")
    pane = handle.runtime_id.split(":")[1]
    tmux(socket, "pipe-pane", "-t", pane)  # no command: closes the pipe
    assert tmux(socket, "display", "-p", "-t", pane, "#{pane_pipe}").stdout.strip() == "0"
    assert (await executor.state(handle)).status is RuntimeStatus.RUNNING
    assert tmux(socket, "display", "-p", "-t", pane, "#{pane_pipe}").stdout.strip() == "1"
    await executor.send_input(handle, "fake: say piped again")
    await _wait_message(executor, handle, "piped again")
    await executor.stop(handle, grace=1)
    await executor.remove(handle)


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_event_loop_is_never_blocked(socket: str, tmp_path: Path) -> None:
    """No executor call does blocking I/O on the event loop's thread (blockbuster watches
    asyncio): tmux commands and file reads run in worker threads."""
    from blockbuster import blockbuster_ctx

    prompt = _prompt(tmp_path, "fake: say ready\nfake: listen\n")
    spec = launch_spec(tmp_path, fake_agent_argv(prompt))
    with blockbuster_ctx():
        executor = TmuxExecutor(socket_name=socket, snapshot_ttl=0.0)
        handle = await executor.start(spec)
        with anyio.fail_after(10):
            while not any(
                '"ready"' in text for _, text in (await executor.read_output(handle, None)).lines
            ):
                await anyio.sleep(0.02)
        assert (await executor.state(handle)).status is RuntimeStatus.RUNNING
        await executor.send_input(handle, "hello")
        await executor.capture(handle)
        assert executor.attach_command(handle)[-1] == f"={spec.runtime_name}"
        assert [h.session_id for h in await executor.discover("store-test")] == ["ses-test1"]
        assert await executor.stop(handle, grace=2) == 128 + signal.SIGTERM
        await executor.remove(handle)
        await executor.aclose()


@pytest.mark.anyio
async def test_an_empty_server_has_nothing_to_find(
    executor: TmuxExecutor, socket: str, tmp_path: Path
) -> None:
    """A server that has no session left (as while it shuts down) answers ``list-panes -a``
    with an error: that is no runtime, not a failure."""
    tmux(
        socket,
        "-f",
        os.devnull,
        "new-session",
        "-d",
        "-s",
        "x",
        "sleep",
        "30",
        ";",
        "set-option",
        "-g",
        "exit-empty",
        "off",
    )
    tmux(socket, "kill-session", "-t", "=x")
    handle = RuntimeHandle("ses-gone", 1, "scopecraft-ses-gone-1", "$1:%1", tmp_path)
    state = await executor.state(handle)
    assert state.status is RuntimeStatus.MISSING
    assert "is gone" in state.detail
    assert await executor.discover("store-test") == []
