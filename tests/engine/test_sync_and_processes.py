"""The sync twin, and a second process reading the same home."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import scopecraft
from scopecraft import SessionStatus

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}


def test_sync_twin_runs_a_session(repo: Path, home: Path) -> None:
    """``connect`` gives blocking methods with the engine's names and results."""
    with scopecraft.connect(repo, home=home) as engine:
        tasks = {t.id for t in engine.list_tasks()}
        assert {"ok-01A", "fail-01B"} <= tasks
        session = engine.create_session("ok-01A", **LOCAL)
        done = engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED
        assert next(iter(engine.events(session_id=session.id))).type == "session_queued"
        assert any(entry.text for entry in engine.session_logs(session.id))
        assert engine.list_sessions(all=True)[0].id == session.id


def test_sync_twin_works_inside_a_running_event_loop(repo: Path, home: Path) -> None:
    """As in a Jupyter cell: ``connect`` is used while an asyncio loop runs in this thread."""

    async def cell() -> SessionStatus:
        with scopecraft.connect(repo, home=home) as engine:
            session = engine.create_session("ok-01A", **LOCAL)
            return engine.wait(session.id, timeout=30).status

    assert asyncio.run(cell()) is SessionStatus.COMPLETED


def test_a_second_process_sees_sessions_and_logs(repo: Path, home: Path) -> None:
    """Another process opening the same home lists the session and reads its logs."""
    with scopecraft.connect(repo, home=home) as engine:
        session = engine.create_session("ok-01A", **LOCAL)
        engine.wait(session.id, timeout=30)
        expected = [entry.text for entry in engine.session_logs(session.id)]
    code = (
        "import json, sys, scopecraft\n"
        "with scopecraft.connect(sys.argv[1], home=sys.argv[2]) as e:\n"
        "    s = e.list_sessions(all=True)\n"
        "    logs = [x.text for x in e.session_logs(s[0].id, follow=True)]\n"
        "    print(json.dumps({'ids': [x.id for x in s], 'logs': logs}))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(repo), str(home)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["ids"] == [session.id]
    assert data["logs"] == expected


def test_refresh_returns_at_once_where_another_engine_drives(repo: Path, home: Path) -> None:
    """``refresh`` collects only in the engine that holds the scheduler lease: a second
    engine on the same store returns at once and leaves collecting to the first."""
    import time

    with scopecraft.connect(repo, home=home) as leader:
        leader.refresh()  # the lease holder: nothing in flight, nothing to wait for
        with scopecraft.connect(repo, home=home) as other:
            started = time.monotonic()
            other.refresh(timeout=30)
            assert time.monotonic() - started < 5
        session = leader.create_session("ok-01A", **LOCAL)
        assert leader.wait(session.id, timeout=30).status is SessionStatus.COMPLETED
