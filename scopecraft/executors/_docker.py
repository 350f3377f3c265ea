"""``DockerExecutor``: each attempt of a session in its own hardened container.

One container per attempt, named ``spec.runtime_name`` (``scopecraft-<session>-<attempt>``) and
labelled with its owner (session, attempt, task, mode, host, store), so a retried start adopts
the container instead of making a second one, and `DockerExecutor.discover()` finds it again
from any process. The worktree is mounted at ``/workspace`` (read-only for planning), the
session's agent-state folder at ``/agent-state`` (kept across attempts, so ``--resume`` works in
the next container), and the attempt's spool folder at ``/run/scopecraft``.

Input and output go through that spool folder (see `._docker_spool`), not through the
Docker API: the container runs ``<shell> -c <constant script> <argv...>``, where the script
redirects the agent's standard input from the prompt file and appends its output to two log
files, then ``exec``\\ s the agent. Nothing user-supplied is ever part of the script: the agent's
argv follows as separate arguments (``"$0" "$@"``). Compared with attaching to the container's
standard input, the prompt is on disk before the container exists, so a crash between create and
start loses nothing and a restarted engine has nothing to re-send; compared with reading
``docker logs`` past a timestamp, a byte offset is exact (no two lines share it), survives a
daemon restart, and needs no log driver. The price is that the image must have a POSIX shell
(``shell``, ``/bin/sh`` by default), which every agent image has.

Containers are hardened by default (see `DockerExecutor.start()` and ``docs/docker.md``).
Every docker-py call runs in a worker thread, through one capacity limiter per executor.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import os
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import anyio
import anyio.to_thread
from pydantic import ValidationError

from .._errors import (
    CapabilityMissing,
    ConfigError,
    ExecutorError,
    ExecutorUnavailable,
    RuntimeNotFound,
)
from .._models import LogStream
from ._docker_config import (
    AGENT_STATE_DIR,
    AGENT_WORKDIR,
    IO_DIR,
    DockerExecutorConfig,
    ImageNotFound,
    MountRefused,
    check_mount_source,
    docker_sockets,
    parse_volume,
    probe_engine,
)
from ._docker_owner import hand_back, hand_over
from ._docker_spool import delete_spool, give_to, prepare_spool, read_spool
from ._protocol import (
    Executor,
    ExecutorCapabilities,
    LaunchSpec,
    OutputChunk,
    RuntimeHandle,
    RuntimeState,
    RuntimeStatus,
)

__all__ = ["DockerExecutor", "DockerExecutorConfig", "ImageNotFound", "MountRefused"]

log = logging.getLogger("scopecraft.executors.docker")

_T = TypeVar("_T")

# The only shell text ever run: constants. "$0" and "$@" are the agent's argv, passed as
# separate arguments after the script, so no user data is parsed by the shell.
_LAUNCH_WITH_STDIN = f'exec "$0" "$@" <{IO_DIR}/stdin >>{IO_DIR}/stdout.log 2>>{IO_DIR}/stderr.log'
_LAUNCH_WITHOUT_STDIN = f'exec "$0" "$@" </dev/null >>{IO_DIR}/stdout.log 2>>{IO_DIR}/stderr.log'
_RUNNING = frozenset({"running", "paused", "restarting"})
_SIGNALS = {130: "SIGINT", 134: "SIGABRT", 137: "SIGKILL", 139: "SIGSEGV", 143: "SIGTERM"}


class DockerExecutor(Executor):
    """Runs each attempt of a session in its own hardened Docker container.

    Constructed with keyword configuration only (the fields of `DockerExecutorConfig`),
    as the engine does with ``EngineConfig.executors["docker"]``::

        DockerExecutor(network="none", read_only_root=True, memory_mb=2048)

    Args:
        config: A ready configuration (then no keywords).
        **options: The fields of `DockerExecutorConfig`.

    Raises:
        ConfigError: an unknown key or a bad value.
        MountRefused: a configured volume would expose the Docker socket.
    """

    name = "docker"
    capabilities = ExecutorCapabilities(
        detached=True,
        isolated=True,
        terminal=False,
        can_send_input=False,
        can_attach=False,
        can_limit_memory=True,
        can_limit_cpu=True,
    )

    def __init__(self, config: DockerExecutorConfig | None = None, /, **options: Any) -> None:
        if config is not None and options:
            raise ConfigError("give DockerExecutor a config or keywords, not both")
        if config is None:
            try:
                config = DockerExecutorConfig.model_validate(options)
            except ValidationError as exc:
                raise ConfigError(f"invalid docker executor configuration: {exc}") from exc
        self.config = config
        self._sockets = docker_sockets(config.base_url)
        self._volumes = [parse_volume(item) for item in config.volumes]
        for volume in self._volumes:
            check_mount_source(volume.source, self._sockets, what=f"volume {volume.target}")
        self._limiter = anyio.CapacityLimiter(config.max_threads)
        self._lock = threading.Lock()
        self._client: Any = None
        self._ncpu: int | None = None

    # -- plumbing ----------------------------------------------------------------------------

    async def _run(self, func: Callable[..., _T], *args: Any) -> _T:
        return await anyio.to_thread.run_sync(functools.partial(func, *args), limiter=self._limiter)

    def _api(self) -> Any:
        """The low-level docker-py client, created on first use (docker-py is imported here).

        Raises:
            ExecutorUnavailable: the engine's socket does not accept a connection.
        """
        probe_engine(self.config.base_url, min(self.config.timeout, 10.0))
        with self._lock:
            if self._client is None:
                import docker
                import docker.errors

                kwargs: dict[str, Any] = {
                    "timeout": self.config.timeout,
                    "max_pool_size": self.config.max_threads + 2,
                }
                try:
                    if self.config.base_url:
                        self._client = docker.DockerClient(base_url=self.config.base_url, **kwargs)
                    else:
                        self._client = docker.DockerClient.from_env(**kwargs)
                except docker.errors.DockerException as exc:
                    raise ExecutorUnavailable(
                        f"the Docker engine does not answer ({exc}); start it, or set "
                        "DOCKER_HOST or the docker executor's base_url"
                    ) from exc
            return self._client.api

    @contextlib.contextmanager
    def _boundary(self, doing: str) -> Iterator[None]:
        """Translate docker-py and transport errors into scopecraft's, chained."""
        import docker.errors
        import requests.exceptions

        try:
            yield
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(f"{doing}: {_explain(exc)}") from exc
        except docker.errors.NotFound as exc:
            raise RuntimeNotFound(f"{doing}: {_explain(exc)}") from exc
        except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
            raise ExecutorUnavailable(
                f"{doing}: the Docker engine does not answer ({exc}); it is checked again later"
            ) from exc
        except docker.errors.APIError as exc:
            # The engine answered and refused (or failed): an error, not an absence.
            raise ExecutorError(f"{doing}: {_explain(exc)}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise ExecutorError(f"{doing}: {exc}") from exc

    def _cores(self, api: Any) -> int:
        if self._ncpu is None:
            with self._boundary("reading the Docker engine's core count"):
                self._ncpu = int(api.info().get("NCPU") or os.cpu_count() or 1)
        return self._ncpu

    # -- paths -------------------------------------------------------------------------------

    def agent_workdir(self, spec_workdir: Path) -> str:
        """The worktree is mounted at ``/workspace``."""
        return AGENT_WORKDIR

    def agent_state_dir(self, state_dir: Path) -> str:
        """The session's agent-state folder is mounted at ``/agent-state``."""
        return AGENT_STATE_DIR

    # -- start -------------------------------------------------------------------------------

    async def preflight(self, *, image: str | None) -> str | None:
        """Why a session with ``image`` could not start here, or ``None``: no image named or
        (with ``pull="never"``) an image the engine does not have. Asked by ``create_session``
        before anything is queued.

        Raises:
            ExecutorUnavailable: The Docker engine does not answer.
        """
        if not image:
            return (
                "the docker executor needs an image: pass image= (the CLI's --image), set "
                "EngineConfig.default_image, or build one with `scopecraft image build --agent "
                "claude-code`; or run on the host with executor='local' (-e local)"
            )
        return await self._run(self._preflight, image)

    def _preflight(self, image: str) -> str | None:
        api = self._api()
        if self.config.pull != "never":
            return None
        import docker.errors

        try:
            api.inspect_image(image)
        except docker.errors.ImageNotFound:
            return (
                f"the Docker engine has no image {image!r} (and pulls none: pull='never'); "
                "build it (`scopecraft image build --agent claude-code` for the real agents) or "
                "name another"
            )
        except docker.errors.DockerException as exc:
            return f"cannot inspect the image {image!r}: {exc}"
        return None

    async def start(self, spec: LaunchSpec) -> RuntimeHandle:
        """Create and start the attempt's container, or adopt the one already named so.

        The container runs as the ``uid:gid`` owning the worktree, never as root: a
        worktree of root's is handed to `DockerExecutorConfig.agent_user` until the container
        has ended (`state()`, `stop()` or `remove()` hands it back). Every capability is
        dropped, ``no-new-privileges``, an init process, limits on processes, memory (no swap)
        and CPU (at most the engine's core count), optionally a read-only root, and never the
        Docker socket. It is not auto-removed: `remove()` deletes it once its exit code and
        output are collected.

        Raises:
            ExecutorUnavailable: the Docker engine does not answer.
            ImageNotFound: the image is not on the engine (and ``pull`` is ``never`` or failed).
            MountRefused: a mount would expose the Docker socket.
            ExecutorError: the container could not be created or started, or a container of
                that name belongs to something else.
        """
        return await self._run(self._start, spec)

    def _start(self, spec: LaunchSpec) -> RuntimeHandle:
        if not spec.argv:
            raise ExecutorError(f"{spec.runtime_name}: the agent's command is empty")
        if not spec.image:
            raise ExecutorError(
                f"{spec.runtime_name}: no container image; pass image= to create_session or "
                "set EngineConfig.default_image (see docs/docker.md to build one)"
            )
        for path, what in (
            (spec.workdir, "worktree"),
            (spec.state_dir, "agent state folder"),
            (spec.run_dir, "run folder"),
        ):
            check_mount_source(path, self._sockets, what=what)
        uid, gid, hand = self._user_for(spec.workdir)
        if hand:
            spec.run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
            hand_over(spec.workdir, spec.run_dir, uid, gid)
        spec.state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        give_to(spec.state_dir, uid, gid, mode=0o777)
        if os.geteuid() == 0:
            # What the agent adapter prepared there (its config, the user's copied login)
            # becomes the agent's own; as another user it stays private to the engine's.
            for entry in spec.state_dir.iterdir():
                if entry.is_file() and not entry.is_symlink():
                    os.chown(entry, uid, gid, follow_symlinks=False)
        try:
            io_dir = prepare_spool(spec.run_dir, spec.stdin, uid, gid)
            api = self._api()
            body = self._container_body(api, spec, uid, gid, io_dir)
            container_id, fresh = self._create(api, spec, body)
        except BaseException:
            hand_back(spec.run_dir)  # no container exists: the worktree is its owner's again
            raise
        if fresh:
            self._start_container(api, spec, container_id)
        log.info(
            "container %s (%s) runs session %s",
            spec.runtime_name,
            container_id[:12],
            spec.session_id,
        )
        return RuntimeHandle(
            session_id=spec.session_id,
            attempt=spec.attempt,
            runtime_name=spec.runtime_name,
            runtime_id=container_id,
            run_dir=spec.run_dir,
        )

    def _user_for(self, workdir: Path) -> tuple[int, int, bool]:
        """The ``uid, gid`` the agent runs as, and whether the worktree must be handed to it
        (it belongs to root, who never runs an agent: see `_docker_owner`)."""
        if self.config.user is not None:
            uid, gid = self.config.user.split(":")
            return int(uid), int(gid), False
        try:
            st = workdir.stat()
        except OSError as exc:
            raise ExecutorError(f"cannot read the owner of the worktree {workdir}: {exc}") from exc
        if st.st_uid != 0:
            return st.st_uid, st.st_gid, False
        if os.geteuid() != 0:
            raise ExecutorError(
                f"the worktree {workdir} belongs to root, and an agent never runs as root; "
                "run the engine as root (it hands the worktree to an unprivileged user for "
                "each attempt) or give the worktree to your own user"
            )
        uid, gid = self.config.agent_user.split(":")
        return int(uid), int(gid), True

    def _container_body(
        self, api: Any, spec: LaunchSpec, uid: int, gid: int, io_dir: Path
    ) -> dict[str, Any]:
        from docker.types import Mount

        cfg = self.config
        cores = self._cores(api)
        cpus = spec.resources.cpus or cfg.cpus
        if cpus > cores:
            log.info("%s: %s CPUs asked, the engine has %s", spec.runtime_name, cpus, cores)
            cpus = float(cores)
        memory = (spec.resources.memory_mb or cfg.memory_mb) * 1024 * 1024
        pids = spec.resources.pids or cfg.pids
        mounts = [
            Mount(AGENT_WORKDIR, str(spec.workdir), type="bind", read_only=spec.read_only_workdir),
            Mount(AGENT_STATE_DIR, str(spec.state_dir), type="bind", read_only=False),
            Mount(IO_DIR, str(io_dir), type="bind", read_only=False),
            *(
                Mount(v.target, str(v.source), type="bind", read_only=v.read_only)
                for v in self._volumes
            ),
        ]
        tmpfs: dict[str, str] = {}
        size = f"size={cfg.tmpfs_mb}m"
        if cfg.read_only_root:
            tmpfs["/tmp"] = f"rw,nosuid,nodev,{size},mode=1777"  # noqa: S108 - the container's own /tmp
        environment = dict(spec.env)
        if cfg.home is not None and "HOME" not in environment:
            tmpfs[cfg.home] = f"rw,nosuid,nodev,{size},mode=0700,uid={uid},gid={gid}"
            environment["HOME"] = cfg.home
        labels = {**cfg.extra_labels, **spec.labels}
        # Adoption and discovery read these two: a spec that does not carry them (one not
        # built by the engine) still makes a container they can tell.
        labels.setdefault("scopecraft.session", spec.session_id)
        labels.setdefault("scopecraft.attempt", str(spec.attempt))
        host_config = api.create_host_config(
            mounts=mounts,
            tmpfs=tmpfs or None,
            network_mode=cfg.network,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            pids_limit=pids,
            mem_limit=memory,
            memswap_limit=memory,
            nano_cpus=int(cpus * 1_000_000_000),
            init=True,
            read_only=cfg.read_only_root,
            auto_remove=False,
            privileged=False,
            runtime=cfg.runtime,
        )
        script = _LAUNCH_WITH_STDIN if spec.stdin is not None else _LAUNCH_WITHOUT_STDIN
        return {
            "image": spec.image,
            "name": spec.runtime_name,
            "entrypoint": [cfg.shell, "-c", script],
            "command": list(spec.argv),
            "user": f"{uid}:{gid}",
            "working_dir": AGENT_WORKDIR,
            "environment": environment,
            "labels": labels,
            "detach": True,
            "stdin_open": False,
            "tty": False,
            "host_config": host_config,
            "runtime": cfg.runtime,
        }

    def _create(self, api: Any, spec: LaunchSpec, body: dict[str, Any]) -> tuple[str, bool]:
        """Create the container; returns its id and whether it still has to be started."""
        import docker.errors

        try:
            with self._boundary(f"creating container {spec.runtime_name}"):
                try:
                    return self._create_once(api, spec, body), True
                except docker.errors.APIError as exc:
                    if exc.status_code != 409:
                        raise
        except ImageNotFound as exc:
            pulled = " and could not be pulled" if self.config.pull == "missing" else ""
            raise ImageNotFound(
                f"the image {spec.image!r} is not on the Docker engine{pulled}; build it "
                "(docs/docker.md shows how), pull it, or set the docker executor's "
                "pull='missing'"
            ) from exc
        # A container with this name exists: the start is being retried. Adopt it; never
        # retry under another name, which would run the agent twice.
        return self._adopt(api, spec)

    def _create_once(self, api: Any, spec: LaunchSpec, body: dict[str, Any]) -> str:
        import docker.errors

        try:
            return str(api.create_container(**body)["Id"])
        except docker.errors.ImageNotFound:
            if self.config.pull == "never":
                raise
            self._pull(api, spec.image or "")
            return str(api.create_container(**body)["Id"])

    def _pull(self, api: Any, image: str) -> None:
        from docker.utils import parse_repository_tag

        repository, tag = parse_repository_tag(image)
        log.info("pulling %s", image)
        api.pull(repository, tag=tag or "latest")

    def _adopt(self, api: Any, spec: LaunchSpec) -> tuple[str, bool]:
        """Adopt the attempt's existing container; start it only if it never ran (starting an
        exited container would run the agent a second time)."""
        with self._boundary(f"inspecting the existing container {spec.runtime_name}"):
            data = api.inspect_container(spec.runtime_name)
        labels = (data.get("Config") or {}).get("Labels") or {}
        expected = {
            key: spec.labels[key]
            for key in ("scopecraft.session", "scopecraft.attempt", "scopecraft.store")
            if key in spec.labels
        }
        expected.setdefault("scopecraft.session", spec.session_id)
        expected.setdefault("scopecraft.attempt", str(spec.attempt))
        mismatched = {k: labels.get(k) for k, v in expected.items() if labels.get(k) != v}
        if mismatched:
            raise ExecutorError(
                f"a container named {spec.runtime_name} exists but is not this session's "
                f"attempt (labels {mismatched}); remove it (`docker rm {spec.runtime_name}`) "
                "if it is stale"
            )
        status = (data.get("State") or {}).get("Status", "")
        log.info("adopting container %s (%s) of %s", spec.runtime_name, status, spec.session_id)
        return str(data["Id"]), status == "created"

    def _start_container(self, api: Any, spec: LaunchSpec, container_id: str) -> None:
        try:
            with self._boundary(f"starting container {spec.runtime_name}"):
                api.start(container_id)
        except ExecutorUnavailable:
            raise
        except ExecutorError as exc:
            # A container that cannot start (no shell in the image, a bad mount) would sit in
            # `created` forever: remove it so that a corrected retry starts clean.
            with contextlib.suppress(ExecutorError), self._boundary("removing"):
                api.remove_container(container_id, force=True, v=True)
            raise ExecutorError(f"the container {spec.runtime_name} did not start: {exc}") from exc

    # -- watching ----------------------------------------------------------------------------

    async def state(self, handle: RuntimeHandle) -> RuntimeState:
        """Running, exited (with its exit code), missing (the container is gone), or unknown
        when the Docker engine does not answer: never declared dead on silence."""
        return await self._run(self._state, handle)

    def _state(self, handle: RuntimeHandle) -> RuntimeState:
        state = self._observe(handle)
        if state.status in (RuntimeStatus.EXITED, RuntimeStatus.MISSING):
            # Nothing of the agent runs any more: the worktree goes back to its owner before
            # the engine's finalize step commits it.
            hand_back(handle.run_dir)
        return state

    def _observe(self, handle: RuntimeHandle) -> RuntimeState:
        try:
            data = self._inspect(handle)
        except RuntimeNotFound:
            return RuntimeState(
                RuntimeStatus.MISSING, detail=f"the container {handle.runtime_name} is gone"
            )
        except ExecutorError as exc:
            return RuntimeState(RuntimeStatus.UNKNOWN, detail=str(exc))
        state = data.get("State") or {}
        status = state.get("Status", "")
        if status in _RUNNING:
            return RuntimeState(RuntimeStatus.RUNNING)
        if status == "created":
            return RuntimeState(
                RuntimeStatus.EXITED, None, f"the container {handle.runtime_name} never started"
            )
        if status == "removing":
            return RuntimeState(
                RuntimeStatus.MISSING,
                detail=f"the container {handle.runtime_name} is being removed",
            )
        code = state.get("ExitCode")
        return RuntimeState(
            RuntimeStatus.EXITED,
            code if isinstance(code, int) else None,
            _exit_detail(state),
            interrupted=not state.get("OOMKilled") and code in _SIGNALS,
        )

    def _inspect(self, handle: RuntimeHandle) -> dict[str, Any]:
        api = self._api()
        with self._boundary(f"inspecting container {handle.runtime_name}"):
            data: dict[str, Any] = api.inspect_container(handle.runtime_id or handle.runtime_name)
        return data

    async def read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, *, final: bool = False
    ) -> OutputChunk:
        """Read complete lines of the spooled output past the cursor's byte offsets.

        With ``final``, once the spool is read to its end, also what the container itself
        printed (the shell's own errors) and a ``system`` line explaining an abnormal end
        (out of memory, a signal), each once.
        """
        return await self._run(self._read_output, handle, cursor, final)

    def _read_output(
        self, handle: RuntimeHandle, cursor: dict[str, Any] | None, final: bool
    ) -> OutputChunk:
        lines, new_cursor = read_spool(handle.run_dir, cursor, final=final)
        if final and not lines and not new_cursor.get("closed"):
            closing = self._closing_lines(handle)
            if closing is not None:
                lines = closing
                new_cursor["closed"] = True
        return OutputChunk(lines=lines, cursor=new_cursor)

    def _closing_lines(self, handle: RuntimeHandle) -> list[tuple[LogStream, str]] | None:
        try:
            data = self._inspect(handle)
            api = self._api()
            ref = handle.runtime_id or handle.runtime_name
            with self._boundary(f"reading the logs of {handle.runtime_name}"):
                out = api.logs(ref, stdout=True, stderr=False)
                err = api.logs(ref, stdout=False, stderr=True)
        except RuntimeNotFound:
            return []
        except ExecutorError:
            return None  # try again on the next final read
        lines: list[tuple[LogStream, str]] = []
        streams: tuple[tuple[LogStream, Any], ...] = (("stdout", out), ("stderr", err))
        for stream, raw in streams:
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else str(raw)
            lines.extend((stream, line.rstrip("\r")) for line in text.splitlines())
        state = data.get("State") or {}
        if state.get("Status") not in _RUNNING:
            detail = _exit_detail(state)
            if detail:
                lines.append(("system", f"container {handle.runtime_name}: {detail}"))
        return lines

    async def send_input(self, handle: RuntimeHandle, text: str) -> None:
        """Not supported: a container agent's input is its prompt.

        Raises:
            CapabilityMissing: always; feedback becomes the next attempt's prompt.
        """
        raise CapabilityMissing(
            "the docker executor cannot send input to a running agent; "
            "the feedback is delivered as the next attempt's prompt"
        )

    # -- ending ------------------------------------------------------------------------------

    async def stop(self, handle: RuntimeHandle, *, grace: float = 10.0) -> int | None:
        """Stop the container: SIGTERM, ``grace`` seconds (rounded up), then SIGKILL.

        Returns:
            The exit code, or ``None`` when the container is gone.

        Raises:
            ExecutorUnavailable: the Docker engine does not answer.
            ExecutorError: the engine refused.
        """
        return await self._run(self._stop, handle, grace)

    def _stop(self, handle: RuntimeHandle, grace: float) -> int | None:
        api = self._api()
        ref = handle.runtime_id or handle.runtime_name
        try:
            with self._boundary(f"stopping container {handle.runtime_name}"):
                api.stop(ref, timeout=max(0, math.ceil(grace)))
            data = self._inspect(handle)
        except RuntimeNotFound:
            hand_back(handle.run_dir)
            return None
        if (data.get("State") or {}).get("Status") not in _RUNNING:
            hand_back(handle.run_dir)
        code = (data.get("State") or {}).get("ExitCode")
        return code if isinstance(code, int) else None

    async def remove(self, handle: RuntimeHandle) -> None:
        """Remove the container (and its anonymous volumes) and the spool folder; idempotent.

        Raises:
            ExecutorUnavailable: the Docker engine does not answer (the spool is deleted all
                the same; reconcile removes the container later).
            ExecutorError: the engine refused.
        """
        await self._run(self._remove, handle)

    def _remove(self, handle: RuntimeHandle) -> None:
        try:
            api = self._api()
            with self._boundary(f"removing container {handle.runtime_name}"):
                api.remove_container(handle.runtime_id or handle.runtime_name, force=True, v=True)
        except RuntimeNotFound:
            pass
        except BaseException:
            delete_spool(handle.run_dir)  # the run folder stays while it records a handover
            raise
        hand_back(handle.run_dir)  # the container is gone: nothing of the agent runs
        delete_spool(handle.run_dir)

    async def discover(self, store_id: str) -> list[RuntimeHandle]:
        """Return the containers labelled ``scopecraft.store=<store_id>``, running or not.

        Raises:
            ExecutorUnavailable: the Docker engine does not answer.
            ExecutorError: the engine refused.
        """
        return await self._run(self._discover, store_id)

    def _discover(self, store_id: str) -> list[RuntimeHandle]:
        api = self._api()
        with self._boundary("listing scopecraft's containers"):
            found = api.containers(all=True, filters={"label": [f"scopecraft.store={store_id}"]})
        handles = []
        for item in found:
            labels = item.get("Labels") or {}
            names = item.get("Names") or []
            io_source = next(
                (
                    m.get("Source")
                    for m in item.get("Mounts") or []
                    if m.get("Destination") == IO_DIR
                ),
                None,
            )
            try:
                attempt = int(labels.get("scopecraft.attempt", ""))
            except ValueError:
                attempt = 0
            session_id = labels.get("scopecraft.session")
            if not session_id or attempt < 1 or not names or not io_source:
                log.warning("skipping container %s: not one of ours", item.get("Id", "?")[:12])
                continue
            handles.append(
                RuntimeHandle(
                    session_id=session_id,
                    attempt=attempt,
                    runtime_name=names[0].lstrip("/"),
                    runtime_id=str(item["Id"]),
                    run_dir=Path(io_source).parent,
                )
            )
        return handles

    def attach_command(self, handle: RuntimeHandle) -> list[str]:
        """Not supported.

        Raises:
            CapabilityMissing: always; run the session with the tmux executor to attach.
        """
        raise CapabilityMissing(
            "docker sessions have no terminal to attach to; follow them with "
            "`scopecraft session logs --follow`, or use the tmux executor"
        )

    async def aclose(self) -> None:
        """Close the Docker client; containers keep running."""
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            await anyio.to_thread.run_sync(client.close)


def _explain(exc: Any) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)


def _exit_detail(state: dict[str, Any]) -> str:
    """Why a container ended, when it is worth saying (out of memory, a signal, an error)."""
    if state.get("OOMKilled"):
        return "killed at its memory limit (out of memory)"
    error = state.get("Error")
    if error:
        return str(error)
    code = state.get("ExitCode")
    if isinstance(code, int) and code in _SIGNALS:
        return (
            f"ended by {_SIGNALS[code]} (exit code {code}): a cancel, `docker stop`, "
            "or a Docker daemon restart"
        )
    return ""
