"""The scheduler lease after a crash: a holder on this host whose process is gone is taken
over at once; a live holder, or one on another host, keeps it until it expires."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import anyio.abc
import psutil
import pytest
from anyio.streams.buffered import BufferedByteReceiveStream
from support import make_repo

from scopecraft import Engine, SessionStatus
from scopecraft.engine._scheduler import SCHEDULER_LEASE, holder_identity, holder_is_gone
from scopecraft.storage import SqliteStorage

# Far longer than any deadline below: a test passes only if the lease is taken over early.
CHILD_TTL = 60
CHILD = f"""
import sys
import anyio
from scopecraft import Engine, SessionStatus
from scopecraft.engine._scheduler import SCHEDULER_LEASE

async def main(repo, home, task):
    async with Engine.open(repo, home=home, config={{"lease_ttl": {CHILD_TTL}}}) as engine:
        with anyio.fail_after(30):
            while engine._scheduler.holder is None or (
                await engine.storage.lease_holder(SCHEDULER_LEASE) != engine._scheduler.holder
            ):
                await anyio.sleep(0.05)
        session_id = "-"
        if task != "-":
            session = await engine.create_session(
                task, executor="local", agent="fake", mode="autonomous"
            )
            with anyio.fail_after(30):
                while (await engine.get_session(session.id)).status is not SessionStatus.RUNNING:
                    await anyio.sleep(0.05)
            session_id = session.id
        print(engine._scheduler.holder, session_id, flush=True)
        await anyio.sleep(600)

anyio.run(main, *sys.argv[1:4])
"""


@pytest.fixture
def adopt_repo(tmp_path: Path) -> Path:
    """A repository with a task whose agent is still running a few seconds after it starts."""
    return make_repo(
        tmp_path / "src", {"adopt-01E": "fake: say before\nfake: sleep 3\nfake: say after"}
    )


@contextlib.asynccontextmanager
async def child_engine(
    repo: Path, home: Path, task: str = "-"
) -> AsyncIterator[tuple[anyio.abc.Process, str, str]]:
    """An engine in a child process that holds the scheduler lease (and has started ``task``
    there, when given); yields the process, its holder name and the session id."""
    with (home.parent / "child-engine.log").open("ab") as err:
        process = await anyio.open_process(
            [sys.executable, "-c", CHILD, str(repo), str(home), task], stderr=err
        )
    try:
        assert process.stdout is not None
        with anyio.fail_after(60):
            line = await BufferedByteReceiveStream(process.stdout).receive_until(b"\n", 4096)
        holder, session_id = line.decode().split()
        yield process, holder, session_id
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()
        await process.aclose()


async def kill(process: anyio.abc.Process) -> None:
    """SIGKILL the process and reap it."""
    process.kill()
    await process.wait()


async def holder_of(engine: Engine) -> str | None:
    """Who holds the scheduler lease of the engine's store."""
    return await engine.storage.lease_holder(SCHEDULER_LEASE)


@contextlib.contextmanager
def ended_process() -> Iterator[subprocess.Popen[bytes]]:
    """A child process, killed (and reaped) when the block ends."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        yield child
    finally:
        child.kill()
        child.wait()


def dead_holder() -> str:
    """The holder name of a process of this host that has ended."""
    with ended_process() as child:
        holder = holder_identity(child.pid)
    return holder


# -- who is gone -------------------------------------------------------------------------------


def test_holder_identity_names_this_process() -> None:
    """A holder name carries the host and the pid; each call is a new holder; this process is
    never gone."""
    first, second = holder_identity(), holder_identity()
    host, pid, _started, space, _token = first.rsplit(":", 4)
    assert host == socket.gethostname()
    assert int(pid) == os.getpid()
    assert space
    assert first != second
    assert not holder_is_gone(first)


def test_an_ended_process_is_gone() -> None:
    """A holder whose process ended is gone, from its exit (a zombie) on and once reaped."""
    with ended_process() as child:
        holder = holder_identity(child.pid)
        assert not holder_is_gone(holder), "a running process is not gone"
        child.kill()
        deadline = time.monotonic() + 10
        while psutil.Process(child.pid).status() != psutil.STATUS_ZOMBIE:
            assert time.monotonic() < deadline, "the killed child never exited"
            time.sleep(0.01)
        assert holder_is_gone(holder), "a zombie is gone"
    assert holder_is_gone(holder), "a reaped process is gone"


def test_a_reused_pid_is_gone() -> None:
    """A pid now held by a process that started at another time names another process: the
    holder is gone. A start read a fraction of a second off is still the same process."""
    host, pid, started, space, token = holder_identity().rsplit(":", 4)
    earlier = f"{host}:{pid}:{float(started) - 100:.2f}:{space}:{token}"
    rounded = f"{host}:{pid}:{float(started) - 0.3:.2f}:{space}:{token}"
    assert holder_is_gone(earlier)
    assert not holder_is_gone(rounded)


def test_holders_elsewhere_are_never_judged() -> None:
    """A dead pid named by a holder of another host (or pid namespace, or boot), or by a name
    of another form, is not known gone: its lease expires by time."""
    host, pid, started, space, token = dead_holder().rsplit(":", 4)
    assert holder_is_gone(f"{host}:{pid}:{started}:{space}:{token}")
    other_space = "0" * len(space) if space != "0" * len(space) else "1" * len(space)
    assert not holder_is_gone(f"{host}:{pid}:{started}:{other_space}:{token}")
    assert not holder_is_gone(f"{host}:{pid}:{started}::{token}")
    assert not holder_is_gone(f"{host}:{pid}::{space}:{token}"), "a start that was unreadable"
    assert not holder_is_gone(f"{host}:{pid}:{token}"), "the older host:pid:token form"
    assert not holder_is_gone(f"{host}:{pid}:soon:{space}:{token}")
    assert not holder_is_gone(f"{host}:0:{started}:{space}:{token}")
    assert not holder_is_gone("engine-a")


# -- the engine --------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_lease_of_a_killed_engine_is_taken_over_at_open(repo: Path, home: Path) -> None:
    """After the engine holding the lease is SIGKILLed, the next engine to open holds it
    long before the dead one's lease would expire."""
    async with child_engine(repo, home) as (process, dead, _):
        await kill(process)
        async with Engine.open(repo, home=home) as engine:
            with anyio.fail_after(10):
                while (
                    engine._scheduler.holder is None
                    or await holder_of(engine) != engine._scheduler.holder
                ):
                    await anyio.sleep(0.05)
            assert engine._scheduler.holder != dead


@pytest.mark.anyio
async def test_a_killed_engines_session_is_adopted_at_once(adopt_repo: Path, home: Path) -> None:
    """A session started by an engine that is then SIGKILLed is adopted by the next engine,
    which records its end and every message once, without waiting out the dead lease."""
    async with child_engine(adopt_repo, home, "adopt-01E") as (process, _, session_id):
        await kill(process)
        async with Engine.open(adopt_repo, home=home) as engine:
            done = await engine.wait(session_id, timeout=20)
            assert done.status is SessionStatus.COMPLETED, done.error
            messages = [
                e.text
                async for e in engine.events(session_id=session_id)
                if e.type == "agent_message"
            ]
    assert messages.count("before") == 1
    assert messages.count("after") == 1


@pytest.mark.anyio
async def test_a_live_engine_in_another_process_keeps_the_lease(repo: Path, home: Path) -> None:
    """An engine whose process is alive keeps the lease: another engine opening beside it
    does not take it over."""
    async with (
        child_engine(repo, home) as (_process, live, _),
        Engine.open(repo, home=home) as engine,
    ):
        with anyio.fail_after(30):
            await engine._scheduler.lease_decided.wait()
        assert await holder_of(engine) == live
        assert engine._scheduler.leader_scope is None


@pytest.mark.anyio
async def test_a_live_engine_in_this_process_keeps_the_lease(repo: Path, home: Path) -> None:
    """Two engines of one process are two holders: the second does not take the lease over
    from the first, whose process (this one) is alive."""
    async with Engine.open(repo, home=home) as first:
        with anyio.fail_after(30):
            while (
                first._scheduler.holder is None or await holder_of(first) != first._scheduler.holder
            ):
                await anyio.sleep(0.05)
        async with Engine.open(repo, home=home) as second:
            with anyio.fail_after(30):
                await second._scheduler.lease_decided.wait()
            assert await holder_of(second) == first._scheduler.holder
            assert second._scheduler.leader_scope is None


@pytest.mark.anyio
async def test_a_dead_holder_on_another_host_keeps_the_lease(repo: Path, home: Path) -> None:
    """A lease row naming an ended pid of another host is left to expire by time."""
    host, pid, started, space, token = dead_holder().rsplit(":", 4)
    elsewhere = f"{host}-elsewhere:{pid}:{started}:{'f' * len(space)}:{token}"
    async with SqliteStorage(home=home) as store:
        assert await store.acquire_lease(SCHEDULER_LEASE, elsewhere, CHILD_TTL)
    async with Engine.open(repo, home=home) as engine:
        with anyio.fail_after(30):
            await engine._scheduler.lease_decided.wait()
        assert await holder_of(engine) == elsewhere
        assert engine._scheduler.leader_scope is None


@pytest.mark.anyio
async def test_a_dead_holder_written_in_the_store_is_taken_over(repo: Path, home: Path) -> None:
    """A lease row naming an ended process of this host is taken over at open."""
    dead = dead_holder()
    async with SqliteStorage(home=home) as store:
        assert await store.acquire_lease(SCHEDULER_LEASE, dead, CHILD_TTL)
    async with Engine.open(repo, home=home) as engine:
        with anyio.fail_after(30):
            await engine._scheduler.lease_decided.wait()
        assert await holder_of(engine) == engine._scheduler.holder
        assert engine._scheduler.leader_scope is not None


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_taking_a_lease_over_never_blocks_the_event_loop(repo: Path, home: Path) -> None:
    """Judging a holder (psutil reads ``/proc``) happens off the event loop's thread, for a
    live holder and a dead one alike (blockbuster watches asyncio)."""
    from blockbuster import blockbuster_ctx

    async with Engine.open(repo, home=home) as first:
        with anyio.fail_after(30):
            while (
                first._scheduler.holder is None or await holder_of(first) != first._scheduler.holder
            ):
                await anyio.sleep(0.05)
        async with Engine.open(repo, home=home) as second:
            with anyio.fail_after(30):
                await second._scheduler.lease_decided.wait()
            with blockbuster_ctx():
                assert not await second._scheduler.take_lease(second._scheduler.holder or "", 60)
            dead = dead_holder()
            assert await first.storage.take_over_lease(
                SCHEDULER_LEASE, first._scheduler.holder or "", dead, 60
            )
            with blockbuster_ctx():
                assert await second._scheduler.take_lease(second._scheduler.holder or "", 60)
            assert await holder_of(second) == second._scheduler.holder
