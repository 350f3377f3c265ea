"""The tmux control-mode client: starts, listings and input through one ``tmux -C``, its own
session's life, and what happens when it or its server ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import attrs
import pytest
from tmux_support import (
    launch_spec,
    posix_shell,
    private_server,
    session_names,
    tmux,
    wait_until,
)

from scopecraft._errors import ExecutorUnavailable
from scopecraft.executors._protocol import RuntimeStatus
from scopecraft.executors._tmux import TmuxExecutor
from scopecraft.executors._tmux_client import (
    ControlClientEnded,
    ServerMissing,
    TmuxCommandError,
)
from scopecraft.executors._tmux_config import TmuxExecutorConfig
from scopecraft.executors._tmux_control import (
    CONTROL_SESSION_PREFIX,
    ControlClient,
    command_line,
    quote_arg,
)

pytestmark = [pytest.mark.tmux]


@pytest.fixture
def socket() -> Iterator[str]:
    """A private tmux server's socket name, killed at teardown."""
    with private_server() as name:
        yield name


def _all_sessions(socket: str) -> list[str]:
    return tmux(socket, "list-sessions", "-F", "#{session_name}").stdout.split()


def _control_sessions(socket: str) -> list[str]:
    return [name for name in _all_sessions(socket) if name.startswith(CONTROL_SESSION_PREFIX)]


# -- quoting ---------------------------------------------------------------------------------


def test_arguments_are_double_quoted_with_specials_and_controls_escaped() -> None:
    """``\\ " $ ~`` get a backslash, control characters an octal escape, the rest is kept."""
    assert quote_arg("plain") == '"plain"'
    assert quote_arg("") == '""'
    assert quote_arg('a"b\\c$HOME~x') == '"a\\"b\\\\c\\$HOME\\~x"'
    assert quote_arg("x;\n\x1b\x7f") == '"x;\\012\\033\\177"'
    assert quote_arg("#{pid} 'q' {} é") == "\"#{pid} 'q' {} é\""
    assert command_line([["a", "b c"], ["d"]]) == '"a" "b c" ; "d"'


def test_a_nul_byte_is_refused() -> None:
    """No tmux argument can carry a NUL byte."""
    with pytest.raises(Exception, match="NUL"):
        quote_arg("a\x00b")


# -- the client itself -----------------------------------------------------------------------


def test_a_control_client_runs_commands_and_its_session_ends_with_it(socket: str) -> None:
    """The first call starts the server and the client's own session; commands answer with
    their output; a failed command reports tmux's words and skips the rest of its list;
    closing the client ends its session, and the server with it (it had nothing else)."""
    control = ControlClient(TmuxExecutorConfig(socket_name=socket))
    assert tmux(socket, "list-sessions").returncode != 0, "nothing runs before the first call"
    out = control.run([["display-message", "-p", "#{pid}"]], what="pid", shell=posix_shell())
    assert out.strip().isdigit()
    assert control.connected
    assert _control_sessions(socket) == [control.session_name]
    with pytest.raises(TmuxCommandError, match=r"no-such-command|unknown command"):
        control.run(
            [["no-such-command"], ["set-buffer", "-b", "skipped", "x"]],
            what="bad",
            shell=posix_shell(),
        )
    assert tmux(socket, "show-buffer", "-b", "skipped").returncode != 0, "the rest is skipped"
    # The client is still usable after an error.
    assert control.run([["display-message", "-p", "ok"]], what="ok", shell=posix_shell()) == "ok\n"
    control.close()
    assert control.session_name == ""
    # The control session ended with its client, and the empty server exited.
    wait_until(lambda: tmux(socket, "list-sessions").returncode != 0)


def test_calls_from_many_threads_each_get_their_own_answer(socket: str) -> None:
    """Calls are pipelined; each gets exactly its own output."""
    control = ControlClient(TmuxExecutorConfig(socket_name=socket))
    results: dict[int, str] = {}

    def call(n: int) -> None:
        results[n] = control.run(
            [["display-message", "-p", f"answer-{n}"]], what=f"call {n}", shell=posix_shell()
        )

    threads = [threading.Thread(target=call, args=(n,)) for n in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert results == {n: f"answer-{n}\n" for n in range(40)}
    finally:
        control.close()


def test_a_killed_server_means_a_new_client_at_the_next_call(socket: str) -> None:
    """When the server goes away the client ends; the next call connects a new one (and
    starts a new server), and nothing is reported twice."""
    control = ControlClient(TmuxExecutorConfig(socket_name=socket))
    try:
        control.run([["display-message", "-p", "one"]], what="one", shell=posix_shell())
        first = control.session_name
        tmux(socket, "kill-server")
        wait_until(lambda: not control.connected)
        out = control.run([["display-message", "-p", "two"]], what="two", shell=posix_shell())
        assert out == "two\n"
        assert control.session_name != first
    finally:
        control.close()


def test_run_connected_never_connects(socket: str) -> None:
    """Without a connected client, ``run_connected`` refuses (nothing was sent)."""
    control = ControlClient(TmuxExecutorConfig(socket_name=socket))
    with pytest.raises(ControlClientEnded) as info:
        control.run_connected([["display-message", "-p", "x"]], what="x")
    assert info.value.sent is False
    assert tmux(socket, "list-sessions").returncode != 0, "no server was started"


def test_the_session_ends_when_the_engine_process_dies(socket: str, tmp_path: Path) -> None:
    """A process that dies without closing its client (``os._exit``) leaves no control
    session behind: the client reads the end of its input and detaches, and the session has
    ``destroy-unattached`` on."""
    script = textwrap.dedent(
        f"""
        import os
        from scopecraft.executors._tmux_config import TmuxExecutorConfig
        from scopecraft.executors._tmux_control import ControlClient
        control = ControlClient(TmuxExecutorConfig(socket_name={socket!r}))
        control.run([["new-session", "-d", "-s", "agent", "--", {posix_shell()!r}, "-c",
                      "sleep 600"]], what="start", shell={posix_shell()!r})
        print(control.session_name, flush=True)
        os._exit(0)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    name = done.stdout.strip()
    assert name.startswith(CONTROL_SESSION_PREFIX)
    wait_until(lambda: name not in _all_sessions(socket))
    assert _all_sessions(socket) == ["agent"], "the agent's session is kept"


def test_a_connect_that_cannot_run_tmux_is_unavailable(tmp_path: Path) -> None:
    """A missing tmux binary is ``ExecutorUnavailable`` with a hint, as without the client."""
    control = ControlClient(
        TmuxExecutorConfig(tmux=str(tmp_path / "no-such-tmux"), socket_name="sc-none")
    )
    with pytest.raises(ExecutorUnavailable, match="tmux is not installed"):
        control.run([["display-message", "-p", "x"]], what="x", shell=posix_shell())


# -- through the executor --------------------------------------------------------------------


@pytest.mark.anyio
@pytest.mark.parametrize("control_mode", [True, False], ids=["control", "process-per-call"])
async def test_sessions_start_and_answer_the_same_either_way(
    socket: str, tmp_path: Path, control_mode: bool
) -> None:
    """With and without the control client a session starts in its worktree, its output is
    read, its state and exit are seen, and closing the executor leaves only agents."""
    executor = TmuxExecutor(
        socket_name=socket, snapshot_ttl=0.0, settle=0.02, control_mode=control_mode
    )
    spec = launch_spec(tmp_path, (posix_shell(), "-c", "pwd; echo up; sleep 30"))
    # A worktree path with tmux format, shell and parser syntax in it: kept literally.
    odd = tmp_path / "wt #{session_name} #(true) $HOME ~ 'q' \"d\" ;"
    odd.mkdir()
    spec = attrs.evolve(spec, workdir=odd)
    handle = await executor.start(spec)
    assert bool(_control_sessions(socket)) is control_mode
    path = tmux(socket, "display-message", "-p", "-t", f"={spec.runtime_name}:", "#{session_path}")
    assert path.stdout.strip() == str(spec.workdir), "new windows open in the worktree"
    with anyio.fail_after(10):
        while True:
            chunk = await executor.read_output(handle, None)
            if [text for _, text in chunk.lines] == [str(spec.workdir), "up"]:
                break
            await anyio.sleep(0.02)
    assert (await executor.state(handle)).status is RuntimeStatus.RUNNING
    assert await executor.stop(handle, grace=2) == 128 + signal.SIGTERM
    await executor.aclose()
    wait_until(lambda: not _control_sessions(socket))
    assert session_names(socket) == [spec.runtime_name], "the agent's session is kept"
    await executor.remove(handle)


@pytest.mark.anyio
async def test_a_killed_control_client_falls_back_and_reconnects(
    socket: str, tmp_path: Path
) -> None:
    """When a person kills the control client, state and output still answer (one tmux
    process each), and the next start connects a new client."""
    executor = TmuxExecutor(socket_name=socket, snapshot_ttl=0.0, settle=0.02)
    first = await executor.start(launch_spec(tmp_path / "a", (posix_shell(), "-c", "sleep 30")))
    control = executor._control
    conn = control._conn
    assert conn is not None
    os.kill(conn.proc.pid, signal.SIGKILL)
    await anyio.to_thread.run_sync(wait_until, lambda: not control.connected)
    assert (await executor.state(first)).status is RuntimeStatus.RUNNING
    second = await executor.start(
        launch_spec(
            tmp_path / "b",
            (posix_shell(), "-c", "sleep 30"),
            session_id="ses-test2",
        )
    )
    assert control.connected
    assert (await executor.state(second)).status is RuntimeStatus.RUNNING
    for handle in (first, second):
        await executor.stop(handle, grace=2)
        await executor.remove(handle)
    await executor.aclose()


def test_typed_input_is_never_sent_twice(
    socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: a control client that ended after a list was sent. A listing runs
    again as its own process; typed input is reported instead of typed a second time."""
    executor = TmuxExecutor(socket_name=socket)
    client = executor._client
    control = executor._control
    monkeypatch.setattr(type(control), "connected", property(lambda self: True))

    def ended(self: ControlClient, commands: object, *, what: str) -> str:
        raise ControlClientEnded(what, "the tmux control client ended", 1, sent=True)

    monkeypatch.setattr(ControlClient, "run_connected", ended)
    with pytest.raises(ServerMissing):
        client.run([["send-keys", "-t", "%0", "-l", "x"]], what="send-keys", repeatable=False)
    # A repeatable list runs again on its own: here it finds no server.
    with pytest.raises(ServerMissing):
        client.run([["list-panes", "-a"]], what="list-panes")
    assert client.panes() is None


def test_a_call_that_times_out_leaves_the_others_alone(socket: str) -> None:
    """A call that does not answer in time fails alone: the client stays connected, and the
    next call gets its own answer (the late one is taken for the call that gave up)."""
    control = ControlClient(TmuxExecutorConfig(socket_name=socket, timeout=1.0))
    try:
        control.run([["display-message", "-p", "up"]], what="up", shell=posix_shell())
        with pytest.raises(ExecutorUnavailable, match="did not answer within 1 s"):
            control.run([["run-shell", "sleep 1.5; echo late"]], what="slow", shell=posix_shell())
        out = control.run([["display-message", "-p", "mine"]], what="next", shell=posix_shell())
        assert out == "mine\n"
        assert control.connected
    finally:
        control.close()


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_forked_child_lets_go_of_the_parents_client(socket: str) -> None:
    """A child made with ``fork`` closes its copy of the pipe to the control client and
    forgets the client, so the client's life is the parent's alone."""
    control = ControlClient(TmuxExecutorConfig(socket_name=socket))
    try:
        control.run([["display-message", "-p", "up"]], what="up", shell=posix_shell())
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child
            os.write(write_end, b"forgot" if control._conn is None else b"kept")
            os._exit(0)
        os.close(write_end)
        answer = os.read(read_end, 16)
        os.close(read_end)
        os.waitpid(pid, 0)
        assert answer == b"forgot"
        assert control.connected, "the parent's client is untouched"
        assert control.run([["display-message", "-p", "x"]], what="x", shell=posix_shell())
    finally:
        control.close()


@pytest.mark.anyio
async def test_a_start_whose_client_ended_after_sending_is_adopted_not_repeated(
    socket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Fault injection: the control client ends right after the start's list was sent (tmux
    ran it). The start finds the session, adopts it, and keeps the launch file for its
    launcher: the agent runs, and there is one session."""
    # A shell that starts slowly: the launcher reads its launch file only after the start
    # has been retried or adopted, so a deleted file would show.
    slow_shell = tmp_path / "slow-sh"
    slow_shell.write_text(f'#!{posix_shell()}\nsleep 0.4\nexec {posix_shell()} "$@"\n')
    slow_shell.chmod(0o755)
    executor = TmuxExecutor(
        socket_name=socket, snapshot_ttl=0.0, settle=0.02, shell=str(slow_shell)
    )
    original = ControlClient._call
    failed: list[str] = []

    def ends_after_sending(self: ControlClient, conn: Any, line: bytes, what: str) -> str:
        out = original(self, conn, line, what)
        if what.startswith("new-session") and not failed:
            failed.append(what)
            raise ControlClientEnded(what, "the tmux control client ended", 1, sent=True)
        return out

    monkeypatch.setattr(ControlClient, "_call", ends_after_sending)
    spec = launch_spec(tmp_path, (posix_shell(), "-c", "echo up; sleep 30"))
    handle = await executor.start(spec)
    assert failed, "the fault was injected"
    assert session_names(socket) == [spec.runtime_name]
    with anyio.fail_after(10):
        while True:
            chunk = await executor.read_output(handle, None)
            if [text for _, text in chunk.lines] == ["up"]:
                break
            await anyio.sleep(0.02)
    await executor.stop(handle, grace=2)
    await executor.remove(handle)
    await executor.aclose()


def test_calls_waiting_on_a_failed_connect_fail_with_it(tmp_path: Path) -> None:
    """A tmux that never answers: the first call's connect times out, and the calls that
    waited for it fail with its reason at once, without each starting a client of its own."""
    runs = tmp_path / "runs"
    silent = tmp_path / "silent-tmux"
    silent.write_text(f"#!{posix_shell()}\necho run >> '{runs}'\nexec cat\n")
    silent.chmod(0o755)
    control = ControlClient(
        TmuxExecutorConfig(tmux=str(silent), socket_name="sc-silent", timeout=0.5)
    )
    errors: list[BaseException] = []

    def call() -> None:
        try:
            control.run([["display-message", "-p", "x"]], what="x", shell=posix_shell())
        except BaseException as exc:  # collected for the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=call) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(errors) == 3
    assert all(isinstance(exc, ExecutorUnavailable) for exc in errors)
    assert runs.read_text().count("run") == 1, "one client was started, not one per call"
    control.close()
