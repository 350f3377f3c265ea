"""Defects found by fault injection and hostile input: each test fails on the engine before
its fix. Secrets whoever collects, the local executor's environment, a worktree deleted
under a running session."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
from support import git, write_task

from scopecraft import Engine, SessionStatus
from scopecraft.events import Event

pytestmark = pytest.mark.anyio

LOCAL: dict[str, Any] = {"executor": "local", "agent": "fake", "mode": "autonomous"}


async def _events(engine: Engine, session_id: str) -> list[Event]:
    return [e async for e in engine.events(session_id=session_id)]


def _add_task(repo: Path, task_id: str, instruction: str) -> None:
    write_task(repo, task_id, instruction)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"task {task_id}", cwd=repo)


def _store_dump(home: Path) -> bytes:
    data = b"".join(p.read_bytes() for p in sorted(home.glob("scopecraft.db*")))
    with sqlite3.connect(home / "scopecraft.db") as db:
        return data + "\n".join(db.iterdump()).encode()


_STARTER = """
import sys, anyio
from scopecraft import Engine

async def main() -> None:
    async with Engine.open(sys.argv[1], home=sys.argv[2], forward_env=["MY_TOKEN"]) as engine:
        s = await engine.create_session(sys.argv[3], mode="autonomous", executor="local",
                                        agent="fake")
        while (await engine.get_session(s.id)).status.value != "running":
            await anyio.sleep(0.02)
        print(s.id, flush=True)

anyio.run(main)
"""


async def test_a_secret_is_redacted_by_a_collector_that_lacks_it(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A session started by a process that forwards a secret and collected by another one
    that does not have the variable (``session wait`` from another shell) stores none of the
    secret: redaction does not depend on who collects."""
    secret = 'tok-"quoted"\\back-0123456789'
    _add_task(
        repo,
        "secret-02A",
        "fake: sleep 1\nfake: echo-env MY_TOKEN\nfake: say done",
    )
    monkeypatch.delenv("MY_TOKEN", raising=False)
    env = {**os.environ, "MY_TOKEN": secret, "PYTHONPATH": os.pathsep.join(sys.path)}
    result = await anyio.run_process(
        [sys.executable, "-c", _STARTER, str(repo), str(home), "secret-02A"], env=env
    )
    session_id = result.stdout.decode().split()[-1]
    secrets_file = home / "sessions" / session_id / "secrets.json"
    assert secrets_file.stat().st_mode & 0o777 == 0o600, "private while the session runs"
    async with Engine.open(repo, home=home) as engine:
        assert engine.redactor.secret_count == 0, "this process has no secret of its own"
        done = await engine.wait(session_id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        messages = [e.text for e in await _events(engine, session_id) if e.type == "agent_message"]
    assert "[REDACTED]" in messages
    dumped = _store_dump(home)
    for form in (secret, json.dumps(secret)[1:-1]):
        assert form.encode() not in dumped, form
    assert not secrets_file.exists(), "deleted once the session's output is all stored"


async def test_json_escaped_secrets_are_redacted_in_log_lines(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A secret holding a quote and a backslash is hidden in the raw stream-JSON log line
    too, where it appears escaped (``\\"`` and ``\\\\``)."""
    secret = 'pa"ss\\word-for-the-test-42'
    monkeypatch.setenv("MY_TOKEN", secret)
    _add_task(repo, "secret-02B", "fake: echo-env MY_TOKEN")
    async with Engine.open(repo, home=home, forward_env=["MY_TOKEN"]) as engine:
        session = await engine.create_session("secret-02B", **LOCAL)
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        logs = [entry.text async for entry in engine.session_logs(session.id)]
    assert any("[REDACTED]" in line for line in logs), logs
    dumped = _store_dump(home)
    assert secret.encode() not in dumped
    assert json.dumps(secret)[1:-1].encode() not in dumped


async def test_the_local_agent_gets_only_what_is_forwarded(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A variable of the engine's environment that is neither forwarded nor needed by the
    adapter never reaches a local agent (the same rule as Docker and tmux)."""
    monkeypatch.setenv("NOT_FORWARDED_VALUE", "engine-private-value-77")
    monkeypatch.setenv("MY_TOKEN", "forwarded-value-for-the-test")
    _add_task(repo, "env-02C", "fake: echo-env NOT_FORWARDED_VALUE\nfake: echo-env MY_TOKEN")
    async with Engine.open(repo, home=home, forward_env=["MY_TOKEN"]) as engine:
        session = await engine.create_session("env-02C", **LOCAL)
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.COMPLETED, done.error
        messages = [e.text for e in await _events(engine, session.id) if e.type == "agent_message"]
    assert not any("engine-private-value-77" in m for m in messages), messages
    assert any("[REDACTED]" in m for m in messages), "the forwarded one did reach it"


async def test_a_worktree_deleted_under_a_running_session_fails_only_that_session(
    repo: Path, home: Path
) -> None:
    """Deleting a session's worktree while it runs fails that session with a clear reason;
    the scheduler goes on (another task's session completes), and so does the next engine."""
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("slow-01D", **LOCAL)
        with anyio.fail_after(20):
            while (await engine.get_session(session.id)).status is not SessionStatus.RUNNING:
                await anyio.sleep(0.05)
        worktree = Path((await engine.get_session(session.id)).worktree_path or "")
        await anyio.to_thread.run_sync(shutil.rmtree, worktree)
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.FAILED
        assert "deleted" in (done.error or ""), done.error
        other = await engine.create_session("ok-01A", **LOCAL)
        assert (await engine.wait(other.id, timeout=30)).status is SessionStatus.COMPLETED
    async with Engine.open(repo, home=home) as engine:
        third = await engine.create_session("fail-01B", **LOCAL)
        assert (await engine.wait(third.id, timeout=30)).status is SessionStatus.FAILED
    git("worktree", "prune", cwd=repo)


async def test_a_second_session_of_a_task_queues_behind_the_first(repo: Path, home: Path) -> None:
    """Two sessions of one task never run in its worktree at once: the second is queued
    (``task_busy``) until the first ends, then runs."""
    async with Engine.open(repo, home=home) as engine:
        first = await engine.create_session("slow-01D", **LOCAL)
        second = await engine.create_session("slow-01D", **LOCAL)
        with anyio.fail_after(20):
            while (await engine.get_session(first.id)).status is not SessionStatus.RUNNING:
                await anyio.sleep(0.05)
        assert (await engine.get_session(second.id)).status is SessionStatus.QUEUED
        waiting = [e for e in await _events(engine, second.id) if e.type == "session_waiting"]
        assert waiting
        assert waiting[-1].reason == "task_busy"
        done_first = await engine.wait(first.id, timeout=30)
        done_second = await engine.wait(second.id, timeout=30)
    assert done_first.status is SessionStatus.COMPLETED, done_first.error
    assert done_second.status is SessionStatus.COMPLETED, done_second.error
    assert done_first.ended_at is not None
    assert done_second.started_at is not None
    assert done_second.started_at >= done_first.ended_at


async def test_home_store_and_run_folders_are_private(repo: Path, tmp_path: Path) -> None:
    """The home is 0700 and the store's files 0600 (a home left 0755 and a store left 0644
    by an earlier version are tightened), so no other local user reads session output."""
    home = tmp_path / "loose-home"
    home.mkdir(mode=0o755)
    home.chmod(0o755)
    (home / "scopecraft.db").touch()
    (home / "scopecraft.db").chmod(0o644)
    async with Engine.open(repo, home=home) as engine:
        session = await engine.create_session("ok-01A", **LOCAL)
        await engine.wait(session.id, timeout=30)
    assert home.stat().st_mode & 0o777 == 0o700
    for path in home.glob("scopecraft.db*"):
        assert path.stat().st_mode & 0o077 == 0, path
    fresh = tmp_path / "fresh-home"
    async with Engine.open(repo, home=fresh) as engine:
        await engine.list_sessions(all=True)
    assert fresh.stat().st_mode & 0o777 == 0o700
    assert (fresh / "scopecraft.db").stat().st_mode & 0o777 == 0o600


async def test_a_start_on_a_full_disk_does_not_leave_the_session_starting(
    repo: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start that fails on a full disk, whose failure cannot be recorded either (the store
    is on the same disk), used to leave the session ``starting`` for good, holding its slot.
    Once space is freed, the scheduler runs the broken start again and the session ends."""
    import errno

    from scopecraft._errors import StorageError

    async with Engine.open(repo, home=home, config={"scheduler_interval": 0.1}) as engine:
        runner = engine._runner
        journal = engine._journal
        real_start, real_append = runner._launcher.start, journal.append
        disk_full = True
        starts = 0

        async def start(*args: Any, **kwargs: Any) -> Any:
            nonlocal starts
            starts += 1
            if disk_full:
                raise OSError(errno.ENOSPC, "No space left on device")
            return await real_start(*args, **kwargs)

        async def append(session_id: str, events: Any, *args: Any, **kwargs: Any) -> Any:
            if disk_full and any(e.type == "session_failed" for e in events):
                raise StorageError("database or disk is full")
            return await real_append(session_id, events, *args, **kwargs)

        monkeypatch.setattr(runner._launcher, "start", start)
        monkeypatch.setattr(journal, "append", append)
        session = await engine.create_session("ok-01A", **LOCAL)
        with anyio.fail_after(20):
            while starts < 2:  # failed, then tried again (and failed) while the disk is full
                await anyio.sleep(0.05)
        assert (await engine.get_session(session.id)).status is SessionStatus.STARTING
        disk_full = False
        done = await engine.wait(session.id, timeout=30)
    assert done.status is SessionStatus.COMPLETED, done.error
