"""The Docker executor on the real engine: start and adopt, output by cursor, stop, remove,
discover, labels, hardening, refusals and errors."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from docker_support import (
    RUN_LABELS,
    collect,
    make_spec,
    non_root_owner,
)

from scopecraft._errors import (
    CapabilityMissing,
    ConfigError,
    ExecutorError,
    ExecutorUnavailable,
)
from scopecraft._models import LogStream
from scopecraft._plugins import PluginRegistry
from scopecraft.executors import (
    Executor,
    Resources,
    RuntimeHandle,
    RuntimeStatus,
)
from scopecraft.executors._docker import DockerExecutor, ImageNotFound, MountRefused
from scopecraft.testing._fake_agent import CONTAINER_PATH
from scopecraft.testing._images import fake_agent_image

pytestmark = [pytest.mark.docker, pytest.mark.anyio]


@pytest.fixture
def anyio_backend() -> str:
    """Executor tests run on asyncio; those that matter for both loops ask for trio too."""
    return "asyncio"


@pytest.fixture
async def executor(image: str, client: Any) -> AsyncIterator[DockerExecutor]:
    """An executor with no network, closed after the test."""
    docker = DockerExecutor(network="none")
    try:
        yield docker
    finally:
        await docker.aclose()


def messages(lines: list[tuple[LogStream, str]]) -> list[str]:
    """The assistant texts in stream-json stdout lines."""
    import json

    found = []
    for stream, text in lines:
        if stream != "stdout" or not text.startswith("{"):
            continue
        data = json.loads(text)
        if data.get("type") == "assistant":
            for part in data["message"]["content"]:
                if part.get("type") == "text":
                    found.append(part["text"])
    return found


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_runs_the_agent_and_removes_everything(
    executor: DockerExecutor, image: str, client: Any, tmp_path: Path
) -> None:
    """The agent gets its prompt on standard input, its output is read by cursor, the exited
    container is kept until ``remove``, which deletes it and the spooled prompt and output."""
    spec = make_spec(tmp_path, image, stdin=b"fake: say one\nfake: write out.txt hi\n")
    handle = await executor.start(spec)
    assert handle.runtime_name == spec.runtime_name
    lines, _cursor, state = await collect(executor, handle)
    assert state.status is RuntimeStatus.EXITED
    assert state.exit_code == 0
    assert messages(lines) == ["one"]
    assert (spec.workdir / "out.txt").read_text() == "hi\n"
    container = client.containers.get(handle.runtime_id)
    assert container.status == "exited", "not auto-removed: the exit code stays readable"
    assert container.attrs["HostConfig"]["AutoRemove"] is False
    assert (spec.run_dir / "io" / "stdin").exists()
    await executor.remove(handle)
    await executor.remove(handle)  # idempotent
    assert (await executor.state(handle)).status is RuntimeStatus.MISSING
    assert not (spec.run_dir / "io").exists(), "the prompt and raw output are deleted"
    assert not client.containers.list(all=True, filters={"id": handle.runtime_id})


async def test_a_second_start_adopts_the_container(
    executor: DockerExecutor, image: str, client: Any, tmp_path: Path
) -> None:
    """Starting the same attempt again (even from another executor instance) adopts the
    container named after it instead of creating another one."""
    spec = make_spec(tmp_path, image, stdin=b"fake: say once\nfake: sleep 1\n")
    first = await executor.start(spec)
    other = DockerExecutor(network="none")
    try:
        second = await other.start(spec)
    finally:
        await other.aclose()
    assert second.runtime_id == first.runtime_id
    named = client.containers.list(all=True, filters={"name": spec.runtime_name})
    assert [c.id for c in named] == [first.runtime_id]
    lines, _, _ = await collect(executor, first)
    assert messages(lines) == ["once"], "the agent ran once"
    await executor.remove(first)


async def test_adopting_never_runs_the_agent_twice(
    executor: DockerExecutor, image: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A start retried after a crash between create and start starts the created container;
    one retried after the agent already ran adopts the exited container without running
    it again."""
    spec = make_spec(tmp_path, image, stdin=b"fake: say only once\n")
    crashed = DockerExecutor(network="none")
    monkeypatch.setattr(crashed, "_start_container", lambda *args: None)
    try:
        created = await crashed.start(spec)
    finally:
        await crashed.aclose()
    assert (await executor.state(created)).detail.endswith("never started")
    handle = await executor.start(spec)
    assert handle.runtime_id == created.runtime_id
    lines, cursor, state = await collect(executor, handle)
    assert state.exit_code == 0
    again = await executor.start(spec)
    assert again.runtime_id == handle.runtime_id
    await anyio.sleep(0.5)
    assert (await executor.state(again)).status is RuntimeStatus.EXITED
    more, _, _ = await collect(executor, again, cursor)
    assert messages(lines + more) == ["only once"]
    await executor.remove(handle)


async def test_a_foreign_container_with_the_name_is_not_adopted(
    executor: DockerExecutor, image: str, client: Any, tmp_path: Path
) -> None:
    """A container that holds the attempt's name but not its labels is refused, left alone,
    and no container with a suffixed name is made."""
    spec = make_spec(tmp_path, image)
    foreign = client.containers.create(
        image, ["/bin/true"], name=spec.runtime_name, labels=RUN_LABELS, network_mode="none"
    )
    try:
        with pytest.raises(ExecutorError, match="not this session's"):
            await executor.start(spec)
        foreign.reload()
        assert foreign.status == "created"
        names = [
            c.name
            for c in client.containers.list(
                all=True, filters={"label": "scopecraft.session"}, ignore_removed=True
            )
        ]
        assert not any(name.startswith(spec.runtime_name) for name in names)
    finally:
        foreign.remove(force=True)


async def test_output_cursor_resumes_in_a_new_executor(
    executor: DockerExecutor, image: str, tmp_path: Path
) -> None:
    """A cursor taken mid-run and given to a fresh executor (as after an engine restart)
    yields the rest of the output: no line lost, none doubled; an unterminated line waits
    until it is complete, or until the final read."""
    script = "\n".join(f"fake: say line {i}\nfake: sleep 0.1" for i in range(1, 11))
    spec = make_spec(tmp_path, image, stdin=script.encode())
    handle = await executor.start(spec)
    first: list[tuple[LogStream, str]] = []
    cursor: dict[str, Any] | None = None
    with anyio.fail_after(30):
        while len(messages(first)) < 3:
            chunk = await executor.read_output(handle, cursor)
            first.extend(chunk.lines)
            cursor = chunk.cursor
            await anyio.sleep(0.05)
    assert cursor is not None
    stored = dict(cursor)  # the engine keeps it as JSON
    fresh = DockerExecutor(network="none")
    try:
        rest, _, state = await collect(fresh, handle, stored)
    finally:
        await fresh.aclose()
    assert state.exit_code == 0
    assert messages(first + rest) == [f"line {i}" for i in range(1, 11)]
    texts = [text for _, text in first + rest]
    assert len(texts) == len(set(texts))
    await executor.remove(handle)

    partial = make_spec(
        tmp_path,
        image,
        stdin=None,
        argv=("/bin/sh", "-c", "printf 'abc'; sleep 1; printf 'def\\nxyz'; sleep 1"),
    )
    handle = await executor.start(partial)
    await anyio.sleep(0.5)
    early = await executor.read_output(handle, None)
    assert early.lines == [], "half a line is not a line"
    lines, _, _ = await collect(executor, handle, early.cursor)
    assert lines == [("stdout", "abcdef"), ("stdout", "xyz")]
    await executor.remove(handle)


async def test_stop_ends_a_hanging_agent(
    executor: DockerExecutor, image: str, tmp_path: Path
) -> None:
    """``stop`` sends SIGTERM through the container's init, waits its grace, and returns the
    exit code; the container stays until ``remove``."""
    spec = make_spec(tmp_path, image, stdin=b"fake: say waiting\nfake: hang\n")
    handle = await executor.start(spec)
    seen: list[tuple[LogStream, str]] = []
    cursor: dict[str, Any] | None = None
    with anyio.fail_after(20):
        while not messages(seen):
            chunk = await executor.read_output(handle, cursor)
            seen.extend(chunk.lines)
            cursor = chunk.cursor
            await anyio.sleep(0.05)
    assert (await executor.state(handle)).status is RuntimeStatus.RUNNING
    with anyio.fail_after(20):
        code = await executor.stop(handle, grace=2)
    assert code in (143, 137)
    state = await executor.state(handle)
    assert state.status is RuntimeStatus.EXITED
    assert state.exit_code == code
    assert "SIG" in state.detail
    lines, _, _ = await collect(executor, handle, cursor)
    assert messages(seen + lines) == ["waiting"]
    assert any(stream == "system" and "SIG" in text for stream, text in lines)
    await executor.remove(handle)
    assert await executor.stop(handle, grace=1) is None, "stopping a removed one is harmless"


async def test_discover_finds_the_containers_of_a_store(
    executor: DockerExecutor, image: str, tmp_path: Path
) -> None:
    """``discover`` returns handles (session, attempt, name, id, run folder) of the store's
    containers only, running or exited."""
    store = f"store-{uuid.uuid4().hex[:8]}"
    mine = [
        await executor.start(make_spec(tmp_path, image, store=store, attempt=n, session_id=sid))
        for n, sid in ((1, f"ses-{uuid.uuid4().hex[:12]}"), (2, f"ses-{uuid.uuid4().hex[:12]}"))
    ]
    theirs = await executor.start(make_spec(tmp_path, image, store=f"{store}-other"))
    try:
        found = await executor.discover(store)
        assert sorted(found, key=lambda h: h.attempt) == sorted(mine, key=lambda h: h.attempt)
        assert await executor.discover(f"{store}-none") == []
    finally:
        for handle in [*mine, theirs]:
            await executor.remove(handle)


async def test_labels_own_the_container_and_hold_no_secret(
    executor: DockerExecutor, image: str, client: Any, tmp_path: Path
) -> None:
    """The container carries the ownership labels and the engine's environment (TASK_ID,
    WORK_MODE, forwarded values); no secret is in a label or in the command."""
    secret = "planted-secret-value-0042"
    spec = make_spec(tmp_path, image, stdin=b"fake: echo-env MY_TOKEN\n", env={"MY_TOKEN": secret})
    handle = await executor.start(spec)
    try:
        attrs = client.containers.get(handle.runtime_id).attrs
        labels = attrs["Config"]["Labels"]
        for key, value in spec.labels.items():
            assert labels[key] == value
        assert not any(secret in f"{k}={v}" for k, v in labels.items())
        command = [*(attrs["Config"]["Entrypoint"] or []), *(attrs["Config"]["Cmd"] or [])]
        assert not any(secret in part for part in command)
        env = attrs["Config"]["Env"]
        assert "TASK_ID=task-01A" in env
        assert "WORK_MODE=autonomous" in env
        lines, _, _ = await collect(executor, handle)
        assert messages(lines) == [secret], "the agent got the value it was given"
    finally:
        await executor.remove(handle)


async def test_hardened_defaults_work_together(image: str, client: Any, tmp_path: Path) -> None:
    """With every default on (and a read-only root), a non-root uid with all capabilities
    dropped and no new privileges writes its worktree, its state folder, HOME and /tmp; the
    container is limited in processes, memory (no swap) and CPU (clamped to the host)."""
    work = tmp_path / "work"
    work.mkdir()
    uid, gid = non_root_owner(work)
    script = (
        "id -u > uid && grep -E '^(CapEff|NoNewPrivs)' /proc/self/status > status && "
        "touch /agent-state/state $HOME/home /tmp/tmp && echo ok > done"
    )
    docker = DockerExecutor(network="none", read_only_root=True)
    ncpu = int(client.info()["NCPU"])
    spec = make_spec(
        tmp_path,
        image,
        stdin=None,
        argv=("/bin/sh", "-c", script),
        workdir=work,
        resources=Resources(cpus=ncpu + 64, memory_mb=256, pids=64),
    )
    try:
        handle = await docker.start(spec)
        lines, _, state = await collect(docker, handle)
        assert state.exit_code == 0, lines
        attrs = client.containers.get(handle.runtime_id).attrs
        host = attrs["HostConfig"]
        assert host["CapDrop"] == ["ALL"]
        assert not host.get("CapAdd")
        assert "no-new-privileges" in host["SecurityOpt"]
        assert host["PidsLimit"] == 64
        assert host["Memory"] == 256 * 1024 * 1024
        assert host["MemorySwap"] == host["Memory"], "no swap beyond the memory limit"
        assert 0 < host["NanoCpus"] <= ncpu * 1_000_000_000
        assert host["Init"] is True
        assert host["Privileged"] is False
        assert host["ReadonlyRootfs"] is True
        assert host["NetworkMode"] == "none"
        assert attrs["Config"]["User"] == f"{uid}:{gid}"
        assert not any(m["Source"].endswith("docker.sock") for m in attrs["Mounts"])
        assert (work / "uid").read_text().strip() == str(uid) != "0"
        status = (work / "status").read_text()
        assert "CapEff:\t0000000000000000" in status
        assert "NoNewPrivs:\t1" in status
        assert (work / "done").stat().st_uid == uid, "the user owns what the agent wrote"
        assert (spec.state_dir / "state").stat().st_uid == uid
        await docker.remove(handle)
    finally:
        await docker.aclose()


async def test_defaults_limit_an_unconfigured_session(
    executor: DockerExecutor, image: str, client: Any, tmp_path: Path
) -> None:
    """Without per-mode resources, the executor's own limits apply (memory without swap,
    processes, CPU within the host)."""
    handle = await executor.start(make_spec(tmp_path, image))
    try:
        host = client.containers.get(handle.runtime_id).attrs["HostConfig"]
        assert host["Memory"] == 4096 * 1024 * 1024 == host["MemorySwap"]
        assert host["PidsLimit"] == 1024
        assert 0 < host["NanoCpus"] <= int(client.info()["NCPU"]) * 1_000_000_000
    finally:
        await executor.stop(handle, grace=0)
        await executor.remove(handle)


async def test_a_read_only_worktree_cannot_be_written(
    executor: DockerExecutor, image: str, tmp_path: Path
) -> None:
    """A planning attempt mounts the worktree read-only: the agent's write fails and the
    worktree is unchanged."""
    spec = make_spec(tmp_path, image, stdin=b"fake: write plan.txt nope\n", read_only_workdir=True)
    handle = await executor.start(spec)
    lines, _, state = await collect(executor, handle)
    assert state.exit_code == 0
    assert not (spec.workdir / "plan.txt").exists()
    assert any(stream == "stderr" and "cannot write" in text for stream, text in lines)
    await executor.remove(handle)


async def test_the_docker_socket_is_never_mounted(image: str, tmp_path: Path) -> None:
    """Any mount of a Docker socket, or of a folder holding one, is refused with a clear
    error: in the configuration (when the plugin loads) and as a worktree."""
    for volume in (
        "/var/run/docker.sock:/var/run/docker.sock",
        "/run/docker.sock:/sock:rw",
        "/var/run:/host-run",
        "/:/host",
    ):
        with pytest.raises(MountRefused, match="Docker socket"):
            DockerExecutor(volumes=[volume])
    private = tmp_path / "d"
    private.mkdir()
    with pytest.raises(MountRefused):
        DockerExecutor(base_url=f"unix://{private}/docker.sock", volumes=[f"{private}:/x"])
    docker = DockerExecutor(network="none")
    try:
        spec = make_spec(tmp_path, image, workdir=Path("/run"))
        with pytest.raises(MountRefused, match="Docker socket"):
            await docker.start(spec)
    finally:
        await docker.aclose()
    assert isinstance(MountRefused("x"), PermissionError)


async def test_a_missing_image_is_reported(
    executor: DockerExecutor, image: str, client: Any, tmp_path: Path
) -> None:
    """An image the engine does not have raises ImageNotFound (a LookupError) naming it,
    without contacting a registry, and leaves no container."""
    spec = make_spec(tmp_path, f"scopecraft-no-such-image:{uuid.uuid4().hex[:8]}")
    with pytest.raises(ImageNotFound, match="scopecraft-no-such-image") as info:
        await executor.start(spec)
    assert isinstance(info.value, LookupError)
    assert not client.containers.list(all=True, filters={"name": spec.runtime_name})


async def test_a_container_that_cannot_start_is_removed(
    image: str, client: Any, tmp_path: Path
) -> None:
    """When the engine cannot start the container (here a folder mounted over a file),
    start fails with the engine's reason and the created container is removed, so a
    corrected retry starts clean."""
    folder = tmp_path / "folder"
    folder.mkdir()
    docker = DockerExecutor(network="none", volumes=[f"{folder}:{CONTAINER_PATH}/x"])
    spec = make_spec(tmp_path, image)
    try:
        with pytest.raises(ExecutorError, match="did not start"):
            await docker.start(spec)
    finally:
        await docker.aclose()
    assert not client.containers.list(all=True, filters={"name": spec.runtime_name})


async def test_an_image_without_the_shell_fails_visibly(
    image: str, client: Any, tmp_path: Path
) -> None:
    """When the image lacks the configured shell, the container ends at once with an error
    code and the final read carries the reason the container printed."""
    docker = DockerExecutor(network="none", shell="/no/such/shell")  # noqa: S604 - a path, not a shell string
    spec = make_spec(tmp_path, image)
    try:
        handle = await docker.start(spec)
        lines, _, state = await collect(docker, handle)
        assert state.status is RuntimeStatus.EXITED
        assert state.exit_code not in (0, None)
        assert any("/no/such/shell" in text for _, text in lines), lines
        await docker.remove(handle)
    finally:
        await docker.aclose()


@pytest.mark.parametrize("anyio_backend", ["asyncio", "trio"])
async def test_an_unreachable_engine_is_unknown_not_dead(tmp_path: Path) -> None:
    """When the Docker engine does not answer, ``state`` says UNKNOWN (never MISSING) and
    the other calls raise ExecutorUnavailable."""
    docker = DockerExecutor(base_url=f"unix://{tmp_path}/nothing.sock", timeout=2)
    handle = RuntimeHandle(
        session_id="ses-x",
        attempt=1,
        runtime_name="scopecraft-ses-x-1",
        runtime_id="abc",
        run_dir=tmp_path / "run",
    )
    try:
        state = await docker.state(handle)
        assert state.status is RuntimeStatus.UNKNOWN
        assert state.detail
        with pytest.raises(ExecutorUnavailable):
            await docker.discover("store")
        with pytest.raises(ExecutorUnavailable):
            await docker.stop(handle, grace=0)
        with pytest.raises(ExecutorUnavailable):
            await docker.start(make_spec(tmp_path, "any:image"))
    finally:
        await docker.aclose()


async def test_no_terminal_and_no_live_input(executor: DockerExecutor, tmp_path: Path) -> None:
    """Docker sessions have no terminal to attach and take feedback as the next attempt."""
    handle = RuntimeHandle(
        session_id="ses-x", attempt=1, runtime_name="n", runtime_id="i", run_dir=tmp_path
    )
    with pytest.raises(CapabilityMissing):
        executor.attach_command(handle)
    with pytest.raises(CapabilityMissing):
        await executor.send_input(handle, "more")
    caps = executor.capabilities
    assert caps.detached
    assert caps.isolated
    assert caps.can_limit_memory
    assert caps.can_limit_cpu
    assert not caps.terminal
    assert not caps.can_attach
    assert not caps.can_send_input
    assert executor.agent_workdir(tmp_path) == "/workspace"
    assert executor.agent_state_dir(tmp_path) == "/agent-state"


def test_the_plugin_loads_with_keyword_configuration() -> None:
    """The entry point ``docker`` builds the executor from keywords and checks them."""
    registry = PluginRegistry()
    docker = registry.create("executors", "docker", Executor, network="none", memory_mb=512)
    assert isinstance(docker, DockerExecutor)
    assert docker.config.network == "none"
    with pytest.raises(ConfigError):
        DockerExecutor(no_such_key=1)
    with pytest.raises(ConfigError):
        DockerExecutor(user="root")
    with pytest.raises(ConfigError):
        DockerExecutor(extra_labels={"scopecraft.session": "x"})
    with pytest.raises(ConfigError):
        DockerExecutor(volumes=["/data:/workspace/data"])


def test_docker_is_imported_lazily() -> None:
    """Importing the executor module does not import docker-py (``import scopecraft`` stays
    fast)."""
    import subprocess
    import sys

    code = (
        "import sys, scopecraft.executors._docker, scopecraft.testing._images\n"
        "assert 'docker' not in sys.modules, 'docker imported at module import'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_fake_agent_image_is_cached_and_labelled(image: str, client: Any) -> None:
    """The fake agent's image is built once per content, labelled for tests, and has a
    shell, a writable /tmp and the agent."""
    assert fake_agent_image() == image
    built = client.images.get(image)
    assert built.labels.get("scopecraft.testing") == "1"
    out = client.containers.run(
        image,
        ["/bin/sh", "-c", f"test -x {CONTAINER_PATH} && test -k /tmp && echo ok"],
        remove=True,
        network_mode="none",
        user="1000:1000",
        labels=RUN_LABELS,
    )
    assert out.strip() == b"ok"


def test_a_missing_or_dynamic_busybox_names_the_package(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without a static busybox the image cannot be built: the error names busybox-static."""
    from scopecraft.testing._images import busybox_path

    monkeypatch.setenv("SCOPECRAFT_BUSYBOX", str(tmp_path / "none"))
    with pytest.raises(FileNotFoundError, match="busybox-static"):
        busybox_path()
    monkeypatch.setenv("SCOPECRAFT_BUSYBOX", os.path.realpath("/bin/ls"))
    with pytest.raises(FileNotFoundError, match="busybox-static"):
        busybox_path()
