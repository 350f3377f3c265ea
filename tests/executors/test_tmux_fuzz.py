"""Bad input for the tmux executor, fuzzed: feedback text and session names.

A canary file is never created, text typed into one agent never reaches another, and names
that tmux would treat specially (``a.b``, ``a:b``, ``$1``) are refused, never mangled.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from tmux_support import (
    fake_agent_argv,
    launch_spec,
    posix_shell,
    private_server,
    session_names,
    tmux,
)

from scopecraft import InvalidName
from scopecraft.executors._protocol import RuntimeHandle, RuntimeStatus
from scopecraft.executors._tmux import TmuxExecutor
from scopecraft.executors._tmux_config import TmuxExecutorConfig, split_input, validate_runtime_name
from scopecraft.executors._tmux_control import ControlClient
from scopecraft.executors._tmux_output import PANE_LOG

pytestmark = [pytest.mark.tmux]

_FIXTURE_SETTINGS = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
_FIXTURE_SETTINGS_PRINTABLE = settings(_FIXTURE_SETTINGS, max_examples=30)


@attrs.define
class _Agents:
    """Two listening fake agents on one private server, driven through a blocking portal."""

    portal: BlockingPortal
    executor: TmuxExecutor
    target: RuntimeHandle
    bystander: RuntimeHandle
    canary: Path
    cursor: dict[str, Any] | None = None
    rounds: int = 0

    def messages_after_sync(self, token: str, timeout: float = 15.0) -> list[str]:
        """The target's new assistant messages, up to and including ``token``."""
        found: list[str] = []
        deadline = time.monotonic() + timeout
        while token not in found:
            if time.monotonic() > deadline:
                pytest.fail(f"the agent never said {token!r}; it said {found!r}")
            chunk = self.portal.call(self._read)
            self.cursor = chunk.cursor
            found.extend(_texts(text for stream, text in chunk.lines if stream == "stdout"))
            time.sleep(0.01)
        return found

    async def _read(self) -> Any:
        return await self.executor.read_output(self.target, self.cursor)


def _settle(log: Path, *, quiet: float = 0.5, limit: float = 20.0) -> None:
    """Wait until the bystander has said it is ready and its terminal has gone quiet, so that
    only what the test sends could change its log afterwards."""
    deadline = time.monotonic() + limit
    last, since = -1, time.monotonic()
    while time.monotonic() < deadline:
        size = log.stat().st_size if log.exists() else -1
        if size != last:
            last, since = size, time.monotonic()
        elif b"ready" in log.read_bytes() and time.monotonic() - since >= quiet:
            return
        time.sleep(0.05)
    raise AssertionError(f"the bystander's terminal never settled ({log})")


def _texts(lines: Any) -> list[str]:
    out: list[str] = []
    for line in lines:
        if line.startswith("{"):
            data = json.loads(line)
            if data.get("type") == "assistant":
                out.extend(c["text"] for c in data["message"]["content"] if c["type"] == "text")
    return out


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[_Agents]:
    """A target agent and a bystander, both listening, on a private server."""
    prompt = tmp_path / "prompt.md"
    prompt.write_text("fake: say ready\nfake: listen\n")
    with private_server() as socket, start_blocking_portal() as portal:
        executor = TmuxExecutor(socket_name=socket, snapshot_ttl=0.0)
        target = portal.call(
            executor.start, launch_spec(tmp_path, fake_agent_argv(prompt), session_id="ses-target")
        )
        bystander = portal.call(
            executor.start, launch_spec(tmp_path, fake_agent_argv(prompt), session_id="ses-other")
        )
        state = _Agents(portal, executor, target, bystander, tmp_path / "CANARY")
        state.messages_after_sync("ready")
        _settle(bystander.run_dir / PANE_LOG)
        yield state
        for handle in (target, bystander):
            portal.call(partial(executor.stop, handle, grace=1))
            portal.call(executor.remove, handle)
        portal.call(executor.aclose)


def _dangerous(canary: Path) -> st.SearchStrategy[str]:
    c = str(canary)
    return st.sampled_from(
        [
            f"; touch {c}",
            f"$(touch {c})",
            f"`touch {c}`",
            f"&& touch {c} &",
            f"| tee {c}",
            f"> {c}",
            f"#(touch {c})",
            "#{session_name}",
            "\n",
            "\r\n",
            "\x1b[31m",
            "\x1b]0;title\x07",
            "\x1b[2J\x1b[H",
            "\x03",
            "\x04",
            "\x1a",
            "\x7f",
            "\x9b1m",
            "\t",
            ";",
            "\\",
            "'\"",
            "\u2028",
            "x" * 1500,
        ]
    )


@settings(_FIXTURE_SETTINGS, max_examples=25)
@given(data=st.data())
def test_fuzzed_feedback_is_heard_literally_and_runs_nothing(
    agents: _Agents, data: st.DataObject
) -> None:
    """Any feedback is typed as its lines with control characters removed: the agent hears
    exactly those lines, no canary appears, and the bystander's terminal gets nothing."""
    pieces = data.draw(
        st.lists(st.one_of(st.text(max_size=40), _dangerous(agents.canary)), max_size=8)
    )
    text = "".join(pieces)
    expected = split_input(text)
    assume("fake:" not in text)  # a directive would be run: that is the fake agent's job
    # A terminal in line mode holds at most 4095 bytes of one line.
    assume(all(len(line.encode()) < 4000 for line in expected))
    bystander_log = agents.bystander.run_dir / PANE_LOG
    before = bystander_log.stat().st_size
    agents.rounds += 1
    token = f"sync {agents.rounds}"
    agents.portal.call(agents.executor.send_input, agents.target, text)
    agents.portal.call(agents.executor.send_input, agents.target, f"fake: say {token}")
    heard = agents.messages_after_sync(token)
    assert heard == [f"heard: {line}" for line in expected] + [f"heard: fake: say {token}", token]
    assert not agents.canary.exists()
    assert bystander_log.stat().st_size == before, "nothing reached the other session"


_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,199}")


@given(name=st.text(max_size=40))
def test_runtime_names_are_refused_unless_plainly_safe(name: str) -> None:
    """Any name with a character tmux treats specially (``.`` ``:`` ``=`` ``$`` ``%`` ``@``,
    spaces, controls...) is refused; accepted names are letters, digits, ``_`` and ``-``."""
    try:
        accepted = validate_runtime_name(name)
    except InvalidName:
        assert _NAME.fullmatch(name) is None
    else:
        assert accepted == name
        assert _NAME.fullmatch(name) is not None
        assert not set(name) & set(".:=$%@ \t\n#{}")


@pytest.fixture
def server_portal() -> Iterator[tuple[str, BlockingPortal]]:
    """A private server's socket name and a blocking portal."""
    with private_server() as socket, start_blocking_portal() as portal:
        yield socket, portal


_names = st.from_regex(r"[a-z][a-z0-9_-]{0,12}", fullmatch=True)


@settings(_FIXTURE_SETTINGS, max_examples=12)
@given(base=_names, suffixes=st.lists(st.sampled_from(["0", "1", "_x", "-y", "00"]), max_size=3))
def test_sessions_named_as_prefixes_of_each_other_never_collide(
    server_portal: tuple[str, BlockingPortal],
    tmp_path_factory: pytest.TempPathFactory,
    base: str,
    suffixes: list[str],
) -> None:
    """Sessions whose names are prefixes of one another are each targeted exactly: ending
    one leaves the others running, and its handle then finds nothing."""
    socket, portal = server_portal
    executor = TmuxExecutor(socket_name=socket, snapshot_ttl=0.0)
    names = list(dict.fromkeys([base, *(base + s for s in suffixes)]))
    tmp = tmp_path_factory.mktemp("names")
    handles = [
        portal.call(
            executor.start,
            launch_spec(
                tmp,
                (posix_shell(), "-c", "sleep 30"),
                session_id=f"ses-{i}x",
                runtime_name=name,
            ),
        )
        for i, name in enumerate(names)
    ]
    listed = session_names(socket)
    assert sorted(listed) == sorted(names)
    first, rest = handles[0], handles[1:]
    portal.call(partial(executor.stop, first, grace=1))
    portal.call(executor.remove, first)
    assert portal.call(executor.state, first).status is RuntimeStatus.MISSING
    for handle in rest:
        assert portal.call(executor.state, handle).status is RuntimeStatus.RUNNING
        portal.call(partial(executor.stop, handle, grace=1))
        portal.call(executor.remove, handle)
    portal.call(executor.aclose)


@_FIXTURE_SETTINGS_PRINTABLE
@given(value=st.text(alphabet=st.characters(blacklist_categories=["Cc", "Cs"]), max_size=60))
def test_any_argument_reaches_tmux_unchanged(
    server_portal: tuple[str, BlockingPortal], value: str
) -> None:
    """Every argument is escaped for tmux's argv parsing: whatever the text (a trailing
    ``;``, ``\\;``, braces, ``#{}``), tmux stores exactly it, and runs nothing else."""
    socket, _ = server_portal
    client = TmuxExecutor(socket_name=socket)._client
    client.run(
        [
            ["new-session", "-d", "-s", "holder", "--", posix_shell(), "-c", "sleep 30"],
            ["set-option", "-t", "=holder:", "@value", value],
            ["set-option", "-t", "=holder:", "@after", "intact"],
        ],
        what="round trip",
        start_server=True,
    )
    shown = tmux(socket, "list-panes", "-t", "=holder:", "-F", "#{@value}|#{@after}").stdout
    assert shown == f"{value}|intact\n"
    tmux(socket, "kill-session", "-t", "=holder")


# Any text without NUL, and any bytes without NUL as a file name would hold them (bytes that
# are not UTF-8 become surrogates, as os.fsdecode makes them; 0xFF among them).
_ANY_ARGUMENT = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])),
    st.binary().map(lambda raw: raw.replace(b"\x00", b"").decode("utf-8", "surrogateescape")),
    st.sampled_from(["\udcff", "a\udcff ; set-buffer -b after broken ; x", "\udc80\udcfe\udcff"]),
).filter(bool)


@_FIXTURE_SETTINGS_PRINTABLE
@given(value=_ANY_ARGUMENT)
def test_any_argument_reaches_tmux_unchanged_through_the_control_client(
    server_portal: tuple[str, BlockingPortal], tmp_path_factory: pytest.TempPathFactory, value: str
) -> None:
    """The control client writes commands as text that tmux parses: every argument, control
    characters, quotes, ``$``, ``~``, ``;``, newlines and bytes that are not UTF-8 (0xFF
    would end tmux's input) included, arrives byte for byte, and the command after it still
    runs as its own."""
    socket, _ = server_portal
    out = tmp_path_factory.mktemp("buffer") / "value"
    control = ControlClient(TmuxExecutorConfig(socket_name=socket))
    try:
        control.run(
            [
                ["set-buffer", "-b", "probe", "--", value],
                ["save-buffer", "-b", "probe", str(out)],
                ["set-buffer", "-b", "after", "intact"],
            ],
            what="round trip",
            shell=posix_shell(),
        )
        assert out.read_bytes() == value.encode("utf-8", "surrogateescape")
        shown = tmux(socket, "show-buffer", "-b", "after").stdout
        assert shown == "intact"
    finally:
        control.close()
