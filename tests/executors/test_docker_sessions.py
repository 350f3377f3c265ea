"""Sessions end to end on the real Docker engine with the fake agent: completion, failure,
cancel, continue, an engine killed mid-session, a daemon restarted mid-session, secrets."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import docker_support
import pytest
from docker_support import (
    DOCKER_EXECUTOR,
    RUN_LABELS,
    PrivateDockerd,
    containers_of,
    docker_client,
    docker_required,
    leftovers,
)
from support import git, write_task

from scopecraft import Engine, SessionStatus

pytestmark = [pytest.mark.docker, pytest.mark.anyio]

CONFIG: dict[str, Any] = {"executors": {"docker": DOCKER_EXECUTOR}, "stop_grace": 2}


@pytest.fixture
def anyio_backend() -> str:
    """Engine sessions run on asyncio; the first scenario runs on trio too."""
    return "asyncio"


def docker_session(image: str) -> dict[str, Any]:
    """Arguments of ``create_session`` for a Docker session of the fake agent."""
    return {"mode": "autonomous", "executor": "docker", "agent": "fake", "image": image}


def add_task(repo: Path, task_id: str, instruction: str) -> None:
    """Add a task file and commit it (worktrees branch from the commit)."""
    write_task(repo, task_id, instruction)
    git("add", "-A", cwd=repo)
    git("commit", "-q", "-m", f"task {task_id}", cwd=repo)


async def agent_messages(engine: Engine, session_id: str) -> list[str]:
    """The texts of the session's ``agent_message`` events."""
    return [e.text async for e in engine.events(session_id=session_id) if e.type == "agent_message"]


async def wait_for_messages(engine: Engine, session_id: str, count: int) -> None:
    """Wait until the session has recorded ``count`` agent messages."""
    with anyio.fail_after(60):
        while len(await agent_messages(engine, session_id)) < count:
            await anyio.sleep(0.05)


async def wait_removed(client: Any, session_id: str) -> None:
    """Wait until no container of the session is left (the engine removes it right after
    recording the session's end)."""
    with anyio.fail_after(30):
        while containers_of(client, session_id):
            await anyio.sleep(0.05)


async def wait_attempt_end(engine: Engine, session_id: str, attempt: int) -> Any:
    """Wait until attempt ``attempt`` of the session has ended, and return the session."""
    with anyio.fail_after(60):
        while True:
            session = await engine.get_session(session_id)
            if session.attempt == attempt and session.is_terminal:
                return session
            await anyio.sleep(0.05)


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_a_session_edits_its_worktree_and_leaves_no_container(
    repo: Path, home: Path, image: str, client: Any
) -> None:
    """An autonomous session in a container writes its worktree, reports its cost and agent
    session id, completes with exit code 0, and its container and spool are removed."""
    async with Engine.open(repo, home=home, config=CONFIG) as engine:
        session = await engine.create_session("ok-01A", **docker_session(image))
        assert session.executor == "docker"
        done = await engine.wait(session.id, timeout=60)
        assert done.status is SessionStatus.COMPLETED, done.error
        assert done.exit_code == 0
        assert done.cost_usd == pytest.approx(0.25)
        assert done.agent_session_id
        assert done.runtime_id
        assert "hello from the fake agent" in await agent_messages(engine, session.id)
        logs = [entry async for entry in engine.session_logs(session.id)]
        assert [entry.seq for entry in logs] == list(range(1, len(logs) + 1))
        assert not any("fake: say" in entry.text for entry in logs), "never the prompt"
        events = [e async for e in engine.events(session_id=session.id)]
        changes = next(e for e in events if e.type == "changes_recorded")
        assert "notes/out.txt" in changes.files
        await wait_removed(client, session.id)
    worktree = Path(done.worktree_path or "")
    assert (worktree / "notes" / "out.txt").read_text() == "made by the agent\n"
    assert not (repo / "notes").exists()
    assert not (home / "runs" / session.id / "1" / "io").exists(), "the spool is deleted"


async def test_a_failing_agent_fails_the_session(
    repo: Path, home: Path, image: str, client: Any
) -> None:
    """An agent that reports an error and exits with code 3 gives a failed session with that
    code and a reason; its container is removed."""
    async with Engine.open(repo, home=home, config=CONFIG) as engine:
        session = await engine.create_session("fail-01B", **docker_session(image))
        done = await engine.wait(session.id, timeout=60)
        await wait_removed(client, session.id)
    assert done.status is SessionStatus.FAILED
    assert done.exit_code == 3
    assert done.error


async def test_cancel_stops_a_hanging_agent(
    repo: Path, home: Path, image: str, client: Any
) -> None:
    """Cancelling a running container session stops it (SIGTERM, grace, SIGKILL), records
    ``cancelled`` and removes the container."""
    async with Engine.open(repo, home=home, config=CONFIG) as engine:
        session = await engine.create_session("hang-01C", **docker_session(image))
        await wait_for_messages(engine, session.id, 1)
        assert [c.status for c in containers_of(client, session.id)] == ["running"]
        assert await engine.cancel_session(session.id) is True
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.CANCELLED
        await wait_removed(client, session.id)


async def test_continue_resumes_the_agent_in_a_new_container(
    repo: Path, home: Path, image: str, client: Any
) -> None:
    """Feedback starts attempt 2 in a new container with ``--resume`` and the same agent
    session id: the agent-state folder (which the fake agent checks) outlives attempt 1's
    container."""
    async with Engine.open(repo, home=home, config=CONFIG) as engine:
        session = await engine.create_session("ok-01A", **docker_session(image))
        first = await engine.wait(session.id, timeout=60)
        assert first.status is SessionStatus.COMPLETED, first.error
        await engine.continue_session(session.id, "fake: say second round\nfake: cost 0.5")
        second = await wait_attempt_end(engine, session.id, 2)
        assert second.status is SessionStatus.COMPLETED, second.error
        assert second.agent_session_id == first.agent_session_id
        assert second.runtime_id != first.runtime_id
        assert second.cost_usd == pytest.approx(0.75)
        assert "second round" in await agent_messages(engine, session.id)
        await wait_removed(client, session.id)
    record = home / "sessions" / session.id / "agent-state" / "sessions"
    runs = (record / (first.agent_session_id or "")).read_text().splitlines()
    assert len(runs) == 2, "both attempts used the same agent state"


async def test_an_engine_killed_mid_session_is_adopted_and_loses_no_line(
    repo: Path, home: Path, image: str, client: Any
) -> None:
    """An engine process killed with SIGKILL while it collects a session's output leaves the
    container running; the next engine adopts it, and every line is recorded exactly once."""
    count = 12
    add_task(
        repo,
        "lines-01F",
        "\n".join(f"fake: say line {i}\nfake: sleep 0.15" for i in range(1, count + 1)),
    )
    config = {**CONFIG, "lease_ttl": 2}
    child = await anyio.to_thread.run_sync(
        lambda: subprocess.Popen(
            [
                sys.executable,
                docker_support.__file__,
                "child",
                str(repo),
                str(home),
                image,
                "lines-01F",
                "3",
                json.dumps(config),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        )
    )
    try:
        assert child.stdout is not None
        line = await anyio.to_thread.run_sync(child.stdout.readline)
        session_id = line.decode().strip()
        assert session_id.startswith("ses-"), child.stderr.read().decode() if child.stderr else ""
    finally:
        child.send_signal(signal.SIGKILL)
        await anyio.to_thread.run_sync(lambda: child.communicate(timeout=30))
    assert child.returncode == -signal.SIGKILL
    running = containers_of(client, session_id)
    assert [c.status for c in running] == ["running"], "the container outlives the engine"
    async with Engine.open(repo, home=home, config=config) as engine:
        done = await engine.wait(session_id, timeout=60)
        assert done.status is SessionStatus.COMPLETED, done.error
        said = await agent_messages(engine, session_id)
        assert said == [f"line {i}" for i in range(1, count + 1)], "each line exactly once"
        logs = [entry.text async for entry in engine.session_logs(session_id)]
        await wait_removed(client, session_id)
    assert len(logs) == count + 2, "init, one line per message, result"
    assert len(set(logs)) == len(logs)


@pytest.mark.slow
async def test_a_daemon_restart_is_retried_as_an_infrastructure_failure(
    repo: Path, home: Path, image: str
) -> None:
    """When the Docker daemon restarts mid-session (on a private daemon, never the shared
    one), the attempt fails with the signal in its reason, marked retryable (the
    infrastructure's failure, not the agent's), and the retry rules run attempt 2, which
    resumes the agent's session on the restarted daemon."""
    from scopecraft import PriorityQueuePolicy
    from scopecraft.policies import RetryRules

    problem = PrivateDockerd.problem()
    if problem is not None:
        if docker_required():
            pytest.fail(f"the daemon restart test needs a private dockerd: {problem}")
        pytest.skip(problem)
    add_task(repo, "restart-01G", "fake: say before\nfake: sleep 60\nfake: say after")
    daemon = PrivateDockerd()
    policy = PriorityQueuePolicy(retries=RetryRules(max_retries=1, base_delay=0.1))
    try:
        daemon.start()
        daemon.load_image(image)
        executor = {**DOCKER_EXECUTOR, "base_url": daemon.base_url}
        config = {**CONFIG, "executors": {"docker": executor}}
        async with Engine.open(repo, home=home, config=config, policy=policy) as engine:
            session = await engine.create_session("restart-01G", **docker_session(image))
            await wait_for_messages(engine, session.id, 1)
            await anyio.to_thread.run_sync(daemon.restart)
            with anyio.fail_after(90):
                while (await engine.get_session(session.id)).attempt < 2:
                    await anyio.sleep(0.1)
            # Attempt 2 resumes the agent's session (the fake agent then just ends).
            done = await engine.wait(session.id, timeout=60)
            assert done.attempt == 2
            assert done.status is SessionStatus.COMPLETED, done.error
            events = [e async for e in engine.events(session_id=session.id)]
            failed = next(e for e in events if e.type == "session_failed")
            assert failed.retryable
            assert failed.exit_code in (143, 137), "stopped by the daemon (SIGTERM, SIGKILL)"
            assert str(failed.exit_code) in failed.reason
            assert any(e.type == "session_retry_scheduled" for e in events)
            assert "after" not in await agent_messages(engine, session.id)
            logs = [entry.text async for entry in engine.session_logs(session.id)]
            assert any("SIGTERM" in text or "SIGKILL" in text for text in logs), logs
        with docker_client(daemon.base_url) as private:
            assert leftovers(private) == []
    finally:
        await anyio.to_thread.run_sync(daemon.close)


async def test_a_planted_secret_appears_nowhere(
    repo: Path, home: Path, image: str, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A forwarded secret reaches the agent in its container, but is in no label, no command,
    no stored event, record or log line, and no file left in the engine's home."""
    secret = "planted-s3cret-for-docker-0007"
    monkeypatch.setenv("MY_TOKEN", secret)
    add_task(repo, "secret-01E", "fake: echo-env MY_TOKEN\nfake: sleep 1\nfake: say done")
    async with Engine.open(repo, home=home, forward_env=["MY_TOKEN"], config=CONFIG) as engine:
        session = await engine.create_session("secret-01E", **docker_session(image))
        await wait_for_messages(engine, session.id, 1)
        (container,) = containers_of(client, session.id)
        labels = container.attrs["Config"]["Labels"]
        assert labels["scopecraft.session"] == session.id
        assert labels["scopecraft.testrun"] == RUN_LABELS["scopecraft.testrun"]
        assert not any(secret in f"{k}={v}" for k, v in labels.items())
        command = [
            *(container.attrs["Config"]["Entrypoint"] or []),
            *container.attrs["Config"]["Cmd"],
        ]
        assert not any(secret in part for part in command)
        done = await engine.wait(session.id, timeout=60)
        assert done.status is SessionStatus.COMPLETED, done.error
        said = await agent_messages(engine, session.id)
        assert "[REDACTED]" in said[0], "the agent saw the value; the store did not"
        logs = [entry.text async for entry in engine.session_logs(session.id)]
        assert not any(secret in text for text in logs)
        await wait_removed(client, session.id)
    for path in home.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path


def _escape_script(canary: Path, dotgit: str) -> str:
    """A shell script for busybox in the container: the agent's work, then a git directory of
    its own (fsmonitor, hooks, ssh command, a clean filter, each touching a host canary) that
    its ``.git`` is made to name (``file``: a ``gitdir:`` line; ``folder``: ``.git`` itself)."""
    target = ".evilgit" if dotgit == "file" else ".git"
    lines = [
        "cd /workspace",
        "echo 'the work' > work.txt",
        "rm -rf .git" if dotgit == "folder" else "true",
        f"mkdir -p {target}/objects {target}/refs/heads {target}/hooks hooks",
        f"echo 'ref: refs/heads/main' > {target}/HEAD",
        f"printf '[core]\\n\\tbare = false\\n\\tfsmonitor = touch {canary}-fsmonitor\\n"
        f"\\thooksPath = hooks\\n\\tsshCommand = touch {canary}-ssh\\n"
        f'[filter "evil"]\\n\\tclean = touch {canary}-filter\\n\' > {target}/config',
        "for h in pre-commit post-commit post-index-change reference-transaction; do"
        f" printf '#!/bin/sh\\ntouch {canary}-hook\\n' > hooks/$h; chmod +x hooks/$h;"
        f" cp hooks/$h {target}/hooks/$h; done",
        "echo '* filter=evil' > .gitattributes",
        "echo 'gitdir: .evilgit' > .git" if dotgit == "file" else "true",
    ]
    return "\n".join(lines)


@pytest.mark.parametrize("dotgit", ["file", "folder"])
async def test_an_agent_in_a_container_cannot_make_the_host_run_commands(
    dotgit: str, repo: Path, home: Path, image: str, client: Any, tmp_path: Path
) -> None:
    """A ``command`` agent in a container plants every git vector it can reach (its ``.git``
    naming a git directory of its own, or a ``.git`` folder, with fsmonitor, hooks, an ssh
    command and a clean filter): recording its changes on the host runs none of them, its
    work is still committed, and the worktree's ``.git`` points at the real one again."""
    canary = tmp_path / "canary"
    config = {
        **CONFIG,
        "agents": {"command": {"argv": ["sh", "-c", _escape_script(canary, dotgit)]}},
    }
    async with Engine.open(repo, home=home, config=config) as engine:
        session = await engine.create_session(
            "ok-01A", mode="autonomous", executor="docker", agent="command", image=image
        )
        done = await engine.wait(session.id, timeout=60)
        assert done.status is SessionStatus.COMPLETED, done.error
        events = [e async for e in engine.events(session_id=session.id)]
        await wait_removed(client, session.id)
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("canary")) == []
    changes = next(e for e in events if e.type == "changes_recorded")
    assert "work.txt" in changes.files
    worktree = Path(done.worktree_path or "")
    assert (worktree / ".git").is_file()
    assert (worktree / ".git").read_text().startswith(f"gitdir: {repo / '.git' / 'worktrees'}")
    assert git("show", f"{done.branch}:work.txt", cwd=repo) == "the work\n"


async def test_a_cancelled_container_is_removed_when_the_engine_closes_at_once(
    repo: Path, home: Path, image: str, client: Any
) -> None:
    """An engine closed right after ``wait`` returned ``cancelled`` still removes the
    stopped container (its supervisor records the end and removes it before the engine
    goes); no ``Exited (143)`` container is left behind."""
    async with Engine.open(repo, home=home, config=CONFIG) as engine:
        session = await engine.create_session("hang-01C", **docker_session(image))
        await wait_for_messages(engine, session.id, 1)
        assert await engine.cancel_session(session.id) is True
        done = await engine.wait(session.id, timeout=30)
        assert done.status is SessionStatus.CANCELLED
    assert containers_of(client, session.id) == []


@pytest.mark.parametrize(
    ("asked_image", "config", "said"),
    [
        (None, {}, "needs an image"),
        ("scopecraft-no-such-image:1", {}, "has no image"),
        ("any:1", {"executors": {"docker": {"base_url": "unix:///nonexistent.sock"}}}, "answer"),
    ],
)
async def test_a_session_that_cannot_start_is_refused_before_queueing(
    repo: Path,
    home: Path,
    client: Any,
    asked_image: str | None,
    config: dict[str, Any],
    said: str,
) -> None:
    """No image named, an image the engine does not have (nothing is pulled), or a Docker
    engine that does not answer: ``create_session`` refuses at once with the fix (the CLI's
    flag, ``scopecraft image build``, ``-e local``), and no session, worktree or branch is
    made."""
    from scopecraft import RequestRefused

    async with Engine.open(repo, home=home, config={**CONFIG, **config}) as engine:
        with pytest.raises(RequestRefused, match=said) as refused:
            await engine.create_session(
                "ok-01A", mode="autonomous", executor="docker", agent="fake", image=asked_image
            )
        assert "local" in str(refused.value) or "image build" in str(refused.value)
        assert await engine.list_sessions(all=True) == []
    assert "ok-01A" not in git("branch", "--list", cwd=repo)
