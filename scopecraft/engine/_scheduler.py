"""The scheduler: the scheduler lease, queue passes, supervisors, reconcile and refresh.

An `Engine` competes for the store's scheduler lease for as long as it is
open; while it holds it, its `Scheduler` drives the queue (one pass per wake-up or
interval), supervises every runtime it started or adopted, and reconciles runtimes left by
earlier processes. Losing the lease stops all of that; the runtimes go on, for the next holder.

A holder is named ``host:pid:started:space:token`` (see `holder_identity()`). A lease
expires ``lease_ttl`` seconds after its last renewal; but a holder that this process can see
is gone (same host, boot and pid namespace; its pid ended, or now belongs to a process started
at another time) is taken over at once, by a compare-and-swap on its exact name, so an engine
opened after a crash does not wait out the dead one's lease. A live process is never taken
over from, and a holder elsewhere keeps the time-based expiry.
"""

from __future__ import annotations

import hashlib
import logging
import os
import socket
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio
import anyio.abc
import anyio.to_thread

from .._errors import ScopecraftError, SessionNotFound
from .._models import Session, SessionStatus, utcnow
from ..events import Event, SessionStarting, SessionWaiting
from ..executors._protocol import RuntimeStatus
from ..policies._index import QueueIndex
from ..storage._protocol import QueueChanges
from ._context import Context
from ._journal import Journal
from ._runtimes import Runtimes, runtime_name

if TYPE_CHECKING:
    from ._attempts import AttemptRunner

__all__ = ["Scheduler", "holder_identity", "holder_is_gone"]

log = logging.getLogger("scopecraft.engine")

SCHEDULER_LEASE = "scheduler"
IN_FLIGHT = (SessionStatus.STARTING, SessionStatus.RUNNING)
_INDEX_REFRESH = 5.0  # seconds a queue index is trusted without a rebuild
_RETRY_FIRST, _RETRY_MOST = 1.0, 60.0  # seconds before a broken supervisor is run again
# Start times closer than this are one process's: its start, read twice, may differ by a
# rounding; a pid reused this soon only costs the wait for the lease's expiry.
_START_TOLERANCE = 1.0
_PID_NAMESPACE = Path("/proc/self/ns/pid")
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def _pid_space() -> str:
    """A short digest of the host, and on Linux of its boot and this process's pid namespace:
    two processes with one digest see the same pids. Empty where Linux hides either (then no
    holder is ever judged by its pid)."""
    parts = [socket.gethostname()]
    if sys.platform == "linux":
        try:
            parts += [_BOOT_ID.read_text().strip(), os.readlink(_PID_NAMESPACE)]
        except OSError:
            return ""
    return hashlib.blake2b("\0".join(parts).encode(), digest_size=6).hexdigest()


def _started(pid: int) -> float:
    """When process ``pid`` started: on Linux in seconds since boot, which no change of the
    wall clock moves (the pid space names the boot); elsewhere as psutil tells it."""
    import psutil

    # The boot time is read first: older psutil derives a process's start from the boot time
    # it read last.
    boot = psutil.boot_time() if psutil.LINUX else 0.0
    return round(psutil.Process(pid).create_time() - boot, 2)


def holder_identity(pid: int | None = None) -> str:
    """Name a lease holder: ``host:pid:started:space:token``.

    Blocking (it reads ``/proc``): call it in a worker thread.

    Args:
        pid: The process (default this one).

    Returns:
        The host name, the pid, when the process started, the digest of its pid space and a
        random token (several engines in one process are several holders). A fact that
        cannot be read is left empty; such a holder is never judged gone.

    Raises:
        psutil.NoSuchProcess: there is no process ``pid``.
    """
    import psutil

    pid = os.getpid() if pid is None else pid
    try:
        started = f"{_started(pid):.2f}"
    except psutil.NoSuchProcess:
        raise
    except (psutil.Error, OSError):
        started = ""
    return f"{socket.gethostname()}:{pid}:{started}:{_pid_space()}:{uuid.uuid4().hex[:8]}"


def holder_is_gone(holder: str) -> bool:
    """Whether ``holder`` (a name from `holder_identity()`) is known dead from here.

    True only for a holder in this process's pid space whose pid no longer exists, is a
    zombie, or belongs to a process started at another time. Any doubt (another host, a name
    of another form, a process this user may not inspect) is False: that holder's lease
    expires by time. Blocking (it reads ``/proc``): call it in a worker thread.

    Args:
        holder: The name a lease is held under.
    """
    import psutil

    parts = holder.rsplit(":", 4)
    if len(parts) != 5:
        return False
    _, pid_text, started_text, space, _ = parts
    if not pid_text.isdigit() or int(pid_text) <= 0 or not space or space != _pid_space():
        return False
    try:
        started = float(started_text)
    except ValueError:
        return False
    pid = int(pid_text)
    if not psutil.pid_exists(pid):
        return True
    try:
        if psutil.Process(pid).status() == psutil.STATUS_ZOMBIE:
            return True
        return abs(_started(pid) - started) > _START_TOLERANCE
    except psutil.NoSuchProcess:  # ended meanwhile (a zombie process is one too)
        return True
    except (psutil.Error, OSError):
        return False


class Scheduler:
    """Drives the queue of one engine while it holds the scheduler lease.

    Args:
        ctx: The engine's context.
        journal: Where its decisions are recorded (its queue index follows the journal's
            writes).
        runner: What launches and supervises attempts.
        runtimes: Runtime handles of sessions.
    """

    def __init__(
        self, ctx: Context, journal: Journal, runner: AttemptRunner, runtimes: Runtimes
    ) -> None:
        self._ctx = ctx
        self._journal = journal
        self._runner = runner
        self._runtimes = runtimes
        journal.tracked_index = lambda: self.tracked_index
        self.leader_scope: anyio.CancelScope | None = None
        self.supervised: dict[str, anyio.CancelScope] = {}
        self.supervisor_done: dict[str, anyio.Event] = {}
        self.lease_decided = anyio.Event()
        self.reconciled = anyio.Event()
        self.waiting: dict[str, str] = {}
        self.index: QueueIndex | None = None
        self.index_built = 0.0
        self.position: int | None = None
        """The store position the index reflects, when the store offers ``queue_changes``."""
        self.follows_store = False
        """Whether the index follows the store's changes (``queue_changes``): then every
        write, this engine's own included, reaches it from there."""
        self.holder: str | None = None
        """The name this engine holds the scheduler lease under, once named."""
        self.broken: dict[str, tuple[float, float]] = {}
        """In-flight sessions whose supervisor ended in an error (a full disk, the store gone):
        when to run it again, and the delay after that (doubling, at most a minute)."""
        self._wakeup = anyio.Event()

    def wake(self) -> None:
        """Ask for a pass now."""
        self._wakeup.set()

    async def lease_loop(self) -> None:
        ttl = self._ctx.config.lease_ttl
        # The engine releases the lease under this name when it closes.
        holder = self.holder = await anyio.to_thread.run_sync(holder_identity)
        while True:
            try:
                held = await self.take_lease(holder, ttl)
            except ScopecraftError as exc:
                log.warning("cannot renew the scheduler lease: %s", exc)
                held = False
            if held and self.leader_scope is None:
                assert self._ctx.task_group is not None
                await self._ctx.task_group.start(self.lead)
            elif not held and self.leader_scope is not None:
                log.warning("lost the scheduler lease; another engine drives the queue")
                self.leader_scope.cancel()
                self.leader_scope = None
            self.lease_decided.set()
            await anyio.sleep(ttl / 3)

    async def take_lease(self, holder: str, ttl: float) -> bool:
        """Take or renew the scheduler lease; take it over at once from a holder known to be
        gone (see `holder_is_gone()`). Returns whether ``holder`` holds it now."""
        storage = self._ctx.storage
        if await storage.acquire_lease(SCHEDULER_LEASE, holder, ttl):
            return True
        current = await storage.lease_holder(SCHEDULER_LEASE)
        if current is None:  # it expired or was released since
            return await storage.acquire_lease(SCHEDULER_LEASE, holder, ttl)
        if current == holder or not await anyio.to_thread.run_sync(holder_is_gone, current):
            return False
        # On the exact name: of several engines that saw it gone, one takes it.
        if not await storage.take_over_lease(SCHEDULER_LEASE, current, holder, ttl):
            return False
        log.warning("took the scheduler lease over from %s, whose process is gone", current)
        return True

    async def lead(
        self, *, task_status: anyio.abc.TaskStatus[None] = anyio.TASK_STATUS_IGNORED
    ) -> None:
        with anyio.CancelScope() as scope:
            self.leader_scope = scope
            self.index = None
            self.position = None
            self.reconciled = anyio.Event()
            async with anyio.create_task_group() as tg:
                task_status.started()
                await self.reconcile(tg)
                self.reconciled.set()
                while True:
                    try:
                        await self.schedule_pass(tg)
                    except ScopecraftError as exc:
                        log.warning("scheduler pass failed: %s", exc)
                    with anyio.move_on_after(self._ctx.config.scheduler_interval):
                        await self._wakeup.wait()
                    self._wakeup = anyio.Event()

    async def queue_view(self) -> tuple[int, list[Session]]:
        """How many sessions are queued, and the in-flight ones: in one trip to the store
        when it offers its own ``queue_view`` (the built-in stores do), else in two."""
        return await self._ctx.storage.queue_view(list(IN_FLIGHT))

    @property
    def tracked_index(self) -> QueueIndex | None:
        """The queue index that this engine's own writes must keep up to date: ``None`` when
        there is none, or when it follows the store's changes (and finds them there)."""
        return None if self.follows_store else self.index

    async def queue_state(self) -> tuple[QueueIndex, list[Session]]:
        """The leader's queue index, up to date, and the in-flight sessions.

        With a store that offers ``queue_changes`` (the built-in ones do), the index is built
        once and then moved on by the sessions changed since the position it reflects: a pass
        costs what changed, whatever the depth of the queue. Otherwise the queue is counted on
        every pass and listed again when the count differs (see `queue_index()`).
        """
        storage = self._ctx.storage
        index, after = self.index, self.position
        if index is None or after is None:
            after = None
        found = await storage.queue_changes(after, list(IN_FLIGHT))
        self.follows_store = found is not None
        if found is None:
            count, active = await self.queue_view()
            return await self.queue_index(count), active
        changes: QueueChanges = found
        if after is None:
            index = self.index = QueueIndex(changes.sessions)
            self.index_built = anyio.current_time()
        else:
            assert index is not None
            for session in changes.sessions:
                index.update(session)
                if session.status is not SessionStatus.QUEUED:
                    self.waiting.pop(session.id, None)
        self.position = changes.position
        return index, list(changes.active)

    async def queue_index(self, count: int) -> QueueIndex:
        """The leader's queue index: kept up to date by this engine's own writes, rebuilt from
        the store when another process changed the queue (its size, ``count`` as just read,
        differs) and every few seconds in any case."""
        now = anyio.current_time()
        index = self.index
        if index is None or len(index) != count or now - self.index_built > _INDEX_REFRESH:
            queued = await self._ctx.storage.list_sessions(statuses=[SessionStatus.QUEUED])
            index = self.index = QueueIndex(queued)
            self.index_built = now
        return index

    async def schedule_pass(self, tg: anyio.abc.TaskGroup) -> None:
        index, active = await self.queue_state()
        self.run_broken_again(tg, active)
        if not len(index):
            return
        schedule = self._ctx.policy.schedule(index, active, now=utcnow())
        await self.record_waiting(schedule.waiting)
        # A session whose previous attempt is still being wound up here waits a pass.
        starting = [sid for sid in schedule.start if sid not in self.supervised]
        if not starting:
            return
        # One transaction records the intent of every decision of this pass; each launch
        # then finds its session `starting` and goes on from there.
        intents: list[tuple[str, list[Event]]] = []
        before: list[Session | None] = []
        for session_id in starting:
            queued_session = index.get(session_id)
            before.append(queued_session)
            attempt = queued_session.attempt if queued_session is not None else 1
            intents.append(
                (
                    session_id,
                    [
                        SessionStarting(
                            session_id=session_id,
                            attempt=attempt,
                            runtime_name=runtime_name(session_id, attempt),
                        )
                    ],
                )
            )
            self.waiting.pop(session_id, None)
            index.remove(session_id)
        try:
            results = await self._journal.append_batch(intents, track=False)
        except BaseException:
            # Nothing was stored: these sessions are still queued, but no longer in the
            # index. Build it again from the store at the next pass.
            self.index = None
            raise
        for session_id, queued_session, stored in zip(starting, before, results, strict=True):
            # The launch goes on from the projection folded here when the index's copy was
            # current (the usual case), and reads it from the store otherwise.
            fresh = None
            if queued_session is not None and stored:
                fresh = await self._journal.folded(queued_session, stored)
            self.spawn(tg, session_id, launch=True, session=fresh)

    async def record_waiting(self, waiting: Mapping[str, tuple[str, str]]) -> None:
        """Store why sessions wait, for those whose reason changed since it was last stored:
        one transaction for the pass, not one per session."""
        batch: list[tuple[str, list[Event]]] = [
            (session_id, [SessionWaiting(session_id=session_id, reason=reason, detail=detail)])
            for session_id, (reason, detail) in waiting.items()
            if self.waiting.get(session_id) != reason
        ]
        if not batch:
            return
        await self._journal.append_batch(batch, track=False)
        for session_id, _ in batch:
            self.waiting[session_id] = waiting[session_id][0]

    def run_broken_again(self, tg: anyio.abc.TaskGroup, active: list[Session]) -> None:
        """Start again the supervisors that ended in an error while their session was in
        flight (a start whose failure could not be recorded, because the disk was full, left
        the session ``starting``): a launch re-checks its status and adopts its runtime by name,
        a supervisor collects what is left; each failure doubles the wait."""
        if not self.broken:
            return
        now = anyio.current_time()
        in_flight = {s.id: s for s in active}
        for session_id in list(self.broken):
            session = in_flight.get(session_id)
            if session is None:
                del self.broken[session_id]  # it ended (or left the queue) meanwhile
                continue
            due, _ = self.broken[session_id]
            if session_id in self.supervised or now < due:
                continue
            handle = self._runtimes.handle_for(session)
            log.info("session %s: running its broken supervisor again", session_id)
            if handle is None:
                self.spawn(tg, session_id, launch=True)
            else:
                self.spawn(tg, session_id, launch=False, handle=handle)

    def spawn(
        self,
        tg: anyio.abc.TaskGroup,
        session_id: str,
        *,
        launch: bool,
        handle: Any = None,
        session: Session | None = None,
    ) -> None:
        if session_id in self.supervised:
            return
        scope = anyio.CancelScope()
        done = anyio.Event()
        self.supervised[session_id] = scope
        self.supervisor_done[session_id] = done

        async def run() -> None:
            try:
                with scope:
                    if launch:
                        await self._runner.launch(session_id, session)
                    else:
                        await self._runner.supervise(session_id, handle)
            except (ScopecraftError, OSError) as exc:
                _, delay = self.broken.get(session_id, (0.0, _RETRY_FIRST / 2))
                delay = min(delay * 2, _RETRY_MOST)
                self.broken[session_id] = (anyio.current_time() + delay, delay)
                log.error("session %s: %s (trying again in %.0f s)", session_id, exc, delay)
            else:
                self.broken.pop(session_id, None)
            finally:
                self.supervised.pop(session_id, None)
                if self.supervisor_done.get(session_id) is done:
                    del self.supervisor_done[session_id]
                done.set()
                self.wake()

        tg.start_soon(run)

    async def refresh(self, *, timeout: float = 10.0) -> None:  # noqa: ASYNC109 - a bound on an internal wait, like wait()
        """Wait (at most ``timeout`` seconds) for the supervisors of in-flight sessions whose
        runtime has ended, when this engine leads (see `scopecraft.Engine.refresh()`)."""
        with anyio.move_on_after(timeout):
            await self.lease_decided.wait()
            if self.leader_scope is None:
                return
            await self.reconciled.wait()
            in_flight = await self._ctx.storage.list_sessions(statuses=list(IN_FLIGHT))
            ending: list[anyio.Event] = []
            for session in in_flight:
                handle = self._runtimes.handle_for(session)
                done = self.supervisor_done.get(session.id)
                if handle is None or done is None:
                    continue
                state = await self._ctx.plugins.executor(session.executor).state(handle)
                if state.status in (RuntimeStatus.EXITED, RuntimeStatus.MISSING):
                    ending.append(done)
            for done in ending:
                await done.wait()

    async def reconcile(self, tg: anyio.abc.TaskGroup | None = None) -> None:
        """Adopt live runtimes of in-flight sessions, record the exit of finished ones, and
        reap runtimes whose session has ended.

        Run at open (by the engine that takes the scheduler lease) and available to call.
        """
        tg = tg or self._ctx.task_group
        in_flight = await self._ctx.storage.list_sessions(statuses=list(IN_FLIGHT))
        for session in in_flight:
            handle = self._runtimes.handle_for(session)
            if tg is None:
                continue
            if handle is None:
                # Crashed between intent and start: start again; the name adopts a runtime.
                self.spawn(tg, session.id, launch=True)
            else:
                self.spawn(tg, session.id, launch=False, handle=handle)
        # Executors that may own runtimes: those in use, configured, or of in-flight sessions.
        for name in {s.executor for s in in_flight} | set(self._ctx.config.executors):
            try:
                self._ctx.plugins.executor(name)
            except ScopecraftError as exc:
                log.warning("cannot load executor %s to reconcile: %s", name, exc)
        await self.reap_run_folders()
        for name in list(self._ctx.plugins.executors):
            executor = self._ctx.plugins.executors[name]
            try:
                handles = await executor.discover(self._ctx.storage.store_id)
            except ScopecraftError as exc:
                log.warning("cannot list runtimes of %s: %s", name, exc)
                continue
            for handle in handles:
                found: Session | None
                try:
                    found = await self._ctx.storage.get_session(handle.session_id)
                except SessionNotFound:
                    found = None  # labelled ours but unknown to the store: an orphan
                if found is None or (
                    found.is_terminal and handle.session_id not in self.supervised
                ):
                    state = await executor.state(handle)
                    if state.status is RuntimeStatus.RUNNING:
                        await executor.stop(handle, grace=self._ctx.config.stop_grace)
                    await executor.remove(handle)

    async def reap_run_folders(self) -> None:
        """Stop and remove what is left of attempts whose session has ended (their spool
        folders are removed once collected, so any left is unfinished business)."""
        runs = self._ctx.home / "runs"
        folders = await anyio.to_thread.run_sync(
            lambda: sorted(p for p in runs.glob("*/*") if p.is_dir()) if runs.is_dir() else []
        )
        for folder in folders:
            session_id, attempt_text = folder.parent.name, folder.name
            try:
                session = await self._ctx.storage.get_session(session_id)
            except ScopecraftError:
                continue
            if not session.is_terminal or session_id in self.supervised:
                continue
            if not attempt_text.isdigit():
                continue
            attempt = int(attempt_text)
            handle = self._runtimes.handle(
                session_id,
                attempt,
                (session.runtime_id or "") if attempt == session.attempt else "",
            )
            try:
                executor = self._ctx.plugins.executor(session.executor)
                if (
                    handle.runtime_id
                    and (await executor.state(handle)).status is RuntimeStatus.RUNNING
                ):
                    await executor.stop(handle, grace=self._ctx.config.stop_grace)
                await executor.remove(handle)
            except ScopecraftError as exc:
                log.warning("cannot reap %s: %s", folder, exc)
