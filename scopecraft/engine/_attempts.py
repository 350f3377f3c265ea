"""Running one attempt of a session: launch, supervise, finalize.

`AttemptRunner` is what the scheduler calls: it launches an attempt (`Launcher`), collects
its output by cursor until the runtime ends, and finalizes it (`Finalizer`). It holds no
state of its own that is not in the store: a runner started in another process after a crash
picks up from the stored output cursor and the session's projection.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import anyio

from .._errors import CursorMoved, ScopecraftError
from .._models import Session, SessionStatus, utcnow
from ..agents._protocol import OutputParser
from ..events import Event, SessionFailed, SessionStarting
from ..executors._protocol import Executor, RuntimeHandle, RuntimeState, RuntimeStatus
from ..storage._protocol import LogLine
from ._context import Context
from ._finalize import Finalizer
from ._journal import Journal
from ._launch import Cancelled, Launcher
from ._requests import Requests
from ._runtimes import Runtimes, runtime_name
from ._tasks import Tasks

__all__ = ["AttemptRunner"]

log = logging.getLogger("scopecraft.engine")

_FLUSH_LINES = 2000


class AttemptRunner:
    """Launches, supervises and finalizes the attempts of sessions.

    Args:
        ctx: The engine's context.
        journal: Where everything about an attempt is recorded.
        runtimes: Runtime names, folders, handles and labels.
        tasks: The tasks (and their files in worktrees).
        requests: The requests this engine queued (a first launch needs no read of them).
        archive: Archives an ending session's record (with the events about to be stored).
        ended: What follows a session's end (the cleanup policy).
    """

    def __init__(
        self,
        ctx: Context,
        *,
        journal: Journal,
        runtimes: Runtimes,
        tasks: Tasks,
        requests: Requests,
        archive: Callable[[str, Sequence[Event]], Awaitable[None]],
        ended: Callable[[str], Awaitable[None]],
    ) -> None:
        self._ctx = ctx
        self._journal = journal
        self._ended = ended
        self._launcher = Launcher(
            ctx, journal=journal, runtimes=runtimes, tasks=tasks, requests=requests
        )
        self._finalizer = Finalizer(
            ctx,
            journal=journal,
            tasks=tasks,
            archive=archive,
            ended=ended,
            state_dir=runtimes.state_dir,
        )

    # -- launch ------------------------------------------------------------------------------

    async def launch(self, session_id: str, session: Session | None = None) -> None:
        """Start the session's current attempt, then supervise it until it ends.

        Re-checks the session's status first: only a ``queued`` session is launched, or a
        ``starting`` one being recovered after a crash (its runtime is adopted by name).

        Args:
            session_id: The session.
            session: Its projection as the caller just stored it (the scheduler's intent),
                which saves reading it again; ``None`` reads it.
        """
        if session is None:
            session = await self._ctx.storage.get_session(session_id)
        if session.status not in (SessionStatus.QUEUED, SessionStatus.STARTING):
            return
        # Output is collected (and its cursor stored) only once a runtime has started: a
        # session that never started has no cursor to compare against.
        fresh = session.started_at is None
        attempt = session.attempt
        name = runtime_name(session.id, attempt)
        if session.status is SessionStatus.QUEUED:
            starting = SessionStarting(session_id=session.id, attempt=attempt, runtime_name=name)
            session = await self._journal.append_folded(session, [starting])
        pending: list[Event] = []
        try:
            handle, parser, session = await self._launcher.start(session, attempt, name, pending)
        except Cancelled:
            log.info(
                "session %s was cancelled while it started; its runtime is removed", session.id
            )
            if pending:
                await self._journal.append(session.id, pending)
            return
        except Exception as exc:  # any failure to start ends the attempt, recorded
            reason = (
                str(exc) if isinstance(exc, ScopecraftError) else f"{type(exc).__name__}: {exc}"
            )
            log.warning("session %s failed to start: %s", session.id, reason)
            current = await self._ctx.storage.get_session(session.id)
            if not current.is_terminal:
                await self._journal.append(
                    session.id,
                    [
                        *pending,
                        SessionFailed(
                            session_id=session.id,
                            attempt=attempt,
                            reason=f"could not start: {reason}",
                        ),
                    ],
                )
            elif pending:
                await self._journal.append(session.id, pending)
            return
        await self.supervise(session.id, handle, parser, session=session, no_cursor=fresh)

    # -- supervise ---------------------------------------------------------------------------

    async def supervise(
        self,
        session_id: str,
        handle: RuntimeHandle,
        parser: OutputParser | None = None,
        *,
        session: Session | None = None,
        no_cursor: bool = False,
    ) -> None:
        """Collect the runtime's output by cursor until it ends, then finalize the attempt.

        ``session`` saves reading the projection when the caller has it; ``no_cursor`` says
        no output cursor can be stored yet (a first attempt this process just launched).
        A defect met on the way (an error that is not a `ScopecraftError`) fails this
        session with its reason instead of reaching the scheduler: one session's failure
        never stops the others.
        """
        try:
            await self._supervise(session_id, handle, parser, session, no_cursor)
        except ScopecraftError:
            raise
        except Exception as exc:  # one session's defect must never stop the scheduler
            log.exception("supervising session %s failed", session_id)
            await self._fail_after_defect(session_id, handle, exc)

    async def _fail_after_defect(
        self, session_id: str, handle: RuntimeHandle, exc: Exception
    ) -> None:
        reason = f"scopecraft could not supervise this attempt: {type(exc).__name__}: {exc}"
        try:
            current = await self._ctx.storage.get_session(session_id)
            if not current.is_terminal and current.attempt == handle.attempt:
                failed = SessionFailed(session_id=session_id, attempt=handle.attempt, reason=reason)
                await self._journal.append(session_id, [failed])
                await self._ended(session_id)
        except Exception:  # the store itself is failing: say so, and let others go on
            log.exception("cannot record the failure of session %s", session_id)
            return
        with anyio.CancelScope(shield=True):
            try:
                await self._ctx.plugins.executor(current.executor).remove(handle)
            except Exception as remove_exc:  # kept for reconcile's sweep; logged
                log.warning("cannot remove the runtime of %s: %s", session_id, remove_exc)

    async def _supervise(
        self,
        session_id: str,
        handle: RuntimeHandle,
        parser: OutputParser | None,
        session: Session | None,
        no_cursor: bool,
    ) -> None:
        if session is None:
            session = await self._ctx.storage.get_session(session_id)
        await self._journal.load_session_secrets(session_id)  # once; the launcher may be another
        executor = self._ctx.plugins.executor(session.executor)
        if parser is None:
            parser = await self._launcher.parser(session_id, self._ctx.plugins.agent(session.agent))
        stored = None if no_cursor else await self._ctx.storage.get_cursor(session_id)
        # A cursor of an earlier attempt is still what compare-and-set must see.
        cursor = stored
        interval = self._ctx.config.poll_interval
        state = RuntimeState(RuntimeStatus.UNKNOWN)
        wake = self._journal.wake_event(session_id)
        stopping = False
        while True:
            state = await executor.state(handle)
            final = state.status in (RuntimeStatus.EXITED, RuntimeStatus.MISSING)
            try:
                cursor = await self._collect(session_id, executor, handle, parser, cursor, final)
            except CursorMoved:
                log.info("another engine collects session %s; stepping back", session_id)
                return
            if final:
                break
            if parser.ended and not stopping:
                # The output decided the outcome though the agent still runs (an interactive
                # CLI waits for a person after an API error): end the attempt now.
                stopping = True
                log.info("session %s: its output ended the attempt; stopping it", session_id)
                await executor.stop(handle, grace=self._ctx.config.stop_grace)
                continue
            if state.status is RuntimeStatus.UNKNOWN:
                log.warning("runtime of %s did not answer: %s", session_id, state.detail)
            with anyio.move_on_after(interval):
                await wake.wait()
            wake = self._journal.wake_event(session_id, reset=True)
        await self._finalizer.finalize(session_id, executor, handle, parser, state)

    async def _collect(
        self,
        session_id: str,
        executor: Executor,
        handle: RuntimeHandle,
        parser: OutputParser,
        cursor: dict[str, Any] | None,
        final: bool,
    ) -> dict[str, Any] | None:
        while True:
            position = cursor if cursor and cursor.get("attempt") == handle.attempt else None
            chunk = await executor.read_output(handle, position, final=final)
            if not chunk.lines:
                return cursor
            new_cursor = dict(chunk.cursor)
            new_cursor["attempt"] = handle.attempt
            for start in range(0, len(chunk.lines), _FLUSH_LINES):
                part = chunk.lines[start : start + _FLUSH_LINES]
                logs: list[LogLine] = []
                events: list[Event] = []
                now = utcnow()
                for stream, text in part:
                    logs.append(LogLine(stream=stream, text=text, ts=now))
                    events.extend(parser.feed(text, stream))
                last = start + _FLUSH_LINES >= len(chunk.lines)
                await self._journal.append(
                    session_id,
                    events,
                    logs,
                    cursor=new_cursor if last else None,
                    expect_cursor=cursor,
                    check_cursor=last,
                )
            cursor = new_cursor
