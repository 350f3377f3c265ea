"""An agent never runs as root in its container: a worktree of root's is handed to an
unprivileged user for the attempt and handed back, without following links and without
leaving a set-user-ID program behind."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from docker_support import collect, make_spec, require_docker

from scopecraft._errors import ConfigError
from scopecraft.executors import RuntimeStatus
from scopecraft.executors._docker import DockerExecutor
from scopecraft.executors._docker_owner import OWNER_FILE, hand_back, hand_over

pytestmark = [pytest.mark.docker, pytest.mark.anyio]

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="handing a worktree over needs root")


@pytest.fixture
def anyio_backend() -> str:
    """These run on asyncio only: the handover is the same on both loops."""
    return "asyncio"


def git(work: Path, *args: str) -> None:
    """Run host git in ``work`` (a quick local command; fine inside a test's event loop)."""
    subprocess.run(["git", "-C", str(work), *args], check=True)


def owners(top: Path) -> set[tuple[int, int]]:
    """Every ``(uid, gid)`` under ``top``, ``top`` included, links not followed."""
    found = {(top.lstat().st_uid, top.lstat().st_gid)}
    for folder, dirs, files in os.walk(top):
        for name in (*dirs, *files):
            st = os.lstat(Path(folder, name))
            found.add((st.st_uid, st.st_gid))
    return found


@as_root
async def test_a_root_worktree_is_run_by_an_unprivileged_user_and_handed_back(
    image: str, tmp_path: Path
) -> None:
    """The worktree belongs to root (the engine runs as root): the agent runs as 1000:1000,
    can write the worktree, and once the container has ended every file (those it wrote too)
    is root's again; a set-user-ID bit it set is cleared, a link it planted to a host file is
    not followed, and host git can commit the worktree as before."""
    work = tmp_path / "work"
    (work / "src").mkdir(parents=True)
    (work / "src" / "old.txt").write_text("old\n")
    victim = tmp_path / "victim"
    victim.write_text("host file\n")
    os.chown(victim, 4321, 4321)
    git(work, "init", "-q")
    assert owners(work) == {(0, 0)}
    script = (
        "id -u > uid && id -g > gid && stat -c %u src/old.txt > owner_during && "
        "echo new > src/new.txt && mkdir -p deep/er && echo x > deep/er/y && "
        "cp /bin/sh prog && chmod 4755 prog && ln -s /victim link"
    )
    docker = DockerExecutor(network="none")
    spec = make_spec(tmp_path, image, stdin=None, argv=("/bin/sh", "-c", script), workdir=work)
    try:
        handle = await docker.start(spec)
        lines, _, state = await collect(docker, handle)
        assert state.status is RuntimeStatus.EXITED
        assert state.exit_code == 0, lines
        assert (work / "uid").read_text().strip() == "1000"
        assert (work / "gid").read_text().strip() == "1000"
        assert (work / "owner_during").read_text().strip() == "1000"
        # state() saw the end: the worktree is root's again, before anything else runs.
        assert owners(work) == {(0, 0)}
        mode = (work / "prog").stat().st_mode
        assert not mode & (stat.S_ISUID | stat.S_ISGID), oct(mode)
        assert (work / "link").is_symlink()
        assert (victim.stat().st_uid, victim.stat().st_gid) == (4321, 4321)
        assert not (handle.run_dir / OWNER_FILE).exists()
        git(work, "add", "-A")
        git(work, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
        await docker.remove(handle)
        assert not handle.run_dir.exists()
    finally:
        await docker.aclose()


@as_root
async def test_a_stopped_or_removed_attempt_hands_the_worktree_back(
    image: str, tmp_path: Path
) -> None:
    """A hanging agent stopped, or its container removed without a state read, leaves the
    worktree its owner's."""
    docker = DockerExecutor(network="none")
    try:
        for end in ("stop", "remove"):
            work = tmp_path / end
            work.mkdir()
            spec = make_spec(
                tmp_path, image, stdin=None, argv=("/bin/sh", "-c", "sleep 60"), workdir=work
            )
            handle = await docker.start(spec)
            assert owners(work) == {(1000, 1000)}
            if end == "stop":
                await docker.stop(handle, grace=0)
                assert owners(work) == {(0, 0)}
            await docker.remove(handle)
            assert owners(work) == {(0, 0)}
            assert not handle.run_dir.exists()
    finally:
        await docker.aclose()


@as_root
async def test_a_start_that_fails_hands_the_worktree_back(tmp_path: Path) -> None:
    """No container could be made (the image is missing): the worktree is root's again."""
    require_docker()
    work = tmp_path / "work"
    work.mkdir()
    docker = DockerExecutor(network="none")
    spec = make_spec(
        tmp_path, "scopecraft-no-such-image:0", stdin=None, argv=("true",), workdir=work
    )
    try:
        with pytest.raises(Exception, match="not on the Docker engine"):
            await docker.start(spec)
        assert owners(work) == {(0, 0)}
    finally:
        await docker.aclose()


@as_root
def test_a_handover_is_recorded_before_files_change_hands(tmp_path: Path) -> None:
    """The record holds the first owner, even when the start is retried, and a handback
    restores it; a second handback does nothing."""
    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    run.mkdir()
    (work / "f").write_text("x")
    os.chown(work / "f", 0, 55)
    hand_over(work, run, 1000, 1000)
    hand_over(work, run, 1000, 1000)  # a retried start keeps the first record
    record = run / OWNER_FILE
    assert stat.S_IMODE(record.stat().st_mode) == 0o600
    assert owners(work) == {(1000, 1000)}
    assert hand_back(run) is True
    assert (work.stat().st_uid, work.stat().st_gid) == (0, 0)
    assert (work / "f").stat().st_uid == 0, "the top folder's owner is the one restored"
    assert hand_back(run) is False


def test_root_is_refused_as_the_agents_user() -> None:
    """Neither ``user`` nor ``agent_user`` may name uid 0."""
    for options in ({"user": "0:0"}, {"agent_user": "0:1000"}, {"agent_user": "root"}):
        with pytest.raises(ConfigError, match=r"root|uid:gid"):
            DockerExecutor(**options)
    assert DockerExecutor(agent_user="2000:2000").config.agent_user == "2000:2000"


def test_a_root_worktree_is_refused_to_an_engine_not_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, client: Any
) -> None:
    """An engine that is not root cannot hand root's worktree over: the start says so
    instead of running the agent as root."""
    from scopecraft._errors import ExecutorError

    work = tmp_path / "work"
    work.mkdir()
    if os.geteuid() != 0:
        pytest.skip("needs a root-owned folder")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)  # fault injection: a non-root engine
    with pytest.raises(ExecutorError, match="never runs as root"):
        DockerExecutor(network="none")._user_for(work)


@as_root
def test_a_handback_that_fails_keeps_its_record_and_is_tried_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A walk that fails (fault injection: chown raises) leaves the record, so the next
    state read hands the worktree back; it never raises into the supervisor."""
    work, run = tmp_path / "work", tmp_path / "run"
    work.mkdir()
    run.mkdir()
    hand_over(work, run, 1000, 1000)
    real_chown = os.chown

    def failing(*args: object, **kwargs: object) -> None:
        raise PermissionError("injected")

    monkeypatch.setattr(os, "chown", failing)
    assert hand_back(run) is False
    assert (run / OWNER_FILE).exists()
    monkeypatch.setattr(os, "chown", real_chown)
    assert hand_back(run) is True
    assert owners(work) == {(0, 0)}
