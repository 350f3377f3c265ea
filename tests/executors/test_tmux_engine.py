"""Interactive and dispatch sessions end to end: the engine, tmux and the scripted fake agent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import make_repo
from tmux_support import private_server, tmux

from scopecraft import Engine, Session, SessionStatus
from scopecraft.events import Event

pytestmark = [pytest.mark.tmux, pytest.mark.anyio]

LISTEN = "fake: say ready\nfake: listen"


@pytest.fixture
def socket() -> Iterator[str]:
    """A private tmux server's socket name, killed at teardown."""
    with private_server() as name:
        yield name


@pytest.fixture
def tmux_repo(tmp_path: Path) -> Path:
    """A repository whose tasks make the fake agent listen, talk, fail or run briefly."""
    return make_repo(
        tmp_path / "src",
        {
            "listen-01A": LISTEN,
            "listen-01B": LISTEN,
            "fail-01C": "fake: say trying\nfake: fail 3",
            **{f"quick-0{n}D": f"fake: say dispatched {n}\nfake: sleep 0.3" for n in range(1, 4)},
        },
    )


def _config(socket: str, **extra: Any) -> dict[str, Any]:
    return {
        "executors": {"tmux": {"socket_name": socket}},
        "poll_interval": 0.05,
        "scheduler_interval": 0.1,
        "stop_grace": 2,
        **extra,
    }


async def _create(engine: Engine, task_id: str, mode: str = "interactive") -> Session:
    return await engine.create_session(task_id, mode=mode, executor="tmux", agent="fake")


async def _events(engine: Engine, session_id: str) -> list[Event]:
    return [e async for e in engine.events(session_id=session_id)]


async def _messages(engine: Engine, session_id: str) -> list[str]:
    return [e.text for e in await _events(engine, session_id) if e.type == "agent_message"]


async def _wait_message(engine: Engine, session_id: str, text: str, limit: float = 15) -> None:
    with anyio.fail_after(limit):
        while text not in await _messages(engine, session_id):
            await anyio.sleep(0.02)


async def _wait_status(
    engine: Engine, session_id: str, status: SessionStatus, limit: float = 15
) -> None:
    with anyio.fail_after(limit):
        while (await engine.get_session(session_id)).status is not status:
            await anyio.sleep(0.02)


def _has_session(socket: str, name: str) -> bool:
    return tmux(socket, "has-session", "-t", f"={name}").returncode == 0


async def _wait_gone(socket: str, name: str) -> None:
    with anyio.fail_after(10):
        while _has_session(socket, name):
            await anyio.sleep(0.02)


async def test_interactive_session_attach_feedback_and_completion(
    tmux_repo: Path, home: Path, socket: str
) -> None:
    """An interactive session runs the agent in its own tmux session: the pane shows its
    output, feedback is typed in and heard, ``fake: exit`` ends it with exit code 0, and
    the attach command is the same before, during and after the run."""
    async with Engine.open(tmux_repo, home=home, config=_config(socket)) as engine:
        session = await _create(engine, "listen-01A")
        name = f"scopecraft-{session.id}-1"
        attach = await engine.attach_command(session.id)
        assert attach == ["tmux", "-L", socket, "attach-session", "-t", f"={name}"]
        await _wait_message(engine, session.id, "ready")
        running = await engine.get_session(session.id)
        assert running.status is SessionStatus.RUNNING
        assert await engine.attach_command(session.id) == attach
        screen = tmux(socket, "capture-pane", "-p", "-J", "-t", f"={name}:").stdout
        assert '"text":"ready"' in screen, "the agent's output is on its screen"
        await engine.continue_session(session.id, "please also add tests")
        await _wait_message(engine, session.id, "heard: please also add tests")
        events = await _events(engine, session.id)
        feedback = [e for e in events if e.type == "feedback_given"]
        assert [e.text for e in feedback] == ["please also add tests"]
        await engine.continue_session(session.id, "fake: exit")
        done = await engine.wait(session.id, timeout=15)
        assert done.status is SessionStatus.COMPLETED, done.error
        assert done.exit_code == 0
        assert done.agent_session_id
        await _wait_gone(socket, name)  # removed once its output is collected
        assert await engine.attach_command(session.id) == attach
        logs = [entry.text async for entry in engine.session_logs(session.id)]
        assert logs
        assert all(text.startswith("{") for text in logs), "typed input is not logged"
        assert not any("fake: say" in text for text in logs), "the prompt is never logged"
        messages = await _messages(engine, session.id)
        assert messages.count("heard: please also add tests") == 1


async def test_a_failing_agent_fails_with_its_exit_code(
    tmux_repo: Path, home: Path, socket: str
) -> None:
    """The exit status of the dead pane decides: ``fake: fail 3`` gives a failed session
    with exit code 3."""
    async with Engine.open(tmux_repo, home=home, config=_config(socket)) as engine:
        session = await _create(engine, "fail-01C")
        done = await engine.wait(session.id, timeout=15)
    assert done.status is SessionStatus.FAILED
    assert done.exit_code == 3, done.error


async def test_cancel_ends_the_tmux_session(tmux_repo: Path, home: Path, socket: str) -> None:
    """Cancelling a running interactive session stops its agent and removes its tmux
    session; the session is recorded as cancelled."""
    async with Engine.open(tmux_repo, home=home, config=_config(socket)) as engine:
        session = await _create(engine, "listen-01A")
        await _wait_message(engine, session.id, "ready")
        name = f"scopecraft-{session.id}-1"
        assert _has_session(socket, name)
        assert await engine.cancel_session(session.id) is True
        done = await engine.wait(session.id, timeout=15)
        assert done.status is SessionStatus.CANCELLED
        await _wait_gone(socket, name)


async def test_a_new_engine_adopts_a_running_session_and_collects_it_once(
    tmux_repo: Path, home: Path, socket: str
) -> None:
    """Closing the engine leaves the agent running in tmux; a new engine adopts it, delivers
    feedback to it, records its completion, and every output line is stored exactly once."""
    config = _config(socket, lease_ttl=2)
    async with Engine.open(tmux_repo, home=home, config=config) as first:
        session = await _create(first, "listen-01A")
        await _wait_message(first, session.id, "ready")
        await first.continue_session(session.id, "before the restart")
        await _wait_message(first, session.id, "heard: before the restart")
    name = f"scopecraft-{session.id}-1"
    assert _has_session(socket, name), "the agent outlives the engine"
    async with Engine.open(tmux_repo, home=home, config=config) as second:
        await _wait_status(second, session.id, SessionStatus.RUNNING)
        await second.continue_session(session.id, "after the restart")
        await _wait_message(second, session.id, "heard: after the restart")
        await second.continue_session(session.id, "fake: exit")
        done = await second.wait(session.id, timeout=15)
        assert done.status is SessionStatus.COMPLETED, done.error
        logs = [entry.text async for entry in second.session_logs(session.id)]
        messages = await _messages(second, session.id)
        await _wait_gone(socket, name)
    assert len(logs) == len(set(logs)), "no output line is stored twice"
    kinds = [json.loads(text).get("type") for text in logs]
    assert kinds.count("result") == 1
    assert kinds[0] == "system"
    assert messages == [
        "ready",
        "heard: before the restart",
        "heard: after the restart",
    ]


async def test_dispatch_runs_several_sessions_at_once(
    tmux_repo: Path, home: Path, socket: str
) -> None:
    """Dispatch sessions for several tasks run side by side, each in its own tmux session,
    and each records only its own agent's output."""
    async with Engine.open(tmux_repo, home=home, config=_config(socket)) as engine:
        sessions = [
            await engine.create_session(
                f"quick-0{n}D", executor="tmux", agent="fake", mode="dispatch"
            )
            for n in range(1, 4)
        ]
        with anyio.fail_after(20):
            seen_running: set[str] = set()
            while True:
                current = [await engine.get_session(s.id) for s in sessions]
                seen_running |= {s.id for s in current if s.status is SessionStatus.RUNNING}
                if all(s.is_terminal for s in current):
                    break
                await anyio.sleep(0.02)
        assert all(s.status is SessionStatus.COMPLETED for s in current), [s.error for s in current]
        assert len(seen_running) >= 2, "the dispatch sessions overlapped"
        for n, session in enumerate(sessions, start=1):
            assert await _messages(engine, session.id) == [f"dispatched {n}"]


async def test_feedback_with_shell_metacharacters_reaches_only_its_agent(
    tmux_repo: Path, home: Path, socket: str, tmp_path: Path
) -> None:
    """Feedback full of shell syntax, escapes and newlines is heard literally by its own
    agent, runs nothing, and never reaches another session's agent."""
    canary = tmp_path / "CANARY"
    async with Engine.open(tmux_repo, home=home, config=_config(socket)) as engine:
        one = await _create(engine, "listen-01A")
        other = await _create(engine, "listen-01B")
        await _wait_message(engine, one.id, "ready")
        await _wait_message(engine, other.id, "ready")
        feedback = f"a; touch {canary}\n$(touch {canary}) `touch {canary}` \x1b]0;x\x07|| true"
        await engine.continue_session(one.id, feedback)
        await engine.continue_session(one.id, "fake: say sync")
        await _wait_message(engine, one.id, "sync")
        heard = [m for m in await _messages(engine, one.id) if m.startswith("heard: ")]
        assert heard == [
            f"heard: a; touch {canary}",
            f"heard: $(touch {canary}) `touch {canary}` ]0;x|| true",
            "heard: fake: say sync",
        ]
        assert await _messages(engine, other.id) == ["ready"]
        assert not canary.exists()
        for session in (one, other):
            await engine.cancel_session(session.id)
            await engine.wait(session.id, timeout=15)
